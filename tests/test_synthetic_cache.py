import os

import numpy as np
import pytest

from agp_tf.data.features import DENSE_KEY, SPARSE_KEY
from agp_tf.data.synthetic import RowCache, SyntheticCriteo, SyntheticCriteoConfig, stream_key


def _stream(**overrides):
    return SyntheticCriteo(**{"seed": 3, "num_days": 2, "rows_per_day": 600,
                              "max_vocab_size": 200, **overrides})


def _assert_same(data, batch):
    x, labels = data
    np.testing.assert_array_equal(labels, batch.labels)
    np.testing.assert_array_equal(x[DENSE_KEY], batch.dense)
    np.testing.assert_array_equal(x[SPARSE_KEY], batch.sparse)
    assert x[SPARSE_KEY].dtype == batch.sparse.dtype and labels.dtype == batch.labels.dtype


def test_rows_are_written_once_and_read_back_bit_for_bit(tmp_path):
    stream = _stream()
    first = RowCache(stream, tmp_path)
    _assert_same(first.rows(1, 100, 400), stream.rows(1, 100, 400))
    path = first.path(1, 100, 400)
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no temporary left
    written = os.path.getmtime(path)
    # A second cache over an equal stream reads the file instead of generating.
    again = RowCache(_stream(), tmp_path)
    _assert_same(again.rows(1, 100, 400), stream.rows(1, 100, 400))
    assert os.path.getmtime(path) == written
    again.stream = None  # reading must not touch the stream
    _assert_same(again.rows(1, 100, 400), stream.rows(1, 100, 400))


def test_the_key_follows_the_config():
    base = SyntheticCriteoConfig(seed=3)
    assert stream_key(base) == stream_key(SyntheticCriteoConfig(seed=3))
    assert stream_key(base) != stream_key(SyntheticCriteoConfig(seed=4))
    assert stream_key(base) != stream_key(SyntheticCriteoConfig(seed=3, tanh_gain=3.0))


def test_other_streams_do_not_share_files(tmp_path):
    a, b = RowCache(_stream(), tmp_path), RowCache(_stream(seed=4), tmp_path)
    assert a.directory != b.directory
    a.rows(0, 0, 100)
    assert not os.path.exists(b.path(0, 0, 100))
    _assert_same(b.rows(0, 0, 100), _stream(seed=4).rows(0, 0, 100))


def test_a_damaged_file_is_named(tmp_path):
    cache = RowCache(_stream(), tmp_path)
    cache.rows(0, 0, 100)
    with open(cache.path(0, 0, 100), "wb") as handle:
        handle.write(b"not an npz")
    with pytest.raises(ValueError, match=r"day-0-rows-0-100\.npz.*delete the file"):
        cache.rows(0, 0, 100)
    # A file of the wrong length (another writer's rows) is refused too.
    os.replace(cache.path(0, 0, 100), cache.path(0, 0, 50))
    cache.rows(0, 0, 100)
    os.replace(cache.path(0, 0, 100), cache.path(0, 0, 50))
    with pytest.raises(ValueError, match="do not hold 50 rows"):
        cache.rows(0, 0, 50)
