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
    """Calls the callbacks' step hooks as `fit` would, once per `steps_per_execution` steps."""

    def __init__(self, steps_per_execution=1):
        self.steps_per_execution = steps_per_execution
        self.steps_per_epoch = None

    def fit(self, dataset, steps_per_epoch, callbacks, **kwargs):
        self.steps_per_epoch = steps_per_epoch
        n = self.steps_per_execution
        for step in range(0, steps_per_epoch, n):
            for callback in callbacks:
                callback.on_train_batch_begin(step)
            for callback in callbacks:
                callback.on_train_batch_end(step + n - 1)


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


def test_timed_fit_rounds_to_whole_executions_and_divides_their_time(monkeypatch):
    # Executions of 4 steps, 1 s apart: 0.25 s a step; 5 warm-up steps -> 2 calls, 6 timed -> 2.
    monkeypatch.setattr(timing.time, "perf_counter", _clock(0.5))
    monkeypatch.setattr(timing.time, "process_time", _clock(0.25))
    model = _FakeModel(steps_per_execution=4)
    result = timing.timed_fit(
        model, None, warmup=5, steps=6, timer_cls=timing.timer_class(_Base), steps_per_execution=4
    )
    assert model.steps_per_epoch == 16
    assert result["timed_steps"] == 8
    assert result["median_ms"] == pytest.approx(250.0)
    assert result["cpu_ms_per_step"] == pytest.approx(125.0)
    assert result["first_step_s"] == pytest.approx(0.5)  # the first call, all of it


def test_step_timer_records_the_steps_each_call_covers():
    timer = timing.timer_class(_Base)()
    _FakeModel(steps_per_execution=3).fit(None, steps_per_epoch=6, callbacks=[timer])
    assert timer.first_steps == [0, 3] and timer.last_steps == [2, 5]
