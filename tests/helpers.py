"""Small models and data shared by the tests."""

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
