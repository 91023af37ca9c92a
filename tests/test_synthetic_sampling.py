"""Tests for agp_tf.data.synthetic.sampling: realistic dense counts and missing values."""

import numpy as np

from agp_tf.data import features

from test_synthetic_stream import day0, stream  # noqa: F401 (shared fixtures)


def test_layout_dtypes_and_ranges(stream, day0):
    n = day0.num_rows
    assert day0.dense.shape == (n, 13) and day0.dense.dtype == np.float32
    assert day0.sparse.shape == (n, 26) and day0.sparse.dtype == np.int32
    assert day0.labels.shape == (n,) and day0.labels.dtype == np.float32
    assert day0.dense_raw.dtype == np.int32 and day0.dense_missing.dtype == bool
    assert set(np.unique(day0.labels)) == {0.0, 1.0}
    assert day0.sparse.min() >= 0
    assert np.all(day0.sparse < np.array(stream.vocab_sizes))
    # Dense: the reference preprocessing of the raw counts.
    np.testing.assert_array_equal(
        day0.dense, features.transform_dense(day0.dense_raw, day0.dense_missing)
    )
    assert np.all(day0.dense >= 0)
    assert np.all(day0.dense_raw[day0.dense_missing] == 0)
    # Heavy tails: medians are small, maxima are orders of magnitude larger.
    present = ~day0.dense_missing[:, 4]
    i5 = day0.dense_raw[present, 4]
    assert np.median(i5) < 10_000 and i5.max() > 100 * np.median(i5)
    # Negative counts occur in I2 only, about as often as in Criteo.
    negative = day0.dense_raw < 0
    assert not negative[:, [0] + list(range(2, 13))].any()
    assert 0.05 < negative[:, 1].mean() < 0.15
    assert day0.dense_raw[:, 1].min() >= -3


def test_missing_rates_follow_the_config(stream, day0):
    np.testing.assert_allclose(
        day0.dense_missing.mean(axis=0), stream.config.dense_missing_rates, atol=0.01
    )
    np.testing.assert_allclose(
        day0.sparse_missing.mean(axis=0), stream.config.sparse_missing_rates, atol=0.01
    )
    # Columns of one group go missing together, as I1 and I10 do in Criteo.
    np.testing.assert_array_equal(day0.dense_missing[:, 0], day0.dense_missing[:, 9])
    np.testing.assert_array_equal(day0.sparse_missing[:, 18], day0.sparse_missing[:, 19])
