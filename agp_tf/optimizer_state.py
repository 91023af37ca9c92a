"""Optimizer state of pruned and regrown neurons: finding it and resetting it.

Keras 3 keeps per-variable optimizer state ("slots": momentum, velocity,
accumulator, ...) in variables made by `add_variable_from_reference(ref,
kind)`, which names them `f"{ref.path.replace('/', '_')}_{kind}"` under the
optimizer's own path prefix. This module finds a variable's slots from that
name, through the public `optimizer.variables` and `variable.path`, and resets
the entries of pruned or regrown neurons to the value the optimizer gives a
fresh slot, read from each optimizer's `build`.

Resetting per neuron is only sound when every slot entry belongs to one weight
entry. That holds for the optimizers in `_SLOT_KINDS` (their slots have the
variable's shape and are updated elementwise). Muon and Lamb mix entries in
the *update* (orthogonalization, trust ratio), not in the state: a zero weight
with zero gradient and zero slots stays exactly zero, so they are supported.
Adafactor keeps row and column means of the squared gradient for 2-D
variables: one number per row mixes all the neurons of a kernel, and these
statistics are not even named after their variable, so it is refused.

Optimizer state that is not per variable (iterations, learning rate, Nadam's
`u_product`, LossScaleOptimizer's scale) is never touched.
"""

import functools

import keras
import numpy as np

from agp_tf.layers import replace_neurons


class SlotResetError(ValueError):
    """agp_tf cannot reset this optimizer's state for pruned neurons."""


# ---- initial values of a fresh slot, as each optimizer's `build` makes them --


def _zero(optimizer, variable):
    return 0.0


def _initial_accumulator(optimizer, variable):
    # Adagrad and Ftrl: `initializers.Constant(self.initial_accumulator_value)`.
    return float(optimizer.initial_accumulator_value)


def _own_value(optimizer, variable):
    # A copy of the variable: the EMA takes the variable's value at its first
    # step, ScheduleFreeAdamW's `momentum` (its z sequence) starts as a copy.
    # Read at reset time, so a pruned (zeroed) entry gets 0 and a regrown one
    # its new draw.
    return keras.ops.convert_to_numpy(variable)


# Slots every optimizer may add in `BaseOptimizer.build`: the EMA copy
# (`use_ema=True`) and the gradient accumulator (`gradient_accumulation_steps`).
_BASE_KINDS = {"average": _own_value, "gradient_accumulator": _zero}

# Per-variable slots of each supported class, `{kind: initial value}`. A
# subclass is matched through its nearest listed base.
_SLOT_KINDS = {
    keras.optimizers.SGD: {"momentum": _zero},
    keras.optimizers.Adam: {"momentum": _zero, "velocity": _zero, "velocity_hat": _zero},
    keras.optimizers.AdamW: {"momentum": _zero, "velocity": _zero, "velocity_hat": _zero},
    keras.optimizers.Adamax: {"momentum": _zero, "norm": _zero},
    keras.optimizers.Nadam: {"momentum": _zero, "velocity": _zero},
    keras.optimizers.RMSprop: {"velocity": _zero, "momentum": _zero, "average_gradient": _zero},
    keras.optimizers.Adagrad: {"accumulator": _initial_accumulator},
    keras.optimizers.Adadelta: {"accumulated_grad": _zero, "accumulated_delta_var": _zero},
    keras.optimizers.Ftrl: {"accumulator": _initial_accumulator, "linear": _zero},
    keras.optimizers.Lion: {"momentum": _zero},
    keras.optimizers.Lamb: {"momentum": _zero, "velocity": _zero},
    keras.optimizers.Muon: {"momentum": _zero, "velocity": _zero},
    keras.optimizers.ScheduleFreeAdamW: {"momentum": _own_value, "velocity": _zero},
}

_REFUSED = {
    keras.optimizers.Adafactor: (
        "for variables of rank >= 2 it keeps factored second-moment statistics (a "
        "mean over each kernel row and each column), so a row's statistic mixes "
        "all the neurons of that kernel and cannot be reset per neuron"
    ),
}


def _supported_names():
    return ", ".join(sorted(cls.__name__ for cls in _SLOT_KINDS))


def _kinds(optimizer):
    """`{kind: initial value function}` of `optimizer`'s per-variable slots.

    Raises:
        SlotResetError: The class, or its nearest known base, is refused or
            unknown.
    """
    name = type(optimizer).__name__
    for cls in type(optimizer).__mro__:
        if cls in _REFUSED:
            raise SlotResetError(
                f"agp_tf cannot reset the optimizer state of pruned neurons for "
                f"{name}: {_REFUSED[cls]}. Use another optimizer "
                f"({_supported_names()})."
            )
        if cls in _SLOT_KINDS:
            return {**_BASE_KINDS, **_SLOT_KINDS[cls]}
    raise SlotResetError(
        f"agp_tf does not know the optimizer {name}: it cannot tell which of its "
        f"variables hold per-neuron state, nor their initial values, so it cannot "
        f"reset them for pruned neurons. Use one of {_supported_names()} (or a "
        f"subclass of one that adds no state), or, for a MultiOptimizer or "
        f"LossScaleOptimizer, wrap one of them."
    )


# ---- finding slots by name ---------------------------------------------------


def unwrap(optimizer):
    """The optimizer that owns the slots (LossScaleOptimizer -> inner_optimizer, recursively)."""
    while isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    return optimizer


def _slot_prefix(variable):
    # The name `add_variable_from_reference` gives, up to the kind.
    if hasattr(variable, "path"):
        return variable.path.replace("/", "_") + "_"
    return str(variable.name).replace("/", "_").replace(":", "_") + "_"


def _own_name(optimizer_variable):
    # The last path component: the name without the optimizer's scope, which
    # varies (a LossScaleOptimizer adds its own).
    return optimizer_variable.path.rsplit("/", 1)[-1]


def _found(optimizer, variable):
    """`(slot, kind, initial value function)` of `variable` in `optimizer`."""
    owner = unwrap(optimizer)
    if isinstance(owner, keras.optimizers.MultiOptimizer):
        # Each variable's slots live in the one sub-optimizer it is mapped to.
        return [f for sub in owner.optimizers for f in _found(sub, variable)]
    if not owner.built:
        return []
    kinds = _kinds(owner)
    prefix = _slot_prefix(variable)
    found = []
    for slot in owner.variables:
        name = _own_name(slot)
        kind = name[len(prefix):]
        if name.startswith(prefix) and kind in kinds:
            found.append((slot, kind, functools.partial(kinds[kind], owner, variable)))
    return found


def slots(optimizer, variable):
    """List of (slot_variable, kind) for `variable` (kind = the name suffix, e.g. "momentum").

    Args:
        optimizer: A Keras optimizer, possibly a LossScaleOptimizer or
            MultiOptimizer.
        variable: A model variable.

    Returns:
        One pair per slot; [] before the optimizer is built.

    Raises:
        SlotResetError: The optimizer is refused or unknown (see
            `check_supported`).
    """
    return [(slot, kind) for slot, kind, _ in _found(optimizer, variable)]


def check_supported(optimizer, variables):
    """Raises SlotResetError when agp_tf cannot reset `optimizer`'s state for `variables`.

    The message names the optimizer class and what to do. Call it at the
    start of training, once the optimizer is built: before that only the
    class is checked. A MultiOptimizer is checked through each of its built
    sub-optimizers.

    Args:
        optimizer: A Keras optimizer, possibly a LossScaleOptimizer or
            MultiOptimizer.
        variables: The variables whose entries are reset: the prunable
            layers' kernels and biases and their consumers' kernels.
            The same variable may be listed twice.

    Raises:
        SlotResetError: The optimizer class (or its nearest known base) is
            refused or unknown; an optimizer variable named after one of
            `variables` has a kind not in the known table (a subclass that
            adds state); a slot does not have its variable's shape; or two
            variables share a path, so their slots cannot be told apart.
    """
    owner = unwrap(optimizer)
    if isinstance(owner, keras.optimizers.MultiOptimizer):
        for sub in owner.optimizers:
            if sub.built:  # an unbuilt sub-optimizer was given no variable
                check_supported(sub, variables)
        return
    kinds = _kinds(owner)
    if not owner.built:
        return
    name = type(owner).__name__
    unique = list({id(v): v for v in variables}.values())
    prefixes = [_slot_prefix(v) for v in unique]
    if len(set(prefixes)) != len(prefixes):
        raise SlotResetError(
            f"Two of the pruned variables share a path, so the slots {name} keeps "
            f"for them cannot be told apart: {sorted(prefixes)}. Give the layers "
            f"unique names."
        )
    for variable, prefix in zip(unique, prefixes):
        seen = set()
        for slot in owner.variables:
            if not _own_name(slot).startswith(prefix):
                continue
            kind = _own_name(slot)[len(prefix):]
            if kind not in kinds:
                # "<prefix>scale_momentum" is the momentum of a variable whose
                # path extends this one ("kernel_scale"), not a new kind.
                if any(kind.endswith("_" + k) for k in kinds):
                    continue
                raise SlotResetError(
                    f"{name} keeps a variable `{slot.path}` for `{variable.path}` of "
                    f"unknown kind `{kind}`: agp_tf does not know its initial value "
                    f"and cannot reset it for pruned neurons. Use one of "
                    f"{_supported_names()} without added state."
                )
            if kind in seen:
                raise SlotResetError(
                    f"{name} keeps two `{kind}` slots named after `{variable.path}`; "
                    f"another model variable has the same path. Give the layers "
                    f"unique names."
                )
            seen.add(kind)
            if tuple(slot.shape) != tuple(variable.shape):
                raise SlotResetError(
                    f"{name}'s slot `{slot.path}` has shape {tuple(slot.shape)}, not "
                    f"the shape {tuple(variable.shape)} of `{variable.path}`: it "
                    f"cannot be reset per neuron."
                )


# ---- resetting ----------------------------------------------------------------


def reset_slots(optimizer, variable, keep, axis):
    """Resets `variable`'s slots where boolean `keep` is False, along `axis`.

    Each slot entry of a pruned or regrown neuron gets its kind's initial
    value (for a copy of the variable, such as the EMA, the variable's value
    now: reset after assigning the variable). Kept entries are untouched.

    Args:
        optimizer: A Keras optimizer, possibly a LossScaleOptimizer or
            MultiOptimizer.
        variable: A model variable.
        keep: Boolean array-like `(variable.shape[axis],)`, True = left as is.
        axis: The neuron axis of `variable`.

    Returns:
        The number of slot variables touched: 0 before the optimizer is built
        or when every entry is kept.

    Raises:
        ValueError: `keep` has the wrong shape.
        SlotResetError: The optimizer is refused or unknown.
    """
    keep = np.asarray(keep, dtype=bool)
    axis = axis % len(variable.shape)
    if keep.shape != (variable.shape[axis],):
        raise ValueError(
            f"`keep` for `{getattr(variable, 'path', variable.name)}` must have shape "
            f"({variable.shape[axis]},) (axis {axis} of {tuple(variable.shape)}). "
            f"Received: shape {keep.shape}"
        )
    found = _found(optimizer, variable)
    if keep.all():
        return 0
    for slot, _, initial in found:
        value = keras.ops.convert_to_numpy(slot)
        slot.assign(replace_neurons(value, keep, axis, initial()))
    return len(found)
