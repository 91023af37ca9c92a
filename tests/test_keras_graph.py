"""The Keras internals in agp_tf/keras_graph.py still mean what agp_tf reads them as."""

import keras
import numpy as np

from agp_tf import keras_graph


def _model():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="inner")], name="block")
    inputs = {"a": keras.Input((3,), name="a"), "b": keras.Input((2,), name="b")}
    x = inner(inputs["a"])
    y = keras.layers.Dense(2, name="side")(inputs["b"])
    merged = keras.layers.Concatenate(name="cat")([x, y])
    out = keras.layers.Dense(1, name="out")(merged)
    return keras.Model(inputs, out), inner


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_graph_models_are_told_from_subclassed_ones():
    model, inner = _model()
    sub = Subclassed()
    sub(np.zeros((1, 3), "float32"))
    assert keras_graph.is_graph_model(model) and keras_graph.is_graph_model(inner)
    assert not keras_graph.is_graph_model(sub)
    assert not keras_graph.is_graph_model(keras.layers.Dense(2))
    # a layer called eagerly in a subclassed model has no node
    assert keras_graph.inbound_nodes(sub.dense) == []


def test_sublayers_include_nested_ones_in_order():
    model, _ = _model()
    names = [layer.name for layer in keras_graph.sublayers(model)]
    assert "inner" in names and "block" in names
    assert names.index("side") < names.index("cat") < names.index("out")
    assert [layer.name for layer in keras_graph.sublayers(model, recursive=False)].count("inner") == 0


def test_nodes_and_history_link_operations_and_tensors():
    model, inner = _model()
    cat = model.get_layer("cat")
    (node,) = keras_graph.inbound_nodes(cat)
    sources = [keras_graph.history(t) for t in node.input_tensors]
    assert sources[0][0] is inner and sources[0][2] == 0
    assert sources[1][0] is model.get_layer("side")
    assert [n.operation.name for n in keras_graph.outbound_nodes(cat)] == ["out"]
    assert keras_graph.history(np.zeros(2)) is None
    (out_node,) = keras_graph.inbound_nodes(model.get_layer("out"))
    assert keras_graph.history(out_node.input_tensors[0])[0] is cat


def test_input_structure_keeps_the_dict():
    model, _ = _model()
    structure = keras_graph.input_structure(model)
    assert isinstance(structure, dict) and sorted(structure) == ["a", "b"]


def test_step_outputs_are_reduced_as_fit_reduces_them():
    import tensorflow as tf

    value = {"loss": tf.constant(0.5)}
    reduced = keras_graph.reduce_step_outputs(value, tf.distribute.get_strategy())
    assert float(reduced["loss"]) == 0.5


def test_per_replica_step_outputs_become_one_value():
    import pytest
    import tensorflow as tf

    from tests.helpers import mirrored_strategy

    strategy = mirrored_strategy()
    if strategy is None:
        pytest.skip("needs two logical CPU devices (set up in conftest.py)")
    per_replica = strategy.run(lambda: {"loss": tf.constant(0.25)})
    reduced = keras_graph.reduce_step_outputs(per_replica, strategy)
    assert isinstance(reduced["loss"], tf.Tensor) and float(reduced["loss"]) == 0.25
