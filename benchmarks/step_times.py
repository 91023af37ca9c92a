"""Part 1: the median train-step time of every configuration, measured in interleaved rounds."""

import gc
import logging

import keras

from benchmarks import tfmot_peer
from benchmarks.data import batched_dataset
from benchmarks.models import build_agp_variant
from benchmarks.progress import work_units
from benchmarks.settings import VARIANTS
from benchmarks.timing import median, timed_fit, timer_class


def measure(settings, vocab_sizes, pool, mlps, progress):
    """One result row per (batch size, jit_compile, variant), with each round's numbers."""
    configs = [
        (batch_size, jit_compile, variant)
        for batch_size in settings.batch_sizes
        for jit_compile in settings.jit_compile
        for variant in settings.variants
    ]
    datasets = {b: batched_dataset(pool, b) for b in settings.batch_sizes}
    # One flip per sparse configuration: its log line would only interrupt
    # the progress lines.
    agp_logger = logging.getLogger("agp_tf")
    agp_level = agp_logger.level
    agp_logger.setLevel(logging.WARNING)
    keras_timer = timer_class(keras.callbacks.Callback)
    models, rounds, notes = {}, {c: [] for c in configs}, {}
    skipped = {}
    for repeat in range(settings.repeats):
        # Alternate the order so slow drift in the machine's load evens out.
        order = configs if repeat % 2 == 0 else configs[::-1]
        for config in order:
            batch_size, jit_compile, variant = config
            units = work_units(settings.steps * batch_size)
            if config in skipped:
                progress.advance(units, f"round {repeat + 1}: skip {variant} ({skipped[config]})")
                continue
            first = config not in models
            try:
                if first:
                    models[config] = build_variant(settings, config, vocab_sizes, mlps, notes)
                model, timer_cls, callbacks = models[config]
                if timer_cls is None:
                    timer_cls = keras_timer
                warmup = settings.warmup_steps if first else settings.rewarm_steps
                result = timed_fit(
                    model, datasets[batch_size], warmup, settings.steps, timer_cls,
                    callbacks() if callbacks else (), settings.steps_per_execution,
                )
            except ImportError as error:
                if variant != "tfmot":
                    raise
                skipped[config] = (
                    f"peers extra not installed ({error}); pip install .[peers] to include it"
                )
                notes.setdefault(config, []).append(skipped[config])
                progress.advance(units, f"round {repeat + 1}: skip {variant}: {skipped[config]}")
                continue
            except Exception as error:  # noqa: BLE001  (a peer setting may not compile)
                if variant != "tfmot":
                    raise
                reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                skipped[config] = f"not supported with jit_compile={jit_compile}: {reason}"
                notes.setdefault(config, []).append(skipped[config])
                models.pop(config, None)
                progress.advance(units, f"round {repeat + 1}: {variant} failed: {reason}")
                continue
            rounds[config].append(result)
            progress.advance(
                units,
                f"round {repeat + 1}/{settings.repeats} batch={batch_size:5d} "
                f"xla={jit_compile!s:5s} {variant:8s} {result['median_ms']:8.2f} ms/step  "
                f"{result['cpu_ms_per_step']:8.2f} CPU ms/step",
            )
    agp_logger.setLevel(agp_level)
    results = []
    for config in configs:
        batch_size, jit_compile, variant = config
        runs = rounds[config]
        entry = {
            "batch_size": batch_size,
            "jit_compile": jit_compile,
            "variant": variant,
            "notes": notes.get(config, []),
            "rounds": runs,
        }
        if runs:
            median_ms = median([r["median_ms"] for r in runs])
            entry.update(
                median_ms=median_ms,
                samples_per_s=batch_size * 1e3 / median_ms,
                cpu_ms_per_step=median([r["cpu_ms_per_step"] for r in runs]),
                compile_first_step_s=runs[0]["first_step_s"],
            )
            if variant == "tfmot" and config in models:
                model = models[config][0]
                entry["peer_mask_sparsity"] = tfmot_peer.peer_mask_sparsity(model)
        results.append(entry)
    models.clear()
    gc.collect()
    return results


def build_variant(settings, config, vocab_sizes, mlps, notes):
    """`(model, timer class or None, callbacks factory or None)` of a configuration."""
    _, jit_compile, variant = config
    if variant != "tfmot":
        model = build_agp_variant(settings, variant, vocab_sizes, jit_compile, mlps)
        return model, None, None
    model, tf_keras, sparsity_api = tfmot_peer.build_peer(settings, vocab_sizes, jit_compile, mlps)
    notes.setdefault(config, []).append(
        f"tf_keras {tf_keras.__version__} compile(jit_compile={jit_compile}); "
        "unstructured magnitude masks on the same Dense layers; mask multiplies, no smaller matmul"
    )
    return (
        model,
        timer_class(tf_keras.callbacks.Callback),
        lambda: [sparsity_api.UpdatePruningStep()],
    )


def lookup(results, batch_size, jit_compile, variant, field="median_ms"):
    """`field` of the result row of one configuration; None if it was not measured."""
    for r in results:
        if (r["batch_size"], r["jit_compile"], r["variant"]) == (batch_size, jit_compile, variant):
            return r.get(field)
    return None


def _ratio(times, a, b):
    return times[a] / times[b] if times[a] and times[b] else None


def ratios(results, batch_sizes, jit_settings):
    """Step-time ratios between configurations, per batch size and jit_compile setting."""
    rows = []
    for batch_size in batch_sizes:
        for jit_compile in jit_settings:
            wall = {v: lookup(results, batch_size, jit_compile, v) for v in VARIANTS}
            cpu = {
                v: lookup(results, batch_size, jit_compile, v, "cpu_ms_per_step")
                for v in VARIANTS
            }
            rows.append(
                {
                    "batch_size": batch_size,
                    "jit_compile": jit_compile,
                    "compact_over_static": _ratio(wall, "compact", "static"),
                    "compact_over_static_cpu": _ratio(cpu, "compact", "static"),
                    "compact_over_dense": _ratio(wall, "compact", "dense"),
                    "masked_over_dense": _ratio(wall, "masked", "dense"),
                    "static_over_dense": _ratio(wall, "static", "dense"),
                    # Taylor probes switched off: what scoring from training
                    # costs the steps outside its windows.
                    "probed_over_dense": _ratio(wall, "probed", "dense"),
                    "tfmot_over_dense": _ratio(wall, "tfmot", "dense"),
                    # Embeddings, interaction, loss and loop: the part pruning
                    # the MLPs cannot remove.
                    "floor_over_dense": _ratio(wall, "floor", "dense"),
                }
            )
    return rows
