"""Progress lines: what is running, the elapsed time and a rough time left."""

import time

from benchmarks.timing import load_average


def work_units(samples):
    """Rough cost of training on `samples` samples plus a fixed cost per `fit`, for the ETA."""
    return samples / 1e5 + 0.5


class Progress:
    """Prints what is running, elapsed time and a rough time left."""

    def __init__(self, total_units):
        self.started = time.perf_counter()
        self.total = total_units
        self.done = 0.0

    def advance(self, units, message=None):
        self.done += units
        if message is None:
            return
        elapsed = time.perf_counter() - self.started
        # Never below zero: the units are estimates.
        left = max(elapsed / self.done * (self.total - self.done), 0.0) if self.done else 0.0
        print(
            f"[{elapsed:6.0f}s, ~{left:4.0f}s left, load {load_average()[0]:.2f}] {message}",
            flush=True,
        )

    def say(self, message):
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.0f}s] {message}", flush=True)


def total_units(settings):
    """Work units of a whole run: every configuration's rounds, then the end-to-end pairs."""
    per_round = sum(work_units(settings.steps * b) for b in settings.batch_sizes)
    units = settings.repeats * per_round * len(settings.jit_compile) * len(settings.variants)
    if settings.e2e_samples:
        e2e_samples = settings.e2e_samples // settings.e2e_batch_size * settings.e2e_batch_size
        units += 2 * settings.e2e_repeats * work_units(e2e_samples)
    return units
