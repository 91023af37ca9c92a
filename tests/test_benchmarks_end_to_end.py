"""benchmarks.end_to_end: the savings arithmetic, on plain numbers."""

import types

import numpy as np
import pytest

from benchmarks import end_to_end


def test_ideal_saving_is_the_sparse_fraction_at_the_static_speed():
    assert end_to_end.ideal_saving(0.4, t_dense=10.0, t_static=5.0) == pytest.approx(0.2)
    assert end_to_end.ideal_saving(0.4, t_dense=None, t_static=5.0) is None
    assert end_to_end.ideal_saving(0.4, t_dense=10.0, t_static=None) is None


def test_fraction_of_ideal_needs_a_positive_ideal():
    assert end_to_end.fraction_of_ideal(0.1, 0.2) == pytest.approx(0.5)
    assert end_to_end.fraction_of_ideal(0.1, -0.2) is None
    assert end_to_end.fraction_of_ideal(0.1, None) is None


def test_samples_for_fraction_of_ideal():
    # Dense 100 s, flips 4 s, saving without them 0.2, ideal 0.2: 85% of it
    # leaves a margin of 0.03, so flips_s / (dense_s * margin) = 4 / 3 runs.
    samples = end_to_end.samples_for_fraction_of_ideal(
        1000, flips_s=4.0, dense_s=100.0, steady_saving=0.2, ideal=0.2, fraction=0.85
    )
    assert samples == 1334  # ceil(1000 * 4 / 3)
    assert end_to_end.samples_for_fraction_of_ideal(
        1000, 4.0, 100.0, steady_saving=0.1, ideal=0.2, fraction=0.85
    ) is None  # the steady saving never reaches it


def test_samples_for_flip_overhead():
    # Flips take 3 s of an 18 s run; at 25% the rest is 9 s, 0.6 of its 15 s.
    assert end_to_end.samples_for_flip_overhead(1500, 3.0, 18.0, overhead=0.25) == 900
    assert end_to_end.samples_for_flip_overhead(1500, 3.0, 3.0, overhead=0.25) is None


def test_savings_per_pair():
    pairs = [({"wall_s": 10.0}, {"wall_s": 8.0}), ({"wall_s": 20.0}, {"wall_s": 15.0})]
    assert end_to_end.savings(pairs, "wall_s") == pytest.approx([0.2, 0.25])


def _event(step, to_sparsity, seconds=0.1):
    return types.SimpleNamespace(step=step, to_sparsity=to_sparsity, seconds=seconds,
                                 recompile=True)


def test_flip_costs_and_phase_step_times():
    steps = 8
    durations = np.array([5.0, 1.0, 1.0, 1.0, 3.0, 0.5, 0.5, 0.5])  # a flip at step 4
    callback_s = np.array([0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0])
    (flip,) = end_to_end.flip_costs([_event(4, 0.7)], callback_s, durations, steps)
    assert flip["step"] == 4 and flip["to_sparsity"] == 0.7
    assert flip["callback_s"] == pytest.approx(0.2)
    assert flip["first_step_s"] == 3.0
    assert flip["recompile_s"] == pytest.approx(2.5)  # over the steady 0.5 s after it
    assert flip["recompiled"] is True
    phases = end_to_end.phase_ms_per_step(durations, 0.0, [flip], steps)
    # Each phase's first step (compilation, recompilation) is left out.
    assert phases == {"dense": [pytest.approx(1000.0)], "sparse": [pytest.approx(500.0)]}


def test_flip_costs_stop_the_steady_window_at_the_next_flip():
    durations = np.array([1.0, 4.0, 2.0, 6.0, 1.0])
    first, second = end_to_end.flip_costs(
        [_event(1, 0.7), _event(3, 0.0)], np.zeros(5), durations, steps=5
    )
    assert first["recompile_s"] == pytest.approx(2.0)  # against step 2 only
    assert second["recompile_s"] == pytest.approx(5.0)


def test_flip_overhead_sums_a_runs_flips():
    flips = [
        {"scoring_and_applying_s": 0.1, "callback_s": 0.2, "recompile_s": 1.0},
        {"scoring_and_applying_s": 0.3, "callback_s": 0.4, "recompile_s": 0.5},
    ]
    overhead = end_to_end.flip_overhead(flips, wall_s=21.0)
    assert overhead["scoring_and_applying_s"] == pytest.approx(0.4)
    assert overhead["total_s"] == pytest.approx(2.1)
    assert overhead["fraction_of_wall"] == pytest.approx(0.1)


def _e2e(**changes):
    e2e = {
        "batch_size": 32, "jit_compile": False, "sparse_fraction": 0.4, "saving": 0.1,
        "cpu_saving": 0.15, "samples": 1000, "dense_wall_s": 100.0, "alternate_wall_s": 90.0,
        "saving_without_flips": 0.2, "flip_overhead": {"total_s": 4.0},
    }
    return {**e2e, **changes}


def _row(variant, median_ms, cpu_ms):
    return {"batch_size": 32, "jit_compile": False, "variant": variant, "median_ms": median_ms,
            "cpu_ms_per_step": cpu_ms}


def test_add_ideal_from_the_step_times():
    e2e = _e2e()
    end_to_end.add_ideal(e2e, [_row("dense", 10.0, 20.0), _row("static", 5.0, 5.0)])
    assert e2e["ideal_saving"] == pytest.approx(0.2)
    assert e2e["fraction_of_ideal"] == pytest.approx(0.5)
    assert e2e["ideal_saving_cpu"] == pytest.approx(0.3)
    assert e2e["fraction_of_ideal_cpu"] == pytest.approx(0.5)
    assert e2e["extrapolation"] == {
        "samples_for_85pct_of_ideal": 1334,
        "samples_for_3pct_flip_overhead": end_to_end.samples_for_flip_overhead(
            1000, 4.0, 90.0, 0.03
        ),
    }


def test_add_ideal_without_static_step_times_leaves_a_note():
    e2e = _e2e()
    end_to_end.add_ideal(e2e, [_row("dense", 10.0, 20.0)])
    assert e2e["ideal_saving"] is None and e2e["fraction_of_ideal"] is None
    assert "--variants" in e2e["note"] and "extrapolation" not in e2e
