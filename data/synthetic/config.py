"""`SyntheticCriteoConfig`: the knobs of a synthetic stream, their defaults
and their validation.

A `SyntheticCriteo` (`stream`) is a pure function of its config. The
defaults follow Criteo Kaggle `train.txt`: its vocabulary sizes (capped),
the missing rates of its columns and Zipf exponents fitted to it. Also here:
`TIME_STEPS_PER_DAY`, how often a day the drift moves (part of the data
contract, like `stream.BLOCK_ROWS`), and `is_int`, the integer check every
validation shares.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import features

# Missing rates of Criteo Kaggle train.txt, per column.
DEFAULT_DENSE_MISSING_RATES = (
    0.4536, 0.0, 0.2148, 0.2208, 0.0260, 0.2233, 0.0434, 0.0005, 0.0434,
    0.4536, 0.0434, 0.7656, 0.2208,
)
DEFAULT_SPARSE_MISSING_RATES = (
    0.0, 0.0, 0.034, 0.034, 0.0, 0.121, 0.0, 0.0, 0.0, 0.0, 0.0, 0.034, 0.0,
    0.0, 0.0, 0.034, 0.0, 0.0, 0.44, 0.44, 0.034, 0.763, 0.0, 0.034, 0.44,
    0.44,
)
# Zipf exponents fitted by eye to the share of each column's most frequent
# value in the public 1,000-row head of train.txt.
DEFAULT_ZIPF_EXPONENTS = (
    1.6, 0.9, 1.0, 1.0, 2.2, 1.8, 0.65, 1.9, 3.5, 1.3, 0.75, 1.0, 0.7, 1.3,
    0.8, 1.0, 1.4, 0.9, 1.9, 0.2, 1.0, 1.5, 1.6, 1.0, 1.3, 1.0,
)

TIME_STEPS_PER_DAY = 4
"""The teacher's latent rotation and the dense drift move this often a day;
the teacher's bias is calibrated per step."""


TEACHERS = {
    # The stream's default: the main job's and the tests'.
    "default": {},
    # Capacity matters: many strongly nonlinear interaction heads and a wide
    # dense MLP, so a model with fewer neurons fits the clicks clearly worse
    # (the premise of growth and pruning; measured in results/README.md).
    "rich": {
        "first_order_scale": 0.7,
        "nonlinear_scale": 1.5,
        "nonlinear_heads": 48,
        "tanh_gain": 3.0,
        "dense_scale": 1.0,
        "dense_hidden": 64,
    },
}
"""Named teachers: `SyntheticCriteoConfig` overrides (`train.py --synthetic_teacher`)."""


def is_int(value):
    """Whether `value` is a Python or numpy integer (a bool is not)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _per_column(value, count, name):
    """Broadcasts a scalar to a tuple of `count` floats, or checks a sequence."""
    if np.ndim(value) == 0:
        return (float(value),) * count
    values = tuple(float(v) for v in value)
    if len(values) != count:
        raise ValueError(
            f"`{name}` must be a float or a sequence of {count} floats. "
            f"Received: {name}={value!r}"
        )
    return values


@dataclasses.dataclass(frozen=True)
class SyntheticCriteoConfig:
    """Configuration of a `SyntheticCriteo` stream.

    Args:
        seed: Non-negative integer; the whole stream is a function of it.
        num_days: Number of days in the stream.
        rows_per_day: Rows of each day.
        vocab_sizes: 26 full vocabulary sizes (missing value included);
            default: Criteo Kaggle's.
        max_vocab_size: Cap on each vocabulary size. The default keeps the
            total near 10**6 ids, small enough for a laptop; `None` gives
            Criteo's full sizes (34M ids: about a minute to calibrate and
            1.5 GB of memory).
        click_rate: Target mean label over the stream; the teacher's bias is
            calibrated to it.
        zipf_exponents: Zipf exponent of the popularity of each column's
            ids, a float or 26 floats.
        dense_missing_rates: Rate of empty I1..I13, a float or 13 floats.
        sparse_missing_rates: Rate of empty C1..C26, a float or 26 floats.
        latent_dim: Dimension of the teacher's per-id latent vectors.
        first_order_scale: Standard deviation of the teacher's per-id
            (first-order) logit term.
        pairwise_scale: Standard deviation of its linear pairwise
            interaction term.
        nonlinear_scale: Standard deviation of its term nonlinear in
            interactions.
        nonlinear_heads: Number of interaction heads in that term, each
            through its own tanh: more heads, more hidden units a model
            needs to fit it.
        tanh_gain: Spread of each such head's tanh input, in units of the
            head's own spread (larger: more strongly nonlinear).
        dense_scale: Standard deviation of its dense-feature MLP term.
        dense_hidden: Hidden units of that MLP.
        latent_rotation_per_day: Steady turn (radians per day) of each
            rotation angle of the teacher's latent vectors (each field turns
            in its own planes and directions).
        latent_rotation_noise_per_day: Standard deviation (radians) of the
            daily random-walk change of each of those angles, on top of the
            steady turn: after `d` days about `sqrt(d)` times this.
        popularity_drift: Standard deviation of the drifting part of each
            id's log-popularity (whose base is Zipf's `-s * log(rank)`):
            the long tail reorders quickly, the head rarely.
        popularity_rotation_per_day: Angle (radians per day) by which the
            drifting part of the popularity score turns.
        new_id_fraction_per_day: Share of a column's ids first appearing on
            each day after day 0 (columns with fewer than
            `1 / new_id_fraction_per_day` ids get none).
        dense_drift_per_day: Shift per day of the log-mean of each count
            column (direction per column fixed by the seed).
        teacher_table_rows: A column with more ids than this gets its latent
            vectors as the sum of two hashed tables of this many rows
            (memory stays bounded for full-size vocabularies).
        calibration_rows: Rows (spread over all days) used to normalize the
            teacher's terms and calibrate its bias.

    Example:

    ```python
    config = SyntheticCriteoConfig(seed=1, rows_per_day=100_000, max_vocab_size=10_000)
    config.effective_vocab_sizes[:3]   # (1460, 583, 10000)
    ```
    """

    seed: int = 0
    num_days: int = 7
    rows_per_day: int = 500_000
    vocab_sizes: tuple = features.CRITEO_KAGGLE_VOCAB_SIZES
    max_vocab_size: int | None = 100_000
    click_rate: float = 0.25
    zipf_exponents: float | tuple = DEFAULT_ZIPF_EXPONENTS
    dense_missing_rates: float | tuple = DEFAULT_DENSE_MISSING_RATES
    sparse_missing_rates: float | tuple = DEFAULT_SPARSE_MISSING_RATES
    latent_dim: int = 8
    first_order_scale: float = 1.0
    pairwise_scale: float = 0.7
    nonlinear_scale: float = 0.5
    nonlinear_heads: int = 3
    tanh_gain: float = 1.5
    dense_scale: float = 0.5
    dense_hidden: int = 16
    latent_rotation_per_day: float = 0.1
    latent_rotation_noise_per_day: float = 0.1
    popularity_drift: float = 0.5
    popularity_rotation_per_day: float = 0.3
    new_id_fraction_per_day: float = 0.02
    dense_drift_per_day: float = 0.03
    teacher_table_rows: int = 1 << 18
    calibration_rows: int = 1 << 16

    def __post_init__(self):
        def require(ok, name, rule):
            if not ok:
                raise ValueError(
                    f"`{name}` {rule}. Received: {name}={getattr(self, name)!r}"
                )

        require(is_int(self.seed) and self.seed >= 0, "seed", "must be a non-negative integer")
        require(is_int(self.num_days) and self.num_days >= 1, "num_days", "must be an integer >= 1")
        require(
            is_int(self.rows_per_day) and self.rows_per_day >= 1,
            "rows_per_day", "must be an integer >= 1",
        )
        sizes = tuple(self.vocab_sizes)
        require(
            len(sizes) == features.NUM_SPARSE
            and all(is_int(v) and 2 <= v <= 2**31 for v in sizes),
            "vocab_sizes", f"must be {features.NUM_SPARSE} integers in [2, 2**31] (int32 ids)",
        )
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in sizes))
        require(
            self.max_vocab_size is None
            or (is_int(self.max_vocab_size) and self.max_vocab_size >= 2),
            "max_vocab_size", "must be None or an integer >= 2",
        )
        require(0.0 < self.click_rate < 1.0, "click_rate", "must lie in (0, 1)")
        for name, count in (
            ("zipf_exponents", features.NUM_SPARSE),
            ("dense_missing_rates", features.NUM_DENSE),
            ("sparse_missing_rates", features.NUM_SPARSE),
        ):
            object.__setattr__(self, name, _per_column(getattr(self, name), count, name))
        require(all(s >= 0.0 for s in self.zipf_exponents), "zipf_exponents", "must be >= 0")
        for name in ("dense_missing_rates", "sparse_missing_rates"):
            require(all(0.0 <= r < 1.0 for r in getattr(self, name)), name, "must lie in [0, 1)")
        require(is_int(self.latent_dim) and self.latent_dim >= 1, "latent_dim", "must be >= 1")
        for name in ("nonlinear_heads", "dense_hidden"):
            require(is_int(getattr(self, name)) and getattr(self, name) >= 1, name,
                    "must be an integer >= 1")
        require(self.tanh_gain > 0.0, "tanh_gain", "must be > 0")
        for name in (
            "first_order_scale", "pairwise_scale", "nonlinear_scale", "dense_scale",
            "latent_rotation_per_day", "latent_rotation_noise_per_day",
            "popularity_drift", "popularity_rotation_per_day", "dense_drift_per_day",
        ):
            require(getattr(self, name) >= 0.0, name, "must be >= 0")
        require(
            0.0 <= self.new_id_fraction_per_day
            and self.new_id_fraction_per_day * (self.num_days - 1) < 1.0,
            "new_id_fraction_per_day",
            f"must be >= 0 and leave some ids on day 0 (times num_days - 1 = "
            f"{self.num_days - 1} below 1)",
        )
        require(
            is_int(self.teacher_table_rows) and self.teacher_table_rows >= 2,
            "teacher_table_rows", "must be an integer >= 2",
        )
        require(
            is_int(self.calibration_rows)
            and self.calibration_rows >= self.num_days * TIME_STEPS_PER_DAY * 64,
            "calibration_rows",
            f"must be an integer >= {TIME_STEPS_PER_DAY * 64} * num_days",
        )

    @property
    def effective_vocab_sizes(self):
        """The 26 vocabulary sizes after the `max_vocab_size` cap."""
        if self.max_vocab_size is None:
            return self.vocab_sizes
        return tuple(min(v, self.max_vocab_size) for v in self.vocab_sizes)
