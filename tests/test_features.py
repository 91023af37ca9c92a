import math

import numpy as np

from agp_tf.data import features


def test_transform_dense_is_reference_float32_log():
    counts = np.array([[0, -3, 1, 1382, 23159456, 2**40]])
    got = features.transform_dense(counts)
    assert got.dtype == np.float32
    expected = np.log(np.maximum(counts, 0).astype(np.float32) + np.float32(1))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got[0, :4], [0.0, 0.0, math.log(2), math.log(1383)], rtol=1e-6)


def test_transform_dense_missing_becomes_zero_whatever_the_count():
    raw = np.array([[3, -1, 7, 0]])
    missing = np.array([[False, False, True, False]])
    got = features.transform_dense(raw, missing)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [[np.log(4.0), 0.0, 0.0, 0.0]], rtol=1e-6)
