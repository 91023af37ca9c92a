"""Tests for agp_tf.data.synthetic.tsv: raw Criteo Kaggle text, read back."""

import re

import numpy as np
import pytest

from agp_tf.data import features
from agp_tf.data import synthetic

from test_synthetic_stream import day0, stream  # noqa: F401 (shared fixtures)


def _parse_tsv(text):
    """An independent parser of Criteo Kaggle train.txt text."""
    labels, dense, dense_missing, hashes, sparse_missing = [], [], [], [], []
    lines = text.decode("ascii").split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    for line in lines[:-1]:
        fields = line.split("\t")
        assert len(fields) == 40, line
        assert fields[0] in ("0", "1")
        labels.append(float(fields[0]))
        for field in fields[1:14]:
            assert field == "" or re.fullmatch(r"-?[0-9]+", field), field
        dense.append([int(f) if f else 0 for f in fields[1:14]])
        dense_missing.append([f == "" for f in fields[1:14]])
        for field in fields[14:]:
            assert field == "" or re.fullmatch(r"[0-9a-f]{8}", field), field
        hashes.append([int(f, 16) if f else -1 for f in fields[14:]])
        sparse_missing.append([f == "" for f in fields[14:]])
    return tuple(map(np.array, (labels, dense, dense_missing, hashes, sparse_missing)))


def test_tsv_format_and_round_trip(stream, day0):
    batch = day0.slice(0, 3_000)
    labels, dense, dense_missing, hashes, sparse_missing = _parse_tsv(batch.to_tsv())
    np.testing.assert_array_equal(labels, batch.labels)
    np.testing.assert_array_equal(dense, batch.dense_raw)
    np.testing.assert_array_equal(dense_missing, batch.dense_missing)
    np.testing.assert_array_equal(sparse_missing, batch.sparse == synthetic.MISSING_ID)
    assert dense_missing.any() and sparse_missing.any() and (dense < 0).any()
    for column in range(26):
        # Hash -> id by a table over the whole vocabulary: the mapping is a
        # bijection, so the parsed categories are exactly the ids.
        vocab = np.arange(1, stream.vocab_sizes[column])
        table = dict(zip(stream.ids_to_hashes(column, vocab).tolist(), vocab.tolist()))
        assert len(table) == len(vocab)
        assert 0 not in table  # "00000000" would read as an empty field
        present = ~sparse_missing[:, column]
        parsed = [table[h] for h in hashes[present, column]]
        np.testing.assert_array_equal(parsed, batch.sparse[present, column])
        np.testing.assert_array_equal(
            stream.hashes_to_ids(column, hashes[present, column]), batch.sparse[present, column]
        )
    np.testing.assert_array_equal(
        np.where(sparse_missing, -1, batch.sparse_hashes().astype(np.int64)), hashes
    )


def test_write_tsv_days_in_order(stream, tmp_path):
    path = tmp_path / "train.txt"
    assert stream.write_tsv(str(path), days=[0, 6], num_rows=500) == 1000
    text = path.read_bytes()
    expected = stream.day(0, num_rows=500).to_tsv() + stream.day(6, num_rows=500).to_tsv()
    assert text == expected
    assert text.count(b"\n") == 1000


def test_criteo_text_pipeline_reads_the_same_rows(stream, tmp_path):
    """End to end through agp_tf.data.criteo: same labels, bit-identical
    dense features, and the same categories (up to the pipeline's own
    numbering of ids)."""
    criteo = pytest.importorskip("agp_tf.data.criteo")
    path = str(tmp_path / "train.txt")
    stream.write_tsv(path, days=[0, 6], num_rows=5_000)
    chunks = list(criteo.iter_chunks([path]))
    labels = np.concatenate([c.labels for c in chunks])
    dense = features.transform_dense(np.concatenate([c.dense for c in chunks]))
    hashes = np.concatenate([c.hashes for c in chunks])
    ids, unseen = criteo.Vocabulary.build([path]).lookup(hashes)
    want = stream.day(0, num_rows=5_000), stream.day(6, num_rows=5_000)
    np.testing.assert_array_equal(labels, np.concatenate([b.labels for b in want]))
    assert dense.tobytes() == np.concatenate([b.dense for b in want]).tobytes()
    sparse = np.concatenate([b.sparse for b in want])
    assert not unseen.any()
    for column in range(26):
        pairs = set(zip(ids[:, column].tolist(), sparse[:, column].tolist()))
        assert len(pairs) == len(np.unique(ids[:, column])) == len(np.unique(sparse[:, column]))
