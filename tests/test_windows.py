import numpy as np
import pytest

import os

from agp_tf.data import criteo, shards
from agp_tf.data.features import DENSE_KEY, SPARSE_KEY
from agp_tf.data.synthetic import SyntheticCriteo
from agp_tf.data.windows import ShardWindows, SyntheticWindows, TextWindows


def _stream():
    return SyntheticCriteo(seed=3, num_days=3, rows_per_day=1000, max_vocab_size=200)


def _concat(dataset):
    parts = list(dataset.as_numpy_iterator())
    features = {k: np.concatenate([p[0][k] for p in parts]) for k in (DENSE_KEY, SPARSE_KEY)}
    return features, np.concatenate([p[1] for p in parts])


def test_synthetic_windows_cover_the_days_in_order():
    stream = _stream()
    source = SyntheticWindows(stream, [0, 1], test_day=2, window_rows=400)
    assert source.window_rows == [400, 400, 200, 400, 400, 200]
    assert source.describe(3) == "day 1 rows 0-400"
    features, labels = _concat(source.window(4, batch_size=64))
    expected = stream.rows(1, 400, 800)
    np.testing.assert_array_equal(labels, expected.labels)
    np.testing.assert_array_equal(features[SPARSE_KEY], expected.sparse)
    test_features, test_labels = _concat(source.test(batch_size=128))
    np.testing.assert_array_equal(test_labels, stream.day(2).labels)
    assert source.vocab_sizes == list(stream.vocab_sizes)


def test_synthetic_windows_validate():
    with pytest.raises(ValueError, match="window_rows=0"):
        SyntheticWindows(_stream(), [0], 2, 0)
    with pytest.raises(ValueError, match="rows_per_day=5000"):
        SyntheticWindows(_stream(), [0], 2, 100, rows_per_day=5000)


def test_shard_windows_are_consecutive_batches_of_the_train_split(tmp_path):
    stream = _stream()
    text = str(tmp_path / "train.txt")
    stream.write_tsv(text, days=[0, 1, 2])
    out = str(tmp_path / "shards")
    shards.preprocess([text], out)
    source = ShardWindows(out, window_rows=256, batch_size=64)
    train_features, train_labels = shards.read_split(out, "train")
    assert sum(source.window_rows) == len(train_labels)
    features, labels = _concat(source.window(1, 64))
    np.testing.assert_array_equal(labels, train_labels[256:512])
    np.testing.assert_array_equal(features[DENSE_KEY], train_features[DENSE_KEY][256:512])
    with pytest.raises(ValueError, match="multiple of the batch size 64"):
        ShardWindows(out, window_rows=100, batch_size=64)
    with pytest.raises(ValueError, match="batch_size=32"):
        source.window(0, 32)


@pytest.mark.parametrize("skip_bad_lines", [False, True])
def test_text_windows_seek_and_read_each_row_about_once(tmp_path, skip_bad_lines):
    stream = _stream()
    text = str(tmp_path / "train.txt")
    stream.write_tsv(text, days=[0, 1, 2])  # 3000 rows, ~600 kB
    block_bytes = 16 << 10  # ~80 rows per block: many blocks per window
    source = TextWindows(text, window_rows=256, batch_size=64,
                         skip_bad_lines=skip_bad_lines, block_bytes=block_bytes)
    everything = list(criteo.iter_batches(text, 10_000, source.vocabulary))
    [(all_features, all_labels)] = everything
    train_rows = source.split.split_sizes()["train"]
    assert sum(source.window_rows) == train_rows
    for k in range(len(source.window_rows)):
        features, labels = _concat(source.window(k, 64))
        lo, hi = source._row_range(k)
        np.testing.assert_array_equal(labels, all_labels[lo:hi])
        np.testing.assert_array_equal(features[SPARSE_KEY], all_features[SPARSE_KEY][lo:hi])
    _concat(source.test(64))
    # Every window and the test split together: the file once, plus at most
    # one block per read where a range starts inside a block.
    reads = len(source.window_rows) + 1
    assert source.read_stats.bytes_read <= os.path.getsize(text) + reads * block_bytes
    if skip_bad_lines:  # every row read is parsed
        assert source.read_stats.rows <= train_rows + 500 + reads * 100
    # Reading from the start each time (skip/take) would read ~5x the file.


def test_synthetic_windows_read_the_same_rows_through_a_cache(tmp_path):
    stream = _stream()
    cached = SyntheticWindows(stream, [0, 1], test_day=2, window_rows=400, cache_dir=tmp_path)
    for read in range(2):  # generated, then read back
        features, labels = _concat(cached.window(4, batch_size=64))
        expected = stream.rows(1, 400, 800)
        np.testing.assert_array_equal(labels, expected.labels)
        np.testing.assert_array_equal(features[DENSE_KEY], expected.dense)
        test_features, test_labels = _concat(cached.test(batch_size=128))
        np.testing.assert_array_equal(test_labels, stream.day(2).labels)
        np.testing.assert_array_equal(test_features[SPARSE_KEY], stream.day(2).sparse)
    assert len(os.listdir(os.path.join(tmp_path, os.listdir(tmp_path)[0]))) == 2
