"""Spread over seeds and the significance rule: pure functions.

A configuration and the baseline trained with the same seed see the same
data in the same order from the same initial weights, so their difference
is measured per seed (paired), and its spread over seeds is the noise of
the difference itself. A difference counts as significant only when it is
larger than both the paper's bar (0.1%) and two standard errors of the
mean paired difference.
"""

import dataclasses
import math

from .experiments import NEUTRAL


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Mean over seeds, the sample standard deviation (nan for one seed),
    and the standard error of the mean."""

    mean: float
    std: float
    count: int

    @property
    def standard_error(self):
        return self.std / math.sqrt(self.count) if self.count > 1 else math.nan


def estimate(values):
    """`Estimate` of a list of per-seed values.

    Example:

    ```python
    estimate([1.0, 2.0, 3.0])   # Estimate(mean=2.0, std=1.0, count=3)
    ```
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("estimate needs at least one value")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return Estimate(mean, math.nan, 1)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return Estimate(mean, math.sqrt(variance), len(values))


def paired_relative_change(values, baselines):
    """`Estimate` of `value / baseline - 1` over seeds, seed by seed.

    Args:
        values, baselines: Dicts seed -> value; the seeds both hold count.

    Raises:
        ValueError: no seed in common.
    """
    seeds = sorted(set(values) & set(baselines))
    if not seeds:
        raise ValueError(f"no seed in common: {sorted(values)} and {sorted(baselines)}")
    return estimate([values[s] / baselines[s] - 1.0 for s in seeds])


def is_significant(change, bar=NEUTRAL):
    """Whether a paired change is beyond both `bar` and two standard errors.

    Example:

    ```python
    is_significant(Estimate(0.003, 0.001, 3))   # True: 0.3% > 0.1% and > 2 * 0.058%
    is_significant(Estimate(0.003, 0.004, 3))   # False: within two standard errors
    ```
    """
    error = change.standard_error
    if math.isnan(error):
        return False  # one seed: no noise estimate, no claim
    return abs(change.mean) > bar and abs(change.mean) > 2.0 * error
