"""`SyntheticCriteo`: the stream of days, read as rows, windows, a
`tf.data.Dataset` or raw text.

The stream composes the other modules: each block of `BLOCK_ROWS` rows
of a day is sampled by `sampling` (ids through `popularity`) from its own
seed (`seeds`) and labelled by `teacher`, whose drift moves with the
block's time step (`config.TIME_STEPS_PER_DAY` a day). Everything is a pure
function of `(config, day, row range)`: day `d` is generated without
generating days `0..d-1`, so the same seed gives the same data bit for bit
on a given platform (numpy build and CPU), whatever window size or order it
is read in. Generation is vectorized numpy, several hundred thousand rows
per second on one core; a stream is safe to read from several threads.
Rows come as `batch.SyntheticBatch`es.
"""

import dataclasses
import math

import numpy as np

from .. import features
from . import seeds
from .batch import SyntheticBatch
from .config import TIME_STEPS_PER_DAY, SyntheticCriteoConfig, is_int
from .hashing import hashes_to_ids, ids_to_hashes
from .popularity import Popularity
from .sampling import RowSampler
from .teacher import Teacher

BLOCK_ROWS = 16_384
"""Rows per independently seeded block of a day. Part of the data contract:
changing it changes the generated data."""


class SyntheticCriteo:
    """A seeded, drifting, Criteo-like click stream.

    Args:
        config: A `SyntheticCriteoConfig`; default: the default config.
        **overrides: Fields of the config to replace, e.g. `seed=3`.

    The first call that needs rows builds and calibrates the teacher (one to
    two seconds at the default size, longer with full-size vocabularies).
    Day `d` is independent of the other days: `day(6)` does not generate
    days 0..5.

    Example:

    ```python
    stream = SyntheticCriteo(seed=0, rows_per_day=100_000, max_vocab_size=10_000)
    day0 = stream.day(0)                       # SyntheticBatch of 100k rows
    for window in stream.windows(days=[1], window_rows=20_000):
        ...                                    # 5 windows of day 1, in order
    ds = stream.dataset(days=range(6), batch_size=128)   # tf.data batches
    stream.write_tsv("/tmp/train.txt", days=[6], num_rows=1000)
    ```
    """

    def __init__(self, config=None, **overrides):
        if config is None:
            config = SyntheticCriteoConfig(**overrides)
        elif not isinstance(config, SyntheticCriteoConfig):
            raise TypeError(
                f"`config` must be a SyntheticCriteoConfig or None. Received: config={config!r}"
            )
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self._config = config
        self._vocab = np.array(config.effective_vocab_sizes, dtype=np.int64)
        rng = seeds.rng(config.seed, seeds.TAG_HASH)
        # Salts in [1, 2**32 - vocab]: no id maps to the hash 00000000,
        # which the reference preprocessing reads as an empty field.
        salts = rng.integers(1, 2**32 - self._vocab + 1, size=features.NUM_SPARSE)
        self._hash_salts = salts.astype(np.uint32)
        dense_drift = rng.choice([-1.0, 1.0], size=features.NUM_DENSE).astype(np.float32)
        self._sampler = RowSampler(config, Popularity(config, self._vocab), dense_drift)
        self._teacher = Teacher(config, self._vocab, self._sampler.sample)

    # ----- Public accessors.

    @property
    def config(self):
        """The `SyntheticCriteoConfig`."""
        return self._config

    @property
    def vocab_sizes(self):
        """The 26 vocabulary sizes of the ids (missing id included)."""
        return tuple(int(v) for v in self._vocab)

    @property
    def num_days(self):
        """Number of days."""
        return self._config.num_days

    @property
    def rows_per_day(self):
        """Rows per day."""
        return self._config.rows_per_day

    def ids_to_hashes(self, column, ids):
        """Raw hash values (uint32) of ids of categorical column `column` (0-25).

        Example:

        ```python
        stream.hashes_to_ids(3, stream.ids_to_hashes(3, [1, 2]))   # [1, 2]
        ```
        """
        return ids_to_hashes(ids, self._hash_salts[self._check_column(column)])

    def hashes_to_ids(self, column, hashes):
        """Ids (int64) of raw hash values of categorical column `column`.

        Raises:
            ValueError: if a hash is not one of the column's ids.

        Example:

        ```python
        stream.hashes_to_ids(0, stream.ids_to_hashes(0, [5]))   # [5]
        ```
        """
        column = self._check_column(column)
        ids = hashes_to_ids(hashes, self._hash_salts[column])
        if np.any(ids >= self._vocab[column]):
            raise ValueError(
                f"`hashes` holds values that are no id of column {column} "
                f"(vocabulary size {self._vocab[column]}). Received: hashes={hashes!r}"
            )
        return ids

    def day(self, day, num_rows=None):
        """The first `num_rows` rows of day `day` (default: the whole day).

        Args:
            day: Integer in `[0, num_days)`.
            num_rows: Integer in `[1, rows_per_day]`, or None.

        Returns:
            A `SyntheticBatch`.

        Example:

        ```python
        batch = stream.day(6, num_rows=10_000)
        batch.sparse.shape   # (10000, 26)
        ```
        """
        num_rows = self._check_num_rows(num_rows)
        return self.rows(day, 0, num_rows)

    def rows(self, day, start, stop):
        """Rows `[start, stop)` of day `day`, the same as the slice of `day(day)`.

        Example:

        ```python
        a = stream.rows(2, 100, 200)
        b = stream.day(2).slice(100, 200)   # equal arrays
        ```
        """
        day = self._check_day(day)
        if not (is_int(start) and is_int(stop) and 0 <= start < stop <= self.rows_per_day):
            raise ValueError(
                f"`start` and `stop` must satisfy 0 <= start < stop <= rows_per_day "
                f"({self.rows_per_day}). Received: start={start!r}, stop={stop!r}"
            )
        parts = []
        for block in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
            block_start = block * BLOCK_ROWS
            rows = self._block(day, block)
            lo, hi = max(start - block_start, 0), min(stop - block_start, rows.num_rows)
            parts.append(rows.slice(lo, hi))
        return SyntheticBatch.concatenate(parts)

    def windows(self, days=None, window_rows=BLOCK_ROWS, num_rows=None):
        """Consecutive windows of `window_rows` rows, day after day.

        A window never spans two days: the last window of a day holds the
        remaining rows (fewer when `window_rows` does not divide the day).
        The rows are those of `day(d, num_rows)`, in order.

        Args:
            days: A day or an iterable of days; default: all days in order.
            window_rows: Rows per window, at least 1.
            num_rows: Rows used of each day (default `rows_per_day`).

        Yields:
            `SyntheticBatch`es; `batch.day` and `batch.start` say where they are.

        Example:

        ```python
        for window in stream.windows(days=range(6), window_rows=50_000):
            evaluate(model, window)   # look-ahead on unseen rows first
            train(model, window)
        ```
        """
        days = self._check_days(days)
        if not (is_int(window_rows) and window_rows >= 1):
            raise ValueError(
                f"`window_rows` must be an integer >= 1. Received: window_rows={window_rows!r}"
            )
        num_rows = self._check_num_rows(num_rows)
        for day in days:
            pending, pending_rows = [], 0
            for block in range(math.ceil(num_rows / BLOCK_ROWS)):
                rows = self._block(day, block)
                rows = rows.slice(0, min(rows.num_rows, num_rows - block * BLOCK_ROWS))
                offset = 0
                while offset < rows.num_rows:
                    take = min(window_rows - pending_rows, rows.num_rows - offset)
                    pending.append(rows.slice(offset, offset + take))
                    pending_rows += take
                    offset += take
                    if pending_rows == window_rows:
                        yield SyntheticBatch.concatenate(pending)
                        pending, pending_rows = [], 0
            if pending:
                yield SyntheticBatch.concatenate(pending)

    def dataset(self, days=None, batch_size=128, num_rows=None, drop_remainder=False):
        """A `tf.data.Dataset` of `(features, labels)` batches.

        Batches are `windows(days, batch_size, num_rows)`: consecutive rows,
        never spanning two days. Features follow `agp_tf.data.features`.

        Args:
            days: A day or an iterable of days; default: all days.
            batch_size: Rows per batch.
            num_rows: Rows used of each day (default `rows_per_day`).
            drop_remainder: Drop the short last batch of each day (gives
                static batch shapes).

        Returns:
            A `tf.data.Dataset` yielding `({DENSE_KEY: float32 (b, 13),
            SPARSE_KEY: int32 (b, 26)}, float32 (b,))`.

        Example:

        ```python
        ds = stream.dataset(days=range(6), batch_size=256, drop_remainder=True)
        model.fit(ds)
        ```
        """
        import tensorflow as tf  # Deferred: the numpy API does not need it.

        days = self._check_days(days)
        num_rows = self._check_num_rows(num_rows)
        if not (is_int(batch_size) and batch_size >= 1):
            raise ValueError(
                f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}"
            )
        # The generator hands over whole windows of many batches (one Python
        # call per window, not per batch); tf.data cuts them into batches.
        window_rows = batch_size * max(1, BLOCK_ROWS // batch_size)

        def generate():
            for window in self.windows(days, window_rows, num_rows):
                yield window.features(), window.labels

        signature = (
            {
                features.DENSE_KEY: tf.TensorSpec((None, features.NUM_DENSE), tf.float32),
                features.SPARSE_KEY: tf.TensorSpec((None, features.NUM_SPARSE), tf.int32),
            },
            tf.TensorSpec((None,), tf.float32),
        )

        def split(window_features, labels):
            full = tf.shape(labels)[0] // batch_size * batch_size

            def batches(t):  # (full, ...) -> (full / batch_size, batch_size, ...)
                return tf.reshape(t[:full], tf.concat([[-1, batch_size], tf.shape(t)[1:]], 0))

            whole = tf.data.Dataset.from_tensor_slices(
                (tf.nest.map_structure(batches, window_features), batches(labels))
            )
            if drop_remainder:
                return whole
            rest = tf.data.Dataset.from_tensors(
                (tf.nest.map_structure(lambda t: t[full:], window_features), labels[full:])
            ).filter(lambda _, rest_labels: tf.size(rest_labels) > 0)
            return whole.concatenate(rest)

        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        dataset = dataset.flat_map(split)
        if drop_remainder:
            batch_signature = tf.nest.map_structure(
                lambda spec: tf.TensorSpec((batch_size,) + tuple(spec.shape[1:]), spec.dtype),
                signature,
            )
            dataset = dataset.map(
                lambda x, y: tf.nest.map_structure(
                    lambda t, spec: tf.ensure_shape(t, spec.shape), (x, y), batch_signature
                )
            )
        return dataset.prefetch(tf.data.AUTOTUNE)

    def write_tsv(self, path, days=None, num_rows=None):
        """Writes days as a Criteo Kaggle `train.txt`-format file.

        Args:
            path: Output file path (overwritten).
            days: A day or an iterable of days; default: all days, in order
                (the real file's "day" chunks are consecutive too).
            num_rows: Rows written of each day (default `rows_per_day`).

        Returns:
            The number of rows written.

        Example:

        ```python
        stream.write_tsv("/tmp/train.txt", days=[0, 1], num_rows=1000)   # 2000
        ```
        """
        written = 0
        with open(path, "wb") as f:
            for window in self.windows(days, 4 * BLOCK_ROWS, num_rows):
                f.write(window.to_tsv())
                written += window.num_rows
        return written

    # ----- Validation.

    def _check_day(self, day):
        if not (is_int(day) and 0 <= day < self.num_days):
            raise ValueError(
                f"`day` must be an integer in [0, {self.num_days}). Received: day={day!r}"
            )
        return int(day)

    def _check_days(self, days):
        if days is None:
            return list(range(self.num_days))
        if is_int(days):
            return [self._check_day(days)]
        return [self._check_day(d) for d in days]

    def _check_num_rows(self, num_rows):
        if num_rows is None:
            return self.rows_per_day
        if not (is_int(num_rows) and 1 <= num_rows <= self.rows_per_day):
            raise ValueError(
                f"`num_rows` must be None or an integer in [1, {self.rows_per_day}]. "
                f"Received: num_rows={num_rows!r}"
            )
        return int(num_rows)

    def _check_column(self, column):
        if not (is_int(column) and 0 <= column < features.NUM_SPARSE):
            raise ValueError(
                f"`column` must be an integer in [0, {features.NUM_SPARSE}). "
                f"Received: column={column!r}"
            )
        return int(column)

    # ----- Generation.

    def _block(self, day, block):
        """Block `block` of day `day`: rows [block * BLOCK_ROWS, ...) of the day."""
        config = self._config
        start = block * BLOCK_ROWS
        n = min(BLOCK_ROWS, config.rows_per_day - start)
        self._teacher.calibration()  # first: it samples every day
        # Drift is continuous in time: a few steps per day.
        step = day * TIME_STEPS_PER_DAY + (start * TIME_STEPS_PER_DAY) // config.rows_per_day
        rng = seeds.rng(config.seed, seeds.TAG_ROWS, day, block)
        ids, counts, missing = self._sampler.sample(rng, n, day, step / TIME_STEPS_PER_DAY)
        # The reference preprocessing; counts are already 0 where missing.
        dense = features.transform_dense(counts)  # (n, 13)
        probabilities = self._teacher.click_probabilities(ids, dense, step)
        labels = (rng.random(n, dtype=np.float32) < probabilities).astype(np.float32)
        return SyntheticBatch(
            day=day,
            start=start,
            labels=labels,
            dense=dense,
            sparse=np.ascontiguousarray(ids.T),
            dense_raw=counts,
            dense_missing=missing,
            probabilities=probabilities,
            hash_salts=self._hash_salts,
        )
