"""`SyntheticBatch`: consecutive rows of one day of the stream, as numpy arrays.

The layout is that of `agp_tf.data.features` (dense already preprocessed:
missing -> 0, negative -> 0, `log(x + 1)`; categorical as contiguous ids in
`[0, vocab_size)`, id `MISSING_ID` for an empty value), plus the raw integer
counts, their missing mask, the per-column hash salts (`hashing`) and the
teacher's click probability. `stream` makes batches; a batch slices, joins
with its neighbours and writes itself as raw text (`tsv`).
"""

import dataclasses

import numpy as np

from .. import features
from .hashing import ids_to_hashes
from .tsv import format_tsv

MISSING_ID = 0
"""Id of an empty categorical value in every column."""


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SyntheticBatch:
    """Consecutive rows of one day of a `SyntheticCriteo` stream.

    Attributes:
        day: The day of the rows.
        start: Index of the first row within the day.
        labels: float32, shape `(num_rows,)`, 1.0 for a click.
        dense: float32, shape `(num_rows, 13)`, preprocessed counts
            (`features.DENSE_KEY` layout).
        sparse: int32, shape `(num_rows, 26)`, contiguous ids, `MISSING_ID`
            where empty (`features.SPARSE_KEY` layout).
        dense_raw: int32, shape `(num_rows, 13)`, raw counts (0 where
            missing; I2 may be negative).
        dense_missing: bool, shape `(num_rows, 13)`.
        probabilities: float32, shape `(num_rows,)`, the teacher's click
            probability (the Bayes-optimal prediction).
        hash_salts: uint32, shape `(26,)`, the id -> hash salt per column.

    Example:

    ```python
    batch = SyntheticCriteo(rows_per_day=1000).day(0)
    x, y = batch.features(), batch.labels
    text = batch.to_tsv()   # the same rows as Criteo Kaggle text
    ```
    """

    day: int
    start: int
    labels: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    dense_raw: np.ndarray
    dense_missing: np.ndarray
    probabilities: np.ndarray
    hash_salts: np.ndarray

    _ROW_FIELDS = (
        "labels", "dense", "sparse", "dense_raw", "dense_missing", "probabilities",
    )

    def __repr__(self):
        return f"SyntheticBatch(day={self.day}, start={self.start}, num_rows={self.num_rows})"

    @property
    def num_rows(self):
        """Number of rows."""
        return len(self.labels)

    @property
    def sparse_missing(self):
        """bool, shape `(num_rows, 26)`: where a categorical value is empty."""
        return self.sparse == MISSING_ID

    def features(self):
        """The `features.DENSE_KEY` / `features.SPARSE_KEY` feature dict.

        Example:

        ```python
        model.fit(batch.features(), batch.labels)
        ```
        """
        return {features.DENSE_KEY: self.dense, features.SPARSE_KEY: self.sparse}

    def sparse_hashes(self):
        """uint32, shape `(num_rows, 26)`: the raw hash of every categorical
        value (also defined where missing; the text leaves those empty).

        Example:

        ```python
        f"{batch.sparse_hashes()[0, 0]:08x}"   # C1 of the first row, as in the text
        ```
        """
        return ids_to_hashes(self.sparse, self.hash_salts[None, :])

    def to_tsv(self):
        """The rows as Criteo Kaggle `train.txt` text (bytes, one line a row).

        Example:

        ```python
        batch.to_tsv().split(b"\n")[0].count(b"\t")   # 39: 40 fields
        ```
        """
        return format_tsv(
            self.labels, self.dense_raw, self.dense_missing,
            self.sparse_hashes(), self.sparse_missing,
        )

    def slice(self, start, stop):
        """Rows `[start, stop)` of this batch, as a batch (views, no copy).

        Example:

        ```python
        head = batch.slice(0, 100)   # head.start == batch.start
        ```
        """
        if not 0 <= start <= stop <= self.num_rows:
            raise ValueError(
                f"`start` and `stop` must satisfy 0 <= start <= stop <= num_rows "
                f"({self.num_rows}). Received: start={start!r}, stop={stop!r}"
            )
        arrays = {name: getattr(self, name)[start:stop] for name in self._ROW_FIELDS}
        return dataclasses.replace(self, start=self.start + start, **arrays)

    @staticmethod
    def concatenate(batches):
        """Joins consecutive batches of one day into one batch.

        Example:

        ```python
        whole = SyntheticBatch.concatenate(stream.windows(days=[0], window_rows=1000))
        ```
        """
        batches = list(batches)
        for before, after in zip(batches, batches[1:]):
            if after.day != before.day or after.start != before.start + before.num_rows:
                raise ValueError(
                    "`batches` must be consecutive rows of one day. Received: batches "
                    f"with (day, start, num_rows) ({before.day}, {before.start}, "
                    f"{before.num_rows}) then ({after.day}, {after.start}, {after.num_rows})"
                )
        if len(batches) == 1:
            return batches[0]
        arrays = {
            name: np.concatenate([getattr(b, name) for b in batches])
            for name in SyntheticBatch._ROW_FIELDS
        }
        return dataclasses.replace(batches[0], **arrays)
