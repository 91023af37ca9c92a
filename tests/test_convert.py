"""Tests of agp_tf.convert: `prunable` (Dense -> MaskedDense) and `strip` (back)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from agp_tf.convert import prunable, strip
from agp_tf.export import FrozenCompactDense
from agp_tf.layers import MaskedDense


def _data(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=(8,) + shape).astype("float32") for shape in shapes]
    return arrays[0] if len(arrays) == 1 else arrays


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(6, activation="relu", name="h0"),
            keras.layers.Dense(4, activation="tanh", name="h1"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ],
        name="mlp",
    )


def _nested():
    """Two inputs, Concatenate, Dropout and a nested Sequential of Dense layers."""
    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    x = keras.layers.Concatenate()([a, b])
    x = keras.layers.Dense(8, activation="relu", name="pre")(x)
    x = keras.layers.Dropout(0.5)(x)
    block = keras.Sequential(
        [keras.layers.Dense(6, activation="relu", name="in0"),
         keras.layers.Dense(4, activation="relu", name="in1")],
        name="block",
    )
    x = block(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model([a, b], outputs, name="nested")


def _types(model):
    return {layer.name: type(layer) for layer in model._flatten_layers() if layer is not model}


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_sequential_hidden_layers_converted_predictions_equal():
    model = _mlp()
    x = _data((5,))
    before = _predict(model, x)
    original_weights = [w.copy() for w in model.get_weights()]

    converted = prunable(model)

    assert isinstance(converted, keras.Sequential)
    expected_types = [MaskedDense, MaskedDense, keras.layers.Dense]
    assert [type(layer) for layer in converted.layers] == expected_types
    assert [layer.name for layer in converted.layers] == ["h0", "h1", "out"]
    assert all(layer.prunable for layer in converted.layers[:2])
    np.testing.assert_array_equal(_predict(converted, x), before)
    for old, new in zip(model.layers, converted.layers):
        np.testing.assert_array_equal(new.kernel, old.kernel)
        np.testing.assert_array_equal(new.bias, old.bias)
    np.testing.assert_array_equal(converted.layers[0].mask, np.ones(6, "float32"))
    # The original is untouched and shares no variable with the copy.
    assert all(type(layer) is keras.layers.Dense for layer in model.layers)
    assert not {id(v) for v in model.variables} & {id(v) for v in converted.variables}
    converted.layers[0].set_mask([1, 0, 1, 0, 1, 0])
    for old, new in zip(original_weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(_predict(model, x), before)


def test_config_carried_over():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(
        5, activation="elu", use_bias=False, kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(0.1), kernel_constraint="non_neg",
        activity_regularizer="l1", trainable=False, name="frozen",
    )(inputs)
    x = keras.layers.Dense(3, bias_initializer="ones", bias_regularizer="l2",
                           bias_constraint=keras.constraints.MaxNorm(2.0), name="second")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(x))
    converted = prunable(model)

    for name in ("frozen", "second"):
        old, new = model.get_layer(name), converted.get_layer(name)
        assert type(new) is MaskedDense
        expected = old.get_config()
        assert expected.pop("quantization_config") is None
        got = new.get_config()
        assert got.pop("prunable") is True
        assert got == expected
    frozen = converted.get_layer("frozen")
    assert not frozen.trainable and frozen.trainable_weights == []
    x = _data((4,))
    np.testing.assert_array_equal(_predict(converted, x), _predict(model, x))
    # The activity regularizer is still in force.
    converted(x)
    assert len(converted.losses) == len(model.losses) > 0


def test_functional_with_nested_sequential():
    model = _nested()
    a, b = _data((3,), (2,))
    converted = prunable(model)

    types = _types(converted)
    assert types["pre"] is MaskedDense
    assert types["in0"] is MaskedDense and types["in1"] is MaskedDense
    assert types["head"] is keras.layers.Dense
    assert isinstance(converted.get_layer("block"), keras.Sequential)
    np.testing.assert_array_equal(_predict(converted, [a, b]), _predict(model, [a, b]))
    assert _types(model)["in0"] is keras.layers.Dense


def test_nested_sub_model_output_is_excluded():
    keras.utils.set_random_seed(0)
    block = keras.Sequential([keras.layers.Dense(4, name="b0"), keras.layers.Dense(2, name="b1")])
    inputs = keras.Input((3,))
    outputs = keras.layers.Activation("softmax")(block(keras.layers.Dense(5, name="pre")(inputs)))
    model = keras.Model(inputs, outputs)

    types = _types(prunable(model))
    assert types["pre"] is MaskedDense and types["b0"] is MaskedDense
    assert types["b1"] is keras.layers.Dense  # its output is the model's, via softmax
    assert _types(prunable(model, exclude_outputs=False))["b1"] is MaskedDense


def test_named_layers_and_rank():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 4))
    x = keras.layers.Dense(3, name="seq")(inputs)  # 3-D input
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(6, name="flat")(x)
    x = keras.layers.Dense(6, name="other")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(x))

    types = _types(prunable(model))
    assert types["seq"] is keras.layers.Dense  # skipped by default
    assert types["flat"] is MaskedDense and types["other"] is MaskedDense

    types = _types(prunable(model, layers=["flat"]))
    assert types["flat"] is MaskedDense and types["other"] is keras.layers.Dense
    types = _types(prunable(model, layers=[model.get_layer("out")]))
    assert types["out"] is MaskedDense and types["flat"] is keras.layers.Dense

    with pytest.raises(ValueError, match=r"nope.*\['flat', 'other', 'out', 'seq'\]"):
        prunable(model, layers=["nope"])
    with pytest.raises(ValueError, match=r"`seq`.*2-D"):
        prunable(model, layers=["seq"])


def test_lora_refused():
    model = _mlp()
    model.get_layer("h1").enable_lora(2)
    with pytest.raises(ValueError, match=r"`h1`.*LoRA"):
        prunable(model)


@pytest.mark.filterwarnings("ignore:Layer InputLayer does not have a `quantize`")
@pytest.mark.parametrize("whole_model", [True, False])
def test_quantized_refused(whole_model):
    model = _mlp()
    if whole_model:
        model.quantize("int8")
    else:
        model.get_layer("h0").quantize("int8")
    with pytest.raises(ValueError, match=r"`h0`.*quantized.*int8"):
        prunable(model)


def test_unknown_config_key_refused():
    model = _mlp()
    layer = model.get_layer("h0")
    base = layer.get_config
    layer.get_config = lambda: {**base(), "future_option": 3}
    with pytest.raises(ValueError, match=r"`h0`.*'future_option'"):
        prunable(model)


def test_subclassed_model_refused():
    class Tower(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(4)

        def call(self, x):
            return self.hidden(x)

    model = Tower()
    model(_data((3,)))
    with pytest.raises(ValueError, match=r"Tower.*MaskedDense"):
        prunable(model)
    with pytest.raises(ValueError, match="Tower"):
        strip(model)


def test_mixed_precision_carried_over():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _mlp()
        converted = prunable(model)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    layer = converted.get_layer("h0")
    assert type(layer) is MaskedDense
    assert layer.dtype_policy.name == "mixed_float16"
    assert layer.compute_dtype == "float16" and layer.kernel.dtype == "float32"
    x = _data((5,))
    np.testing.assert_array_equal(_predict(converted, x), _predict(model, x))


def test_converted_model_clone_and_keras_round_trip(tmp_path):
    model = _nested()
    converted = prunable(model)
    converted.get_layer("block").get_layer("in0").set_mask([1, 1, 0, 1, 0, 1])
    a, b = _data((3,), (2,))
    expected = _predict(converted, [a, b])

    clone = keras.models.clone_model(converted)
    clone.set_weights(converted.get_weights())
    np.testing.assert_array_equal(_predict(clone, [a, b]), expected)

    path = str(tmp_path / "converted.keras")
    converted.save(path)
    loaded = keras.models.load_model(path)
    assert _types(loaded)["in0"] is MaskedDense
    assert loaded.get_layer("block").get_layer("in0").active_units == 4
    np.testing.assert_array_equal(_predict(loaded, [a, b]), expected)


def test_strip_folds_masks_nested():
    converted = prunable(_nested())
    pre = converted.get_layer("pre")
    pre.set_mask([1, 0, 1, 1, 0, 1, 1, 1])
    # Pruned weights that drifted from 0: the mask hides them, strip must zero them.
    pre.kernel.assign(pre.kernel + 1.0)
    pre.bias.assign(pre.bias + 1.0)
    a, b = _data((3,), (2,))
    plain = strip(converted)

    assert all(not isinstance(layer, MaskedDense) for layer in plain._flatten_layers())
    types = _types(plain)
    assert all(types[name] is keras.layers.Dense for name in ("pre", "in0", "in1", "head"))
    np.testing.assert_array_equal(_predict(plain, [a, b]), _predict(converted, [a, b]))
    kernel = keras.ops.convert_to_numpy(plain.get_layer("pre").kernel)
    assert not kernel[:, [1, 4]].any() and kernel[:, 0].any()
    # The masked model keeps its MaskedDense layers.
    assert type(converted.get_layer("pre")) is MaskedDense


def test_strip_refuses_pruned_sigmoid_and_keeps_other_agp_layers():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((3,)),
        MaskedDense(4, activation="sigmoid", name="gate"),
        FrozenCompactDense((4, 2), kernel=np.ones((4, 2), "float32"), name="frozen"),
    ])
    x = _data((3,))
    plain = strip(model)  # nothing pruned: a sigmoid layer folds exactly
    assert type(plain.get_layer("gate")) is keras.layers.Dense
    assert type(plain.get_layer("frozen")) is FrozenCompactDense
    np.testing.assert_array_equal(_predict(plain, x), _predict(model, x))

    model.get_layer("gate").set_mask([1, 0, 1, 1])
    with pytest.raises(ValueError, match=r"`gate`.*sigmoid"):
        strip(model)


def test_strip_saved_model_loads_without_agp_tf(tmp_path):
    model = _mlp()
    converted = prunable(model)
    converted.get_layer("h0").set_mask([1, 0, 1, 1, 0, 1])
    plain = strip(converted)
    assert [type(layer) for layer in plain.layers] == [keras.layers.Dense] * 3
    x = _data((5,))
    expected = _predict(converted, x)
    np.testing.assert_array_equal(_predict(plain, x), expected)

    path = tmp_path / "plain.keras"
    plain.save(path)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import sys
        import keras, numpy as np
        model = keras.models.load_model({str(path)!r})
        np.save({str(tmp_path / "y.npy")!r}, keras.ops.convert_to_numpy(
            model(np.load({str(tmp_path / "x.npy")!r}), training=False)))
        assert not any(name.startswith("agp_tf") for name in sys.modules), "agp_tf imported"
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    # Run outside the repository so agp_tf cannot be imported by accident.
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)
