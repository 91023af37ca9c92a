"""Tests for agp_tf.data.criteo: parsing, reference preprocessing, vocabulary, days."""

import gzip
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from agp_tf.data import criteo
from agp_tf.data import features
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import SPARSE_KEY
from conftest import SHARED_DATA

# The real 1,000-row head of Criteo Kaggle's train.txt: $AGP_TF_CRITEO_HEAD,
# else the shared data folder beside the repository.
_HEAD_SOURCE = "AGP_TF_CRITEO_HEAD" if os.environ.get("AGP_TF_CRITEO_HEAD") else "../shared/data"
KAGGLE_HEAD = os.environ.get("AGP_TF_CRITEO_HEAD") or os.path.join(
    SHARED_DATA, "criteo_kaggle_head1000.tsv"
)
needs_kaggle_head = pytest.mark.skipif(
    not os.path.exists(KAGGLE_HEAD),
    reason=f"real Criteo head not found at {KAGGLE_HEAD} (from {_HEAD_SOURCE}; set "
    "AGP_TF_CRITEO_HEAD to its path)"
)


# --------------------------------------------------------------------------
# Helpers that write lines in the exact Criteo format.


def make_line(label, dense=(), hashes=(), strip_trailing=False, upper=False):
    """One Criteo line. None: empty field; int hashes are written as 8 hex digits."""
    dense = list(dense) + [None] * (13 - len(dense))
    hashes = list(hashes) + [None] * (26 - len(hashes))
    fields = [str(label)]
    fields += ["" if v is None else str(v) for v in dense]
    for h in hashes:
        if h is None:
            fields.append("")
        elif isinstance(h, int):
            fields.append(f"{h:08X}" if upper else f"{h:08x}")
        else:
            fields.append(h)
    line = "\t".join(fields)
    return line.rstrip("\t") if strip_trailing else line


def random_lines(rng, n, hash_pool=50, strip_rate=0.0):
    """Valid lines with empties, negatives, both hex cases; with `strip_rate`,
    that share has its trailing empty fields stripped (read with padding)."""
    pool = rng.integers(0, 2**32, size=(26, hash_pool))
    lines = []
    for _ in range(n):
        dense = []
        for _ in range(13):
            kind = rng.integers(6)
            if kind == 0:
                dense.append(None)
            elif kind == 1:
                dense.append(-int(rng.integers(0, 5)))
            else:
                dense.append(int(rng.integers(0, 10 ** int(rng.integers(1, 10)))))
        hashes = [
            None if rng.random() < 0.15 else int(pool[j, rng.integers(hash_pool)])
            for j in range(26)
        ]
        if rng.random() < 0.3:
            hashes[-3:] = [None] * 3
        lines.append(
            make_line(
                int(rng.integers(2)),
                dense,
                hashes,
                strip_trailing=bool(rng.random() < strip_rate),
                upper=bool(rng.random() < 0.3),
            )
        )
    return lines


def write_lines(path, lines, final_newline=True):
    text = "\n".join(lines) + ("\n" if final_newline else "")
    with open(path, "w", newline="") as f:
        f.write(text)
    return str(path)


def reference_rows(lines, max_ind_range=0, pad_short_lines=False):
    """Reference preprocessing in plain Python, one line at a time."""
    labels, dense, hashes = [], [], []
    for line in lines:
        label, d, h = criteo.parse_line(line, pad_short_lines=pad_short_lines)
        labels.append(label)
        dense.append([math.log(max(x, 0) + 1) for x in d])
        hashes.append([x % max_ind_range if max_ind_range else x for x in h])
    return np.array(labels), np.array(dense), np.array(hashes, dtype=np.int64)


def sorted_ids(hashes):
    """Per column: index of each value among the column's sorted distinct values."""
    ids = np.zeros(hashes.shape, dtype=np.int64)
    for j in range(hashes.shape[1]):
        ordered = sorted(set(hashes[:, j].tolist()))
        rank = {v: i for i, v in enumerate(ordered)}
        ids[:, j] = [rank[v] for v in hashes[:, j].tolist()]
    return ids


def collect(batches):
    """Concatenates numpy (features, labels) batches."""
    batches = list(batches)
    dense = np.concatenate([f[DENSE_KEY] for f, _ in batches])
    sparse = np.concatenate([f[SPARSE_KEY] for f, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    return dense, sparse, labels


# --------------------------------------------------------------------------
# Per-line rules.


def test_parse_line_values_and_padding():
    full = make_line(1, [5, -3, None, 0, 1382], [0x68FD1E64, None, "ABCDEF01"])
    label, dense, hashes = criteo.parse_line(full + "\n")
    assert label == 1
    assert dense == [5, -3, 0, 0, 1382] + [0] * 8
    assert hashes == [0x68FD1E64, 0, 0xABCDEF01] + [0] * 23
    stripped = full.rstrip("\t")
    assert stripped.count("\t") == 16  # 17 fields
    with pytest.raises(criteo.CriteoParseError, match="17 tab-separated fields.*pad_short_lines"):
        criteo.parse_line(stripped)
    assert criteo.parse_line(stripped, pad_short_lines=True) == (label, dense, hashes)


def test_short_lines_are_never_shifted_into_place():
    # A label-less Kaggle test row: I1..I13, C1..C26 (39 fields). With I1 = 1
    # and C1 all digits, every value passes its slot's check once shifted.
    test_row = "\t".join(["1", "5", "", "0"] + [""] * 9 + ["12345678"] + ["68fd1e64"] * 25)
    assert test_row.count("\t") == 38
    with pytest.raises(criteo.CriteoParseError, match="39 tab-separated fields; expected 40"):
        criteo.parse_line(test_row)
    with pytest.raises(criteo.CriteoParseError, match="39 tab-separated fields"):
        criteo.parse_block(test_row.encode())
    # A last line cut right after a tab ends with an empty field: padding
    # would make it a valid row, so even with padding it is bad.
    full = make_line(0, [1, 2, 3], [0xABCDEF01] * 26)
    cut = full[: full.index("abcdef01")]
    assert cut.endswith("\t")
    block = (full + "\n" + cut).encode()
    for pad in (False, True):
        with pytest.raises(criteo.CriteoParseError, match="^b:2: line has 15"):
            criteo.parse_block(block, "b", pad_short_lines=pad)
    with pytest.raises(criteo.CriteoParseError, match="ends with an empty one"):
        criteo.parse_line(cut, pad_short_lines=True)
    stats = criteo.ParseStats()
    chunk = criteo.parse_block(block, "b", skip_bad_lines=True, stats=stats, pad_short_lines=True)
    assert len(chunk) == 1 and stats.bad_lines == 1


@pytest.mark.parametrize(
    "line, field, fragment",
    [
        (make_line(0) + "\t", None, "41 tab-separated fields"),
        (make_line(0).rstrip("\t"), None, "1 tab-separated fields; expected 40"),
        (make_line(2), "label", "label must be 0 or 1"),
        ("\t".join([""] + [""] * 39), "label", "got ''"),
        (make_line("01"), "label", "got '01'"),
        (make_line(0, [None, "1.5"]), "I2", "'1.5'"),
        (make_line(0, ["abc"]), "I1", "'abc'"),
        (make_line(0, [None] * 12 + ["-"]), "I13", "'-'"),
        (make_line(0, ["+3"]), "I1", "'+3'"),
        (make_line(0, ["--1"]), "I1", "'--1'"),
        (make_line(0, [" 5"]), "I1", "' 5'"),
        (make_line(0, ["1" * 19]), "I1", "at most 18 digits"),
        (make_line(0, [], ["68fd1e6g"]), "C1", "'68fd1e6g'"),
        (make_line(0, [], [None, "68fd1e6"]), "C2", "8 hex digits"),
        (make_line(0, [], [None] * 25 + ["68fd1e641"]), "C26", "'68fd1e641'"),
        (make_line(0, [], ["0x68fd1e"]), "C1", "'0x68fd1e'"),
        (make_line(0, [], ["68fd\x101e"]), "C1", "hex digits"),
    ],
)
def test_parse_line_rejects(line, field, fragment):
    with pytest.raises(criteo.CriteoParseError) as info:
        criteo.parse_line(line, "some/file.txt", 17)
    assert info.value.path == "some/file.txt"
    assert info.value.line_number == 17
    assert info.value.field == field
    assert str(info.value).startswith("some/file.txt:17: ")
    assert fragment in str(info.value)


def test_fold_hashes():
    hashes = np.array([0x68FD1E64, 0xFFFFFFFF, 0])
    np.testing.assert_array_equal(criteo.fold_hashes(hashes, 0), hashes)
    np.testing.assert_array_equal(
        criteo.fold_hashes(hashes, 1000), [1761418852 % 1000, 4294967295 % 1000, 0]
    )


# --------------------------------------------------------------------------
# Vectorized parser against the per-line rules.


@pytest.mark.parametrize("pad", [False, True])
def test_parse_block_matches_parse_line_on_random_lines(pad):
    rng = np.random.default_rng(1)
    lines = random_lines(rng, 400, strip_rate=0.5 if pad else 0.0)
    # Digit-count edges of the 8-byte word arithmetic, hex edges.
    lines += [
        make_line(1, [12345678, 123456789, 10**15, 10**16 - 1, 10**16, 10**17 + 3, 10**18 - 1]),
        make_line(0, ["00000000007", "-0", "-12345678901", 99999999, 100000000]),
        make_line(1, [], [0xFFFFFFFF, 0, "aBcDeF09", "FFFFFFFF", "00000000", "9a9A9f9F"]),
    ]
    chunk = criteo.parse_block("\n".join(lines).encode(), "f", 1, pad_short_lines=pad)
    assert len(chunk) == len(lines)
    np.testing.assert_array_equal(chunk.line_numbers, np.arange(1, len(lines) + 1))
    for i, line in enumerate(lines):
        label, dense, hashes = criteo.parse_line(line, pad_short_lines=pad)
        assert chunk.labels[i] == label
        assert chunk.dense[i].tolist() == dense
        assert chunk.hashes[i].tolist() == hashes
    assert chunk.dense[-3].tolist()[:7] == [
        12345678, 123456789, 10**15, 10**16 - 1, 10**16, 10**17 + 3, 10**18 - 1
    ]
    assert chunk.hashes[-1].tolist()[:6] == [
        0xFFFFFFFF, 0, 0xABCDEF09, 0xFFFFFFFF, 0, 0x9A9A9F9F
    ]


BAD_LINES = [
    (make_line(0) + "\tx", None),
    (make_line(3), "label"),
    ("", None),  # blank line: 1 field
    (make_line(0, [None, None, "1e3"]), "I3"),
    (make_line(0, [None] * 4 + ["1-2"]), "I5"),
    (make_line(0, ["-"]), "I1"),
    (make_line(0, ["9" * 19]), "I1"),
    (make_line(0, [], [None, None, "12345g78"]), "C3"),
    (make_line(0, [], [None] * 10 + ["1234567"]), "C11"),
    (make_line(0, [], [None] * 25 + ["123456789"]), "C26"),
    (make_line(0, [], ["1234\x10678"]), "C1"),  # control byte that bit 5 maps to '0'
    (make_line(0, [], ["1234\xe9678"]), "C1"),  # non-ASCII
]


@pytest.mark.parametrize("bad_line, field", BAD_LINES)
def test_parse_block_finds_exact_first_bad_line(bad_line, field):
    rng = np.random.default_rng(2)
    good = random_lines(rng, 30)
    lines = good[:23] + [bad_line] + good[23:]
    block = "\n".join(lines).encode("latin-1")
    with pytest.raises(criteo.CriteoParseError) as info:
        criteo.parse_block(block, "day_3", first_line_number=101)
    assert (info.value.path, info.value.line_number, info.value.field) == ("day_3", 124, field)
    assert str(info.value).startswith("day_3:124: ")

    stats = criteo.ParseStats()
    chunk = criteo.parse_block(block, "day_3", 101, skip_bad_lines=True, stats=stats)
    assert stats.bad_lines == 1
    assert stats.bad_line_examples[0].startswith("day_3:124: ")
    assert len(chunk) == 30
    np.testing.assert_array_equal(
        chunk.line_numbers, [101 + i for i in range(31) if i != 23]
    )
    expected = criteo.parse_block("\n".join(good).encode(), "day_3", 1)
    np.testing.assert_array_equal(chunk.hashes, expected.hashes)
    np.testing.assert_array_equal(chunk.dense, expected.dense)


def test_crlf_and_missing_final_newline():
    lines = [make_line(1, [3], [0xA]), make_line(0, [None, 4], [None, 0xB], strip_trailing=True)]
    block = ("\r\n".join(lines) + "\r").encode()
    chunk = criteo.parse_block(block, pad_short_lines=True)
    assert chunk.labels.tolist() == [1, 0]
    assert chunk.dense[:, :2].tolist() == [[3, 0], [0, 4]]
    assert chunk.hashes[:, :2].tolist() == [[0xA, 0], [0, 0xB]]


# --------------------------------------------------------------------------
# Files, blocks, line numbers.


def test_iter_chunks_line_numbers_across_blocks_and_files(tmp_path):
    rng = np.random.default_rng(3)
    first = write_lines(tmp_path / "day_0", random_lines(rng, 57), final_newline=False)
    second_lines = random_lines(rng, 40)
    second_lines[33] = make_line(0, [], [None, "zzzzzzzz"])
    second = write_lines(tmp_path / "day_1", second_lines)
    stats = criteo.ParseStats()
    with pytest.raises(criteo.CriteoParseError, match=r"day_1:34: field C2"):
        for _ in criteo.iter_chunks([first, second], stats=stats, block_bytes=1000):
            pass
    assert stats.rows_per_file[first] == 57

    stats = criteo.ParseStats()
    chunks = list(criteo.iter_chunks([first, second], True, stats, block_bytes=1000))
    assert len(chunks) > 10  # many blocks, each cut at a line end
    assert stats.rows_per_file == {first: 57, second: 39}
    assert stats.bad_lines == 1
    numbers = np.concatenate([c.line_numbers for c in chunks if c.path == second])
    np.testing.assert_array_equal(numbers, [n for n in range(1, 41) if n != 34])
    assert criteo.count_rows([first, second]) == [57, 40]
    assert criteo.count_rows([first, second], skip_bad_lines=True) == [57, 39]


def test_gzip_input_reads_like_plain(tmp_path):
    lines = random_lines(np.random.default_rng(4), 50)
    plain = write_lines(tmp_path / "day_0", lines)
    packed = str(tmp_path / "day_0.gz")
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        dst.write(src.read())
    a = list(criteo.iter_chunks(plain, block_bytes=500))
    b = list(criteo.iter_chunks(packed, block_bytes=500))
    np.testing.assert_array_equal(
        np.concatenate([c.hashes for c in a]), np.concatenate([c.hashes for c in b])
    )


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


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        list(criteo.iter_chunks(str(tmp_path / "nope.txt")))


# --------------------------------------------------------------------------
# Vocabulary.


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


# --------------------------------------------------------------------------
# Days and splits.


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


# --------------------------------------------------------------------------
# The real Kaggle head.


@needs_kaggle_head
def test_kaggle_head_rows_by_hand():
    with open(KAGGLE_HEAD, "rb") as f:
        text = f.read()
    # This copy has its trailing empty fields stripped (498 of 1000 lines).
    with pytest.raises(criteo.CriteoParseError, match=":3: line has 38 .*pad_short_lines"):
        criteo.parse_block(text, KAGGLE_HEAD)
    chunk = criteo.parse_block(text, KAGGLE_HEAD, pad_short_lines=True)
    assert len(chunk) == 1000
    assert int(chunk.labels.sum()) == 205

    # Line 1, all 40 fields: 0 1 1 5 0 1382 4 15 2 181 1 2 '' 2 | 68fd1e64 80e26c9b ..
    assert chunk.labels[0] == 0
    assert chunk.dense[0].tolist() == [1, 1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, 0, 2]
    assert chunk.hashes[0, :2].tolist() == [0x68FD1E64, 0x80E26C9B]
    assert chunk.hashes[0, 21] == 0  # C22 empty
    assert chunk.hashes[0, 25] == 0x9727DD16
    dense = features.transform_dense(chunk.dense[:5])
    assert dense[0, 4] == pytest.approx(math.log(1383), rel=1e-6)
    assert dense[0, 11] == 0.0

    # Line 5, 38 fields (C25, C26 stripped), I2 = -1, I3 and I12 empty.
    assert chunk.dense[4].tolist() == [3, -1, 0, 0, 2, 0, 3, 0, 0, 1, 1, 0, 0]
    np.testing.assert_allclose(
        dense[4], [math.log(4), 0, 0, 0, math.log(3), 0, math.log(4), 0, 0]
        + [math.log(2), math.log(2), 0, 0], rtol=1e-6
    )
    assert chunk.hashes[4, 18:].tolist() == [0, 0, 0x21C9516A, 0, 0x32C7478E, 0xB34F3128, 0, 0]


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


@pytest.mark.parametrize("pad", [False, True])
def test_parse_block_agrees_with_parse_line_on_mutated_lines(pad):
    rng = np.random.default_rng(9)
    lines = [line.encode() for line in random_lines(rng, 300, strip_rate=0.5 if pad else 0.0)]
    interesting = np.array(
        [0, 9, 13, 16, 25, 32, 43, 45, 46, 47, 48, 57, 58, 64, 65, 70, 71, 96, 97, 102, 103]
        + [128, 233, 255]
    )
    mutated = []
    for line in lines:
        line = bytearray(line)
        for _ in range(int(rng.integers(0, 3))):
            if line:
                line[int(rng.integers(len(line)))] = int(rng.choice(interesting))
        mutated.append(bytes(line))
    expected = []
    for number, line in enumerate(mutated, start=1):
        try:
            expected.append((number, criteo.parse_line(line, pad_short_lines=pad)))
        except criteo.CriteoParseError:
            pass
    assert 50 < len(expected) < 280  # both outcomes well represented
    stats = criteo.ParseStats()
    chunk = criteo.parse_block(b"\n".join(mutated), "m", 1, skip_bad_lines=True, stats=stats,
                               pad_short_lines=pad)
    assert chunk.line_numbers.tolist() == [n for n, _ in expected]
    assert stats.bad_lines == len(mutated) - len(expected)
    for i, (_, (label, dense, hashes)) in enumerate(expected):
        assert (chunk.labels[i], chunk.dense[i].tolist(), chunk.hashes[i].tolist()) == (
            label, dense, hashes
        )
