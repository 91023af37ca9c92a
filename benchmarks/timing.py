"""Timing train steps: a step timer for either Keras, timed `fit` runs, medians, load."""

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
        """Wall and CPU time at the begin and end of every step."""

        def __init__(self):
            super().__init__()
            self.begins, self.ends, self.cpu_begins, self.cpu_ends = [], [], [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.begins.append(time.perf_counter())
            self.cpu_begins.append(time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())
            self.cpu_ends.append(time.process_time())

    return StepTimer


def timed_fit(model, dataset, warmup, steps, timer_cls, callbacks=()):
    """Runs `warmup + steps` steps with `fit`; times the last `steps`."""
    timer = timer_cls()
    model.fit(
        dataset,
        steps_per_epoch=warmup + steps,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=list(callbacks) + [timer],
    )
    ends = np.asarray(timer.ends)
    per_step = np.diff(ends[warmup - 1:])
    return {
        "median_ms": float(np.median(per_step)) * 1e3,
        "mean_ms": float(np.mean(per_step)) * 1e3,
        "cpu_ms_per_step": (timer.cpu_ends[-1] - timer.cpu_ends[warmup - 1]) * 1e3 / steps,
        "first_step_s": timer.ends[0] - timer.begins[0],
        "load": load_average()[0],
    }
