"""Tests for agp_tf.data.synthetic.popularity: Zipf ranks, drifting popularity, new ids."""

import numpy as np
import pytest

from agp_tf.data import synthetic

from test_synthetic_stream import day0, stream  # noqa: F401 (shared fixtures)


def test_zipf_ranks_bounds_and_head():
    u = np.random.default_rng(0).random(200_000)
    ranks = synthetic.zipf_ranks(u, num_items=1000, exponent=1.2)
    assert ranks.min() == 0 and ranks.max() <= 999
    counts = np.bincount(ranks, minlength=1000)
    # Power law: frequency ratio of rank 1 to rank 10 near 10**1.2 ~ 15.8.
    assert 10 < counts[0] / counts[9] < 25
    assert counts[0] > counts[1] > counts[2] > counts[5]
    # Exponent 1 (the log1p limit) and exponent 0 (uniform) stay in range.
    assert synthetic.zipf_ranks(u, 50, 1.0).max() <= 49
    uniform = np.bincount(synthetic.zipf_ranks(u, 4, 0.0), minlength=4) / len(u)
    np.testing.assert_allclose(uniform, 0.25, atol=0.01)
    # Per-column parameters broadcast.
    both = synthetic.zipf_ranks(u[:20].reshape(2, 10), np.array([[3], [7]]), 1.0)
    assert both[0].max() <= 2 and both[1].max() <= 6
    with pytest.raises(ValueError, match="num_items"):
        synthetic.zipf_ranks(u, 0, 1.0)


def test_zipf_like_popularity(stream, day0):
    column = 2  # C3: 10M ids in Criteo, capped at 5,000 here
    values = day0.sparse[~day0.sparse_missing[:, column], column]
    counts = np.sort(np.bincount(values))[::-1]
    top_one_percent = counts[: stream.vocab_sizes[column] // 100].sum() / counts.sum()
    assert top_one_percent > 0.4  # 50 ids of 5,000 take over 40% of the rows
    assert counts[0] > 10 * counts[50]
    # Small columns are dominated by one value, as C9 is in Criteo.
    assert np.bincount(day0.sparse[:, 8]).max() / day0.num_rows > 0.9


def test_popularity_shifts_and_new_ids_appear(stream, day0):
    column, half = 2, day0.num_rows // 2  # C3, 20k rows
    seen = np.zeros(stream.vocab_sizes[column], bool)
    seen[day0.sparse[:half, column]] = True  # ids of the first half of day 0
    later_that_day = ~seen[day0.sparse[half:, column]]
    day6 = stream.day(6, num_rows=half)
    six_days_later = ~seen[day6.sparse[:, column]]
    # Same reference, same sample size: ids unseen by the morning of day 0
    # are far more common on day 6 (tail reordering and new ids) ...
    assert six_days_later.mean() > 2 * later_that_day.mean()
    # ... and some of them are popular: new ids, not just a longer tail.
    assert np.bincount(day6.sparse[six_days_later, column]).max() >= 20
    # The head reorders too, but slowly: most of the top 20 ids stay.
    top0 = set(np.argsort(np.bincount(day0.sparse[:, column]))[-20:])
    top1 = set(np.argsort(np.bincount(stream.day(1).sparse[:, column]))[-20:])
    top6 = set(np.argsort(np.bincount(stream.day(6).sparse[:, column]))[-20:])
    assert len(top0 & top6) < len(top0 & top1)
    assert len(top0 & top6) >= 10
