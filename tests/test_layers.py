import keras
import numpy as np
import pytest

from agp_tf.layers import ZERO_PRESERVING_ACTIVATIONS, MaskedDense
from tests.helpers import mlp


def _layer(units=3, **kwargs):
    layer = MaskedDense(units, **kwargs)
    layer.build((None, 2))
    layer.kernel.assign(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    layer.bias.assign(np.array([0.5, -10.0, 1.0]))
    return layer


def test_dense_output_matches_hand_computation():
    layer = _layer(activation="relu")
    out = keras.ops.convert_to_numpy(layer(np.array([[1.0, 1.0]], "float32")))
    np.testing.assert_allclose(out, [[5.5, 0.0, 10.0]])
    assert layer.sparsity == 0.0 and layer.active_units == 3


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "gelu", "elu", "silu"])
def test_pruned_neuron_output_and_weights_are_exactly_zero(activation):
    layer = _layer(activation=activation)
    layer.set_mask([1, 0, 1])
    out = keras.ops.convert_to_numpy(layer(np.array([[1.0, -2.0], [3.0, 4.0]], "float32")))
    assert np.all(out[:, 1] == 0.0)
    assert np.all(layer.kernel.numpy()[:, 1] == 0.0) and layer.bias.numpy()[1] == 0.0
    # kept neurons untouched
    np.testing.assert_array_equal(layer.kernel.numpy()[:, [0, 2]], [[1.0, 3.0], [4.0, 6.0]])
    assert layer.sparsity == pytest.approx(1 / 3) and layer.active_units == 2


def test_pruned_columns_get_zero_gradient():
    import tensorflow as tf

    layer = _layer(activation="sigmoid")
    layer.set_mask([0, 1, 1])
    layer.kernel.assign(np.ones((2, 3)))  # even if storage were not zero
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(np.array([[1.0, 2.0]], "float32")))
    grad_k, grad_b = tape.gradient(loss, [layer.kernel.value, layer.bias.value])
    assert np.all(grad_k.numpy()[:, 0] == 0.0) and grad_b.numpy()[0] == 0.0
    assert np.all(grad_k.numpy()[:, 1:] != 0.0)


def test_set_mask_validation():
    layer = _layer()
    with pytest.raises(ValueError, match="shape"):
        layer.set_mask([1, 0])
    with pytest.raises(ValueError, match="at least one"):
        layer.set_mask([0, 0, 0])
    fixed = _layer(prunable=False)
    with pytest.raises(ValueError, match="prunable=False"):
        fixed.set_mask([1, 0, 1])


@pytest.mark.parametrize("units", [0, -1, 2.5, "3", True])
def test_rejects_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        MaskedDense(units)


def test_mask_is_non_trainable_weight():
    layer = _layer()
    assert [w.name for w in layer.trainable_weights] == ["kernel", "bias"]
    assert [w.name for w in layer.non_trainable_weights] == ["mask"]


def test_config_round_trip():
    layer = MaskedDense(
        5, activation="tanh", use_bias=False, prunable=False, kernel_initializer="zeros", name="x"
    )
    clone = MaskedDense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.units == 5 and not clone.use_bias and not clone.prunable


def test_keras_save_and_load_keeps_mask_and_outputs(tmp_path):
    model = mlp((3, 6, 4, 1))
    model.get_layer("d0").set_mask([1, 0, 1, 1, 0, 1])
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.get_layer("d0").mask.numpy(), [1, 0, 1, 1, 0, 1])
    assert isinstance(loaded.get_layer("d0"), MaskedDense)


def test_set_mask_drops_a_compact_plan_it_contradicts():
    from agp_tf.layers import CompactPlan

    layer = _layer()
    layer.set_mask([1, 0, 1])
    layer.set_compact_plan(CompactPlan(kept_outputs=2))
    layer.set_mask([1, 1, 1])
    assert layer.compact_plan is None
    out = keras.ops.convert_to_numpy(layer(np.array([[1.0, 1.0]], "float32")))
    np.testing.assert_allclose(out, [[5.5, 0.0, 10.0]])  # neuron 1 was zeroed


def test_compute_output_shape_tells_the_compact_width():
    from agp_tf.layers import CompactPlan

    layer = _layer()
    layer.set_mask([1, 0, 1])
    layer.set_compact_plan(CompactPlan(kept_outputs=2, emit_compact=True))
    assert layer.compute_output_shape((None, 2)) == (None, 2)
    assert layer(np.ones((4, 2), "float32")).shape == (4, 2)
    layer.set_compact_plan(CompactPlan(kept_outputs=2))
    assert layer.compute_output_shape((None, 2)) == (None, 3)


def test_replace_neurons_by_hand():
    from agp_tf.layers import replace_neurons

    value = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "float32")
    got = replace_neurons(value, [True, False, True], 1, 0.0)
    np.testing.assert_array_equal(got, [[1.0, 0.0, 3.0], [4.0, 0.0, 6.0]])
    assert got.dtype == np.float32
    rows = replace_neurons(value, [False, True], 0, np.full((2, 3), 9.0))
    np.testing.assert_array_equal(rows, [[9.0, 9.0, 9.0], [4.0, 5.0, 6.0]])


@pytest.mark.parametrize("activation", ZERO_PRESERVING_ACTIVATIONS, ids=lambda f: f.__name__)
def test_activations_that_skip_the_second_mask_keep_zero_exactly(activation):
    # The masked path trusts activation(0) == 0 for these and multiplies by
    # the mask only before them.
    assert float(keras.ops.convert_to_numpy(activation(keras.ops.zeros((3,))))[1]) == 0.0


def test_neuron_order_and_compact_columns_by_hand():
    from agp_tf.layers import compact_columns, neuron_order

    keep = [False, True, True, False, True]
    np.testing.assert_array_equal(neuron_order(keep), [1, 2, 4, 0, 3])
    # kept neurons: their column in the compact output; pruned: the zero column (3)
    np.testing.assert_array_equal(compact_columns(keep), [3, 0, 1, 3, 2])


def test_compact_index_state_is_not_a_weight():
    layer = MaskedDense(4)
    layer.build((None, 3))
    assert len(layer.weights) == 3  # kernel, bias, mask
    layer.set_mask([1, 0, 1, 1])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.neuron_order_variable), [0, 2, 3, 1])
