"""Row sampling: the observable features of a block of rows.

`RowSampler.sample` draws what a click log shows of each row: 26
categorical ids (from `popularity`, then some missing) and 13 heavy-tailed
integer counts (some missing, the occasional negative I2) whose
distribution shifts a little from day to day. The shapes follow the public
head of Criteo Kaggle `train.txt`. `stream` samples each block from its own
seed; the teacher (`teacher`) samples its calibration rows here too, and
labels the rows.
"""

import math

import numpy as np

from .. import features

# Columns of one group go missing together (one shared uniform per group), as
# in the real data (I1/I10; I4/I13; I7/I9/I11; C3/C4/C12/C16/C21/C24;
# C19/C20/C25/C26).
_DENSE_MISSING_GROUPS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 6, 0, 6, 8, 3])
_SPARSE_MISSING_GROUPS = np.array(
    [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 2, 10, 11, 12, 2, 13, 14, 15, 15, 2, 16,
     17, 2, 15, 15]
)

# Per dense column: share of zeros, and log-logistic location and scale (as
# the mean and standard deviation of the log) of the positive counts, fitted
# by eye to the quantiles of the public head of train.txt.
_DENSE_ZERO_RATE = np.array(
    [0.45, 0.15, 0.01, 0.09, 0.01, 0.07, 0.26, 0.12, 0.03, 0.52, 0.27, 0.70, 0.06],
    dtype=np.float32,
)
_DENSE_MU = np.array(
    [0.9, 2.1, 1.8, 1.6, 8.0, 3.8, 1.6, 2.3, 3.8, 0.0, 0.7, 0.7, 1.6], dtype=np.float32
)
_DENSE_SIGMA = np.array(
    [1.1, 2.2, 1.5, 0.9, 1.8, 1.6, 1.5, 1.0, 1.4, 0.4, 0.9, 1.0, 1.0], dtype=np.float32
)
# Largest value of each count column in train.txt; the tails stop there.
_DENSE_MAX = np.array(
    [5775, 257675, 65535, 969, 23159456, 431037, 56311, 6047, 29019, 11, 231, 4008, 7393],
    dtype=np.int32,
)
_I2_NEGATIVE_RATE = 0.10  # I2 is -1, -2 or -3 this often
_DENSE_ROW_CORRELATION = 0.3  # shared "activity" factor across a row's counts


class RowSampler:
    """Draws the features of rows.

    Args:
        config: The stream's `SyntheticCriteoConfig`.
        popularity: The stream's `popularity.Popularity`.
        dense_drift: float32 `(13,)`, the direction (+1 or -1) in which each
            count column's log-mean drifts.
    """

    def __init__(self, config, popularity, dense_drift):
        self._config = config
        self._popularity = popularity
        self._dense_drift = dense_drift
        self._sparse_missing_rates = np.array(config.sparse_missing_rates, np.float32)[:, None]
        self._dense_missing_rates = np.array(config.dense_missing_rates, np.float32)

    def sample(self, rng, n, day, t):
        """Draws `n` rows of `day` at time `t` (in days) from `rng`.

        Returns:
            ids (26, n) int32 (`MISSING_ID` where empty), raw dense counts
            (n, 13) int32 (0 where missing) and their missing mask (n, 13).
        """
        num_dense = features.NUM_DENSE
        # Categorical: Zipf rank -> id of the day, then missing values.
        ids = self._popularity.draw(rng, n, day)
        groups = _SPARSE_MISSING_GROUPS
        group_u = rng.random((groups.max() + 1, n), dtype=np.float32)
        ids *= group_u[groups] >= self._sparse_missing_rates  # MISSING_ID == 0

        # Dense: log-logistic counts (heavier-tailed than lognormal, and a
        # logistic variate costs one uniform) sharing a per-row factor. In
        # place where it can be (see `Teacher._heads` on temporaries).
        noise = rng.random((n, num_dense + 1), dtype=np.float32)
        np.clip(noise, np.float32(1e-7), np.float32(1.0 - 1e-7), out=noise)
        noise /= np.float32(1.0) - noise
        np.log(noise, out=noise)  # logistic, variance pi^2 / 3
        z = noise[:, :num_dense] * np.float32(math.sqrt(1.0 - _DENSE_ROW_CORRELATION))
        z += noise[:, num_dense:] * np.float32(math.sqrt(_DENSE_ROW_CORRELATION))
        z *= _DENSE_SIGMA * np.float32(math.sqrt(3.0) / math.pi)  # unit variance first
        z += _DENSE_MU + np.float32(self._config.dense_drift_per_day * t) * self._dense_drift
        np.minimum(z, np.float32(21.0), out=z)  # exp(21) ~ 1.3e9 < 2**31
        np.exp(z, out=z)
        z += np.float32(0.5)
        np.maximum(z, np.float32(1.0), out=z)
        counts = z.astype(np.int32)  # (n, 13)
        np.minimum(counts, _DENSE_MAX, out=counts)
        zero_u = rng.random((n, num_dense), dtype=np.float32)
        counts *= zero_u >= _DENSE_ZERO_RATE
        # I2 (column 1): -1, -2 or -3 in the band of zero_u just above zeros.
        negative_u = (zero_u[:, 1] - _DENSE_ZERO_RATE[1]) * np.float32(1.0 / _I2_NEGATIVE_RATE)
        negative_value = -1 - (negative_u >= 0.8).astype(np.int32) - (negative_u >= 0.95)
        counts[:, 1] = np.where((negative_u >= 0) & (negative_u < 1), negative_value, counts[:, 1])
        dense_groups = _DENSE_MISSING_GROUPS
        group_u = rng.random((n, dense_groups.max() + 1), dtype=np.float32)
        missing = group_u[:, dense_groups] < self._dense_missing_rates  # (n, 13)
        counts *= ~missing
        return ids, counts, missing
