"""The peer: DLRM written for tf_keras (Keras 2), pruned by TFMOT magnitude pruning.

Needs the `peers` extra (`pip install .[peers]`); tf_keras and TFMOT are
imported only when a peer is built or its versions are asked for, so this
module imports without them (`peer_modules` raises ImportError then).
"""

import functools
import math
import os

import numpy as np
import tensorflow as tf

from agp_tf.data.features import DENSE_KEY, NUM_DENSE, SPARSE_KEY
from agp_tf.models import dlrm
from benchmarks.models import top_mlp_inputs


def peer_modules():
    """`(tf_keras, tensorflow_model_optimization)`, or raises ImportError."""
    saved = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tf_keras
        import tensorflow_model_optimization as tfmot
    finally:
        # TFMOT sets TF_USE_LEGACY_KERAS=1 for the whole process on import;
        # the rest of this process keeps using Keras 3.
        if saved is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = saved
    return tf_keras, tfmot


def peer_versions():
    """`{"tf_keras": ..., "tfmot": ...}`, or None without the peers extra."""
    try:
        tf_keras, tfmot = peer_modules()
    except ImportError:
        return None
    return {"tf_keras": tf_keras.__version__, "tfmot": tfmot.__version__}


@functools.cache  # one pair of layer classes for every peer built in this process
def peer_layers(tf_keras):
    """tf_keras layers for the peer DLRM: a fused embedding and the dot interaction."""

    class FusedEmbedding(tf_keras.layers.Layer):
        """All tables stacked in one variable; column j reads rows offset_j + id."""

        def __init__(self, vocab_sizes, embedding_dim, seed, **kwargs):
            super().__init__(**kwargs)
            self.vocab_sizes = list(vocab_sizes)
            self.embedding_dim = embedding_dim
            self.seed = seed
            self.offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype("int32")

        def build(self, input_shape):
            limit = math.sqrt(1.0 / max(self.vocab_sizes))
            self.embeddings = self.add_weight(
                name="embeddings",
                shape=(sum(self.vocab_sizes), self.embedding_dim),
                initializer=tf_keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            )

        def call(self, ids):
            # Gather from the variable: reads only the looked-up rows.
            return tf.gather(self.embeddings, ids + self.offsets)  # (batch, tables, dim)

    class DotInteraction(tf_keras.layers.Layer):
        """Pairwise dots of [bottom output, embeddings], strict lower triangle, row-major."""

        def call(self, inputs):
            bottom, embedded = inputs  # (batch, dim), (batch, tables, dim)
            stacked = tf.concat([bottom[:, None, :], embedded], axis=1)  # (batch, n, dim)
            n = stacked.shape[1]
            dots = tf.matmul(stacked, stacked, transpose_b=True)  # (batch, n, n)
            flat = tf.reshape(dots, (-1, n * n))
            rows, cols = np.tril_indices(n, k=-1)
            return tf.gather(flat, (rows * n + cols).astype("int32"), axis=1)

    return FusedEmbedding, DotInteraction


def build_peer(settings, vocab_sizes, jit_compile, mlps):
    """The DLRM in tf_keras with TFMOT magnitude pruning on the same Dense layers, compiled.

    Returns `(model, tf_keras, TFMOT's sparsity.keras API)`; raises ImportError
    without the peers extra.
    """
    tf_keras, tfmot = peer_modules()
    sparsity_api = tfmot.sparsity.keras
    FusedEmbedding, DotInteraction = peer_layers(tf_keras)
    bottom_mlp, top_mlp = mlps["dense"]
    prunable = set(dlrm.default_prunable_layers(bottom_mlp, top_mlp))
    schedule = sparsity_api.ConstantSparsity(settings.sparsity, begin_step=0, frequency=100)

    def dense(name, units, activation, fan_in):
        layer = tf_keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=tf_keras.initializers.RandomNormal(
                stddev=math.sqrt(2.0 / (fan_in + units)), seed=settings.seed
            ),
            bias_initializer=tf_keras.initializers.RandomNormal(
                stddev=math.sqrt(1.0 / units), seed=settings.seed
            ),
            name=name,
        )
        if name in prunable:
            return sparsity_api.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    dense_in = tf_keras.Input(shape=(NUM_DENSE,), dtype="float32", name=DENSE_KEY)
    sparse_in = tf_keras.Input(shape=(len(vocab_sizes),), dtype="int32", name=SPARSE_KEY)
    x, fan_in = dense_in, NUM_DENSE
    for i, units in enumerate(bottom_mlp):
        x = dense(f"bottom_mlp_{i}", units, "relu", fan_in)(x)
        fan_in = units
    embedded = FusedEmbedding(vocab_sizes, settings.embedding_dim, settings.seed,
                              name="embedding")(sparse_in)
    interactions = DotInteraction(name="interaction")([x, embedded])
    z = tf_keras.layers.Concatenate(name="top_mlp_input")([x, interactions])
    fan_in = top_mlp_inputs(settings.embedding_dim, len(vocab_sizes))
    for i, units in enumerate(top_mlp):
        last = i == len(top_mlp) - 1
        z = dense(f"top_mlp_{i}", units, "sigmoid" if last else "relu", fan_in)(z)
        fan_in = units
    model = tf_keras.Model({DENSE_KEY: dense_in, SPARSE_KEY: sparse_in}, z, name="dlrm_tfmot")
    model.compile(
        optimizer=tf_keras.optimizers.SGD(settings.learning_rate),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
        steps_per_execution=settings.steps_per_execution,
    )
    return model, tf_keras, sparsity_api


def mask_sparsity(masks):
    """Fraction of zeros over all entries of the NumPy arrays `masks`; None if there are none."""
    zeros = total = 0
    for mask in masks:
        zeros += int(np.sum(mask == 0.0))
        total += mask.size
    return zeros / total if total else None


def peer_mask_sparsity(model):
    """Fraction of masked-out kernel entries over the layers TFMOT prunes."""
    # The wrapper class (and its `pruning_vars`) is not part of TFMOT's public API.
    return mask_sparsity(
        mask.numpy() for layer in model.layers for _, mask, _ in getattr(layer, "pruning_vars", ())
    )
