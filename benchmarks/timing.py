"""Timing train steps: a step timer for either Keras, timed `fit` runs, medians, load."""

import math
import os
import time

import numpy as np


def load_average():
    """The 1, 5 and 15 minute load averages, rounded to 2 digits."""
    return [round(x, 2) for x in os.getloadavg()]


def median(values):
    """The median of `values` (the mean of the middle two for an even count); None if empty."""
    values = sorted(values)
    n = len(values)
    if not n:
        return None
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def timer_class(base):
    """A step timer callback derived from `base`, the Callback of Keras 3 or of tf_keras."""

    class StepTimer(base):
        """Wall and CPU time at the begin and end of every call of the train
        function (one step, or `steps_per_execution` of them), and the first
        and last step each call covers, as `fit` numbers them."""

        def __init__(self):
            super().__init__()
            self.begins, self.ends, self.cpu_begins, self.cpu_ends = [], [], [], []
            self.first_steps, self.last_steps = [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.first_steps.append(batch)
            self.begins.append(time.perf_counter())
            self.cpu_begins.append(time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())
            self.cpu_ends.append(time.process_time())
            self.last_steps.append(batch)

    return StepTimer


def executions(count, steps_per_execution):
    """Calls of the train function that run at least `count` steps."""
    return max(1, math.ceil(count / steps_per_execution))


def timed_fit(model, dataset, warmup, steps, timer_cls, callbacks=(), steps_per_execution=1):
    """Runs at least `warmup` steps, then times at least `steps` more with `fit`.

    With `steps_per_execution = N` (compiled into `model`) both counts are
    rounded up to whole calls of N steps, and a step's time is its call's
    divided by N. `first_step_s` is the first call's time (tracing and
    compilation).
    """
    n = steps_per_execution
    warmup_calls, timed_calls = executions(warmup, n), executions(steps, n)
    timer = timer_cls()
    model.fit(
        dataset,
        steps_per_epoch=(warmup_calls + timed_calls) * n,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=list(callbacks) + [timer],
    )
    ends = np.asarray(timer.ends)
    per_step = np.diff(ends[warmup_calls - 1:]) / n
    cpu_s = timer.cpu_ends[-1] - timer.cpu_ends[warmup_calls - 1]
    return {
        "median_ms": float(np.median(per_step)) * 1e3,
        "mean_ms": float(np.mean(per_step)) * 1e3,
        "cpu_ms_per_step": cpu_s * 1e3 / (timed_calls * n),
        "first_step_s": timer.ends[0] - timer.begins[0],
        "timed_steps": timed_calls * n,
        "load": load_average()[0],
    }
