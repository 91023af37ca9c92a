"""Tests for agp_tf.data.synthetic.hashing: the id <-> hash bijection."""

import numpy as np
import pytest

from agp_tf.data import synthetic

from test_synthetic_stream import stream  # noqa: F401 (shared fixtures)


def test_fmix32_is_a_bijection_with_its_inverse():
    x = np.array([0, 1, 2, 12345, 2**31, 2**32 - 1], dtype=np.uint64)
    assert synthetic.fmix32_inverse(synthetic.fmix32(x)).tolist() == x.tolist()
    h = np.random.default_rng(0).integers(0, 2**32, size=10_000, dtype=np.uint64)
    assert synthetic.fmix32(synthetic.fmix32_inverse(h)).tolist() == h.tolist()
    assert len(np.unique(synthetic.fmix32(np.arange(10_000)))) == 10_000


def test_ids_to_hashes_round_trip():
    ids = np.arange(1000)
    hashes = synthetic.ids_to_hashes(ids, salt=2**32 - 5)  # the add wraps
    assert hashes.dtype == np.uint32
    assert len(np.unique(hashes)) == 1000
    assert synthetic.hashes_to_ids(hashes, salt=2**32 - 5).tolist() == ids.tolist()


def test_hashes_to_ids_rejects_foreign_hashes(stream):
    with pytest.raises(ValueError, match="Received: hashes="):
        stream.hashes_to_ids(0, [0xDEADBEEF])
