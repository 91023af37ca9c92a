"""Part 2: whole `fit` runs, alternate against dense, and the savings they reach.

The arithmetic (ideal saving, flip costs, phase step times, the run length
at which the targets would be met) is in plain functions of numbers.
"""

import gc
import math

import keras
import numpy as np

from agp_tf import flops, schedules
from agp_tf.callbacks import GrowPruneCallback
from agp_tf.metrics import ctr_metrics
from benchmarks.data import batched_dataset
from benchmarks.models import build_compiled_dlrm, build_dlrm
from benchmarks.progress import work_units
from benchmarks.step_times import lookup
from benchmarks.timing import load_average, median, timer_class

# A flip's recompilation is its first step's excess over the median of up to
# this many steps after it.
_STEADY_STEPS = 50


def flip_costs(events, callback_s, durations, steps):
    """One record per flip: what scoring, the callback and the recompilation cost.

    `events`: the callback's `FlipEvent`s; `callback_s` and `durations`: per
    step, the seconds in the callback (a flip's scoring and applying) and in
    the step itself.
    """
    records = []
    for index, event in enumerate(events):
        k = event.step
        nxt = events[index + 1].step if index + 1 < len(events) else steps
        steady = durations[k + 1: min(nxt, k + _STEADY_STEPS + 1)]
        reference = float(np.median(steady if steady.size else durations))
        records.append(
            {
                "step": k,
                "to_sparsity": event.to_sparsity,
                "scoring_and_applying_s": event.seconds,
                "callback_s": float(callback_s[k]),
                "first_step_s": float(durations[k]),
                "recompile_s": max(0.0, float(durations[k]) - reference),
                "recompiled": bool(event.recompile),
            }
        )
    return records


def phase_ms_per_step(durations, start_sparsity, flips, steps):
    """`{"dense": [...], "sparse": [...]}`: each phase's median ms/step, its first step left out.

    A phase's first step holds the compilation or a flip's recompilation.
    """
    phase_ms = {"dense": [], "sparse": []}
    segments = [(0, start_sparsity)] + [(f["step"], f["to_sparsity"]) for f in flips]
    for (start, sparsity), (stop, _) in zip(segments, segments[1:] + [(steps, None)]):
        inner = durations[start + 1: stop]
        if inner.size:
            phase_ms["sparse" if sparsity > 0 else "dense"].append(float(np.median(inner)) * 1e3)
    return phase_ms


def flip_overhead(flips, wall_s):
    """The flips' one-off costs in one alternate run, and their share of its wall-clock."""
    seconds = sum(f["callback_s"] + f["recompile_s"] for f in flips)
    return {
        "scoring_and_applying_s": sum(f["scoring_and_applying_s"] for f in flips),
        "callback_s": sum(f["callback_s"] for f in flips),
        "recompile_s": sum(f["recompile_s"] for f in flips),
        "total_s": seconds,
        "fraction_of_wall": seconds / wall_s,
    }


def savings(pairs, field):
    """`1 - alternate / dense` of `field` for each (dense, alternate) pair of run results."""
    return [1 - a[field] / d[field] for d, a in pairs]


def ideal_saving(sparse_fraction, t_dense, t_static):
    """`sparse_fraction * (1 - t_static / t_dense)`; None without both step times.

    The saving if every sparse step ran at the static model's speed and nothing
    else changed.
    """
    return sparse_fraction * (1 - t_static / t_dense) if t_dense and t_static else None


def fraction_of_ideal(saving, ideal):
    """The achieved share of the ideal saving; None unless the ideal is positive."""
    return saving / ideal if ideal and ideal > 0 else None


def samples_for_fraction_of_ideal(samples, flips_s, dense_s, steady_saving, ideal, fraction):
    """Run length (samples) whose saving reaches `fraction` of `ideal`, or None if none does.

    The flips cost the same seconds however long the run, while the dense
    run's time and the saving without the flips (`steady_saving`) scale with it.
    """
    margin = steady_saving - fraction * ideal
    if margin > 0 and ideal > 0:
        return math.ceil(samples * flips_s / (dense_s * margin))
    return None


def samples_for_flip_overhead(samples, flips_s, alternate_s, overhead):
    """Run length (samples) at which the flips take `overhead` of the alternate run's time.

    The flips' seconds stay fixed while the rest of the run scales; None if
    they already take all of it.
    """
    if alternate_s > flips_s:
        return math.ceil(samples * flips_s * (1 / overhead - 1) / (alternate_s - flips_s))
    return None


class EndToEndRun:
    """One training run (dense or alternate), advanced chunk by chunk.

    The two runs of a pair take turns chunk by chunk, so both see the same
    load from other processes; only the time inside the chunks counts, from
    the begin of a chunk's first step (before any flip) to the end of its
    last. `GrowPruneCallback` follows the optimizer's step, so the phases
    and flips are those of one uninterrupted `fit`.
    """

    def __init__(self, settings, kind, vocab_sizes, train_rows, importance_ds, steps):
        self.settings = settings
        self.kind, self.steps = kind, steps
        self.model = build_compiled_dlrm(
            settings, vocab_sizes, (settings.bottom_mlp, settings.top_mlp),
            settings.e2e_jit_compile,
        )
        self.schedule = (
            schedules.alternate(settings.sparsity, settings.phase_fraction)
            if kind == "alternate"
            else schedules.dense()  # same callback and dense step, never a flip
        )
        self.callback = GrowPruneCallback(
            self.schedule,
            importance_data=importance_ds if settings.taylor_source == "data" else None,
            taylor_source=settings.taylor_source,
            total_steps=steps,
            importance_batches=settings.importance_batches,
            criterion="taylor",
            batch_size=settings.e2e_batch_size,
            seed=settings.seed,
            compact=True,
        )
        timer_cls = timer_class(keras.callbacks.Callback)
        # Before the callback: a step's start; after it: the flip (scoring,
        # applying, swapping functions) is done and the step itself starts.
        self.before, self.after = timer_cls(), timer_cls()
        self.train_rows = train_rows
        self.wall_s = self.cpu_s = 0.0
        self.loads = []

    def train(self, start, count):
        """Runs steps `[start, start + count)` on the batches a single `fit` would see."""
        batch_size = self.settings.e2e_batch_size
        pool_batches = self.train_rows.num_rows // batch_size
        dataset = batched_dataset(
            self.train_rows, batch_size, repeat=True, skip=start % pool_batches
        )
        first = len(self.before.begins)
        self.model.fit(
            dataset,
            steps_per_epoch=count,
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=[self.before, self.callback, self.after],
        )
        self.wall_s += self.after.ends[-1] - self.before.begins[first]
        self.cpu_s += self.after.cpu_ends[-1] - self.before.cpu_begins[first]
        self.loads.append(load_average()[0])

    def result(self, test_batch):
        """The run's times, flips, phase step times, FLOPs and held-out quality."""
        steps, callback = self.steps, self.callback
        begins, after_begins, ends = (
            np.asarray(t) for t in (self.before.begins, self.after.begins, self.after.ends)
        )
        durations = ends - after_begins  # (steps,) each step itself, flips excluded
        flips = flip_costs(callback.flips, after_begins - begins, durations, steps)
        phase_ms = phase_ms_per_step(durations, float(self.schedule(0.0)), flips, steps)
        # Quality on held-out rows, outside the timed chunks.
        probabilities = self.model.predict(
            test_batch.features(), batch_size=self.settings.e2e_batch_size, verbose=0
        )
        quality = {}
        for metric in ctr_metrics():
            metric.update_state(test_batch.labels, probabilities)
            quality[metric.name] = float(keras.ops.convert_to_numpy(metric.result()))
        return {
            "kind": self.kind,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "steps": steps,
            "first_step_s": float(durations[0]),
            "steady_ms_per_step": float(np.median(durations[1:])) * 1e3 if steps > 1 else None,
            "phase_ms_per_step": phase_ms,
            "flips": flips,
            "measured_relative_train_flops": float(callback.counter.relative_change),
            "load_median": median(self.loads),
            "test": quality,
        }


def run(settings, vocab_sizes, stream, progress):
    """`--e2e_repeats` dense/alternate pairs, each pair's runs taking turns; their summary."""
    batch_size = settings.e2e_batch_size
    steps = settings.e2e_samples // batch_size
    chunk = max(1, math.ceil(steps / settings.e2e_chunks))
    train_rows = stream.day(0, settings.e2e_pool_rows)
    held_out = stream.day(1, settings.test_rows + settings.importance_batches * batch_size)
    test_batch = held_out.slice(0, settings.test_rows)
    importance_rows = held_out.slice(settings.test_rows, held_out.num_rows)
    importance_ds = batched_dataset(importance_rows, batch_size, repeat=False)
    runs = {"dense": [], "alternate": []}
    schedule = schedules.alternate(settings.sparsity, settings.phase_fraction)
    for repeat in range(settings.e2e_repeats):
        progress.say(
            f"end to end {repeat + 1}/{settings.e2e_repeats}: dense and alternate, {steps} steps "
            f"of {batch_size} ({steps * batch_size:,} samples) each, in turns of {chunk} steps"
        )
        pair = {
            kind: EndToEndRun(settings, kind, vocab_sizes, train_rows, importance_ds, steps)
            for kind in ("dense", "alternate")
        }
        for index, start in enumerate(range(0, steps, chunk)):
            count = min(chunk, steps - start)
            # Who goes first alternates, so neither always follows the other.
            order = ("dense", "alternate") if (index + repeat) % 2 == 0 else ("alternate", "dense")
            report = index % max(1, settings.e2e_chunks // 8) == 0 or start + count == steps
            for kind in order:
                pair[kind].train(start, count)
                progress.advance(
                    work_units(count * batch_size),
                    f"end to end {repeat + 1}/{settings.e2e_repeats} {kind:9s} steps "
                    f"{start + count:5d}/{steps}: {pair[kind].wall_s:6.1f}s so far"
                    if report else None,
                )
        for kind, end_to_end_run in pair.items():
            result = end_to_end_run.result(test_batch)
            runs[kind].append(result)
            progress.say(
                f"end to end {kind}: {result['wall_s']:.1f}s wall, {result['cpu_s']:.1f}s CPU, "
                f"{result['steady_ms_per_step']:.2f} ms/step steady, "
                f"test NE {result['test']['ne']:.4f}"
            )
        del pair
        gc.collect()
    model = build_dlrm(settings, vocab_sizes, (settings.bottom_mlp, settings.top_mlp))
    predicted = flops.predict_relative_training_flops(flops.layer_specs(model), schedule, steps)
    del model

    def median_of(kind, key):
        return median([r[key] for r in runs[kind]])

    overheads = [flip_overhead(r["flips"], r["wall_s"]) for r in runs["alternate"]]
    overhead = {key: median([o[key] for o in overheads]) for key in overheads[0]}
    pairs = list(zip(runs["dense"], runs["alternate"]))
    return {
        "batch_size": batch_size,
        "jit_compile": settings.e2e_jit_compile,
        "steps": steps,
        "samples": steps * batch_size,
        "train_pool_rows": train_rows.num_rows,
        "importance_batches": settings.importance_batches,
        "schedule": schedule.get_config(),
        "sparse_fraction": schedule.sparse_fraction(),
        "dense_wall_s": median_of("dense", "wall_s"),
        "alternate_wall_s": median_of("alternate", "wall_s"),
        # The runs of a pair ran interleaved: compare within pairs.
        "saving": median(savings(pairs, "wall_s")),
        "saving_per_pair": savings(pairs, "wall_s"),
        "dense_cpu_s": median_of("dense", "cpu_s"),
        "alternate_cpu_s": median_of("alternate", "cpu_s"),
        "cpu_saving": median(savings(pairs, "cpu_s")),
        # Without the flips' one-off costs: what a longer run tends to.
        "saving_without_flips": median(
            [1 - (a["wall_s"] - o["total_s"]) / d["wall_s"] for (d, a), o in zip(pairs, overheads)]
        ),
        "chunk_steps": chunk,
        "taylor_source": settings.taylor_source,
        "flip_overhead": overhead,
        "predicted_flops_saving": 1 - predicted,
        "measured_flops_saving": -median(
            [r["measured_relative_train_flops"] for r in runs["alternate"]]
        ),
        "runs": runs,
    }


def add_ideal(e2e, step_times):
    """Adds the ideal saving from the step times and what the run achieved of it."""
    key = (e2e["batch_size"], e2e["jit_compile"])
    for suffix, field in (("", "median_ms"), ("_cpu", "cpu_ms_per_step")):
        ideal = ideal_saving(
            e2e["sparse_fraction"],
            lookup(step_times, *key, "dense", field),
            lookup(step_times, *key, "static", field),
        )
        e2e[f"ideal_saving{suffix}"] = ideal
        saving = e2e["saving" if not suffix else "cpu_saving"]
        e2e[f"fraction_of_ideal{suffix}"] = fraction_of_ideal(saving, ideal)
    if e2e["ideal_saving"] is None:
        e2e["note"] = (
            "the ideal saving needs the dense and static step times at the end-to-end batch "
            "size and XLA setting: add them to --batch_sizes, --jit_compile and --variants"
        )
        return
    # Run length (samples) at which the targets would be met on this machine,
    # if step times stay as measured and the flips cost the same seconds.
    flips_s = e2e["flip_overhead"]["total_s"]
    e2e["extrapolation"] = {
        "samples_for_85pct_of_ideal": samples_for_fraction_of_ideal(
            e2e["samples"], flips_s, e2e["dense_wall_s"], e2e["saving_without_flips"],
            e2e["ideal_saving"], fraction=0.85,
        ),
        "samples_for_3pct_flip_overhead": samples_for_flip_overhead(
            e2e["samples"], flips_s, e2e["alternate_wall_s"], overhead=0.03
        ),
    }
