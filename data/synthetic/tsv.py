"""Raw Criteo Kaggle text: `format_tsv` writes rows as `train.txt` lines.

`SyntheticBatch.to_tsv` (`batch`) and `SyntheticCriteo.write_tsv`
(`stream`) go through here: 40 tab-separated fields, empty where missing,
categorical values as 8 lowercase hex digits (their `hashing` values). The
id -> hash mapping of each column is a bijection, so a pipeline parsing the
text recovers the same categories and labels (`agp_tf.data.criteo` reads
back bit-identical labels and dense features).
"""

import numpy as np

from .. import features

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def format_tsv(labels, dense_raw, dense_missing, hashes, sparse_missing):
    """Formats rows as Criteo Kaggle `train.txt` text.

    Each line has 40 tab-separated fields: the label (0 or 1), I1..I13 as
    decimal integers, C1..C26 as 8 lowercase hex digits; a missing value is
    an empty field.

    Args:
        labels: Array, shape `(batch_size,)`, 0 or 1.
        dense_raw: Integer array, shape `(batch_size, 13)`.
        dense_missing: bool array, shape `(batch_size, 13)`.
        hashes: Integer array of uint32 values, shape `(batch_size, 26)`.
        sparse_missing: bool array, shape `(batch_size, 26)`.

    Returns:
        bytes: the lines, each ending with a newline.

    Example:

    ```python
    text = format_tsv(np.array([1]), np.zeros((1, 13), int),
                      np.ones((1, 13), bool), np.zeros((1, 26), np.uint32),
                      np.zeros((1, 26), bool))
    text.count(b"\\t")   # 39
    ```
    """
    n = len(labels)
    num_dense = features.NUM_DENSE
    fields = np.empty((n, features.NUM_FIELDS), dtype="S20")  # (n, 40); any int64 fits
    fields[:, 0] = np.where(np.asarray(labels) > 0.5, b"1", b"0")
    dense_text = np.asarray(dense_raw, dtype=np.int64).astype("S20")  # (n, 13)
    dense_text[np.asarray(dense_missing)] = b""
    fields[:, 1 : 1 + num_dense] = dense_text
    # Hex digits by nibble lookup: (n, 26, 8) bytes viewed as (n, 26) 'S8'.
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    nibbles = (np.asarray(hashes, dtype=np.uint32)[..., None] >> shifts) & np.uint32(15)
    hex_text = np.ascontiguousarray(_HEX_DIGITS[nibbles]).view("S8")[..., 0]  # (n, 26)
    hex_text[np.asarray(sparse_missing)] = b""
    fields[:, 1 + num_dense :] = hex_text
    lines = [b"\t".join(row) for row in fields.tolist()]
    lines.append(b"")
    return b"\n".join(lines)
