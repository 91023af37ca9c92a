"""Tests for agp_tf.data.synthetic.stream: days, row ranges, windows and tf.data.

The `stream` / `day0` fixtures and `SMALL` here are shared by the sibling
test_synthetic_*.py modules."""

import re
import time

import numpy as np
import pytest
import tensorflow as tf

from agp_tf.data import features
from agp_tf.data import synthetic
from agp_tf.data.synthetic import SyntheticBatch, SyntheticCriteo

SMALL = dict(rows_per_day=40_000, max_vocab_size=5_000)


@pytest.fixture(scope="module")
def stream():
    return SyntheticCriteo(seed=0, **SMALL)


@pytest.fixture(scope="module")
def day0(stream):
    return stream.day(0)


def _assert_same_rows(a, b):
    assert (a.day, a.start, a.num_rows) == (b.day, b.start, b.num_rows)
    for name in SyntheticBatch._ROW_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name  # bit for bit

# ----- Validation.


def test_call_validation_names_argument_and_value(stream):
    with pytest.raises(ValueError, match=re.escape("Received: day=7")):
        stream.day(7)
    with pytest.raises(ValueError, match=re.escape("Received: num_rows=0")):
        stream.day(0, num_rows=0)
    with pytest.raises(ValueError, match=re.escape("Received: window_rows=0")):
        next(stream.windows(window_rows=0))
    with pytest.raises(ValueError, match=re.escape("Received: start=5, stop=5")):
        stream.rows(0, 5, 5)
    with pytest.raises(ValueError, match=re.escape("Received: column=26")):
        stream.ids_to_hashes(26, [1])

# ----- Reproducibility.


def test_same_seed_same_data_bit_for_bit(day0):
    again = SyntheticCriteo(seed=0, **SMALL)
    _assert_same_rows(again.day(0), day0)


def test_day_is_independent_of_what_was_generated_before(stream):
    fresh = SyntheticCriteo(seed=0, **SMALL)
    direct = fresh.day(6, num_rows=20_000)  # day 6 first, nothing before it
    for day in range(6):
        stream.day(day, num_rows=100)
    _assert_same_rows(stream.day(6, num_rows=20_000), direct)


def test_windows_and_row_ranges_equal_the_day(stream, day0):
    windows = list(stream.windows(days=[0, 1], window_rows=7_000))
    first_day = [w for w in windows if w.day == 0]
    assert [(w.start, w.num_rows) for w in first_day] == [
        (0, 7000), (7000, 7000), (14000, 7000), (21000, 7000), (28000, 7000), (35000, 5000)
    ]
    assert [w.day for w in windows] == [0] * 6 + [1] * 6  # never spans two days
    _assert_same_rows(SyntheticBatch.concatenate(first_day), day0)
    _assert_same_rows(stream.rows(0, 16_000, 17_000), day0.slice(16_000, 17_000))
    _assert_same_rows(stream.day(0, num_rows=123), day0.slice(0, 123))
    with pytest.raises(ValueError, match="consecutive rows of one day"):
        SyntheticBatch.concatenate([windows[0], windows[2]])
    with pytest.raises(ValueError, match=re.escape("Received: start=5, stop=2")):
        day0.slice(5, 2)


def test_different_seed_different_data(day0):
    other = SyntheticCriteo(seed=1, **SMALL).day(0)
    assert np.mean(other.sparse == day0.sparse) < 0.9
    assert not np.array_equal(other.dense_raw, day0.dense_raw)
    assert not np.array_equal(other.labels, day0.labels)

# ----- tf.data.


def test_dataset_batches_match_the_arrays(stream):
    dataset = stream.dataset(days=[1], batch_size=4096, num_rows=10_000)
    batches = list(dataset)
    assert [int(b[1].shape[0]) for b in batches] == [4096, 4096, 1808]
    x, y = batches[0]
    assert x[features.DENSE_KEY].dtype == tf.float32
    assert x[features.SPARSE_KEY].dtype == tf.int32
    assert x[features.DENSE_KEY].shape == (4096, 13)
    assert x[features.SPARSE_KEY].shape == (4096, 26)
    day1 = stream.day(1, num_rows=10_000)
    np.testing.assert_array_equal(
        np.concatenate([b[0][features.SPARSE_KEY].numpy() for b in batches]), day1.sparse
    )
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), day1.labels)
    static = stream.dataset(days=[1], batch_size=4096, num_rows=10_000, drop_remainder=True)
    assert static.element_spec[1].shape == (4096,)
    assert sum(1 for _ in static) == 2

# ----- Throughput (reported, not asserted).


@pytest.mark.slow  # about 5 s: a whole default day, for the printed figure
def test_throughput_report(capsys):
    stream = SyntheticCriteo(seed=0)  # the default config: 500k rows a day
    stream.day(3, num_rows=1)  # calibrate the teacher, rank day 3's ids
    rows = 0
    start_cpu, start_wall = time.thread_time(), time.perf_counter()
    for window in stream.windows(days=[3], window_rows=synthetic.BLOCK_ROWS):
        rows += window.num_rows
    cpu, wall = time.thread_time() - start_cpu, time.perf_counter() - start_wall
    with capsys.disabled():
        print(
            f"\nSyntheticCriteo, default config, one day in windows: {rows / cpu:,.0f} rows "
            f"per CPU second, {rows / wall:,.0f} rows/s wall ({rows} rows)"
        )
    assert rows == stream.rows_per_day
