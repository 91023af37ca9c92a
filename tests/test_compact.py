import keras
import numpy as np
import pytest

from agp_tf import schedules, topology
from agp_tf.controller import GrowPruneController
from agp_tf.layers import CompactPlan, MaskedDense
from tests.helpers import dataset, mlp, xor_data


def test_compact_plans_follow_the_chain():
    model = mlp((3, 8, 6, 1))
    model.get_layer("d0").set_mask([1, 0, 1, 1, 0, 0, 1, 1])
    model.get_layer("d1").set_mask([0, 1, 1, 0, 1, 1])
    plans = topology.compact_plans(model)
    assert plans["d0"] == (CompactPlan(5, None, True), None)
    assert plans["d1"] == (CompactPlan(4, 5, True), model.get_layer("d0"))
    assert plans["d2"] == (CompactPlan(None, 4, False), model.get_layer("d1"))


def test_outputs_that_leave_the_mlp_are_full_width():
    inputs = keras.Input((4,))
    a = MaskedDense(6, activation="relu", name="a")(inputs)
    b = MaskedDense(5, activation="relu", name="b")(a)
    joined = keras.layers.Concatenate()([a, b])  # a also leaves the chain
    out = MaskedDense(1, prunable=False, name="out")(joined)
    model = keras.Model(inputs, [out, b])
    model.get_layer("a").set_mask([1, 1, 0, 1, 0, 1])
    model.get_layer("b").set_mask([1, 0, 1, 1, 1])
    plans = topology.compact_plans(model)
    assert plans["a"] == (CompactPlan(4, None, False), None)
    assert plans["b"] == (CompactPlan(4, None, False), None)  # b is a model output
    assert plans["out"] == (CompactPlan(), None)  # every neuron kept: no mask multiply
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    masked = [keras.ops.convert_to_numpy(t) for t in model(x)]
    for layer in ("a", "b", "out"):
        model.get_layer(layer).set_compact_plan(*plans[layer])
    compact = [keras.ops.convert_to_numpy(t) for t in model(x)]
    assert compact[1].shape == (5, 5) and np.all(compact[1][:, 1] == 0.0)
    for m, c in zip(masked, compact):
        np.testing.assert_allclose(c, m, rtol=1e-6, atol=1e-6)


def test_plan_must_match_mask():
    layer = MaskedDense(4)
    layer.build((None, 3))
    layer.set_mask([1, 0, 1, 1])
    with pytest.raises(ValueError, match="mask keeps 3 of 4"):
        layer.set_compact_plan(CompactPlan(2))
    with pytest.raises(ValueError, match="mask keeps 3 of 4"):
        layer.set_compact_plan(CompactPlan())
    with pytest.raises(ValueError, match="pass the producer"):
        layer.set_compact_plan(CompactPlan(3, 2))
    with pytest.raises(ValueError, match="cannot be emitted compact"):
        CompactPlan(None, None, True)


class BatchLosses(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def _train_at_step(data, compact, jit_compile, step, total_steps):
    """An MLP under `pruning_only(0.6, start=0.5)` at `step` (the first
    `step` batches of `data` trained before), then one epoch of `data`.
    Returns the model and its per-batch losses."""
    model = mlp((3, 32, 16, 1), seed=7)
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", jit_compile=jit_compile)
    if step:
        model.fit(data.take(step), epochs=1, verbose=0)
    controller = GrowPruneController(
        model, schedules.pruning_only(0.6, start=0.5), total_steps=total_steps,
        criterion="magnitude", compact=compact,
    )
    controller.on_step_begin(step=step)
    model.make_train_function(force=True)
    recorder = BatchLosses()
    model.fit(data, epochs=1, verbose=0, callbacks=[recorder])
    return model, recorder.losses


def _assert_same_weights(model, other, rtol, atol):
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=rtol, atol=atol
        )


# Without XLA (about 5 s) in -m slow; test_callbacks.py trains compact phases both ways.
@pytest.mark.parametrize("jit_compile", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_compact_and_masked_execution_train_identically(jit_compile):
    x, y = xor_data(3200, features=3)
    data = dataset(x, y, 32)  # 100 steps
    # 10 steps trained first (the same state), then the sparse second half
    masked_model, masked_losses = _train_at_step(data, False, jit_compile, step=10, total_steps=20)
    compact_model, compact_losses = _train_at_step(data, True, jit_compile, step=10, total_steps=20)
    assert compact_model.get_layer("d1").compact_plan.kept_inputs is not None
    assert len(compact_losses) == 100
    np.testing.assert_allclose(compact_losses, masked_losses, rtol=1e-5)
    _assert_same_weights(compact_model, masked_model, rtol=1e-4, atol=1e-5)
    keep = compact_model.get_layer("d0").mask_numpy()
    assert np.all(compact_model.get_layer("d0").kernel.numpy()[:, ~keep] == 0.0)
    assert np.all(compact_model.get_layer("d1").kernel.numpy()[~keep, :] == 0.0)


def test_a_dense_phase_runs_the_plain_path_and_trains_as_the_masked_one():
    x, y = xor_data(640, features=3)
    data = dataset(x, y, 32)
    # step 0 of 40: the dense first half
    masked_model, masked_losses = _train_at_step(data, False, True, step=0, total_steps=40)
    plain_model, plain_losses = _train_at_step(data, True, True, step=0, total_steps=40)
    assert all(layer.compact_plan is None for layer in topology.dense_layers(masked_model))
    # every neuron kept: no mask multiply at all
    assert all(layer.compact_plan == CompactPlan() for layer in topology.dense_layers(plain_model))
    np.testing.assert_allclose(plain_losses, masked_losses, rtol=1e-6)
    _assert_same_weights(plain_model, masked_model, rtol=1e-5, atol=1e-6)


def test_a_mask_restored_under_the_same_plan_moves_the_compact_indices():
    # A checkpoint restore assigns masks without set_mask: setting the plans
    # again (the callback does at every fit's start) must follow them.
    model = mlp((3, 8, 6, 1), seed=3)
    model.get_layer("d0").set_mask([1, 0, 1, 1, 0, 0, 1, 1])
    topology.set_compact_plans(model)
    restored = np.array([0, 1, 1, 1, 1, 0, 0, 1], "float32")  # 5 kept again, others
    model.get_layer("d0").mask.assign(restored)
    weights = np.random.default_rng(1).normal(size=(3, 8)).astype("float32")
    model.get_layer("d0").kernel.assign(weights * restored)
    assert topology.set_compact_plans(model) is False  # same plans: no new trace needed
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    compact = keras.ops.convert_to_numpy(model(x))
    with topology.without_compact_plans(model):
        masked = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(compact, masked, rtol=1e-6, atol=1e-6)


def test_without_compact_plans_runs_the_masked_path_and_puts_the_plans_back():
    model = mlp((3, 8, 6, 1))
    assert topology.has_no_plans(model)
    model.get_layer("d0").set_mask([1, 0, 1, 1, 0, 0, 1, 1])
    for name, (plan, producer) in topology.compact_plans(model).items():
        model.get_layer(name).set_compact_plan(plan, producer)
    assert not topology.has_no_plans(model)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    compact = keras.ops.convert_to_numpy(model(x))
    with topology.without_compact_plans(model):
        assert topology.has_no_plans(model)
        masked = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(masked, compact, rtol=1e-6, atol=1e-7)
    assert model.get_layer("d1").compact_plan == CompactPlan(None, 5, False)
    assert model.get_layer("d1").compact_producer is model.get_layer("d0")
