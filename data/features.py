"""The feature layout shared by every pipeline and model in agp_tf.

A batch of Criteo-like data is a pair `(features, labels)`:

- `features[DENSE_KEY]`: float32, shape `(batch_size, NUM_DENSE)`, the 13
  integer count features after the reference preprocessing `log(x + 1)`
  (empty and negative values become 0 first);
- `features[SPARSE_KEY]`: int32, shape `(batch_size, NUM_SPARSE)`, the 26
  categorical features as contiguous ids, column j in `[0, vocab_sizes[j])`;
- `labels`: float32, shape `(batch_size,)`, 1.0 for a click.
"""

import numpy as np

NUM_DENSE = 13
NUM_SPARSE = 26
NUM_FIELDS = 1 + NUM_DENSE + NUM_SPARSE  # label, I1..I13, C1..C26

DENSE_KEY = "dense_features"
SPARSE_KEY = "sparse_features"

# Rows per categorical column of Criteo Kaggle `train.txt` after the DLRM
# reference preprocessing (every distinct hash, empty included, gets an id).
CRITEO_KAGGLE_VOCAB_SIZES = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683,
    8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15,
    286181, 105, 142572,
)
CRITEO_KAGGLE_ROWS = 45_840_617


def transform_dense(counts, missing=None):
    """The reference dense transform: missing -> 0, negative -> 0, `log(x + 1)`.

    Every pipeline (parsed text, shards, the synthetic stream) uses this one
    definition, so they give bit-identical features for the same counts.

    Args:
        counts: Integer array of raw counts, any shape (empty already 0 when
            `missing` is None).
        missing: Optional boolean array of the shape of `counts`; True
            entries become 0 whatever `counts` holds there.

    Returns:
        float32 array of the shape of `counts`.

    Example:

    ```python
    transform_dense(np.array([[0, -3, 1, 1382]]))
    # [[0., 0., 0.6931472, 7.2320676]]   (= log(1), log(1), log(2), log(1383))
    transform_dense(np.array([[3, 7]]), missing=np.array([[False, True]]))
    # [[1.3862944, 0.]]
    ```
    """
    counts = np.maximum(np.asarray(counts), 0)
    if missing is not None:
        counts = np.where(np.asarray(missing), 0, counts)
    # log(x + 1) in float32, as the reference's log(X_int.astype(float32) + 1);
    # not log1p, which can differ in the last bit.
    return np.log(counts.astype(np.float32) + np.float32(1.0))
