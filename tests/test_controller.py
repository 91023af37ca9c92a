import keras
import numpy as np
import pytest
import tensorflow as tf

from agp_tf import schedules
import agp_tf
from agp_tf import optimizer_state
from agp_tf.controller import GrowPruneController
from tests.helpers import dataset, mlp, xor_data


def _numpy_taylor_scores(w1, b1, w2, b2, batches):
    """Hand-derived gradients of mean BCE for relu(x W1 + b1) -> sigmoid(h W2 + b2)."""
    scores = np.zeros(w1.shape[1])
    for x, y in batches:
        z1 = x @ w1 + b1
        h = np.maximum(z1, 0.0)
        p = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))  # (n, 1)
        dz2 = (p - y[:, None]) / len(x)
        dz1 = (dz2 @ w2.T) * (z1 > 0)
        term = np.sum(w1 * (x.T @ dz1), axis=0) + b1 * dz1.sum(axis=0)
        scores += term**2
    return scores


def test_taylor_scores_and_kept_neurons_match_hand_computation():
    model = mlp((2, 5, 1), prunable=(True, False))
    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(2, 5)).astype("float32")
    b1 = rng.normal(size=5).astype("float32") * 0.5
    w2 = rng.normal(size=(5, 1)).astype("float32")
    b2 = np.array([0.1], "float32")
    model.get_layer("d0").kernel.assign(w1)
    model.get_layer("d0").bias.assign(b1)
    model.get_layer("d1").kernel.assign(w2)
    model.get_layer("d1").bias.assign(b2)
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(48, features=2, seed=2)
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 48, 16)]
    controller = GrowPruneController(
        model, schedules.pruning_only(0.6, start=0.5), total_steps=10,
        importance_data=dataset(x, y, 16), importance_batches=3,
    )
    expected = _numpy_taylor_scores(w1, b1, w2, b2, batches)
    scores = controller.compute_scores(step=5)["d0"]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-12)

    event = controller.on_step_begin(step=5)
    kept = model.get_layer("d0").mask_numpy()
    assert kept.sum() == 2  # floor(0.4 * 5)
    assert set(np.flatnonzero(kept)) == set(np.argsort(-expected)[:2])
    assert event.to_sparsity == 0.6 and event.active_units == {"d0": 2}
    assert controller.on_step_begin(step=6) is None  # same phase: nothing to do


@pytest.mark.parametrize(
    "optimizer, initial",
    [
        (lambda: keras.optimizers.SGD(0.1, momentum=0.9), 0.0),
        (lambda: keras.optimizers.Adagrad(0.1), 0.1),
        (lambda: keras.optimizers.Adam(0.01), 0.0),
    ],
)
def test_prune_resets_optimizer_slots_of_pruned_weights(optimizer, initial):
    model = mlp((3, 6, 4, 1))
    model.compile(optimizer(), "binary_crossentropy")
    x, y = xor_data(64)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # slots now non-initial
    controller = GrowPruneController(
        model, schedules.pruning_only(0.5, start=0.5), total_steps=4, criterion="magnitude"
    )
    controller.on_step_begin(step=2)
    d0, d1 = model.get_layer("d0"), model.get_layer("d1")
    keep0 = d0.mask_numpy()
    slots = [slot for slot, _ in optimizer_state.slots(model.optimizer, d0.kernel)]
    assert slots, "no optimizer slots found"
    for slot in slots:
        assert np.all(slot.numpy()[:, ~keep0] == initial)
        assert np.any(slot.numpy()[:, keep0] != initial)
    # the consumer's rows for pruned inputs are zero, their slots reset
    assert np.all(d1.kernel.numpy()[~keep0, :] == 0.0)
    for slot, _ in optimizer_state.slots(model.optimizer, d1.kernel):
        assert np.all(slot.numpy()[~keep0, :] == initial)


def _hidden_gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x))
    layers = [model.get_layer("d0"), model.get_layer("d1")]
    return [g.numpy() for g in tape.gradient(loss, [layer.kernel.value for layer in layers])]


@pytest.mark.parametrize("growth, alive", [("zero_output", True), ("zero", False)])
def test_growth_modes(growth, alive):
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(256)
    controller = GrowPruneController(
        model, schedules.dsd(0.5, 0.2, 0.4), total_steps=10,
        importance_data=dataset(x, y), importance_batches=2, growth=growth,
    )
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)
    controller.on_step_begin(step=2)
    pruned = ~model.get_layer("d0").mask_numpy()
    before = model.predict(x, verbose=0)
    controller.on_step_begin(step=4)  # grow
    # the model's function is unchanged at growth, in both modes
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-6, atol=1e-7)
    assert model.get_layer("d0").mask_numpy().all()
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    kernel = model.get_layer("d0").kernel.numpy()
    outgoing = model.get_layer("d1").kernel.numpy()
    if alive:
        assert np.all(np.any(outgoing[pruned, :] != 0.0, axis=1)), "regrown neurons did not learn"
        assert np.all(np.any(_hidden_gradients(model, x, y)[0] != 0.0, axis=0))
    else:
        # literal zero regrowth under ReLU: exactly zero gradient, neurons stay dead
        assert np.all(kernel[:, pruned] == 0.0) and np.all(outgoing[pruned, :] == 0.0)


def test_growth_only_starts_with_seeded_random_choice():
    def kept(seed):
        model = mlp((3, 8, 8, 1))
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
        controller = GrowPruneController(
            model, schedules.growth_only(0.5), total_steps=10, importance_data=[], seed=seed
        )
        event = controller.on_step_begin(step=0)
        assert event.to_sparsity == 0.5
        return model.get_layer("d0").mask_numpy()

    assert kept(1).sum() == 4
    np.testing.assert_array_equal(kept(1), kept(1))
    assert not np.array_equal(kept(1), kept(2)) or not np.array_equal(kept(1), kept(3))


def test_error_when_importance_data_runs_out():
    model = mlp((3, 8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    x, y = xor_data(64)
    controller = GrowPruneController(
        model, schedules.pruning_only(0.5), total_steps=10,
        importance_data=dataset(x, y, 32), importance_batches=5,
    )
    with pytest.raises(ValueError, match="ran out after 2 of 5 batches"):
        controller.on_step_begin(step=8)


def test_error_for_model_without_prunable_layer():
    model = mlp((3, 4, 1), prunable=(False, False))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    with pytest.raises(ValueError, match="no prunable layer"):
        GrowPruneController(model, schedules.alternate(0.5), total_steps=10, criterion="random")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"criterion": "l1"}, "criterion='l1'"),
        ({"growth": "random"}, "growth='random'"),
        ({"importance_batches": 0}, "importance_batches=0"),
        ({"total_steps": 0}, "total_steps=0"),
        ({"importance_data": None, "taylor_source": "data"}, "needs `importance_data`"),
        ({"taylor_source": "both"}, "`taylor_source` must be one of"),
        ({"compile_loss": None}, "needs a loss"),
    ],
)
def test_argument_errors(kwargs, message):
    model = mlp((3, 4, 1))
    model.compile(keras.optimizers.SGD(0.1), kwargs.pop("compile_loss", "binary_crossentropy"))
    arguments = {"total_steps": 10, "importance_data": [], **kwargs}
    with pytest.raises(ValueError, match=message):
        GrowPruneController(model, schedules.alternate(0.5), **arguments)


def test_custom_training_loop():
    model = mlp((3, 8, 8, 1))
    optimizer = keras.optimizers.Adam(0.01)
    loss_fn = keras.losses.BinaryCrossentropy()
    x, y = xor_data(320)
    data = dataset(x, y, 32)
    controller = GrowPruneController(
        model, schedules.alternate(0.5), total_steps=10, importance_data=data,
        importance_batches=2, optimizer=optimizer, loss=loss_fn,
    )
    sparsity_seen = []
    for xb, yb in data:
        controller.on_step_begin()
        sparsity_seen.append(controller.applied_sparsity)
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
    assert sparsity_seen == [0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0]


def test_regrown_incoming_weights_are_new_seeded_draws():
    def regrow(seed):
        model = mlp((3, 16, 8, 1), seed=0)
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
        built = model.get_layer("d0").kernel.numpy()
        controller = GrowPruneController(
            model, schedules.dsd(0.5, 0.2, 0.4), total_steps=10, criterion="magnitude",
            seed=seed,
        )
        controller.on_step_begin(step=2)
        pruned = ~model.get_layer("d0").mask_numpy()
        controller.on_step_begin(step=4)
        return built[:, pruned], model.get_layer("d0").kernel.numpy()[:, pruned]

    built, regrown = regrow(seed=0)
    assert np.all(regrown != 0.0)
    assert not np.any(np.isclose(regrown, built)), "regrowth gave the build-time weights back"
    limit = np.sqrt(6.0 / (3 + 16))  # glorot_uniform of d0
    assert np.all(np.abs(regrown) <= limit)
    np.testing.assert_array_equal(regrow(seed=0)[1], regrown)  # same seed: same draw
    assert not np.allclose(regrow(seed=1)[1], regrown)


class ScaledDense(agp_tf.PrunableNeurons, keras.layers.Layer):
    """The custom-layer example of `agp_tf.PrunableNeurons`, as documented."""

    def __init__(self, units, prunable=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.prunable, self.use_bias = units, prunable, True
        self.kernel_initializer = keras.initializers.get("glorot_uniform")

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")
        self.scale = self.add_weight(shape=(self.units,), initializer="ones")
        self.add_neuron_mask()

    def neuron_weights(self):
        return super().neuron_weights() + [(self.scale, 0, "ones")]

    def call(self, x):
        return (x @ (self.kernel * self.mask) + self.bias * self.mask) * self.scale


def test_a_custom_layer_following_the_protocol_is_pruned_and_regrown():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    hidden = ScaledDense(8, name="scaled")(inputs)
    out = agp_tf.MaskedDense(1, activation="sigmoid", prunable=False, name="out")(
        keras.layers.ReLU()(hidden)
    )
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    x, y = xor_data(256)
    data = dataset(x, y)
    callback = agp_tf.GrowPruneCallback(schedules.dsd(0.5, 0.2, 0.6), data, importance_batches=2)

    class Check(keras.callbacks.Callback):
        sparse_steps = 0

        def on_train_batch_end(self, batch, logs=None):
            layer = self.model.get_layer("scaled")
            keep = layer.mask_numpy()
            if keep.all():
                return
            Check.sparse_steps += 1
            assert np.all(layer.kernel.numpy()[:, ~keep] == 0.0)
            assert np.all(layer.scale.numpy()[~keep] == 0.0)
            assert np.all(self.model.get_layer("out").kernel.numpy()[~keep] == 0.0)

    model.fit(data, epochs=5, callbacks=[callback, Check()], verbose=0)
    assert [(e.step, e.to_sparsity) for e in callback.flips] == [(8, 0.5), (24, 0.0)]
    assert Check.sparse_steps == 16
    layer = model.get_layer("scaled")
    assert layer.mask_numpy().all()
    assert callback.counter.relative_change < 0


def test_a_custom_layer_cannot_score_from_training_steps_and_says_so():
    inputs = keras.Input((3,))
    hidden = ScaledDense(8, name="scaled")(inputs)
    model = keras.Model(inputs, agp_tf.MaskedDense(1, prunable=False, name="out")(hidden))
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    with pytest.raises(ValueError, match=r"\['scaled'\] cannot score neurons from the training"):
        GrowPruneController(model, schedules.alternate(0.5), total_steps=10)


def test_growth_scale_shrinks_the_regrown_draws_only():
    def regrow(growth_scale):
        model = mlp((3, 16, 8, 1), seed=0)
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
        controller = GrowPruneController(
            model, schedules.dsd(0.5, 0.2, 0.4), total_steps=10, criterion="magnitude",
            growth_scale=growth_scale,
        )
        controller.on_step_begin(step=2)
        layer = model.get_layer("d0")
        pruned, kept = ~layer.mask_numpy(), layer.kernel.numpy()[:, layer.mask_numpy()]
        controller.on_step_begin(step=4)
        return layer.kernel.numpy()[:, pruned], layer.kernel.numpy()[:, ~pruned], kept

    full, _, _ = regrow(1.0)
    small, untouched, kept = regrow(0.1)
    np.testing.assert_allclose(small, 0.1 * full, rtol=1e-6)
    np.testing.assert_array_equal(untouched, kept)  # the kept neurons are not rescaled


@pytest.mark.parametrize("growth, growth_scale, message", [
    ("zero_output", 0.0, r"growth_scale=0\.0"),
    ("zero_output", 1.5, r"growth_scale=1\.5"),
    ("zero_output", True, "growth_scale=True"),
    ("zero", 0.5, 'no effect with growth="zero"'),
    ("random", 1.0, "growth='random'"),
])
def test_growth_settings_are_checked(growth, growth_scale, message):
    model = mlp((3, 8, 1))
    with pytest.raises(ValueError, match=message):
        GrowPruneController(model, schedules.alternate(0.5), total_steps=10, criterion="magnitude",
                            growth=growth, growth_scale=growth_scale)
    with pytest.raises(ValueError, match=message):
        agp_tf.GrowPruneCallback(schedules.alternate(0.5), None, growth=growth,
                                 growth_scale=growth_scale)
