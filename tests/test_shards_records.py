"""Tests for agp_tf.data.shards.records: the 160-byte record layout."""

import struct

import numpy as np
import pytest

from agp_tf.data import shards
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import SPARSE_KEY
from tests.shards_helpers import assert_same


def test_record_layout_is_160_little_endian_bytes():
    dense = np.arange(13, dtype=np.float32)[None] / 4  # (1, 13)
    sparse = np.arange(26, dtype=np.int32)[None] * -3  # (1, 26)
    records = shards.to_records(dense, sparse, np.array([1.0], np.float32))
    raw = records.tobytes()
    assert shards.RECORD_BYTES == 160 and len(raw) == 160
    assert struct.unpack("<f", raw[:4]) == (1.0,)
    assert struct.unpack("<13f", raw[4:56]) == tuple(dense[0].tolist())
    assert struct.unpack("<26i", raw[56:]) == tuple(sparse[0].tolist())
    features, labels = shards.decode_records(raw)
    assert_same((features[DENSE_KEY], features[SPARSE_KEY], labels), (dense, sparse, [1.0]))
    features, labels = shards.decode_batch(raw)
    assert_same((features[DENSE_KEY], features[SPARSE_KEY], labels), (dense, sparse, [1.0]))
    with pytest.raises(ValueError, match="whole number of 160-byte records"):
        shards.decode_records(raw[:-1])
