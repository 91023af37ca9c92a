"""benchmarks.progress: the work units behind the time-left estimate."""

import types

import pytest

from benchmarks import progress


def test_work_units():
    assert progress.work_units(0) == 0.5  # a `fit` call costs something even without samples
    assert progress.work_units(200_000) == pytest.approx(2.5)


def test_total_units_counts_every_round_and_both_runs_of_each_pair():
    settings = types.SimpleNamespace(
        steps=10, batch_sizes=(100, 1000), repeats=2, jit_compile=(True, False),
        variants=("dense", "static", "floor"), e2e_samples=0, e2e_batch_size=64, e2e_repeats=3,
    )
    rounds = 2 * (progress.work_units(1_000) + progress.work_units(10_000)) * 2 * 3
    assert progress.total_units(settings) == pytest.approx(rounds)
    # 1000 samples are 15 whole batches of 64: 960.
    with_e2e = types.SimpleNamespace(**{**vars(settings), "e2e_samples": 1000})
    assert progress.total_units(with_e2e) == pytest.approx(
        rounds + 2 * 3 * progress.work_units(960)
    )


def test_progress_prints_elapsed_and_time_left(capsys):
    bar = progress.Progress(total_units=4.0)
    bar.advance(1.0)  # no message: counted, nothing printed
    bar.advance(1.0, "half way")
    bar.say("done")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert "left, load" in out[0] and out[0].endswith("half way")
    assert out[1].endswith("] done")
