"""benchmarks.timing: medians, the load and a timed `fit` on a stand-in model."""

import pytest

from benchmarks import timing


def test_median():
    assert timing.median([]) is None
    assert timing.median([3.0, 1.0, 2.0]) == 2.0
    assert timing.median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_load_average_is_three_rounded_numbers():
    load = timing.load_average()
    assert len(load) == 3 and all(round(x, 2) == x for x in load)


class _FakeModel:
    """Calls the callbacks' step hooks as `fit` would, `steps_per_epoch` times."""

    def fit(self, dataset, steps_per_epoch, callbacks, **kwargs):
        for step in range(steps_per_epoch):
            for callback in callbacks:
                callback.on_train_batch_begin(step)
            for callback in callbacks:
                callback.on_train_batch_end(step)


class _Base:
    pass


def _clock(tick):
    """A clock that moves on by `tick` seconds at every reading."""
    readings = iter(range(1_000))
    return lambda: next(readings) * tick


def test_timed_fit_times_only_the_steps_after_warmup(monkeypatch):
    # Each step: begin, end; the ends lie 1 s apart on the wall clock, 0.5 s on the CPU one.
    monkeypatch.setattr(timing.time, "perf_counter", _clock(0.5))
    monkeypatch.setattr(timing.time, "process_time", _clock(0.25))
    timer_cls = timing.timer_class(_Base)
    result = timing.timed_fit(_FakeModel(), None, warmup=2, steps=3, timer_cls=timer_cls)
    assert result["median_ms"] == pytest.approx(1000.0)
    assert result["mean_ms"] == pytest.approx(1000.0)
    assert result["cpu_ms_per_step"] == pytest.approx(500.0)
    assert result["first_step_s"] == pytest.approx(0.5)
    assert isinstance(result["load"], float)  # the 1-minute load average at the end
