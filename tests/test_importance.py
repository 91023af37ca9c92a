import numpy as np
import pytest

from agp_tf import importance


def test_num_kept_floors_and_keeps_one():
    assert importance.num_kept(256, 0.7) == 76  # floor(76.8)
    assert importance.num_kept(10, 0.7) == 3  # (1 - 0.7) * 10 = 3.0000000000000004
    assert importance.num_kept(10, 0.9) == 1  # 0.9999999999999998 -> 1, not 0
    assert importance.num_kept(4, 0.99) == 1
    assert importance.num_kept(8, 0.0) == 8
    with pytest.raises(ValueError, match="sparsity=1.0"):
        importance.num_kept(8, 1.0)


def test_taylor_terms_and_scores_by_hand():
    kernel = np.array([[1.0, 2.0], [3.0, -1.0]])
    grad = np.array([[0.5, 1.0], [-1.0, 2.0]])
    bias = np.array([1.0, -2.0])
    bias_grad = np.array([2.0, 0.5])
    terms = importance.taylor_batch_terms(kernel, grad, bias, bias_grad)
    # neuron 0: 1*0.5 + 3*(-1) + 1*2 = -0.5 ; neuron 1: 2*1 + (-1)*2 + (-2)*0.5 = -1
    np.testing.assert_allclose(terms, [-0.5, -1.0])
    # square per batch, then add: second batch terms [1, 0]
    np.testing.assert_allclose(importance.taylor_scores([terms, [1.0, 0.0]]), [1.25, 1.0])


def test_magnitude_scores_include_bias():
    kernel = np.array([[3.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(importance.magnitude_scores(kernel, np.array([4.0, 0.0])), [5.0, 1.0])


def test_random_scores_are_seeded():
    np.testing.assert_array_equal(importance.random_scores(5, 3), importance.random_scores(5, 3))
    assert not np.array_equal(importance.random_scores(5, 3), importance.random_scores(5, 4))


def test_keep_top_ties_go_to_lower_index():
    np.testing.assert_array_equal(importance.keep_top([0.1, 3.0, 2.0, 3.0], 2), [0, 1, 0, 1])
    np.testing.assert_array_equal(importance.keep_top([1.0, 1.0, 1.0], 2), [1, 1, 0])


def test_keep_top_respects_eligible():
    keep = importance.keep_top([9.0, 1.0, 2.0, 3.0], 2, eligible=[False, True, True, True])
    np.testing.assert_array_equal(keep, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="count=4"):
        importance.keep_top([1.0, 2.0, 3.0, 4.0], 4, eligible=[True, True, True, False])


def test_keep_top_rejects_nan_and_bad_count():
    with pytest.raises(ValueError, match="NaN"):
        importance.keep_top([np.nan, 1.0], 1)
    with pytest.raises(ValueError, match="count=0"):
        importance.keep_top([1.0, 2.0], 0)


def test_check_criterion():
    assert importance.check_criterion("magnitude") == "magnitude"
    with pytest.raises(ValueError, match="criterion='l1'"):
        importance.check_criterion("l1")


def _taylor_model(dtype="float32"):
    import keras

    from agp_tf.layers import MaskedDense

    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    x = MaskedDense(
        5, activation="tanh", name="h", dtype=dtype,
        kernel_regularizer=keras.regularizers.L2(10.0),
    )(inputs)
    out = MaskedDense(1, activation="sigmoid", prunable=False, name="o", dtype=dtype)(x)
    model = keras.Model(inputs, out)
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    return model


def test_taylor_terms_match_numpy_on_the_gradient_and_leave_the_model_alone():
    import keras
    import tensorflow as tf

    model = _taylor_model()
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model.evaluate(x, y, verbose=0)
    trackers_before = [np.asarray(v) for m in model.metrics for v in m.variables]
    layer = model.get_layer("h")
    loss_fn = importance.resolve_loss(model)
    (terms,) = importance.taylor_terms(model, [layer], loss_fn, x, y)
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(y, model(x))  # no regularizer term
        loss = tf.reduce_mean(loss)
    kernel_grad, bias_grad = tape.gradient(loss, [layer.kernel.value, layer.bias.value])
    expected = importance.taylor_batch_terms(
        layer.kernel.numpy(), kernel_grad.numpy(), layer.bias.numpy(), bias_grad.numpy()
    )
    np.testing.assert_allclose(terms.numpy(), expected, rtol=1e-5, atol=1e-7)
    trackers_after = [np.asarray(v) for m in model.metrics for v in m.variables]
    for before, after in zip(trackers_before, trackers_after):
        np.testing.assert_array_equal(before, after)
    (with_reg,) = importance.taylor_terms(
        model, [layer], loss_fn, x, y, include_regularization=True
    )
    assert not np.allclose(with_reg.numpy(), terms.numpy())


def test_taylor_terms_under_mixed_float16_are_float32_and_not_zero():
    model = _taylor_model("mixed_float16")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    reference = _taylor_model("float32")
    reference.set_weights(model.get_weights())
    (half,) = importance.taylor_terms(
        model, [model.get_layer("h")], importance.resolve_loss(model), x, y
    )
    (full,) = importance.taylor_terms(
        reference, [reference.get_layer("h")], importance.resolve_loss(reference), x, y
    )
    assert half.dtype == "float32"
    assert np.all(half.numpy() != 0.0)
    np.testing.assert_allclose(half.numpy(), full.numpy(), rtol=0.05, atol=1e-4)


def test_resolve_loss_refuses_per_output_losses():
    model = _taylor_model()
    model.compile("sgd", loss={"o": "mse"})
    with pytest.raises(ValueError, match="loss="):
        importance.resolve_loss(model)
