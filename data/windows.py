"""Training data as a sequence of windows, for look-ahead evaluation.

A click log arrives over time. Training walks it window by window (a day,
or N rows); each window is first evaluated on (the model has not seen it:
the look-ahead loss) and then trained on. Every source gives:

- `vocab_sizes`: rows of each categorical table the model needs;
- `window_rows`: list of rows per training window;
- `window(index, batch_size)`: a `tf.data.Dataset` of that window's batches,
  reproducible, so a resumed run sees exactly the same data;
- `test(batch_size)`: held-out data after the training windows.

Sources: `SyntheticWindows` (the drifting synthetic stream),
`ShardWindows` (preprocessed binary shards) and `TextWindows` (raw Criteo
text, parsed on the fly).
"""

import tensorflow as tf

from agp_tf.data import criteo, shards, synthetic


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def _split_rows(total, window_rows):
    """Rows per window when `total` rows are cut into windows of `window_rows`."""
    full, rest = divmod(total, window_rows)
    return [window_rows] * full + ([rest] if rest else [])


class SyntheticWindows:
    """Windows over the days of a `SyntheticCriteo` stream.

    Args:
        stream: A `SyntheticCriteo`.
        train_days: Days to train on, in order.
        test_day: Day held out for the final test.
        window_rows: Rows per window (a window never spans two days).
        rows_per_day: Rows used of each day (default: the stream's).
        cache_dir: Optional folder where generated rows are kept and read
            back by later sources over the same stream (`synthetic.RowCache`).

    Example:

    ```python
    source = SyntheticWindows(SyntheticCriteo(rows_per_day=50_000), range(6), 6, 25_000)
    source.window_rows          # [25000] * 12
    ```
    """

    def __init__(self, stream, train_days, test_day, window_rows, rows_per_day=None,
                 cache_dir=None):
        self.stream = stream
        self._cache = synthetic.RowCache(stream, cache_dir) if cache_dir else None
        self.train_days = list(train_days)
        self.test_day = int(test_day)
        self.rows_per_day = rows_per_day or stream.rows_per_day
        _check_positive("window_rows", window_rows)
        if self.rows_per_day > stream.rows_per_day:
            raise ValueError(
                f"`rows_per_day` must be <= the stream's {stream.rows_per_day}. "
                f"Received: rows_per_day={self.rows_per_day}"
            )
        # (day, start, stop) of every window
        self._spans = []
        for day in self.train_days:
            start = 0
            for rows in _split_rows(self.rows_per_day, window_rows):
                self._spans.append((day, start, start + rows))
                start += rows
        self.window_rows = [stop - start for _, start, stop in self._spans]
        self.vocab_sizes = list(stream.vocab_sizes)

    def _rows(self, day, start, stop):
        if self._cache:
            return self._cache.rows(day, start, stop)
        batch = self.stream.rows(day, start, stop)
        return batch.features(), batch.labels

    @staticmethod
    def _dataset(data, batch_size):
        return tf.data.Dataset.from_tensor_slices(data).batch(batch_size).prefetch(2)

    def describe(self, index):
        day, start, stop = self._spans[index]
        return f"day {day} rows {start}-{stop}"

    def window(self, index, batch_size):
        day, start, stop = self._spans[index]
        return self._dataset(self._rows(day, start, stop), batch_size)

    def test(self, batch_size):
        return self._dataset(self._rows(self.test_day, 0, self.rows_per_day), batch_size)


class _RowRangeWindows:
    """Windows as consecutive row ranges of a train split, read by seeking."""

    def __init__(self, train_rows, window_rows, batch_size):
        _check_positive("window_rows", window_rows)
        if window_rows % batch_size:
            # Every window then holds whole batches (the last may be
            # short): one compiled step shape for the whole run.
            raise ValueError(
                f"`window_rows` must be a multiple of the batch size {batch_size} for this "
                f"source. Received: window_rows={window_rows}"
            )
        self.batch_size = batch_size
        self.window_rows = _split_rows(train_rows, window_rows)
        self._window_stride = window_rows

    def _row_range(self, index):
        start = index * self._window_stride
        return start, start + self.window_rows[index]

    def describe(self, index):
        return "rows {}-{}".format(*self._row_range(index))

    def window(self, index, batch_size):
        if batch_size != self.batch_size:
            raise ValueError(
                f"This source was set up for batch size {self.batch_size}. "
                f"Received: batch_size={batch_size}"
            )
        return self._rows(self._row_range(index), batch_size).prefetch(2)


class ShardWindows(_RowRangeWindows):
    """Windows over the train split of a `preprocess` output directory.

    Args:
        data_dir: Output of `scripts/preprocess.py`.
        window_rows: Rows per window, a multiple of `batch_size`.
        batch_size: Training batch size.
        test_split: Split for the final test ("test" or "val").
    """

    def __init__(self, data_dir, window_rows, batch_size, test_split="test"):
        metadata = shards.load_metadata(data_dir)
        self.data_dir = data_dir
        self.test_split = test_split
        self.vocab_sizes = list(metadata["table_sizes"])
        super().__init__(metadata["splits"]["train"]["rows"], window_rows, batch_size)

    def _rows(self, row_range, batch_size):
        # Seeks to the window's records: a run reads each row once per pass.
        return shards.shard_dataset(self.data_dir, "train", batch_size, row_range=row_range)

    def test(self, batch_size):
        return shards.shard_dataset(self.data_dir, self.test_split, batch_size)


class TextWindows(_RowRangeWindows):
    """Windows over the training days of raw Criteo text (parsed on the fly).

    One pass over the files, before training, counts the rows (building
    the vocabulary too unless one is given) and notes where every block of
    lines starts; each window then seeks to its first row, so a run parses
    each row about once. Slower than shards: preprocess first for long runs.

    Args:
        paths: Criteo Kaggle `train.txt` (or day files).
        window_rows: Rows per window, a multiple of `batch_size`.
        batch_size: Training batch size.
        vocabulary: A saved vocabulary path, or None to build one.
        max_ind_range: Optional hash modulo before the vocabulary.
        skip_bad_lines: Skip (and count) malformed lines instead of failing.
        max_bad_fraction: With `skip_bad_lines`, the largest tolerated share
            of bad lines (`criteo.check_bad_lines`).
        block_bytes: Bytes per parsed block.
        pad_short_lines: Pad lines whose trailing empty fields were stripped
            (see the field-count rule in `agp_tf.data.criteo`).

    Attributes:
        index: The `criteo.ParseStats` of the counting pass (rows per file,
            bad lines skipped, block starts).
        read_stats: A `criteo.ParseStats` of everything the windows and the
            test split have read since (rows parsed, bytes read).
    """

    def __init__(self, paths, window_rows, batch_size, vocabulary=None, max_ind_range=0,
                 skip_bad_lines=False, max_bad_fraction=criteo.DEFAULT_MAX_BAD_FRACTION,
                 block_bytes=criteo.DEFAULT_BLOCK_BYTES, pad_short_lines=False):
        self.paths = criteo.check_input_paths(paths)
        self.skip_bad_lines = skip_bad_lines
        self.pad_short_lines = pad_short_lines
        self.block_bytes = block_bytes
        # The one pass: row counts, bad lines and block starts.
        self.index = criteo.ParseStats()
        if vocabulary is None:
            vocabulary = criteo.Vocabulary.build(
                self.paths, max_ind_range=max_ind_range, skip_bad_lines=skip_bad_lines,
                stats=self.index, block_bytes=block_bytes, pad_short_lines=pad_short_lines,
            )
        else:
            if isinstance(vocabulary, str):
                vocabulary = criteo.Vocabulary.load(vocabulary)
            criteo.count_rows(self.paths, skip_bad_lines, block_bytes, self.index,
                              pad_short_lines)
        criteo.check_bad_lines(self.index, self.paths, max_bad_fraction)
        self.vocabulary = vocabulary
        self.vocab_sizes = list(vocabulary.table_sizes("error"))
        # Kaggle days: the files' rows together, cut into equal days (as
        # `criteo_dataset` cuts them).
        self.split = criteo.DaySplit.equal_days(self.index.rows)
        self.read_stats = criteo.ParseStats()
        super().__init__(self.split.split_sizes()["train"], window_rows, batch_size)

    def _stream(self, batch_size, **where):
        return criteo.criteo_dataset(
            self.paths, batch_size, vocabulary=self.vocabulary, days=self.split,
            skip_bad_lines=self.skip_bad_lines, block_bytes=self.block_bytes,
            index=self.index, stats=self.read_stats, pad_short_lines=self.pad_short_lines,
            **where,
        )

    def _rows(self, row_range, batch_size):
        rows = row_range[1] - row_range[0]
        return self._stream(batch_size, row_range=row_range).apply(_batches(rows, batch_size))

    def test(self, batch_size):
        rows = self.split.split_sizes()["test"]
        return self._stream(batch_size, split="test").apply(_batches(rows, batch_size))


def _batches(rows, batch_size):
    # The parsed stream's length is known: saying so lets Keras end an epoch
    # without its "input ran out of data" warning, and show the batch count.
    return tf.data.experimental.assert_cardinality(-(-rows // batch_size))


__all__ = ["SyntheticWindows", "ShardWindows", "TextWindows"]
