"""Helpers shared by the Criteo text and shard tests: lines in the exact Criteo format,
the per-line reference preprocessing, and the real Kaggle head."""

import math
import os

import numpy as np
import pytest

from agp_tf.data import criteo
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
