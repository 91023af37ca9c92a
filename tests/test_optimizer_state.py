"""Tests for agp_tf.optimizer_state: finding and resetting optimizer slots per neuron."""

import inspect
import re

import keras
import numpy as np
import pytest

from agp_tf import optimizer_state
from agp_tf.layers import MaskedDense
from agp_tf.optimizer_state import SlotResetError

opt = keras.optimizers

# One case per exported optimizer class at least; `test_every_exported_class_has_a_case`
# fails when a Keras release adds one.
CASES = {
    "SGD": lambda: opt.SGD(0.1),
    "SGD-momentum": lambda: opt.SGD(0.1, momentum=0.9, nesterov=True),
    "Adam-amsgrad": lambda: opt.Adam(0.01, amsgrad=True),
    "AdamW-amsgrad": lambda: opt.AdamW(0.01, weight_decay=0.1, amsgrad=True),
    "RMSprop-centered-momentum": lambda: opt.RMSprop(0.01, momentum=0.9, centered=True),
    "Nadam": lambda: opt.Nadam(0.01),
    "Adamax": lambda: opt.Adamax(0.01),
    "Adagrad": lambda: opt.Adagrad(0.1, initial_accumulator_value=0.25),
    "Adadelta": lambda: opt.Adadelta(1.0),
    "Ftrl": lambda: opt.Ftrl(
        0.1, initial_accumulator_value=0.3, l2_shrinkage_regularization_strength=0.01
    ),
    "Lion": lambda: opt.Lion(0.001),
    "Lamb": lambda: opt.Lamb(0.01),
    "Adafactor": lambda: opt.Adafactor(0.01),
    "Muon": lambda: opt.Muon(0.01),
    "ScheduleFreeAdamW": lambda: opt.ScheduleFreeAdamW(0.01),
    "Optimizer": lambda: opt.Optimizer(learning_rate=0.01),
    "LossScaleOptimizer-Adam": lambda: opt.LossScaleOptimizer(opt.Adam(0.01)),
    "MultiOptimizer": lambda: opt.MultiOptimizer(
        opt.OptimizerMap(
            opt.SGD(0.1, momentum=0.9),
            {".*/d0/.*": opt.Adagrad(0.1, initial_accumulator_value=0.25)},
        )
    ),
    "Adam-ema": lambda: opt.Adam(0.01, use_ema=True),
    "Adam-accumulation": lambda: opt.Adam(0.01, gradient_accumulation_steps=2),
}

# Classes check_supported must refuse (a silent change either way fails).
REFUSED = {"Adafactor", "Optimizer"}

PRUNED = [1, 4]


def _model(names=("d0", "d1")):
    return keras.Sequential(
        [
            keras.Input((5,)),
            MaskedDense(6, activation="relu", name=names[0]),
            MaskedDense(3, name=names[1]),
        ]
    )


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 5)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")


def _numpy(variable):
    return np.array(keras.ops.convert_to_numpy(variable))


def _owners(optimizer):
    inner = optimizer_state.unwrap(optimizer)
    return list(inner.optimizers) if isinstance(inner, opt.MultiOptimizer) else [inner]


def _expected_initial(optimizer, slot, kind):
    """A fresh slot's value at a pruned entry, read off the optimizers' `build`.

    Kept apart from the module's own table on purpose.
    """
    if kind == "accumulator":  # Adagrad, Ftrl
        owner = next(o for o in _owners(optimizer) if any(v is slot for v in o.variables))
        return np.asarray(owner.initial_accumulator_value, slot.dtype)
    # Every other slot starts at 0 or copies its weight (the EMA `average`,
    # ScheduleFreeAdamW's `momentum`), which is 0 at a pruned entry.
    return np.zeros((), slot.dtype)


def _named_after(optimizer, variable):
    """Every optimizer variable whose path names `variable` (the test's own search)."""
    flat = variable.path.replace("/", "_") + "_"
    return {
        id(v)
        for o in _owners(optimizer)
        for v in o.variables
        if v.path.rsplit("/", 1)[-1].startswith(flat)
    }


def _pruned_entries(value, axis):
    return np.take(value, PRUNED, axis=axis)


def _kept_entries(value, axis):
    return np.delete(value, PRUNED, axis=axis)


def test_every_exported_class_has_a_case():
    exported = {
        name
        for name, cls in inspect.getmembers(keras.optimizers, inspect.isclass)
        if issubclass(cls, keras.optimizers.Optimizer)
    }
    covered = {type(factory()).__name__ for factory in CASES.values()}
    assert exported == covered
    assert REFUSED <= covered


@pytest.mark.parametrize("case", sorted(CASES))
def test_pruned_neurons_stay_zero_with_fresh_slots(case):
    keras.utils.set_random_seed(0)
    optimizer = CASES[case]()
    model = _model()
    model.compile(optimizer, "mse", jit_compile=False)
    optimizer.build(model.trainable_variables)
    d0, d1 = model.get_layer("d0"), model.get_layer("d1")
    targets = [(d0.kernel, 1), (d0.bias, 0), (d1.kernel, 0)]
    name = type(optimizer_state.unwrap(optimizer)).__name__

    if name in REFUSED:
        with pytest.raises(SlotResetError, match=rf"\b{name}\b"):
            optimizer_state.check_supported(optimizer, [v for v, _ in targets])
        return
    optimizer_state.check_supported(optimizer, [v for v, _ in targets])

    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)

    keep = np.ones(6, bool)
    keep[PRUNED] = False
    d0.set_mask(keep)
    d1.kernel.assign(_numpy(d1.kernel) * keep[:, None])
    changed = False
    for variable, axis in targets:
        found = optimizer_state.slots(optimizer, variable)
        assert {id(s) for s, _ in found} == _named_after(optimizer, variable)
        before = [_numpy(slot) for slot, _ in found]
        assert optimizer_state.reset_slots(optimizer, variable, keep, axis) == len(found)
        for (slot, kind), old in zip(found, before):
            new = _numpy(slot)
            initial = _expected_initial(optimizer, slot, kind)
            np.testing.assert_array_equal(_kept_entries(new, axis), _kept_entries(old, axis))
            np.testing.assert_array_equal(_pruned_entries(new, axis), initial)
            changed |= bool(np.any(_pruned_entries(old, axis) != initial))
    # Training left state in the pruned entries, so the reset had work to do.
    assert changed or case == "SGD"

    model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)  # the sparse phase

    for variable, axis in targets:
        assert np.all(_pruned_entries(_numpy(variable), axis) == 0.0), variable.path
        assert np.any(_kept_entries(_numpy(variable), axis) != 0.0), variable.path
        for slot, kind in optimizer_state.slots(optimizer, variable):
            initial = _expected_initial(optimizer, slot, kind)
            np.testing.assert_array_equal(
                _pruned_entries(_numpy(slot), axis), initial, err_msg=slot.path
            )


def _built(optimizer, model):
    optimizer.build(model.trainable_variables)
    return optimizer


def test_loss_scale_optimizer_names_the_refused_inner_optimizer():
    model = _model()
    optimizer = _built(opt.LossScaleOptimizer(opt.Adafactor()), model)
    with pytest.raises(SlotResetError, match=r"\bAdafactor\b.*factored"):
        optimizer_state.check_supported(optimizer, model.trainable_variables)


def test_unknown_custom_optimizer_is_refused():
    class TracingOptimizer(keras.optimizers.Optimizer):
        def build(self, variables):
            super().build(variables)
            self.traces = [self.add_variable_from_reference(v, "trace") for v in variables]

        def update_step(self, gradient, variable, learning_rate):
            trace = self.traces[self._get_variable_index(variable)]
            self.assign(trace, 0.9 * trace + gradient)
            self.assign_sub(variable, learning_rate * trace)

    model = _model()
    optimizer = _built(TracingOptimizer(learning_rate=0.1), model)
    with pytest.raises(SlotResetError, match=r"\bTracingOptimizer\b"):
        optimizer_state.check_supported(optimizer, model.trainable_variables)
    with pytest.raises(SlotResetError, match=r"\bTracingOptimizer\b"):
        optimizer_state.reset_slots(optimizer, model.layers[0].bias, np.ones(6, bool), 0)


def test_subclass_of_a_known_optimizer_is_supported_unless_it_adds_state():
    class MyAdam(opt.Adam):
        pass

    class ExtraAdam(opt.Adam):
        def build(self, variables):
            super().build(variables)
            self.extras = [self.add_variable_from_reference(v, "extra") for v in variables]

    model = _model()
    optimizer_state.check_supported(_built(MyAdam(), model), model.trainable_variables)
    with pytest.raises(SlotResetError, match=r"ExtraAdam.*unknown kind `extra`"):
        optimizer_state.check_supported(_built(ExtraAdam(), model), model.trainable_variables)


def test_slots_tell_apart_layers_whose_paths_share_a_prefix():
    model = _model(names=("d1", "d10"))
    optimizer = _built(opt.RMSprop(momentum=0.9), model)
    d1, d10 = model.get_layer("d1"), model.get_layer("d10")
    for variable in (d1.kernel, d1.bias, d10.kernel, d10.bias):
        found = optimizer_state.slots(optimizer, variable)
        flat = variable.path.replace("/", "_")
        assert sorted(kind for _, kind in found) == ["momentum", "velocity"]
        assert {slot.path.rsplit("/", 1)[-1] for slot, _ in found} == {
            f"{flat}_momentum",
            f"{flat}_velocity",
        }
        assert all(tuple(slot.shape) == tuple(variable.shape) for slot, _ in found)


class _ScaledKernel(keras.layers.Layer):
    """Weights `kernel` and `kernel_scale`: one path extends the other."""

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 2))
        self.kernel_scale = self.add_weight(name="kernel_scale", shape=(2,), initializer="ones")

    def call(self, x):
        return x @ self.kernel * self.kernel_scale


def test_a_longer_variable_path_is_not_an_unknown_kind():
    model = keras.Sequential([keras.Input((3,)), _ScaledKernel(name="s")])
    layer = model.layers[0]
    optimizer = _built(opt.Adam(), model)
    optimizer_state.check_supported(optimizer, [layer.kernel])
    kinds = sorted(kind for _, kind in optimizer_state.slots(optimizer, layer.kernel))
    assert kinds == ["momentum", "velocity"]


def test_variables_sharing_a_path_are_refused():
    first, second = keras.Sequential(name="twin"), keras.Sequential(name="twin")
    for model in (first, second):
        model.add(keras.Input((5,)))
        model.add(MaskedDense(2, name="d0"))
    variables = first.trainable_variables + second.trainable_variables
    assert first.layers[0].kernel.path == second.layers[0].kernel.path
    optimizer = opt.Adam()
    optimizer.build(variables)
    with pytest.raises(SlotResetError, match="share a path"):
        optimizer_state.check_supported(
            optimizer, [first.layers[0].kernel, second.layers[0].kernel]
        )
    with pytest.raises(SlotResetError, match="two `momentum` slots"):
        optimizer_state.check_supported(optimizer, [first.layers[0].kernel])


@pytest.mark.parametrize(
    "factory, kind",
    [(lambda: opt.Adam(use_ema=True), "average"), (lambda: opt.ScheduleFreeAdamW(), "momentum")],
    ids=["ema-average", "schedule-free-momentum"],
)
def test_copy_slots_restart_from_the_variable_value(factory, kind):
    # A regrown neuron: its weights are redrawn first, then its slots reset.
    model = _model()
    optimizer = _built(factory(), model)
    kernel = model.get_layer("d0").kernel
    (slot,) = [s for s, k in optimizer_state.slots(optimizer, kernel) if k == kind]
    slot.assign(np.full(kernel.shape, 7.0, "float32"))
    fresh = np.arange(30, dtype="float32").reshape(5, 6)
    kernel.assign(fresh)
    keep = np.array([True, False, True, True, False, True])
    optimizer_state.reset_slots(optimizer, kernel, keep, axis=1)
    np.testing.assert_array_equal(_numpy(slot), np.where(keep, 7.0, fresh))


def test_before_build_nothing_is_touched_and_keep_is_checked():
    model = _model()
    optimizer = opt.Adam()
    kernel = model.get_layer("d0").kernel
    assert optimizer_state.slots(optimizer, kernel) == []
    assert optimizer_state.reset_slots(optimizer, kernel, np.zeros(6, bool), 1) == 0
    optimizer_state.check_supported(optimizer, [kernel])
    with pytest.raises(ValueError, match=re.escape("(6,)")):
        optimizer_state.reset_slots(optimizer, kernel, np.zeros(5, bool), 1)
    _built(optimizer, model)
    assert optimizer_state.reset_slots(optimizer, kernel, np.ones(6, bool), 1) == 0
    assert optimizer_state.reset_slots(optimizer, kernel, np.zeros(6, bool), -1) == 2
