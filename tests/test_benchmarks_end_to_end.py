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


def _event(step, to_sparsity, from_sparsity=None, seconds=0.1):
    if from_sparsity is None:
        from_sparsity = 0.0 if to_sparsity else 0.7
    return types.SimpleNamespace(step=step, to_sparsity=to_sparsity, from_sparsity=from_sparsity,
                                 seconds=seconds, recompile=True)


def _calls(steps_per_call, seconds):
    return [(i * steps_per_call, steps_per_call, s) for i, s in enumerate(seconds)]


def test_acting_ranges_are_a_prunes_scoring_steps_and_each_flips_step():
    events = [_event(10, 0.7), _event(20, 0.0)]
    assert end_to_end.acting_ranges(events, scoring_steps=3) == [(7, 10), (20, 20)]
    assert end_to_end.acting_ranges(events, scoring_steps=0) == [(10, 10), (20, 20)]


def test_one_step_per_call_a_flips_cost_is_its_calls_excess_over_the_steady_time():
    # A prune at step 4 scored on step 3: step 3 trains dense, step 4 sparse.
    calls = _calls(1, [5.0, 1.0, 1.0, 1.0, 3.0, 0.5, 0.5, 0.5])
    events = [_event(4, 0.7, seconds=0.2)]
    (flip,) = end_to_end.flip_costs(events, calls, 0.0, scoring_steps=1)
    assert flip["step"] == 4 and flip["to_sparsity"] == 0.7
    assert flip["scoring_and_applying_s"] == pytest.approx(0.2)
    assert flip["excess_s"] == pytest.approx(2.5)  # 0 over dense 1.0 s, 2.5 over sparse 0.5 s
    assert flip["recompiled"] is True
    phases = end_to_end.phase_ms_per_step(calls, events, 0.0, 1, steps=8)
    # The first call (compilation) and the calls where the schedule acts are left out.
    assert phases == {"dense": [pytest.approx(1000.0)], "sparse": [pytest.approx(500.0)]}
    assert end_to_end.steady_rates(calls, events, 0.0, [(3, 4)]) == {
        "dense": pytest.approx(1.0), "sparse": pytest.approx(0.5)}


def test_a_call_split_at_a_flip_counts_each_part_at_its_phases_rate():
    # Calls of 4 steps; a prune at step 10 scored on steps 8-9, inside the third call.
    calls = _calls(4, [8.0, 4.0, 5.0, 2.0, 2.0])
    events = [_event(10, 0.7)]
    (flip,) = end_to_end.flip_costs(events, calls, 0.0, scoring_steps=2)
    assert flip["excess_s"] == pytest.approx(5.0 - (2 * 1.0 + 2 * 0.5))
    phases = end_to_end.phase_ms_per_step(calls, events, 0.0, 2, steps=20)
    assert phases == {"dense": [pytest.approx(1000.0)], "sparse": [pytest.approx(500.0)]}


def test_each_flip_owns_the_calls_of_its_own_steps():
    calls = _calls(1, [9.0, 1.0, 4.0, 0.5, 0.5, 3.0, 1.0, 1.0])
    events = [_event(2, 0.7), _event(5, 0.0)]
    first, second = end_to_end.flip_costs(events, calls, 0.0, scoring_steps=0)
    assert first["excess_s"] == pytest.approx(3.5)  # over sparse 0.5 s
    assert second["excess_s"] == pytest.approx(2.0)  # over dense 1.0 s


def test_flip_overhead_sums_a_runs_flips():
    flips = [
        {"scoring_and_applying_s": 0.1, "excess_s": 1.2},
        {"scoring_and_applying_s": 0.3, "excess_s": 0.9},
    ]
    overhead = end_to_end.flip_overhead(flips, wall_s=21.0)
    assert overhead["scoring_and_applying_s"] == pytest.approx(0.4)
    assert overhead["other_s"] == pytest.approx(1.7)
    assert overhead["total_s"] == pytest.approx(2.1)
    assert overhead["fraction_of_wall"] == pytest.approx(0.1)


def test_end_to_end_steps_are_whole_calls():
    settings = types.SimpleNamespace(e2e_samples=2_000_000, e2e_batch_size=128,
                                     steps_per_execution=32)
    assert end_to_end.end_to_end_steps(settings) == 15_616  # 15,625 batches, 488 calls


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
    extrapolation = e2e["extrapolation"]
    # flips 4 s / (dense 100 s x margin (0.2 - 0.9 x 0.2)) x 1000 samples, rounded up.
    assert extrapolation["samples_for_90pct_of_ideal"] in (2000, 2001)  # float rounding
    assert extrapolation["samples_for_1pct_flip_overhead"] == (
        end_to_end.samples_for_flip_overhead(1000, 4.0, 90.0, 0.01)
    )


def test_add_ideal_without_static_step_times_leaves_a_note():
    e2e = _e2e()
    end_to_end.add_ideal(e2e, [_row("dense", 10.0, 20.0)])
    assert e2e["ideal_saving"] is None and e2e["fraction_of_ideal"] is None
    assert "--variants" in e2e["note"] and "extrapolation" not in e2e
