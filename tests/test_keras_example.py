"""A model nobody here wrote, converted with `prunable` and trained through `fit`.

The model is `create_wide_and_deep_model()` of the Keras example "Structured
data learning with Wide, Deep, and Cross networks" (keras-team/keras-io,
examples/structured_data/wide_deep_cross_networks.py), built here in code
with its layers and sizes. Two changes, both outside the model's layers:
the Covertype data is replaced by a seeded synthetic table of the same
shape (10 numerical, 2 categorical features, 7 classes), and the string
categories by integer ids (no `StringLookup`), so nothing is downloaded.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import agp_tf
from agp_tf import flops, schedules
from tests.helpers import PrunedWeightsStayZero

NUMERICAL = [f"num_{i}" for i in range(10)]
CATEGORICAL = {"wilderness": 4, "soil": 40}
NUM_CLASSES = 7
HIDDEN_UNITS = [32, 32]
DROPOUT_RATE = 0.1


def create_model_inputs():
    inputs = {name: keras.layers.Input(name=name, shape=(), dtype="float32") for name in NUMERICAL}
    for name in CATEGORICAL:
        inputs[name] = keras.layers.Input(name=name, shape=(), dtype="int32")
    return inputs


def encode_inputs(inputs, use_embedding=False):
    encoded = []
    for name, value in inputs.items():
        if name in CATEGORICAL:
            size = CATEGORICAL[name]
            if use_embedding:
                feature = keras.layers.Embedding(size, int(np.sqrt(size)))(value)
            else:
                feature = keras.layers.CategoryEncoding(size, output_mode="one_hot")(
                    keras.ops.expand_dims(value, -1)
                )
        else:
            feature = keras.ops.expand_dims(value, -1)
        encoded.append(feature)
    return keras.layers.concatenate(encoded)


def create_wide_and_deep_model():
    inputs = create_model_inputs()
    wide = encode_inputs(inputs)
    wide = keras.layers.BatchNormalization()(wide)

    deep = encode_inputs(inputs, use_embedding=True)
    for units in HIDDEN_UNITS:
        deep = keras.layers.Dense(units)(deep)
        deep = keras.layers.BatchNormalization()(deep)
        deep = keras.layers.ReLU()(deep)
        deep = keras.layers.Dropout(DROPOUT_RATE)(deep)

    merged = keras.layers.concatenate([wide, deep])
    outputs = keras.layers.Dense(units=NUM_CLASSES, activation="softmax")(merged)
    return keras.Model(inputs=inputs, outputs=outputs)


def synthetic_table(rows, seed=0):
    rng = np.random.default_rng(seed)
    features = {name: rng.normal(size=rows).astype("float32") for name in NUMERICAL}
    for name, size in CATEGORICAL.items():
        features[name] = rng.integers(0, size, rows).astype("int32")
    score = features["num_0"] * 2 + features["num_1"] * features["num_2"] + features["soil"] % 3
    labels = np.digitize(score, np.quantile(score, np.linspace(0, 1, NUM_CLASSES + 1)[1:-1]))
    return features, labels.astype("int32")


@pytest.mark.parametrize("jit_compile", [pytest.param(True, marks=pytest.mark.slow), False])  # XLA: ~15 s
def test_wide_and_deep_example_trains_with_alternate_growth_and_pruning(jit_compile):
    keras.utils.set_random_seed(0)
    original = create_wide_and_deep_model()
    model = agp_tf.prunable(original)
    converted = [layer.name for layer in model.layers if isinstance(layer, agp_tf.MaskedDense)]
    assert len(converted) == len(HIDDEN_UNITS)  # the deep Dense layers, not the softmax
    features, labels = synthetic_table(4000)
    np.testing.assert_array_equal(
        model.predict(features, verbose=0), original.predict(features, verbose=0)
    )

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        jit_compile=jit_compile,
    )
    data = tf.data.Dataset.from_tensor_slices((features, labels)).batch(100)  # 40 steps
    schedule = schedules.alternate(0.5)
    callback = agp_tf.GrowPruneCallback(schedule, data, importance_batches=4)
    check = PrunedWeightsStayZero(converted)
    history = model.fit(data, epochs=5, callbacks=[callback, check], verbose=0)

    total = 5 * 40
    assert [e.step for e in callback.flips] == list(schedule.boundary_steps(total)[1:])
    assert check.sparse_steps == len(converted) * 2 * 40
    for name in converted:
        assert model.get_layer(name).mask_numpy().all()
    predicted = flops.predict_relative_training_flops(callback.controller.specs, schedule, total)
    assert callback.counter.relative_change == pytest.approx(predicted - 1.0, abs=1e-12)
    assert callback.counter.relative_change < -0.1
    assert history.history["sparse_categorical_accuracy"][-1] > 0.5  # chance is 1/7

    plain = agp_tf.strip(model)
    assert not any(isinstance(layer, agp_tf.MaskedDense) for layer in plain.layers)
    np.testing.assert_allclose(
        plain.predict(features, verbose=0), model.predict(features, verbose=0), atol=1e-6
    )
