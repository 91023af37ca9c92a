"""full_batches: one batch shape for the whole run, the same training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from agp_tf.data.batches import full_batches, pads_exactly, without_autotune
from tests.helpers import dataset, mlp, xor_data


def test_a_short_batch_is_padded_with_rows_that_weigh_nothing():
    features = {"a": np.arange(10, dtype="float32").reshape(5, 2), "b": np.arange(5)}
    labels = np.array([1, 0, 1, 1, 0], "float32")
    data = full_batches(tf.data.Dataset.from_tensor_slices((features, labels)).batch(4), 4)
    assert data.element_spec[1].shape == (4,)  # static: one compiled shape
    (x0, y0, w0), (x1, y1, w1) = list(data.as_numpy_iterator())
    np.testing.assert_array_equal(w0, [1, 1, 1, 1])
    np.testing.assert_array_equal(x0["a"], features["a"][:4])
    # the last batch: 1 real row weighing 4 (the batch's mean loss is its own), 3 zeros
    np.testing.assert_array_equal(w1, [4, 0, 0, 0])
    np.testing.assert_array_equal(x1["a"], [[8, 9], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(x1["b"], [4, 0, 0, 0])
    np.testing.assert_array_equal(y1, [0, 0, 0, 0])


def test_given_weights_are_kept():
    x, y = np.ones((3, 2), "float32"), np.ones(3, "float32")
    weights = np.array([0.5, 2.0, 1.0], "float32")
    data = full_batches(tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(2), 2)
    np.testing.assert_array_equal([w for _, _, w in data.as_numpy_iterator()][1], [2.0, 0.0])
    np.testing.assert_array_equal([w for _, _, w in data.as_numpy_iterator()][0], [0.5, 2.0])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_training_on_padded_batches_is_training_on_the_batches(jit_compile):
    x, y = xor_data(200)  # batches of 32: six full, then 8 rows

    def train(padded):
        model = mlp((3, 16, 8, 1))
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "binary_crossentropy",
                      jit_compile=jit_compile)
        data = full_batches(dataset(x, y, 32), 32) if padded else dataset(x, y, 32)
        model.fit(data, epochs=2, verbose=0)
        return model.get_weights()

    for a, b in zip(train(True), train(False)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_batch_larger_than_batch_size_is_an_error():
    data = full_batches(tf.data.Dataset.from_tensor_slices((np.ones((6, 1)), np.ones(6))).batch(6), 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="more rows than batch_size=4"):
        list(data)
    with pytest.raises(ValueError, match="batch_size=0"):
        full_batches(data, 0)


def test_which_losses_padding_keeps_exact():
    assert pads_exactly("binary_crossentropy")
    assert pads_exactly(keras.losses.binary_crossentropy)
    assert pads_exactly(keras.losses.BinaryCrossentropy())
    assert pads_exactly(keras.losses.BinaryCrossentropy(reduction="mean_with_sample_weight"))
    assert not pads_exactly(keras.losses.BinaryCrossentropy(reduction="sum"))
    assert not pads_exactly({"out": "mse"}) and not pads_exactly(None)


def test_without_autotune_turns_tuning_off_and_keeps_the_data():
    data = tf.data.Dataset.range(10).batch(4).prefetch(tf.data.AUTOTUNE)
    tuned_off = without_autotune(data)
    assert tuned_off.options().autotune.enabled is False
    assert [b.tolist() for b in tuned_off.as_numpy_iterator()] == [
        [0, 1, 2, 3], [4, 5, 6, 7], [8, 9]
    ]
