"""Tests for agp_tf.data.criteo.stream: row ranges, splits, batching, shuffling, tf.data."""

import gzip

import numpy as np
import pytest
import tensorflow as tf

from agp_tf.data import criteo
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import SPARSE_KEY
from tests.criteo_helpers import KAGGLE_HEAD
from tests.criteo_helpers import collect
from tests.criteo_helpers import make_line
from tests.criteo_helpers import needs_kaggle_head
from tests.criteo_helpers import random_lines
from tests.criteo_helpers import reference_rows
from tests.criteo_helpers import sorted_ids
from tests.criteo_helpers import write_lines


@pytest.mark.parametrize("packed", [False, True])
def test_row_range_seeks_through_block_starts(tmp_path, packed):
    rng = np.random.default_rng(5)
    first = write_lines(tmp_path / "day_0", random_lines(rng, 57), final_newline=False)
    second = write_lines(tmp_path / "day_1", random_lines(rng, 40))
    if packed:
        with open(second, "rb") as src, gzip.open(second + ".gz", "wb") as dst:
            dst.write(src.read())
        second += ".gz"
    paths = [first, second]
    index = criteo.ParseStats()
    assert criteo.count_rows(paths, block_bytes=700, stats=index) == [57, 40]
    starts = index.block_starts[first]
    assert starts[0] == criteo.BlockStart(0, 0, 1) and len(starts) > 5
    with open(first, "rb") as f:  # each start is a line start with its row
        data = f.read()
    for start in starts[1:]:
        assert data[start.offset - 1 : start.offset] == b"\n"
        assert data[: start.offset].count(b"\n") == start.row == start.line_number - 1
    [(everything, labels)] = criteo.iter_batches(paths, 1000, max_ind_range=1000)
    for lo, hi in [(0, 10), (23, 57), (50, 70), (60, 97), (97, 97)]:
        read = criteo.ParseStats()
        got = list(criteo.iter_batches(paths, 1000, max_ind_range=1000, row_range=(lo, hi),
                                       index=index, stats=read))
        got_labels = np.concatenate([g[1] for g in got]) if got else np.zeros(0)
        np.testing.assert_array_equal(got_labels, labels[lo:hi])
        if lo >= 57:  # the first file is never opened
            assert first not in read.rows_per_file
    with pytest.raises(ValueError, match="not both"):
        next(criteo.iter_batches(paths, 10, max_ind_range=10, row_range=(0, 5), split="train"))


def test_iter_batches_split_sizes_and_rows(tmp_path):
    rng = np.random.default_rng(6)
    lines = random_lines(rng, 23)  # days (4, 4, 3, 3, 3, 3, 3): train 20, test 2, val 1
    path = write_lines(tmp_path / "train.txt", lines)
    vocab = criteo.Vocabulary.build(path)
    labels, dense, hashes = reference_rows(lines)
    ids = sorted_ids(hashes)
    for split, (lo, hi) in {"train": (0, 20), "test": (20, 22), "val": (22, 23)}.items():
        got_dense, got_sparse, got_labels = collect(
            criteo.iter_batches(path, 3, vocabulary=vocab, split=split, block_bytes=300)
        )
        np.testing.assert_array_equal(got_labels, labels[lo:hi].astype(np.float32))
        np.testing.assert_allclose(got_dense, dense[lo:hi], rtol=1e-6)
        np.testing.assert_array_equal(got_sparse, ids[lo:hi])


def test_iter_batches_skips_bad_lines_in_row_count(tmp_path):
    rng = np.random.default_rng(7)
    lines = random_lines(rng, 16)
    with_bad = lines[:5] + [make_line(7)] + lines[5:] + [""]
    path = write_lines(tmp_path / "train.txt", with_bad)
    with pytest.raises(criteo.CriteoParseError, match=r"train.txt:6: field label"):
        list(criteo.iter_batches(path, 4, max_ind_range=100))
    stats = criteo.ParseStats()
    # 16 good rows: days (3, 3, 2, 2, 2, 2, 2); val is the last row.
    _, sparse, labels = collect(
        criteo.iter_batches(
            path, 4, max_ind_range=100, split="val", skip_bad_lines=True, stats=stats
        )
    )
    expected_labels, _, expected_hashes = reference_rows(lines[-1:], max_ind_range=100)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(sparse, expected_hashes)


def test_iter_batches_batching_and_shuffle_within_days(tmp_path):
    lines = [make_line(i % 2, [i]) for i in range(40)]  # I1 = row index
    path = write_lines(tmp_path / "train.txt", lines)
    # Days (6, 6, 6, 6, 6, 5, 5): 35 training rows.
    batches = list(criteo.iter_batches(path, 8, max_ind_range=10, split="train"))
    assert [len(y) for _, y in batches] == [8, 8, 8, 8, 3]
    dropped = list(criteo.iter_batches(path, 7, max_ind_range=10, drop_remainder=True))
    assert [len(y) for _, y in dropped] == [7] * 5

    def rows(seed, window):
        dense, _, _ = collect(
            criteo.iter_batches(
                path, 5, max_ind_range=10, split="train", shuffle_rows=window, seed=seed
            )
        )
        return np.rint(np.exp(dense[:, 0]) - 1).astype(int)  # back to the row index

    shuffled = rows(seed=0, window=100)
    assert shuffled.tolist() != list(range(35))
    day_offsets = [0, 6, 12, 18, 24, 30, 35]
    for lo, hi in zip(day_offsets[:-1], day_offsets[1:]):
        assert sorted(shuffled[lo:hi].tolist()) == list(range(lo, hi))  # never mixes days
    np.testing.assert_array_equal(rows(seed=0, window=100), shuffled)
    assert rows(seed=1, window=100).tolist() != shuffled.tolist()
    small = rows(seed=0, window=4)
    assert sorted(small[:4].tolist()) == [0, 1, 2, 3]  # windows of 4 in day 0
    assert sorted(small[4:6].tolist()) == [4, 5]


def test_criteo_dataset_matches_iter_batches(tmp_path):
    lines = random_lines(np.random.default_rng(8), 30)
    path = write_lines(tmp_path / "train.txt", lines)
    vocab = criteo.Vocabulary.build(path)
    dataset = criteo.criteo_dataset(path, 8, vocabulary=vocab, split="train")
    assert dataset.element_spec[0][SPARSE_KEY].dtype == tf.int32
    assert dataset.element_spec[0][DENSE_KEY].shape.as_list() == [None, 13]
    got = [(f[DENSE_KEY].numpy(), f[SPARSE_KEY].numpy(), y.numpy()) for f, y in dataset]
    want = list(criteo.iter_batches(path, 8, vocabulary=vocab, split="train"))
    assert len(got) == len(want)
    for (d, s, y), (features, labels) in zip(got, want):
        np.testing.assert_array_equal(d, features[DENSE_KEY])
        np.testing.assert_array_equal(s, features[SPARSE_KEY])
        np.testing.assert_array_equal(y, labels)

    fixed = criteo.criteo_dataset(
        path, 4, vocabulary=vocab, drop_remainder=True, shuffle_rows=64, seed=3
    )
    assert fixed.element_spec[1].shape.as_list() == [4]
    first, second = ([y for _, y in fixed.as_numpy_iterator()] for _ in range(2))
    assert len(first) == 7
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))  # epochs differ


@needs_kaggle_head
def test_kaggle_head_matches_per_line_reference():
    with open(KAGGLE_HEAD, "rb") as f:
        lines = f.read().decode("latin-1").splitlines()
    labels, dense, hashes = reference_rows(lines, pad_short_lines=True)
    ids = sorted_ids(hashes)
    vocab = criteo.Vocabulary.build(KAGGLE_HEAD, block_bytes=20_000, pad_short_lines=True)
    assert vocab.vocab_sizes == tuple(len(set(hashes[:, j].tolist())) for j in range(26))
    got_dense, got_sparse, got_labels = collect(criteo.iter_batches(
        KAGGLE_HEAD, 128, vocabulary=vocab, block_bytes=20_000, pad_short_lines=True
    ))
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_allclose(got_dense, dense, rtol=1e-6)
    np.testing.assert_array_equal(got_sparse, ids)

    folded = criteo.Vocabulary.build(KAGGLE_HEAD, max_ind_range=97, pad_short_lines=True)
    _, _, fold_hashes = reference_rows(lines, max_ind_range=97, pad_short_lines=True)
    _, got_sparse, _ = collect(
        criteo.iter_batches(KAGGLE_HEAD, 1000, vocabulary=folded, pad_short_lines=True)
    )
    np.testing.assert_array_equal(got_sparse, sorted_ids(fold_hashes))
