"""The report: markdown tables, the summary and note lines, the JSON file."""

import json

from benchmarks.models import top_mlp_inputs
from benchmarks.settings import TARGET_FLIP_OVERHEAD, TARGET_FRACTION_OF_IDEAL
from benchmarks.step_times import lookup
from benchmarks.timing import median

LABELS = {
    "dense": "dense (build_dlrm)",
    "probed": "dense, Taylor probes switched off",
    "masked": "sparse, masks only",
    "compact": "sparse, compact",
    "static": "static kept widths",
    "floor": "floor: MLPs 13-4 / 355-1",
    "tfmot": "peer: tf_keras + TFMOT",
}


def fmt(value, pattern="{:.2f}", missing="n/a"):
    """`value` formatted with `pattern`, or `missing` for None."""
    return missing if value is None else pattern.format(value)


def markdown(report):
    """The tables: step times, ratios, the end-to-end run, the targets."""
    step_times, sparsity = report["step_times"], report["config"]["sparsity"]
    lines = [
        "| batch | XLA | configuration | median ms/step | samples/s | CPU ms/step | vs dense |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in step_times:
        xla = "on" if r["jit_compile"] else "off"
        if r.get("median_ms") is None:
            lines.append(f"| {r['batch_size']} | {xla} | {LABELS[r['variant']]} | skipped | | | |")
            continue
        dense_ms = lookup(step_times, r["batch_size"], r["jit_compile"], "dense")
        vs = r["median_ms"] / dense_ms if dense_ms else None
        lines.append(
            f"| {r['batch_size']} | {xla} | {LABELS[r['variant']]} | {r['median_ms']:.2f} | "
            f"{r['samples_per_s']:,.0f} | {r['cpu_ms_per_step']:.2f} | {fmt(vs, '{:.3f}')} |"
        )
    keys = ("compact_over_static", "compact_over_static_cpu", "compact_over_dense",
            "masked_over_dense", "static_over_dense", "probed_over_dense", "tfmot_over_dense",
            "floor_over_dense")
    lines += ["", "| batch | XLA | compact / static | compact / static (CPU) | compact / dense | "
              "masked / dense | static / dense | probed / dense | TFMOT / dense | floor / dense |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["ratios"]:
        lines.append(
            f"| {r['batch_size']} | {'on' if r['jit_compile'] else 'off'} | "
            + " | ".join(fmt(r[k], "{:.3f}") for k in keys) + " |"
        )
    e2e = report.get("end_to_end")
    if e2e:
        overhead = e2e["flip_overhead"]
        dense_runs, alt_runs = e2e["runs"]["dense"], e2e["runs"]["alternate"]

        def runmedian(runs, pick):
            return median([v for v in (pick(r) for r in runs) if v is not None])

        alt_dense_ms = runmedian(alt_runs, lambda r: median(r["phase_ms_per_step"]["dense"]))
        alt_sparse_ms = runmedian(alt_runs, lambda r: median(r["phase_ms_per_step"]["sparse"]))
        extrapolation = e2e.get("extrapolation", {})
        lines += [
            "",
            f"End to end: {e2e['samples']:,} samples ({e2e['steps']} steps of "
            f"{e2e['batch_size']}, {e2e['steps_per_execution']} per execution, XLA {'on' if e2e['jit_compile'] else 'off'}; a cycled pool "
            f"of {e2e['train_pool_rows']:,} synthetic rows), alternate({sparsity}) with "
            f"Taylor on {e2e['importance_batches']} batches vs dense; median of "
            f"{len(dense_runs)} pair(s), the two runs of a pair taking turns every "
            f"{e2e['chunk_steps']} steps",
            "",
            "| quantity | wall-clock | CPU time |",
            "|---|---:|---:|",
            f"| dense run | {e2e['dense_wall_s']:.1f} s | {e2e['dense_cpu_s']:.1f} s |",
            f"| alternate run | {e2e['alternate_wall_s']:.1f} s | {e2e['alternate_cpu_s']:.1f} s |",
            f"| saving | {e2e['saving']:.1%} | {e2e['cpu_saving']:.1%} |",
            f"| ideal saving: sparse fraction {e2e['sparse_fraction']:.2f} x (1 - t_static / "
            f"t_dense) | {fmt(e2e.get('ideal_saving'), '{:.1%}')} | "
            f"{fmt(e2e.get('ideal_saving_cpu'), '{:.1%}')} |",
            f"| achieved fraction of ideal | {fmt(e2e.get('fraction_of_ideal'), '{:.1%}')} | "
            f"{fmt(e2e.get('fraction_of_ideal_cpu'), '{:.1%}')} |",
            f"| saving without the flips' one-off costs | {e2e['saving_without_flips']:.1%} | |",
            f"| analytic training FLOPs saving (predicted / counted) | "
            f"{e2e['predicted_flops_saving']:.1%} / {e2e['measured_flops_saving']:.1%} | |",
            f"| flips: scoring + applying (FlipEvent.seconds) | "
            f"{overhead['scoring_and_applying_s']:.2f} s | |",
            f"| flips: the rest (tracing, compiling, probed steps, split calls) | "
            f"{overhead['other_s']:.2f} s | |",
            f"| flip overhead / alternate wall-clock | {overhead['fraction_of_wall']:.2%} | |",
            f"| steady ms/step: dense run / alternate dense phases / alternate sparse phases | "
            f"{fmt(runmedian(dense_runs, lambda r: r['steady_ms_per_step']['dense']))} / "
            f"{fmt(alt_dense_ms)} / {fmt(alt_sparse_ms)} | |",
            f"| test NE on held-out rows: dense / alternate | "
            f"{runmedian(dense_runs, lambda r: r['test']['ne']):.4f} / "
            f"{runmedian(alt_runs, lambda r: r['test']['ne']):.4f} | |",
            f"| samples for >= {TARGET_FRACTION_OF_IDEAL:.0%} of ideal / for < "
            f"{TARGET_FLIP_OVERHEAD:.0%} flip overhead (extrapolated) | "
            f"{fmt(extrapolation.get('samples_for_90pct_of_ideal'), '{:,}', 'never')} / "
            f"{fmt(extrapolation.get('samples_for_1pct_flip_overhead'), '{:,}', 'n/a')} | |",
        ]
        if e2e.get("note"):
            lines += ["", f"Note: {e2e['note']}"]
    lines += ["", "Targets (reported, not asserted):", ""]
    for name, target in report["targets"].items():
        lines.append(f"- {name}: {target['value']} (target {target['target']}): {target['status']}")
    return "\n".join(lines)


def targets(report):
    """Each target: its value in this run, the target, and whether it was met."""
    def status(ok):
        return "not measured" if ok is None else ("met" if ok else "not met")

    targets = {}
    row = next(
        (r for r in report["ratios"] if r["batch_size"] == 2048 and r["jit_compile"]), {}
    )
    ratio, ratio_cpu = row.get("compact_over_static"), row.get("compact_over_static_cpu")
    targets["compact / static at batch 2048, XLA"] = {
        "value": f"{fmt(ratio, '{:.3f}')} wall, {fmt(ratio_cpu, '{:.3f}')} CPU",
        "target": "<= 1.15",
        "status": status(None if ratio is None else ratio <= 1.15),
    }
    e2e = report.get("end_to_end") or {}
    fraction, fraction_cpu = e2e.get("fraction_of_ideal"), e2e.get("fraction_of_ideal_cpu")
    targets["achieved fraction of the ideal saving"] = {
        "value": f"{fmt(fraction, '{:.1%}')} wall, {fmt(fraction_cpu, '{:.1%}')} CPU",
        "target": f">= {TARGET_FRACTION_OF_IDEAL:.0%}",
        "status": status(None if fraction is None else fraction >= TARGET_FRACTION_OF_IDEAL),
    }
    overhead = (e2e.get("flip_overhead") or {}).get("fraction_of_wall")
    targets["flip overhead / alternate wall-clock"] = {
        "value": fmt(overhead, "{:.2%}"),
        "target": f"< {TARGET_FLIP_OVERHEAD:.0%} of a 2M-sample run; this run: "
        f"{e2e.get('samples', 0):,} samples",
        "status": status(None if overhead is None else overhead < TARGET_FLIP_OVERHEAD),
    }
    return targets


def config_section(settings, mlps, vocab_sizes):
    """The report's "config": the model, the data and the step-time protocol."""
    return {
        "embedding_dim": settings.embedding_dim,
        "bottom_mlp": list(settings.bottom_mlp),
        "top_mlp": list(settings.top_mlp),
        "static_bottom_mlp": list(mlps["static"][0]),
        "static_top_mlp": list(mlps["static"][1]),
        "sparsity": settings.sparsity,
        "learning_rate": settings.learning_rate,
        "optimizer": "sgd",
        "vocab_sizes": vocab_sizes,
        "embedding_rows": sum(vocab_sizes),
        "pool_rows": settings.pool_rows,
        "steps": settings.steps,
        "warmup_steps": settings.warmup_steps,
        "rewarm_steps": settings.rewarm_steps,
        "repeats": settings.repeats,
        "flip_criterion": settings.flip_criterion,
        "importance_batches": settings.importance_batches,
        "e2e_repeats": settings.e2e_repeats,
    }


def _widths(inputs, widths):
    return f"{inputs}-{'-'.join(map(str, widths))}"


def summary_lines(report):
    """The model, the machine and the load, as printed above the tables."""
    config, environment = report["config"], report["environment"]
    top_inputs = top_mlp_inputs(config["embedding_dim"], len(config["vocab_sizes"]))
    peers = environment["peers"]
    return [
        f"DLRM dim {config['embedding_dim']}, bottom {_widths(13, config['bottom_mlp'])}, top "
        f"{_widths(top_inputs, config['top_mlp'])}; sparsity {config['sparsity']}: static bottom "
        f"{_widths(13, config['static_bottom_mlp'])}, top "
        f"{_widths(top_inputs, config['static_top_mlp'])}; SGD {config['learning_rate']}; "
        f"{config['embedding_rows']:,} embedding rows; {environment['cpu_count']} cores, "
        f"intra-op {environment['intra_op_threads']}, inter-op "
        f"{environment['inter_op_threads']}; TF {environment['tensorflow']}, Keras "
        f"{environment['keras']}"
        + (f", tf_keras {peers['tf_keras']}, TFMOT {peers['tfmot']}" if peers else ""),
        f"Load average (1/5/15 min): start {environment['loadavg_start']}, before end to end "
        f"{environment['loadavg_before_e2e']}, end {environment['loadavg_end']}",
    ]


def note_lines(step_times):
    """The configurations' notes, and the peer's mask sparsity after its last round."""
    lines = []
    for r in step_times:
        for note in r["notes"]:
            lines.append(
                f"note ({r['batch_size']}, XLA {r['jit_compile']}, {r['variant']}): {note}"
            )
        if r.get("peer_mask_sparsity") is not None:
            lines.append(
                f"note ({r['batch_size']}, XLA {r['jit_compile']}, tfmot): masks at sparsity "
                f"{r['peer_mask_sparsity']:.3f} after the last round (ConstantSparsity updates "
                "them at pruning steps 100, 200, ...)"
            )
    return lines


def write_json(report, path):
    """Every number of the report, indented JSON at `path`."""
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2)
