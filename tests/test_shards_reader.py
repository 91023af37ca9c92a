"""Tests for agp_tf.data.shards.reader: reader options, row slices and row ranges."""

import numpy as np
import pytest

from agp_tf.data import shards
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import SPARSE_KEY
from tests.criteo_helpers import collect
from tests.shards_helpers import assert_same
from tests.shards_helpers import numpy_batches
from tests.shards_helpers import text_file  # noqa: F401 (a fixture)


def test_reader_options_keep_every_row(tmp_path, text_file):
    out = str(tmp_path / "out")
    shards.preprocess(text_file, out, rows_per_shard=10)
    want = collect([shards.read_split(out, "train")])
    for options in (
        dict(num_parallel_reads=3, block_rows=4),
        dict(shuffle_files=True, seed=1),
        dict(shuffle_buffer=16, seed=1),
    ):
        got = collect(numpy_batches(shards.shard_dataset(out, "train", 5, **options)))
        order = np.lexsort(got[1].T)
        want_order = np.lexsort(want[1].T)
        assert_same([a[order] for a in got], [a[want_order] for a in want])
        assert not np.array_equal(got[1], want[1])  # rows really reordered


def test_row_slices_cover_each_row_once():
    assert shards.row_slices([4, 4, 4], 3, 9) == [(0, 3, 1), (1, 0, 4), (2, 0, 1)]
    assert shards.row_slices([4, 4, 4], 4, 8) == [(1, 0, 4)]
    assert shards.row_slices([4, 4, 4], 5, 5) == []
    sizes = [10, 10, 3, 10]
    for start in range(0, 33, 5):
        for stop in range(start, 34, 7):
            slices = shards.row_slices(sizes, start, stop)
            assert sum(count for _, _, count in slices) == stop - start
            rows = [sum(sizes[:i]) + first + k for i, first, count in slices for k in range(count)]
            assert rows == list(range(start, stop))
    with pytest.raises(ValueError, match="stop=34"):
        shards.row_slices(sizes, 0, 34)


def test_row_range_reads_just_those_rows(tmp_path, text_file):
    out = str(tmp_path / "out")
    shards.preprocess(text_file, out, rows_per_shard=10)
    features, labels = shards.read_split(out, "train")  # 53 rows
    for start, stop in ((0, 53), (7, 31), (20, 30), (50, 53)):
        got = collect(numpy_batches(
            shards.shard_dataset(out, "train", 4, block_rows=3, row_range=(start, stop))
        ))
        assert_same(got, (features[DENSE_KEY][start:stop], features[SPARSE_KEY][start:stop],
                          labels[start:stop]))


def test_shard_windows_seek_to_their_rows(tmp_path, text_file):
    from agp_tf.data.windows import ShardWindows

    out = str(tmp_path / "out")
    shards.preprocess(text_file, out, rows_per_shard=10)
    source = ShardWindows(out, window_rows=16, batch_size=4)  # 53 rows: 16, 16, 16, 5
    assert source.window_rows == [16, 16, 16, 5]
    whole = collect(numpy_batches(shards.shard_dataset(out, "train", 4)))
    windows = [collect(numpy_batches(source.window(k, 4))) for k in range(4)]
    assert_same([np.concatenate(parts) for parts in zip(*windows)], whole)
    assert source.describe(3) == "rows 48-53"
