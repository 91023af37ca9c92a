"""Tests for agp_tf.data.shards: record layout, preprocessing, the tf.data reader."""

import json
import os
import struct

import numpy as np
import pytest

from agp_tf.data import criteo
from agp_tf.data import shards
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import SPARSE_KEY
from tests.test_criteo import KAGGLE_HEAD
from tests.test_criteo import collect
from tests.test_criteo import make_line
from tests.test_criteo import needs_kaggle_head
from tests.test_criteo import random_lines
from tests.test_criteo import write_lines


def numpy_batches(dataset):
    """tf.data `(features, labels)` batches as numpy tuples."""
    return [
        ({k: v.numpy() for k, v in features.items()}, labels.numpy())
        for features, labels in dataset
    ]


def assert_same(got, want):
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


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


def test_shard_writer_rolls_over(tmp_path):
    rng = np.random.default_rng(13)
    records = shards.to_records(
        rng.random((25, 13), dtype=np.float32),
        rng.integers(0, 9, (25, 26), dtype=np.int32),
        rng.integers(0, 2, 25).astype(np.float32),
    )
    writer = shards.ShardWriter(str(tmp_path), "train", rows_per_shard=10)
    for lo in range(0, 25, 7):
        writer.write(records[lo : lo + 7])
    assert writer.close() == [
        {"file": "train-00000.bin", "rows": 10},
        {"file": "train-00001.bin", "rows": 10},
        {"file": "train-00002.bin", "rows": 5},
    ]
    data = b"".join(
        (tmp_path / f"train-0000{i}.bin").read_bytes() for i in range(3)
    )
    assert data == records.tobytes()


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(10)
    lines = random_lines(rng, 61)  # days (9, 9, 9, 9, 9, 8, 8): train 53, test 4, val 4
    return write_lines(tmp_path / "train.txt", lines)


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


def test_reader_options_keep_every_row(tmp_path, text_file):
    out = str(tmp_path / "out")
    shards.preprocess(text_file, out, rows_per_shard=10)
    want = collect([shards.read_split(out, "train")])
    for options in (
        dict(num_parallel_reads=3, block_rows=4),
        dict(shuffle_files=True, seed=1),
        dict(shuffle_buffer=16, seed=1),
    ):
        got = collect(numpy_batches(shards.shard_dataset(out, "train", 5, **options)))
        order = np.lexsort(got[1].T)
        want_order = np.lexsort(want[1].T)
        assert_same([a[order] for a in got], [a[want_order] for a in want])
        assert not np.array_equal(got[1], want[1])  # rows really reordered


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


def test_row_slices_cover_each_row_once():
    assert shards.row_slices([4, 4, 4], 3, 9) == [(0, 3, 1), (1, 0, 4), (2, 0, 1)]
    assert shards.row_slices([4, 4, 4], 4, 8) == [(1, 0, 4)]
    assert shards.row_slices([4, 4, 4], 5, 5) == []
    sizes = [10, 10, 3, 10]
    for start in range(0, 33, 5):
        for stop in range(start, 34, 7):
            slices = shards.row_slices(sizes, start, stop)
            assert sum(count for _, _, count in slices) == stop - start
            rows = [sum(sizes[:i]) + first + k for i, first, count in slices for k in range(count)]
            assert rows == list(range(start, stop))
    with pytest.raises(ValueError, match="stop=34"):
        shards.row_slices(sizes, 0, 34)


def test_row_range_reads_just_those_rows(tmp_path, text_file):
    out = str(tmp_path / "out")
    shards.preprocess(text_file, out, rows_per_shard=10)
    features, labels = shards.read_split(out, "train")  # 53 rows
    for start, stop in ((0, 53), (7, 31), (20, 30), (50, 53)):
        got = collect(numpy_batches(
            shards.shard_dataset(out, "train", 4, block_rows=3, row_range=(start, stop))
        ))
        assert_same(got, (features[DENSE_KEY][start:stop], features[SPARSE_KEY][start:stop],
                          labels[start:stop]))


def test_shard_windows_seek_to_their_rows(tmp_path, text_file):
    from agp_tf.data.windows import ShardWindows

    out = str(tmp_path / "out")
    shards.preprocess(text_file, out, rows_per_shard=10)
    source = ShardWindows(out, window_rows=16, batch_size=4)  # 53 rows: 16, 16, 16, 5
    assert source.window_rows == [16, 16, 16, 5]
    whole = collect(numpy_batches(shards.shard_dataset(out, "train", 4)))
    windows = [collect(numpy_batches(source.window(k, 4))) for k in range(4)]
    assert_same([np.concatenate(parts) for parts in zip(*windows)], whole)
    assert source.describe(3) == "rows 48-53"
