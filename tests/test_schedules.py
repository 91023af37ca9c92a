import pytest

from agp_tf import schedules
from agp_tf.schedules import PhaseSchedule


def test_alternate_default_phases():
    s = schedules.alternate(0.7)
    assert [s(p) for p in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)] == [
        0.0, 0.0, 0.7, 0.7, 0.0, 0.0, 0.7, 0.7, 0.0, 0.0, 0.0
    ]
    assert s.ends_dense
    assert s.sparse_fraction() == pytest.approx(0.4)


def test_alternate_boundaries_are_inclusive_starts():
    s = schedules.alternate(0.5)
    assert s(0.2 - 1e-12) == 0.0
    assert s(0.2) == 0.5
    assert s(0.4) == 0.0


def test_alternate_three_phases():
    s = schedules.alternate(0.5, phase_fraction=1 / 3)
    assert s(0.0) == 0.0 and s(0.34) == 0.5 and s(0.67) == 0.0


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.3, 0.0, 1.0])
def test_alternate_rejects_fraction_that_does_not_end_dense(fraction):
    with pytest.raises(ValueError, match=r"phase_fraction=") :
        schedules.alternate(0.5, phase_fraction=fraction)


def test_pruning_only():
    s = schedules.pruning_only(0.7)
    assert s(0.0) == 0.0 and s(0.59) == 0.0 and s(0.6) == 0.7 and s(1.0) == 0.7
    assert not s.ends_dense


def test_growth_only():
    s = schedules.growth_only(0.7)
    assert s(0.0) == 0.7 and s(0.39) == 0.7 and s(0.4) == 0.0 and s(1.0) == 0.0


def test_dsd():
    s = schedules.dsd(0.5)
    assert [s(p) for p in (0.0, 0.3, 0.69, 0.7, 1.0)] == [0.0, 0.5, 0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"start=0.7, end=0.3"):
        schedules.dsd(0.5, start=0.7, end=0.3)


def test_dense():
    s = schedules.dense()
    assert s(0.0) == 0.0 and s(1.0) == 0.0 and s.sparse_fraction() == 0.0


def test_progress_past_one_stays_in_last_phase():
    assert schedules.pruning_only(0.5)(1.5) == 0.5


@pytest.mark.parametrize("progress", [-0.1, float("nan")])
def test_rejects_negative_or_nan_progress(progress):
    with pytest.raises(ValueError, match="progress"):
        schedules.dense()(progress)


@pytest.mark.parametrize("sparsity", [0.0, 1.0, -0.5, 1.5])
@pytest.mark.parametrize(
    "constructor",
    [schedules.alternate, schedules.pruning_only, schedules.growth_only, schedules.dsd],
)
def test_named_schedules_reject_sparsity_outside_open_interval(constructor, sparsity):
    with pytest.raises(ValueError, match=rf"Received: sparsity={sparsity}"):
        constructor(sparsity)


@pytest.mark.parametrize(
    "boundaries, message",
    [
        ([], "must not be empty"),
        ([(0.1, 0.0)], "must start at 0.0"),
        ([(0.0, 0.0), (0.5, 0.5), (0.5, 0.0)], "strictly increasing"),
        ([(0.0, 0.0), (0.6, 0.5), (0.4, 0.0)], "strictly increasing"),
        ([(0.0, 0.0), (1.0, 0.5)], r"\[0, 1\)"),
        ([(0.0, 1.0)], r"sparsity must lie in \[0, 1\)"),
        ([(0.0, -0.1)], r"sparsity must lie in \[0, 1\)"),
        ([(0.0,)], "pairs"),
        ("abc", "pairs"),
    ],
)
def test_phase_schedule_validation(boundaries, message):
    with pytest.raises(ValueError, match=message):
        PhaseSchedule(boundaries)


def test_phases_and_config_round_trip():
    s = schedules.dsd(0.5, 0.25, 0.75)
    assert s.phases() == [(0.0, 0.25, 0.0), (0.25, 0.75, 0.5), (0.75, 1.0, 0.0)]
    assert PhaseSchedule.from_config(s.get_config()) == s
    assert s.phase_index(0.5) == 1


def test_boundary_steps_round_to_the_nearest_step():
    s = PhaseSchedule([(0, 0), (0.1 + 0.2, 0.5), (0.6, 0)])
    assert s.boundary_steps(10) == (0, 3, 6)
    assert s.boundary_steps(7) == (0, 2, 4)  # 2.1 -> 2, 4.2 -> 4
    assert [s.sparsity_at_step(k, 10) for k in range(10)] == [0.0] * 3 + [0.5] * 3 + [0.0] * 4
    assert [s.next_boundary_step(k, 10) for k in (0, 2, 3, 5, 6, 9)] == [3, 3, 6, 6, None, None]
    assert s.phase_at_step(10**6, 10) == 2  # past the end: the last phase


def test_phase_and_next_boundary_read_one_table():
    s = PhaseSchedule([(k * 0.2, 0.5 * (k % 2)) for k in range(5)])  # 0.6000000000000001
    for total in (5, 7, 10, 13, 99, 100):
        starts = s.boundary_steps(total)
        for step in range(total):
            phase = s.phase_at_step(step, total)
            assert starts[phase] <= step
            following = s.next_boundary_step(step, total)
            if following is None:
                assert phase == len(starts) - 1
            else:
                assert following == starts[phase + 1] > step


def test_too_few_steps_for_the_phases_is_an_error():
    with pytest.raises(ValueError, match="total_steps=3"):
        schedules.alternate(0.5).boundary_steps(3)
    with pytest.raises(ValueError, match="total_steps=0"):
        schedules.alternate(0.5).boundary_steps(0)


def test_phase_schedule_serializes_with_keras():
    import keras

    s = schedules.dsd(0.7)
    config = keras.saving.serialize_keras_object(s)
    assert keras.saving.deserialize_keras_object(config) == s


def test_schedules_print_as_written_and_phases_in_words():
    alternate, dsd, dense, growth_only = (
        schedules.alternate, schedules.dsd, schedules.dense, schedules.growth_only
    )
    assert repr(alternate(0.7)) == "alternate(0.7, phase_fraction=0.2)"
    assert repr(dsd(0.5, 0.2, 0.6)) == "dsd(0.5, start=0.2, end=0.6)"
    assert repr(dense()) == "dense()"
    assert repr(PhaseSchedule([(0, 0), (0.5, 0.7)])) == "PhaseSchedule([[0.0, 0.0], [0.5, 0.7]])"
    restored = PhaseSchedule.from_config(alternate(0.7).get_config())
    assert restored == alternate(0.7) and repr(restored) == repr(alternate(0.7))
    assert [alternate(0.7).describe_phase(k) for k in range(3)] == [
        "dense warm-up", "sparse (70% pruned)", "dense (regrown)"
    ]
    assert growth_only(0.5).describe() == "sparse (50% pruned) 0-40%, dense (regrown) 40-100%"
    assert dense().describe() == "dense 0-100%"


def test_scoring_windows_precede_each_prune_within_the_phase_before():
    assert schedules.alternate(0.7).scoring_windows(100, 16) == [(4, 20), (44, 60)]
    assert schedules.alternate(0.7).scoring_windows(100, 30) == [(0, 20), (40, 60)]
    assert schedules.growth_only(0.5).scoring_windows(100, 16) == []  # starts sparse: random
    assert schedules.dense().scoring_windows(10, 4) == []
    rising = PhaseSchedule([(0, 0), (0.5, 0.3), (0.75, 0.6)])
    assert rising.scoring_windows(40, 8) == [(12, 20), (22, 30)]
