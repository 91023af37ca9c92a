"""Tests for agp_tf.data.criteo.vocabulary: hash folding, id orders, save / load, OOV."""

import numpy as np
import pytest

from agp_tf.data import criteo
from tests.criteo_helpers import collect
from tests.criteo_helpers import make_line
from tests.criteo_helpers import write_lines


def test_fold_hashes():
    hashes = np.array([0x68FD1E64, 0xFFFFFFFF, 0])
    np.testing.assert_array_equal(criteo.fold_hashes(hashes, 0), hashes)
    np.testing.assert_array_equal(
        criteo.fold_hashes(hashes, 1000), [1761418852 % 1000, 4294967295 % 1000, 0]
    )


def test_vocabulary_sorted_and_first_seen(tmp_path):
    lines = [
        make_line(0, [], [0x30, 0x10]),
        make_line(1, [], [0x20, None]),
        make_line(0, [], [0x30, 0xFFFFFFFF]),
        make_line(1, [], [0x05, 0x10]),
    ]
    path = write_lines(tmp_path / "t.txt", lines)
    vocab = criteo.Vocabulary.build(path)
    assert vocab.columns[0].tolist() == [0x05, 0x20, 0x30]
    assert vocab.columns[1].tolist() == [0, 0x10, 0xFFFFFFFF]  # empty is value 0
    assert vocab.columns[2].tolist() == [0]
    assert vocab.vocab_sizes == (3, 3) + (1,) * 24
    first = criteo.Vocabulary.build(path, order="first_seen")
    assert first.columns[0].tolist() == [0x30, 0x20, 0x05]
    assert first.columns[1].tolist() == [0x10, 0, 0xFFFFFFFF]

    hashes = np.array([criteo.parse_line(l)[2] for l in lines])
    ids, unseen = vocab.lookup(hashes)
    assert ids[:, 0].tolist() == [2, 1, 2, 0]
    assert ids[:, 1].tolist() == [1, 0, 2, 1]
    assert not unseen.any()
    ids, _ = first.lookup(hashes)
    assert ids[:, 0].tolist() == [0, 1, 0, 2]
    assert ids[:, 1].tolist() == [0, 1, 2, 0]


def test_vocabulary_fold_save_load_and_oov(tmp_path):
    lines = [make_line(0, [], [1000 + i, 7 * i]) for i in range(10)]
    path = write_lines(tmp_path / "t.txt", lines)
    vocab = criteo.Vocabulary.build(path, max_ind_range=4)
    assert vocab.columns[0].tolist() == [0, 1, 2, 3]
    assert vocab.columns[1].tolist() == [0, 1, 2, 3]
    vocab.save(str(tmp_path / "v.npz"))
    loaded = criteo.Vocabulary.load(str(tmp_path / "v.npz"))
    assert loaded.max_ind_range == 4 and loaded.order == "sorted"
    assert [c.tolist() for c in loaded.columns] == [c.tolist() for c in vocab.columns]

    small = criteo.Vocabulary.build(write_lines(tmp_path / "s.txt", lines[:2]))
    assert small.table_sizes("reserve")[:2] == (3, 3)
    queries = np.zeros((2, 26), dtype=np.int64)
    queries[:, 0] = [1001, 5000]
    ids, unseen = small.lookup(queries)
    assert ids[:, 0].tolist() == [1, 2]  # unseen -> vocab_sizes[0]
    assert unseen[:, 0].tolist() == [False, True]

    unseen_file = write_lines(tmp_path / "u.txt", lines[:2] + [make_line(1, [], [0xBEEF])])
    with pytest.raises(ValueError, match=r"u.txt:3: field C1: value 0000beef is not in"):
        list(criteo.iter_batches(unseen_file, 8, vocabulary=small))
    _, sparse, _ = collect(criteo.iter_batches(unseen_file, 8, vocabulary=small, oov="reserve"))
    assert sparse[:, 0].tolist() == [0, 1, 2]


@pytest.mark.parametrize("order", ["sorted", "first_seen"])
def test_vocabulary_builder_merges_like_one_unique(order, monkeypatch):
    monkeypatch.setattr(criteo.VocabularyBuilder, "_MIN_MERGE", 1)
    rng = np.random.default_rng(5)
    chunks = [rng.integers(0, 300, size=(int(rng.integers(1, 50)), 26)) for _ in range(40)]
    builder = criteo.VocabularyBuilder(order=order)
    for chunk in chunks:
        builder.update(chunk)
    vocab = builder.result()
    everything = np.concatenate(chunks)
    for j in range(26):
        values, first = np.unique(everything[:, j], return_index=True)
        expected = values if order == "sorted" else everything[np.sort(first), j]
        np.testing.assert_array_equal(vocab.columns[j], expected)
