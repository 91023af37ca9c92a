import keras
import numpy as np
import pytest

import agp_tf
from agp_tf import flops, topology
from agp_tf.layers import MaskedDense
from tests.helpers import dataset, xor_data


def merged_model():
    """Two prunable branches joined by Concatenate, through Dropout and ReLU."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    a = MaskedDense(4, name="a")(inputs)
    a = keras.layers.ReLU()(a)
    b = MaskedDense(6, activation="tanh", name="b")(inputs)
    b = keras.layers.Dropout(0.1)(b)
    side = keras.layers.Dense(2, name="side")(inputs)  # plain Dense: not prunable
    merged = keras.layers.Concatenate()([side, a, b])  # columns 0-1 side, 2-5 a, 6-11 b
    flat = keras.layers.Flatten()(merged)
    out = MaskedDense(1, activation="sigmoid", prunable=False, name="out")(flat)
    return keras.Model(inputs, out)


def test_links_follow_concatenate_and_pass_through_layers_with_offsets():
    model = merged_model()
    links = topology.consumers(model)
    out = model.get_layer("out")
    assert links["a"] == [topology.Link(out, 2)]
    assert links["b"] == [topology.Link(out, 6)]
    assert links["side"] == [topology.Link(out, 0)]
    specs = {spec.name: spec for spec in flops.layer_specs(model)}
    assert sorted(specs["out"].producers) == ["a", "b", "side"]


def test_links_stop_at_layers_that_change_zeros():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    x = MaskedDense(4, name="a")(inputs)
    x = keras.layers.BatchNormalization()(x)  # BN(0) is beta, not 0
    y = MaskedDense(4, name="b")(inputs)
    y = keras.layers.Activation("sigmoid")(y)  # sigmoid(0) = 0.5
    out = MaskedDense(1, prunable=False, name="out")(keras.layers.Concatenate()([x, y]))
    links = topology.consumers(keras.Model(inputs, out))
    assert links["a"] == [] and links["b"] == []


def test_links_cross_into_a_nested_model():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((3,)), MaskedDense(5, name="inner")], name="block")
    inputs = keras.Input((3,))
    out = MaskedDense(1, prunable=False, name="out")(keras.layers.Dropout(0.2)(inner(inputs)))
    links = topology.consumers(keras.Model(inputs, out))
    assert [link.consumer.name for link in links["inner"]] == ["out"]


def test_prune_and_regrow_through_a_merge_zero_the_consumer_rows():
    model = merged_model()
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    x, y = xor_data(64)
    controller = agp_tf.GrowPruneController(
        model, agp_tf.schedules.dsd(0.5, 0.2, 0.6), total_steps=10,
        importance_data=dataset(x, y, 32), importance_batches=2,
    )
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # slots are non-zero
    controller.on_step_begin(step=2)
    out = model.get_layer("out").kernel.numpy()
    for name, offset in (("a", 2), ("b", 6)):
        keep = model.get_layer(name).mask_numpy()
        assert keep.sum() == model.get_layer(name).units // 2
        rows = out[offset : offset + keep.size, 0]
        assert np.all(rows[~keep] == 0.0) and np.all(rows[keep] != 0.0), name
    before = model.predict(x, verbose=0)
    controller.on_step_begin(step=6)  # regrow: outgoing rows start at zero
    np.testing.assert_allclose(model.predict(x, verbose=0), before, atol=1e-6)
    # FLOPs count the consumer's pruned rows
    half = controller.specs
    assert flops.training_flops_per_sample(half, {"a": 2, "b": 3}) < flops.training_flops_per_sample(
        half, {"a": 2, "b": 6}
    )


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden_1 = MaskedDense(8, activation="relu", name="hidden_1")
        self.hidden_2 = MaskedDense(4, activation="relu", name="hidden_2")
        self.head = MaskedDense(1, prunable=False, name="head")

    def call(self, x):
        return self.head(self.hidden_2(self.hidden_1(x)))


def test_subclassed_model_without_links_is_refused():
    model = Subclassed()
    model(np.zeros((2, 3), "float32"))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="links="):
        agp_tf.GrowPruneController(model, agp_tf.schedules.alternate(0.5), 10, importance_data=[])


def test_subclassed_model_with_links_regrows_preserving_the_function():
    model = Subclassed()
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    model(x)
    model.compile("sgd", "mse")
    data = [(x, x[:, :1])]
    controller = agp_tf.GrowPruneController(
        model, agp_tf.schedules.dsd(0.5, 0.2, 0.6), 10, importance_data=data,
        importance_batches=1, links={"hidden_1": "hidden_2", "hidden_2": ["head"]},
    )
    specs = {spec.name: spec for spec in controller.specs}
    assert specs["hidden_2"].producers == ("hidden_1",)
    controller.on_step_begin(step=2)
    keep = model.hidden_1.mask_numpy()
    assert np.all(model.hidden_2.kernel.numpy()[~keep] == 0.0)
    before = model(x).numpy()
    controller.on_step_begin(step=6)
    np.testing.assert_allclose(model(x).numpy(), before, atol=1e-6)


def test_bad_links_name_the_problem():
    model = Subclassed()
    model(np.zeros((2, 3), "float32"))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="`nope`"):
        agp_tf.GrowPruneController(
            model, agp_tf.schedules.dense(), 10,
            links={"hidden_1": "nope", "hidden_2": []},
        )
    with pytest.raises(ValueError, match="too few"):
        agp_tf.GrowPruneController(
            model, agp_tf.schedules.dense(), 10,
            links={"hidden_1": [("hidden_2", 4)], "hidden_2": []},
        )
