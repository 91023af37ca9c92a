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
from benchmarks.settings import TARGET_FLIP_OVERHEAD, TARGET_FRACTION_OF_IDEAL
from benchmarks.step_times import lookup
from benchmarks.timing import load_average, median, timer_class

def acting_ranges(events, scoring_steps):
    """Per flip, the steps `(first, last)` where the schedule's work for it runs.

    A prune scored on training steps runs its last `scoring_steps` steps with
    the probes in (their own train function); every flip runs at its step.
    """
    return [
        (e.step - scoring_steps if e.to_sparsity > e.from_sparsity else e.step, e.step)
        for e in events
    ]


def acting_flip(start, steps, ranges):
    """Index of the first range the call `(start, steps)` overlaps, or None."""
    last = start + steps - 1
    return next((i for i, (first, stop) in enumerate(ranges) if first <= last and start <= stop),
                None)


def sparsity_at(step, events, start_sparsity):
    """The sparsity the run trains step `step` at."""
    sparsity = start_sparsity
    for event in events:
        if event.step <= step:
            sparsity = event.to_sparsity
    return sparsity


def steady_rates(calls, events, start_sparsity, ranges):
    """Median seconds per step of calls in dense and in sparse phases, the
    calls where the schedule acts and the run's first call (its compilation)
    left out: `{"dense": s or None, "sparse": s or None}`."""
    per_step = {"dense": [], "sparse": []}
    for index, (start, steps, seconds) in enumerate(calls):
        kinds = {sparsity_at(s, events, start_sparsity) > 0 for s in (start, start + steps - 1)}
        if index and acting_flip(start, steps, ranges) is None and len(kinds) == 1:
            per_step["sparse" if kinds.pop() else "dense"].append(seconds / steps)
    return {k: float(np.median(v)) if v else None for k, v in per_step.items()}


def flip_costs(events, calls, start_sparsity, scoring_steps):
    """One record per flip: its scoring and applying, and every second it added.

    `calls`: `(first step, steps, seconds)` of each call of the train
    function, the callback's work at its begin included. A flip's cost is
    the excess of the calls covering its acting steps (`acting_ranges`)
    over the steady time of their steps: scoring and applying, tracing and
    compiling a new plan's function, the scoring steps' extra cost and, with
    several steps per execution, splitting a call.
    """
    ranges = acting_ranges(events, scoring_steps)
    rates = steady_rates(calls, events, start_sparsity, ranges)
    excess = [0.0] * len(events)
    for start, steps, seconds in calls:
        owner = acting_flip(start, steps, ranges)
        if owner is None:
            continue
        steady = 0.0
        for step in range(start, start + steps):
            kind = "sparse" if sparsity_at(step, events, start_sparsity) > 0 else "dense"
            steady += rates[kind] if rates[kind] is not None else rates["dense"] or 0.0
        excess[owner] += seconds - steady
    return [
        {
            "step": event.step,
            "to_sparsity": event.to_sparsity,
            "scoring_and_applying_s": event.seconds,
            "excess_s": excess[index],
            "recompiled": bool(event.recompile),
        }
        for index, event in enumerate(events)
    ]


def phase_ms_per_step(calls, events, start_sparsity, scoring_steps, steps):
    """`{"dense": [...], "sparse": [...]}`: each phase's median ms/step over
    its calls, those where the schedule acts and the run's first left out."""
    ranges = acting_ranges(events, scoring_steps)
    bounds = [0] + [e.step for e in events] + [steps]
    phase_ms = {"dense": [], "sparse": []}
    for begin, stop in zip(bounds, bounds[1:]):
        inner = [
            seconds / n
            for index, (start, n, seconds) in enumerate(calls)
            if index and begin <= start and start + n <= stop
            and acting_flip(start, n, ranges) is None
        ]
        if inner:
            kind = "sparse" if sparsity_at(begin, events, start_sparsity) > 0 else "dense"
            phase_ms[kind].append(float(np.median(inner)) * 1e3)
    return phase_ms


def flip_overhead(flips, wall_s):
    """The flips' one-off costs in one alternate run, and their share of its wall-clock."""
    seconds = sum(f["excess_s"] for f in flips)
    scoring = sum(f["scoring_and_applying_s"] for f in flips)
    return {
        "scoring_and_applying_s": scoring,
        # Tracing and compiling, the probed steps' extra cost, split calls.
        "other_s": seconds - scoring,
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
            settings.e2e_jit_compile, settings.steps_per_execution,
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
        # Around the callback: a call's time includes a flip the callback
        # makes at its begin (with one step per call; with several, the
        # callback flips inside the call).
        self.before, self.after = timer_cls(), timer_cls()
        self.train_rows = train_rows
        self.wall_s = self.cpu_s = 0.0
        self.calls = []  # (first step, steps, seconds) of every train-function call
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
        before, after = self.before, self.after
        for i in range(first, len(before.begins)):
            self.calls.append((
                start + before.first_steps[i],
                after.last_steps[i] - before.first_steps[i] + 1,
                after.ends[i] - before.begins[i],
            ))

    def result(self, test_batch):
        """The run's times, flips, phase step times, FLOPs and held-out quality."""
        steps, callback, calls = self.steps, self.callback, self.calls
        start_sparsity = float(self.schedule(0.0))
        scoring_steps = self.settings.importance_batches if callback.taylor_source == "training" else 0
        flips = flip_costs(callback.flips, calls, start_sparsity, scoring_steps)
        phase_ms = phase_ms_per_step(calls, callback.flips, start_sparsity, scoring_steps, steps)
        rates = steady_rates(
            calls, callback.flips, start_sparsity, acting_ranges(callback.flips, scoring_steps)
        )
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
            "steps_per_execution": self.settings.steps_per_execution,
            "first_call_s": float(calls[0][2]),
            "steady_ms_per_step": {
                kind: None if rate is None else rate * 1e3 for kind, rate in rates.items()
            },
            "phase_ms_per_step": phase_ms,
            "flips": flips,
            "measured_relative_train_flops": float(callback.counter.relative_change),
            "load_median": median(self.loads),
            "test": quality,
        }


def run(settings, vocab_sizes, stream, progress):
    """`--e2e_repeats` dense/alternate pairs, each pair's runs taking turns; their summary."""
    batch_size, per_call = settings.e2e_batch_size, settings.steps_per_execution
    steps = end_to_end_steps(settings)
    # Chunks of whole calls, so every call runs all its steps.
    chunk = per_call * max(1, math.ceil(steps / per_call / settings.e2e_chunks))
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
                "steady ms/step "
                + ", ".join(
                    f"{phase} {ms:.2f}"
                    for phase, ms in result["steady_ms_per_step"].items() if ms is not None
                )
                + ", "
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
        "steps_per_execution": per_call,
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


def end_to_end_steps(settings):
    """Steps of each end-to-end run: `--e2e_samples` in whole batches, and
    in whole calls of `--steps_per_execution` steps."""
    steps = settings.e2e_samples // settings.e2e_batch_size
    return steps // settings.steps_per_execution * settings.steps_per_execution


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
        "samples_for_90pct_of_ideal": samples_for_fraction_of_ideal(
            e2e["samples"], flips_s, e2e["dense_wall_s"], e2e["saving_without_flips"],
            e2e["ideal_saving"], fraction=TARGET_FRACTION_OF_IDEAL,
        ),
        "samples_for_1pct_flip_overhead": samples_for_flip_overhead(
            e2e["samples"], flips_s, e2e["alternate_wall_s"], overhead=TARGET_FLIP_OVERHEAD
        ),
    }
