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

from agp_tf.data import criteo, shards


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

    Example:

    ```python
    source = SyntheticWindows(SyntheticCriteo(rows_per_day=50_000), range(6), 6, 25_000)
    source.window_rows          # [25000] * 12
    ```
    """

    def __init__(self, stream, train_days, test_day, window_rows, rows_per_day=None):
        self.stream = stream
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

    @staticmethod
    def _dataset(batch, batch_size):
        data = (batch.features(), batch.labels)
        return tf.data.Dataset.from_tensor_slices(data).batch(batch_size).prefetch(2)

    def describe(self, index):
        day, start, stop = self._spans[index]
        return f"day {day} rows {start}-{stop}"

    def window(self, index, batch_size):
        day, start, stop = self._spans[index]
        return self._dataset(self.stream.rows(day, start, stop), batch_size)

    def test(self, batch_size):
        return self._dataset(self.stream.day(self.test_day, self.rows_per_day), batch_size)


class _SkipTakeWindows:
    """Windows as consecutive batch ranges of one batched dataset."""

    def __init__(self, train_rows, window_rows, batch_size):
        _check_positive("window_rows", window_rows)
        if window_rows % batch_size:
            raise ValueError(
                f"`window_rows` must be a multiple of the batch size {batch_size} for this "
                f"source. Received: window_rows={window_rows}"
            )
        self.batch_size = batch_size
        self.window_rows = _split_rows(train_rows, window_rows)
        self._window_batches = window_rows // batch_size

    def _check_batch_size(self, batch_size):
        if batch_size != self.batch_size:
            raise ValueError(
                f"This source was set up for batch size {self.batch_size}. "
                f"Received: batch_size={batch_size}"
            )

    def _row_range(self, index):
        start = index * self._window_batches * self.batch_size
        return start, start + self.window_rows[index]

    def describe(self, index):
        return "rows {}-{}".format(*self._row_range(index))

    def window(self, index, batch_size):
        self._check_batch_size(batch_size)
        skip = index * self._window_batches
        return self._train(batch_size).skip(skip).take(self._window_batches)


class ShardWindows(_SkipTakeWindows):
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

    def window(self, index, batch_size):
        # Seeks to the window's rows: a run reads each row once per pass.
        self._check_batch_size(batch_size)
        return shards.shard_dataset(
            self.data_dir, "train", batch_size, row_range=self._row_range(index)
        ).prefetch(2)

    def test(self, batch_size):
        return shards.shard_dataset(self.data_dir, self.test_split, batch_size)


class TextWindows(_SkipTakeWindows):
    """Windows over the training days of raw Criteo text (parsed on the fly).

    The vocabulary is built in one streaming pass over the files unless one
    is given. Slower than shards: preprocess first for long runs.

    Args:
        paths: Criteo Kaggle `train.txt` (or day files).
        window_rows: Rows per window, a multiple of `batch_size`.
        batch_size: Training batch size.
        vocabulary: A saved vocabulary path, or None to build one.
        max_ind_range: Optional hash modulo before the vocabulary.
        skip_bad_lines: Skip (and count) malformed lines instead of failing.
        max_bad_fraction: With `skip_bad_lines`, the largest tolerated share
            of bad lines (`criteo.check_bad_lines`).
    """

    def __init__(self, paths, window_rows, batch_size, vocabulary=None, max_ind_range=0,
                 skip_bad_lines=False, max_bad_fraction=criteo.DEFAULT_MAX_BAD_FRACTION):
        self.paths = paths
        self.skip_bad_lines = skip_bad_lines
        if vocabulary is None:
            vocabulary = criteo.Vocabulary.build(
                paths, max_ind_range=max_ind_range, skip_bad_lines=skip_bad_lines
            )
        elif isinstance(vocabulary, str):
            vocabulary = criteo.Vocabulary.load(vocabulary)
        self.vocabulary = vocabulary
        self.vocab_sizes = list(vocabulary.table_sizes("error"))
        # Kaggle days: the files' rows together, cut into equal days (as
        # `criteo_dataset` cuts them); counted once, here.
        stats = criteo.ParseStats()
        rows = sum(criteo.count_rows(paths, skip_bad_lines=skip_bad_lines, stats=stats))
        criteo.check_bad_lines(stats, criteo.check_input_paths(paths), max_bad_fraction)
        self.split = criteo.DaySplit.equal_days(rows)
        super().__init__(self.split.split_sizes()["train"], window_rows, batch_size)

    def _stream(self, split, batch_size):
        return criteo.criteo_dataset(
            self.paths, batch_size, vocabulary=self.vocabulary, split=split, days=self.split,
            skip_bad_lines=self.skip_bad_lines,
        )

    def _train(self, batch_size):
        return self._stream("train", batch_size)

    def test(self, batch_size):
        return self._stream("test", batch_size)


__all__ = ["SyntheticWindows", "ShardWindows", "TextWindows"]
