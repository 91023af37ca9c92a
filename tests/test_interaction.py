"""agp_tf.models.interaction: DLRM's dot interaction with a gather for a gradient."""

import keras
import keras_rs
import numpy as np
import pytest
import tensorflow as tf

from agp_tf.models import dlrm, interaction


def test_lower_triangle_indices_are_row_major_and_inverted():
    indices, inverse = interaction.lower_triangle_indices(3)
    # (1, 0), (2, 0), (2, 1) in a flattened 3 x 3 matrix
    assert indices.tolist() == [3, 6, 7]
    assert inverse.tolist() == [3, 3, 3, 0, 3, 3, 1, 2, 3]  # 3: no output takes it


def _features(num=5, batch=6, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=(batch, dim)).astype("float32")) for _ in range(num)]


def _outputs_and_gradients(layer, features):
    with tf.GradientTape() as tape:
        tape.watch(features)
        outputs = layer(features)
        # Weights per output, so each gradient entry says where it came from.
        loss = tf.reduce_sum(outputs * tf.range(1.0, outputs.shape[-1] + 1.0))
    return outputs, tape.gradient(loss, features)


def _gradients(layer, features, jit_compile):
    return tf.function(_outputs_and_gradients, jit_compile=jit_compile)(layer, features)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_outputs_and_gradients_equal_keras_rs(jit_compile):
    features = _features()
    ours = interaction.DotInteraction(self_interaction=False)
    theirs = keras_rs.layers.DotInteraction(self_interaction=False)
    (out, grads), (ref_out, ref_grads) = (
        _gradients(layer, features, jit_compile) for layer in (ours, theirs)
    )
    np.testing.assert_allclose(out.numpy(), ref_out.numpy(), rtol=1e-6)
    assert out.shape == (6, 10)  # 5 * 4 / 2 dots
    for g, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(g.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def _gradient_op_types(layer):
    features = _features()
    function = tf.function(lambda f: _outputs_and_gradients(layer, f)).get_concrete_function(
        features
    )
    return {op.type for op in function.graph.get_operations()}


def test_the_gradient_gathers_and_does_not_scatter():
    scatters = {"UnsortedSegmentSum", "ScatterNd", "TensorScatterAdd"}
    assert not scatters & _gradient_op_types(interaction.DotInteraction(self_interaction=False))
    # keras_rs' gradient of its gather is a scatter: the reason this layer exists.
    assert scatters & _gradient_op_types(keras_rs.layers.DotInteraction(self_interaction=False))


def test_other_configurations_run_keras_rs_code():
    features = _features()
    for kwargs in ({"self_interaction": True}, {"skip_gather": True}):
        ours, theirs = interaction.DotInteraction(**kwargs), keras_rs.layers.DotInteraction(**kwargs)
        np.testing.assert_allclose(ours(features).numpy(), theirs(features).numpy(), rtol=1e-6)


def test_dlrm_builds_either_interaction_with_the_same_outputs(tmp_path):
    vocab_sizes = [10, 20, 30]
    ours = dlrm.build_dlrm(vocab_sizes, bottom_mlp=(8, 4), top_mlp=(8, 1), seed=0)
    theirs = dlrm.build_dlrm(vocab_sizes, bottom_mlp=(8, 4), top_mlp=(8, 1), seed=0,
                             interaction="keras_rs")
    assert isinstance(ours.get_layer("interaction"), interaction.DotInteraction)
    assert not isinstance(theirs.get_layer("interaction"), interaction.DotInteraction)
    rng = np.random.default_rng(0)
    inputs = {
        "dense_features": rng.random((4, 13)).astype("float32"),
        "sparse_features": np.array([[1, 2, 3]] * 4, dtype="int32"),
    }
    np.testing.assert_allclose(ours(inputs).numpy(), theirs(inputs).numpy(), rtol=1e-6)
    path = str(tmp_path / "dlrm.keras")
    ours.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("interaction"), interaction.DotInteraction)
    np.testing.assert_allclose(loaded(inputs).numpy(), ours(inputs).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="`interaction` must be one of"):
        dlrm.build_dlrm(vocab_sizes, interaction="dot")
