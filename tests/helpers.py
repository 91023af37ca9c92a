"""Small models and data shared by the tests."""

import functools

import keras
import numpy as np
import tensorflow as tf

from agp_tf.layers import MaskedDense


def mlp(widths=(3, 4, 2, 1), prunable=(True, True, False), activation="relu", seed=0, name="mlp"):
    """A functional MLP of MaskedDense layers named d0, d1, ...; last layer sigmoid."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((widths[0],))
    x = inputs
    for index, units in enumerate(widths[1:]):
        last = index == len(widths) - 2
        x = MaskedDense(
            units,
            activation="sigmoid" if last else activation,
            prunable=prunable[index],
            name=f"d{index}",
        )(x)
    return keras.Model(inputs, x, name=name)


def xor_data(rows=256, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("float32")
    return x, y


def dataset(x, y, batch_size=32):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


class PrunedWeightsStayZero(keras.callbacks.Callback):
    """After every training step: the pruned neurons' kernel columns and biases are 0.

    `sparse_steps` counts the (layer, step) pairs checked while a layer was
    sparse; `check_outputs(name, layer, keep)` is a hook for more checks.
    """

    def __init__(self, names):
        super().__init__()
        self.names = list(names)
        self.sparse_steps = 0

    def on_train_batch_end(self, batch, logs=None):
        for name in self.names:
            layer = self.model.get_layer(name)
            keep = layer.mask_numpy()
            if keep.all():
                continue
            self.sparse_steps += 1
            assert np.all(layer.kernel.numpy()[:, ~keep] == 0.0), name
            assert np.all(layer.bias.numpy()[~keep] == 0.0), name
            self.check_outputs(name, layer, keep)

    def check_outputs(self, name, layer, keep):
        pass


@functools.lru_cache(maxsize=None)
def mirrored_strategy():
    """One MirroredStrategy over the two logical CPUs for every test, or None.

    Shared: two strategies over the same devices in one process number their
    collectives alike, and the second one's all-reduces then collide with the
    first's ("Shape mismatch in the collective instance").
    """
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    return tf.distribute.MirroredStrategy(devices) if len(devices) == 2 else None



# scripts/train.py at a size that trains in seconds: 8 windows of 8 steps,
# flips at steps 13, 26, 38, 51 with the default alternate(0.7). Without XLA,
# half the time of a small run; tests of the XLA path pass --jit_compile.
SMALL_TRAIN_FLAGS = [
    "--synthetic_rows_per_day=2048", "--window_rows=512", "--synthetic_train_days=0,1",
    "--synthetic_test_day=2", "--max_vocab_size=500", "--bottom_mlp=32,16,4",
    "--top_mlp=32,16,1", "--importance_batches=2", "--batch_size=64", "--verbose=0",
    "--threads=1", "--nojit_compile", "--xla_cache_dir=",
]
