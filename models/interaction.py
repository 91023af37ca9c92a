"""DLRM's dot interaction, with a gradient that gathers instead of scattering.

The interaction keeps the strict lower triangle of each sample's
`(features, features)` matrix of dot products: a gather of 351 of its 729
entries for Criteo. The gradient of a gather is a scatter-add, which XLA
runs on the CPU as a serial loop over every element. But the indices are
distinct, so the gradient is also a gather: entry `j` of the matrix gets the
gradient of the output that took it, or 0 (an appended zero column) when no
output did (`agp_tf.distinct_gather`). Measured in `scripts/benchmark_dlrm.py`
(the `interaction` rows).
"""

import keras
import keras_rs
import numpy as np
import tensorflow as tf

from agp_tf.distinct_gather import take_distinct


def lower_triangle_indices(num_features):
    """`(indices, inverse)` of the strict lower triangle in row-major order.

    `indices` (int32, `n (n - 1) / 2`): positions in the flattened
    `(n, n)` matrix, `(1, 0), (2, 0), (2, 1), ...` as `keras_rs` and the
    reference DLRM order them. `inverse` (int32, `n * n`): for each
    position, the output that takes it, or `len(indices)` for none.
    """
    rows, cols = np.tril_indices(num_features, -1)
    indices = (rows * num_features + cols).astype(np.int32)
    inverse = np.full(num_features * num_features, len(indices), np.int32)
    inverse[indices] = np.arange(len(indices), dtype=np.int32)
    return indices, inverse


@keras.saving.register_keras_serializable(package="agp_tf")
class DotInteraction(keras_rs.layers.DotInteraction):
    """`keras_rs.layers.DotInteraction` whose default configuration (no
    self-interaction, gathered output) has a gather for a gradient; the
    outputs are the same. Other configurations run `keras_rs`' own code."""

    def call(self, inputs):
        if self.self_interaction or self.skip_gather:
            return super().call(inputs)
        features = tf.stack(inputs, axis=1)  # (batch, n, dim)
        num_features = len(inputs)
        dots = tf.matmul(features, features, transpose_b=True)  # (batch, n, n)
        indices, inverse = lower_triangle_indices(num_features)
        flat = tf.reshape(dots, (-1, num_features * num_features))
        return take_distinct(flat, indices, inverse, axis=1)
