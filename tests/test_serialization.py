"""Every class agp_tf registers with Keras round-trips: config, and `.keras` files."""

import keras
import numpy as np
import pytest

import agp_tf
import agp_tf.models.dlrm  # noqa: F401  (registers the DLRM classes)
from agp_tf.export import compact_model
from agp_tf.metrics import LogLoss, NormalizedEntropy
from agp_tf.models.dlrm import FusedEmbedding, SeparateEmbeddings, TableWiseUniform
from agp_tf.models.interaction import DotInteraction

IDS = np.array([[0, 1], [2, 0], [1, 4]], dtype="int32")
X = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")


def _masked_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = agp_tf.MaskedDense(5, activation="relu", name="h")(inputs)
    model = keras.Model(inputs, agp_tf.MaskedDense(2, prunable=False, name="o")(hidden))
    model.get_layer("h").set_mask([1, 0, 1, 1, 0])
    return model, X


def _compact_model():
    model, x = _masked_model()
    return compact_model(model), x


def _embedding_model(layer_class):
    def build():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((2,), dtype="int32")
        tables = layer_class([3, 5], 2, seed=1)(inputs)
        return keras.Model(inputs, keras.layers.Concatenate()(tables)), IDS

    return build


def _interaction_model():
    inputs = [keras.Input((2,)) for _ in range(3)]
    model = keras.Model(inputs, DotInteraction(self_interaction=False)(inputs))
    return model, [X[:, :2], X[:, 1:3], X[:, 2:]]


# Registered name -> a model holding the class (layers), or None for objects
# checked by config below.
MODELS = {
    "agp_tf>MaskedDense": _masked_model,
    "agp_tf>FrozenCompactDense": _compact_model,
    "agp_tf>FusedEmbedding": _embedding_model(FusedEmbedding),
    "agp_tf>SeparateEmbeddings": _embedding_model(SeparateEmbeddings),
    "agp_tf>DotInteraction": _interaction_model,
    "agp_tf>PhaseSchedule": None,
    "agp_tf>LogLoss": None,
    "agp_tf>NormalizedEntropy": None,
    "agp_tf>TableWiseUniform": None,
}


def test_every_registered_class_is_covered_here():
    registered = {name for name in keras.saving.get_custom_objects() if name.startswith("agp_tf>")}
    assert registered == set(MODELS)


@pytest.mark.parametrize("name", sorted(n for n, build in MODELS.items() if build))
def test_layer_round_trips_through_config_and_keras_file(name, tmp_path):
    model, x = MODELS[name]()
    expected = keras.ops.convert_to_numpy(model(x))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)), expected)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), expected)


def test_schedule_round_trips():
    schedule = agp_tf.schedules.alternate(0.7)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored == schedule and restored.boundary_steps(100) == schedule.boundary_steps(100)


@pytest.mark.parametrize("metric_class", [LogLoss, NormalizedEntropy])
def test_metric_round_trips_and_measures_the_same(metric_class):
    metric = metric_class(name="m", epsilon=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert restored.get_config() == metric.get_config()
    y, p = np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.2, 0.6])
    metric.update_state(y, p)
    restored.update_state(y, p)
    assert float(restored.result()) == float(metric.result())


def test_initializer_round_trips_and_draws_the_same():
    init = TableWiseUniform([4, 100], seed=3)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(init))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored((104, 2))), keras.ops.convert_to_numpy(init((104, 2)))
    )
