"""Days and the train / test / val split over them (`DaySplit`), as the reference cuts them.

Kaggle: the rows are cut, in file order, into 7 days of
`divmod(num_rows, 7)` rows with the first `num_rows % 7` days one row longer
(`DaySplit.equal_days`). Criteo 1TB: each file is one day
(`DaySplit.from_day_sizes`). Days 0 .. D-2 are `"train"`; the last day is
cut with `np.array_split(.., 2)`: the first `ceil(n / 2)` rows are `"test"`,
the remaining `floor(n / 2)` rows are `"val"`. Row indices count good rows
only (bad lines skipped with `skip_bad_lines` take no index; see `stats`).

Pure arithmetic on row counts (from `files.count_rows` or a `ParseStats`);
`stream` reads the row ranges it gives.
"""

import dataclasses
import itertools
import math

SPLITS = ("train", "test", "val")
KAGGLE_NUM_DAYS = 7


def equal_day_sizes(num_rows, num_days=KAGGLE_NUM_DAYS):
    """Rows per day when `num_rows` rows are cut into equal days (reference).

    The first `num_rows % num_days` days get one extra row.

    Example:

    ```python
    equal_day_sizes(45840617)   # (6548660, 6548660, 6548660, 6548660, 6548659, ...)
    equal_day_sizes(10)         # (2, 2, 2, 1, 1, 1, 1)
    ```
    """
    if num_days < 2:
        raise ValueError(f"`num_days` must be >= 2. Received: num_days={num_days}")
    if num_rows < 0:
        raise ValueError(f"`num_rows` must be >= 0. Received: num_rows={num_rows}")
    per_day, extra = divmod(int(num_rows), int(num_days))
    return tuple(per_day + (day < extra) for day in range(num_days))


@dataclasses.dataclass(frozen=True)
class DaySplit:
    """Days in file order, and the train / test / val row ranges over them.

    Row indices count good rows over all files in reading order. Days
    0 .. D-2 are `"train"`; the last day's first `ceil(n / 2)` rows are
    `"test"` and the rest `"val"` (the reference's `np.array_split(.., 2)`).
    `"all"` is every row.

    Example:

    ```python
    days = DaySplit.equal_days(45840617)       # Criteo Kaggle
    days.split_range("train")                  # (0, 39291958)
    days.split_range("test")                   # (39291958, 42566288)
    days.split_range("val")                    # (42566288, 45840617)
    days = DaySplit.from_day_sizes(count_rows([f"day_{d}" for d in range(24)]))   # 1TB
    ```
    """

    day_sizes: tuple

    def __post_init__(self):
        sizes = tuple(int(s) for s in self.day_sizes)
        if len(sizes) < 2 or min(sizes) < 0:
            raise ValueError(
                "A day split needs at least 2 days of non-negative size. "
                f"Received: day_sizes={self.day_sizes!r}"
            )
        object.__setattr__(self, "day_sizes", sizes)

    @classmethod
    def equal_days(cls, num_rows, num_days=KAGGLE_NUM_DAYS):
        """Kaggle: `num_rows` rows cut into `num_days` equal days in order."""
        return cls(equal_day_sizes(num_rows, num_days))

    @classmethod
    def from_day_sizes(cls, day_sizes):
        """1TB: one day per file, `day_sizes[d]` rows in day d."""
        return cls(tuple(day_sizes))

    @property
    def num_rows(self):
        return sum(self.day_sizes)

    @property
    def day_offsets(self):
        """`(D + 1,)` tuple; day d holds rows `[offsets[d], offsets[d + 1])`."""
        return tuple(itertools.accumulate(self.day_sizes, initial=0))

    def split_range(self, split):
        """`(start, stop)` good-row range of `"train"`, `"test"`, `"val"` or `"all"`."""
        offsets = self.day_offsets
        last_start, end = offsets[-2], offsets[-1]
        middle = last_start + math.ceil((end - last_start) / 2)
        ranges = {
            "train": (0, last_start),
            "test": (last_start, middle),
            "val": (middle, end),
            "all": (0, end),
        }
        if split not in ranges:
            raise ValueError(
                f"`split` must be one of {tuple(ranges)}. Received: split={split!r}"
            )
        return ranges[split]

    def split_sizes(self):
        """Rows per split, e.g. `{"train": .., "test": .., "val": ..}`."""
        return {s: self.split_range(s)[1] - self.split_range(s)[0] for s in SPLITS}

    def boundaries(self, start, stop):
        """Day and split boundaries strictly inside `(start, stop)`, sorted."""
        cuts = set(self.day_offsets) | {self.split_range("test")[1]}
        return sorted(c for c in cuts if start < c < stop)
