"""Tests for agp_tf.data.shards.preprocessing: text to shards, splits, shuffles, bad data."""

import json
import os

import numpy as np
import pytest

from agp_tf.data import criteo
from agp_tf.data import shards
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import SPARSE_KEY
from tests.criteo_helpers import KAGGLE_HEAD
from tests.criteo_helpers import collect
from tests.criteo_helpers import make_line
from tests.criteo_helpers import needs_kaggle_head
from tests.criteo_helpers import random_lines
from tests.criteo_helpers import write_lines
from tests.shards_helpers import assert_same
from tests.shards_helpers import numpy_batches
from tests.shards_helpers import text_file  # noqa: F401 (a fixture)


def test_round_trip_text_to_shards_equals_text_stream(tmp_path, text_file):
    out = str(tmp_path / "out")
    metadata = shards.preprocess(text_file, out, rows_per_shard=10, block_bytes=2000)
    assert {s: v["rows"] for s, v in metadata["splits"].items()} == {
        "train": 53, "test": 4, "val": 4
    }
    assert [s["rows"] for s in metadata["splits"]["train"]["shards"]] == [10] * 5 + [3]
    assert metadata["day_sizes"] == [9, 9, 9, 9, 9, 8, 8]
    vocab = criteo.Vocabulary.load(os.path.join(out, shards.VOCABULARY_FILE))
    assert metadata["table_sizes"] == list(vocab.vocab_sizes)
    assert metadata == shards.load_metadata(out)
    for split in ("train", "test", "val"):
        want = collect(criteo.iter_batches(text_file, 7, vocabulary=vocab, split=split))
        features, labels = shards.read_split(out, split)
        assert_same((features[DENSE_KEY], features[SPARSE_KEY], labels), want)
        # Blocks of 3 rows over shards of 10: partial blocks, rebatched to 7.
        got = numpy_batches(shards.shard_dataset(out, split, 7, block_rows=3))
        assert [len(y) for _, y in got][:-1] == [7] * (len(got) - 1)
        assert_same(collect(got), want)
    got = numpy_batches(shards.shard_dataset(out, "train", 8, drop_remainder=True))
    assert [len(y) for _, y in got] == [8] * 6


def test_shuffle_day_is_a_permutation_within_each_day(tmp_path):
    lines = [make_line(i % 2, [i]) for i in range(70)]  # I1 = row index
    path = write_lines(tmp_path / "train.txt", lines)
    days = [0, 10, 20, 30, 40, 50, 60, 70]

    def train_rows(out, shuffle, seed=0):
        shards.preprocess(path, out, max_ind_range=0, shuffle=shuffle, seed=seed, rows_per_shard=4)
        features, _ = shards.read_split(out, "train")
        return np.rint(np.exp(features[DENSE_KEY][:, 0]) - 1).astype(int)

    rows = train_rows(str(tmp_path / "day"), "day")
    assert rows.tolist() != list(range(60))
    for lo, hi in zip(days[:-2], days[1:-1]):
        assert sorted(rows[lo:hi].tolist()) == list(range(lo, hi))
    np.testing.assert_array_equal(train_rows(str(tmp_path / "again"), "day"), rows)
    assert train_rows(str(tmp_path / "seed1"), "day", seed=1).tolist() != rows.tolist()
    total = train_rows(str(tmp_path / "total"), "total")
    assert sorted(total.tolist()) == list(range(60))
    assert any(sorted(total[lo:hi].tolist()) != list(range(lo, hi)) for lo, hi in [(0, 10)])
    features, _ = shards.read_split(str(tmp_path / "total"), "val")
    np.testing.assert_array_equal(
        np.rint(np.exp(features[DENSE_KEY][:, 0]) - 1), range(65, 70)
    )  # test / val keep file order
    assert not [f for f in os.listdir(tmp_path / "total") if f.startswith(".shuffle")]


def test_one_file_per_day_and_hashing_only(tmp_path):
    rng = np.random.default_rng(11)
    paths = [
        write_lines(tmp_path / f"day_{d}", random_lines(rng, n))
        for d, n in [(0, 6), (1, 5), (2, 7)]
    ]
    out = str(tmp_path / "out")
    metadata = shards.preprocess(paths, out, split_mode="days", vocabulary=None, max_ind_range=1000)
    assert metadata["day_sizes"] == [6, 5, 7]
    assert {s: v["rows"] for s, v in metadata["splits"].items()} == {
        "train": 11, "test": 4, "val": 3
    }
    assert metadata["vocabulary"] is None and metadata["table_sizes"] == [1000] * 26
    assert not os.path.exists(os.path.join(out, shards.VOCABULARY_FILE))
    hashes = np.concatenate([c.hashes for c in criteo.iter_chunks(paths)])
    features, _ = shards.read_split(out, "val")
    np.testing.assert_array_equal(features[SPARSE_KEY], hashes[-3:] % 1000)
    with pytest.raises(ValueError, match="needs at least 2 files"):
        shards.preprocess(paths[:1], str(tmp_path / "o2"), split_mode="days")


def test_bad_lines_overwrite_and_truncation(tmp_path):
    rng = np.random.default_rng(12)
    lines = random_lines(rng, 20)
    lines[4] = make_line(0, ["x"])
    path = write_lines(tmp_path / "train.txt", lines)
    out = str(tmp_path / "out")
    with pytest.raises(criteo.CriteoParseError, match=r"train.txt:5: field I1"):
        shards.preprocess(path, out)
    assert not os.path.exists(os.path.join(out, shards.METADATA_FILE))
    metadata = shards.preprocess(path, out, skip_bad_lines=True, max_bad_fraction=0.1, split_mode="none")
    assert metadata["bad_lines"] == 1 and metadata["splits"]["all"]["rows"] == 19
    assert metadata["bad_line_examples"][0].endswith(
        "field I1: dense value must be empty or an integer of at most 18 digits; got 'x'"
    )
    with pytest.raises(FileExistsError, match="overwrite=True"):
        shards.preprocess(path, out, skip_bad_lines=True, max_bad_fraction=0.1)
    metadata = shards.preprocess(path, out, skip_bad_lines=True, max_bad_fraction=0.1, overwrite=True)
    assert sorted(metadata["splits"]) == ["test", "train", "val"]
    assert not [f for f in os.listdir(out) if f.startswith("all-")]  # old shards removed

    shard = os.path.join(out, metadata["splits"]["val"]["shards"][0]["file"])
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) - 1)
    truncated = r"val-00000.bin: expected 160 bytes \(1 rows\), found 159"
    with pytest.raises(ValueError, match=truncated):
        shards.shard_dataset(out, "val", 4)
    with open(os.path.join(out, shards.METADATA_FILE)) as f:
        raw = json.load(f)
    raw["format_version"] = 99
    with open(os.path.join(out, shards.METADATA_FILE), "w") as f:
        json.dump(raw, f)
    with pytest.raises(ValueError, match="version 99"):
        shards.load_metadata(out)


@needs_kaggle_head
def test_kaggle_head_round_trip(tmp_path):
    out = str(tmp_path / "out")
    metadata = shards.preprocess(KAGGLE_HEAD, out, rows_per_shard=300, vocab_order="first_seen",
                                 pad_short_lines=True)
    # 1000 rows: days (143, 143, 143, 143, 143, 143, 142); test 71, val 71.
    assert {s: v["rows"] for s, v in metadata["splits"].items()} == {
        "train": 858, "test": 71, "val": 71
    }
    vocab = criteo.Vocabulary.load(os.path.join(out, shards.VOCABULARY_FILE))
    assert vocab.order == "first_seen"
    for split in ("train", "val"):
        want = collect(criteo.iter_batches(KAGGLE_HEAD, 100, vocabulary=vocab, split=split,
                                           pad_short_lines=True))
        got = collect(numpy_batches(shards.shard_dataset(out, split, 64)))
        assert_same(got, want)


def test_given_vocabulary_reserve_and_empty_splits(tmp_path):
    lines = [make_line(i % 2, [i], [0x100 + i % 3]) for i in range(3)]
    lines.append(make_line(0, [3], [0xBEEF]))  # not in the vocabulary of the first 3
    path = write_lines(tmp_path / "train.txt", lines)
    vocab_path = str(tmp_path / "v.npz")
    criteo.Vocabulary.build(write_lines(tmp_path / "head.txt", lines[:3]), 50).save(vocab_path)

    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match=r"train.txt:4: field C1: value 0000beef"):
        shards.preprocess(path, out, vocabulary=vocab_path)
    with pytest.raises(ValueError, match="differs from the given vocabulary's"):
        shards.preprocess(path, out, vocabulary=vocab_path, max_ind_range=7, overwrite=True)
    metadata = shards.preprocess(path, out, vocabulary=vocab_path, oov="reserve")
    assert metadata["table_sizes"][:2] == [4, 2] and metadata["max_ind_range"] == 50
    # 4 rows: days (1, 1, 1, 1, 0, 0, 0); the last day is empty.
    assert {s: v["rows"] for s, v in metadata["splits"].items()} == {
        "train": 4, "test": 0, "val": 0
    }
    features, _ = shards.read_split(out, "train")
    assert features[SPARSE_KEY][:, 0].tolist() == [0, 1, 2, 3]  # 0xBEEF -> reserved id 3
    assert numpy_batches(shards.shard_dataset(out, "val", 4)) == []
