"""Tests for agp_tf.data.criteo.days: the reference day split."""

import pytest

from agp_tf.data import criteo


def test_day_split_follows_reference_rounding():
    assert criteo.equal_day_sizes(10) == (2, 2, 2, 1, 1, 1, 1)
    days = criteo.DaySplit.equal_days(45_840_617)
    assert days.day_sizes == (6548660,) * 4 + (6548659,) * 3
    assert days.split_range("train") == (0, 39_291_958)
    assert days.split_range("test") == (39_291_958, 42_566_288)  # ceil half first
    assert days.split_range("val") == (42_566_288, 45_840_617)
    terabyte = criteo.DaySplit.from_day_sizes([5, 4, 7])
    assert terabyte.split_sizes() == {"train": 9, "test": 4, "val": 3}
    assert terabyte.boundaries(0, 16) == [5, 9, 13]
    with pytest.raises(ValueError, match="split="):
        days.split_range("validation")
