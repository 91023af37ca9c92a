"""The on-disk format of a preprocessed directory: fixed-length records and metadata.

A shard is a flat file of fixed-length little-endian records, 160 bytes per
row:

    offset  0: label              float32
    offset  4: dense[13]          float32   (already log(x + 1))
    offset 56: sparse[26]         int32     (contiguous ids)

so a reader needs no parsing: it reads raw records and decodes a whole batch
at once, in numpy (`decode_records`) or in TensorFlow (`decode_batch`, one
`tf.io.decode_raw`).

A preprocessed directory holds:

    metadata.json        format version, row counts per split and shard,
                         vocabulary sizes, embedding table sizes, options
    vocabulary.npz       the `Vocabulary` used (absent in hashing-only mode)
    train-00000.bin ...  shards per split, in split order
    test-00000.bin ...
    val-00000.bin ...

`metadata.json` is written last, so a directory without it is incomplete;
`load_metadata` checks it. `writer` writes the shard files, `preprocessing`
the whole directory, `reader` reads it back.
"""

import json
import os

import numpy as np
import tensorflow as tf

from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import NUM_DENSE
from agp_tf.data.features import NUM_SPARSE
from agp_tf.data.features import SPARSE_KEY

FORMAT_VERSION = 1
RECORD_DTYPE = np.dtype(
    [("label", "<f4"), ("dense", "<f4", (NUM_DENSE,)), ("sparse", "<i4", (NUM_SPARSE,))]
)
RECORD_BYTES = RECORD_DTYPE.itemsize  # 160
METADATA_FILE = "metadata.json"
VOCABULARY_FILE = "vocabulary.npz"


def to_records(dense, sparse, labels):
    """Packs model arrays into a structured record array.

    Args:
        dense: float32 `(n, 13)`.
        sparse: int32 `(n, 26)`.
        labels: float32 `(n,)`.

    Returns:
        `(n,)` array of `RECORD_DTYPE`; `.tobytes()` is the on-disk form.

    Example:

    ```python
    records = to_records(np.zeros((2, 13), np.float32), np.ones((2, 26), np.int32),
                         np.array([0., 1.], np.float32))
    records.tobytes()[:8]   # b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00" (label 0, dense 0)
    ```
    """
    records = np.empty(len(labels), dtype=RECORD_DTYPE)
    records["label"] = labels
    records["dense"] = dense
    records["sparse"] = sparse
    return records


def decode_records(data):
    """Decodes shard bytes (or a record array) into `(features, labels)` numpy.

    Example:

    ```python
    features, labels = decode_records(open("val-00000.bin", "rb").read())
    features[SPARSE_KEY].shape   # (rows, 26)
    ```
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) % RECORD_BYTES:
            raise ValueError(
                f"Shard data must be a whole number of {RECORD_BYTES}-byte records. "
                f"Received: {len(data)} bytes"
            )
        data = np.frombuffer(data, dtype=RECORD_DTYPE)
    features = {
        DENSE_KEY: np.ascontiguousarray(data["dense"]),  # (n, 13)
        SPARSE_KEY: np.ascontiguousarray(data["sparse"]),  # (n, 26)
    }
    return features, np.ascontiguousarray(data["label"])  # (n,)


def decode_batch(raw):
    """Decodes raw records to tensors.

    Args:
        raw: tf.string, `(batch,)` strings of one record each, or a scalar
            string of `batch` records back to back.

    Returns:
        `(features, labels)` as in `agp_tf.data.features`.

    Example:

    ```python
    features, labels = decode_batch(tf.constant(open("val-00000.bin", "rb").read()))
    ```
    """
    words = tf.io.decode_raw(raw, tf.int32, little_endian=True)  # (batch, 40) or (batch * 40,)
    return split_words(tf.reshape(words, [-1, RECORD_BYTES // 4]))


def split_words(words):
    """`(batch, 40)` int32 record words -> `(features, labels)`."""
    labels = tf.bitcast(words[:, 0], tf.float32)  # (batch,)
    dense = tf.bitcast(words[:, 1 : 1 + NUM_DENSE], tf.float32)  # (batch, 13)
    sparse = words[:, 1 + NUM_DENSE :]  # (batch, 26)
    return {DENSE_KEY: dense, SPARSE_KEY: sparse}, labels


def load_metadata(data_dir):
    """Reads and checks `data_dir/metadata.json`.

    Example:

    ```python
    load_metadata("/data/criteo_kaggle")["table_sizes"]
    ```
    """
    path = os.path.join(data_dir, METADATA_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: {data_dir} is not a finished preprocessing output"
        )
    with open(path) as f:
        metadata = json.load(f)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: shard format version {metadata.get('format_version')} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    if metadata.get("record_bytes") != RECORD_BYTES:
        raise ValueError(f"{path}: record size {metadata.get('record_bytes')} != {RECORD_BYTES}")
    return metadata
