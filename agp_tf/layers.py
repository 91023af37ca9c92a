"""MaskedDense: a Dense layer whose output neurons can be pruned and regrown."""

import dataclasses

import keras
import numpy as np
from keras import ops


@dataclasses.dataclass(frozen=True)
class CompactPlan:
    """Static shape of a MaskedDense's computation for the current phase.

    Only counts are static; which neurons are kept is read at run time from
    the layer's index variables, set from the mask whenever it changes
    (`MaskedDense.refresh_compact_indices`). A compiled step therefore depends
    on the sparsity, not on the choice of neurons, and is reused by every
    sparse phase of that sparsity.

    Attributes:
        kept_outputs: Number of kept output neurons, or None when all are
            kept.
        kept_inputs: Number of inputs that arrive when the input is compact
            (the producer's kept neurons), or None when it is full width.
        emit_compact: Whether the output stays compact, `(batch,
            kept_outputs)`, because every consumer is a MaskedDense that
            expects it; otherwise it is scattered back to full width.
    """

    kept_outputs: int = None
    kept_inputs: int = None
    emit_compact: bool = False

    def __post_init__(self):
        if self.emit_compact and self.kept_outputs is None:
            raise ValueError("A dense output (kept_outputs=None) cannot be emitted compact.")


# Activations with activation(0) == 0 exactly: a pruned neuron's
# pre-activation is exactly 0 (masked kernel column and bias), so its output
# is 0 without a second multiply by the mask (3-4% of a masked DLRM step).
ZERO_PRESERVING_ACTIVATIONS = (
    keras.activations.relu,
    keras.activations.relu6,
    keras.activations.leaky_relu,
    keras.activations.elu,
    keras.activations.selu,
    keras.activations.gelu,
    keras.activations.silu,
    keras.activations.tanh,
)


def replace_neurons(value, keep, axis, replacement):
    """`value` with the neurons not in `keep` (along `axis`) taken from `replacement`.

    Args:
        value: numpy array, a weight or optimizer slot.
        keep: Boolean array `(value.shape[axis],)`, True = left as it is.
        axis: The neuron axis of `value`.
        replacement: Scalar, or array of `value`'s shape.

    Returns:
        A new array of `value`'s dtype.

    Example:

    ```python
    replace_neurons(np.ones((2, 3)), [True, False, True], 1, 0.0)   # column 1 zeroed
    ```
    """
    value = np.asarray(value)
    shape = [1] * value.ndim
    shape[axis] = -1
    keep = np.asarray(keep, dtype=bool).reshape(shape)
    return np.where(keep, value, replacement).astype(value.dtype)


def neuron_order(keep):
    """The kept neurons ascending, then the pruned ones ascending.

    A compact step reads its kept neurons as the first `count` entries: a
    static slice, whichever neurons they are.

    Args:
        keep: Boolean array `(units,)`, True = kept.

    Returns:
        int32 array `(units,)`, a permutation of `range(units)`.
    """
    keep = np.asarray(keep, dtype=bool)
    return np.concatenate([np.flatnonzero(keep), np.flatnonzero(~keep)]).astype(np.int32)


def compact_columns(keep):
    """For each neuron, its column in the compact output, or `count` (the
    number kept) when pruned: pruned neurons then read an appended zero column.

    Example:

    ```python
    compact_columns([True, False, True])   # [0, 2, 1]
    ```
    """
    keep = np.asarray(keep, dtype=bool)
    return np.where(keep, np.cumsum(keep) - 1, keep.sum()).astype(np.int32)


class PrunableNeurons:
    """The protocol a layer follows to have its output neurons pruned and regrown.

    `MaskedDense` follows it; a custom layer takes part by listing this mixin
    before `keras.layers.Layer` in its bases and providing:

    - attributes `units` (output neurons), `kernel` (a weight of shape
      `(input_dim, units)`: neuron t owns column t), `use_bias` and `bias`
      (`(units,)` or None), `prunable` (bool) and `kernel_initializer`
      (used to draw a regrown neuron's incoming weights);
    - a call to `self.add_neuron_mask()` in `build`, after its weights;
    - a forward pass that multiplies the kernel and bias by `self.mask`, so
      a pruned neuron gets exactly zero gradient, and its output too when
      the activation of 0 is not 0.

    A layer with more per-neuron weights (a per-neuron scale, say)
    overrides `neuron_weights` to list them: they are zeroed at a prune,
    their optimizer slots reset, and they are redrawn from their
    initializer at regrowth. Taylor importance reads `kernel` and `bias`.

    Example:

    ```python
    class ScaledDense(agp_tf.PrunableNeurons, keras.layers.Layer):
        def __init__(self, units, prunable=True, **kwargs):
            super().__init__(**kwargs)
            self.units, self.prunable, self.use_bias = units, prunable, True
            self.kernel_initializer = keras.initializers.get("glorot_uniform")

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer=self.kernel_initializer)
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros")
            self.scale = self.add_weight(shape=(self.units,), initializer="ones")
            self.add_neuron_mask()

        def neuron_weights(self):
            return super().neuron_weights() + [(self.scale, 0, "ones")]

        def call(self, x):
            return (x @ (self.kernel * self.mask) + self.bias * self.mask) * self.scale
    ```
    """

    def add_neuron_mask(self):
        """Creates the non-trainable `mask` `(units,)`, all ones (every neuron kept)."""
        # float so the forward pass can multiply by it; saved with the model
        # like any other weight.
        self.mask = self.add_weight(
            name="mask", shape=(self.units,), initializer="ones", trainable=False
        )

    def neuron_weights(self):
        """`(variable, axis, regrowth initializer)` of every weight owned per neuron."""
        weights = [(self.kernel, 1, self.kernel_initializer)]
        if self.use_bias:
            weights.append((self.bias, 0, "zeros"))
        return weights

    def mask_numpy(self):
        """The mask as a boolean numpy array of shape `(units,)`, True = kept."""
        return np.asarray(keras.ops.convert_to_numpy(self.mask)) > 0.5

    @property
    def active_units(self):
        """Number of kept (unpruned) output neurons."""
        return int(self.mask_numpy().sum())

    @property
    def sparsity(self):
        """Fraction of pruned output neurons, in [0, 1)."""
        return 1.0 - self.active_units / self.units

    def set_mask(self, mask):
        """Sets the neuron mask and zeroes the pruned neurons' weights.

        Kept neurons' weights are left as they are; a regrown neuron starts
        from whatever its (zeroed) weights hold, see `GrowPruneController` for
        how it is re-initialized. Optimizer slots are not touched here.

        Args:
            mask: Array-like of shape `(units,)`, truthy = kept. At least one
                neuron must be kept.
        """
        keep = np.asarray(mask, dtype=bool).reshape(-1)
        if keep.shape != (self.units,):
            raise ValueError(
                f"Mask for `{self.name}` must have shape ({self.units},). "
                f"Received: mask with shape {np.asarray(mask).shape}"
            )
        if not keep.any():
            raise ValueError(f"Mask for `{self.name}` must keep at least one neuron.")
        if not self.prunable and not keep.all():
            raise ValueError(f"Layer `{self.name}` was built with prunable=False.")
        self.mask.assign(keep.astype(self.mask.dtype))
        for variable, axis, _ in self.neuron_weights():
            variable.assign(replace_neurons(keras.ops.convert_to_numpy(variable), keep, axis, 0))


@keras.saving.register_keras_serializable(package="agp_tf")
class MaskedDense(PrunableNeurons, keras.layers.Layer):
    """A densely connected layer with a non-trainable neuron mask.

    A drop-in for `keras.layers.Dense` on 2-D inputs. The layer owns a
    non-trainable variable `mask` of shape `(units,)`: 1.0 keeps an output
    neuron, 0.0 prunes it. The forward pass multiplies the kernel and bias by
    the mask, so a pruned neuron's output is exactly 0 before and after the
    activation, and its kernel column and bias receive exactly zero gradient
    whatever the optimizer. `set_mask` also zeroes the pruned weights, so
    they are exactly 0 in storage, not only in effect.

    Compact execution: with a `CompactPlan` set (`set_compact_plan`), the
    layer multiplies only the kept block of its kernel, `(kept inputs, kept
    outputs)`, instead of masking the full matmul, and may pass its output
    on compact to the next MaskedDense. The plan is static Python state, so
    compiled functions that call the layer must be re-traced when it changes
    (`GrowPruneCallback` does that for `fit`/`evaluate`/`predict`). Under a
    compact plan, an intermediate output read from outside the model (a
    sub-model built on `layer.output`) may be compact too.

    Masks are changed by `GrowPruneController` (or `set_mask`), never by
    training. A layer built with `prunable=False` keeps every neuron; it is
    a MaskedDense only so that FLOPs accounting sees the whole MLP.

    Args:
        units: Positive int, the number of output neurons.
        activation: Activation function or its name. `None` means linear.
        use_bias: Whether the layer adds a bias vector.
        prunable: Whether the controller may prune this layer's neurons.
        kernel_initializer: Initializer for the kernel, also used to
            re-initialize the incoming weights of regrown neurons.
        bias_initializer: Initializer for the bias.
        kernel_regularizer: Optional regularizer for the kernel.
        bias_regularizer: Optional regularizer for the bias.
        kernel_constraint: Optional constraint for the kernel.
        bias_constraint: Optional constraint for the bias.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    layer = agp_tf.MaskedDense(4, activation="relu")
    y = layer(np.ones((2, 3), "float32"))   # (2, 4)
    layer.set_mask([1.0, 0.0, 1.0, 1.0])
    layer(np.ones((2, 3), "float32"))[:, 1]  # exactly [0., 0.]
    layer.sparsity, layer.active_units       # (0.25, 3)
    ```
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        prunable=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise ValueError(
                f"`units` must be a positive integer. Received: units={units!r}"
            )
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.prunable = bool(prunable)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.input_spec = keras.layers.InputSpec(ndim=2)
        self.compact_plan = None
        object.__setattr__(self, "_compact_producer", None)
        object.__setattr__(self, "_taylor_probe", None)
        object.__setattr__(self, "_neuron_order", None)
        object.__setattr__(self, "_compact_columns", None)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{self.__class__.__name__} `{self.name}` needs a known last input "
                f"dimension. Received: input_shape={input_shape}"
            )
        self.input_dim = int(input_dim)
        # No axes check: under a compact plan the input can be narrower.
        self.input_spec = keras.layers.InputSpec(ndim=2)
        # (input_dim, units)
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        # (units,)
        self.bias = (
            self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )
        # (units,) 1.0 = kept, 0.0 = pruned.
        self.add_neuron_mask()
        # Index state derived from the mask for compact steps (`neuron_order`,
        # `compact_columns`): not weights (not saved, not trained), set again
        # from the mask by `set_mask` and `refresh_compact_indices`. Variables,
        # so a compiled step serves every choice of neurons of one plan; made
        # here, in the scope the layer is built in (placed like the mask).
        all_kept = np.ones(self.units, dtype=bool)
        for name, value in (("_neuron_order", neuron_order(all_kept)),
                            ("_compact_columns", compact_columns(all_kept))):
            # Untracked (object.__setattr__): not part of the layer's weights.
            object.__setattr__(self, name, keras.Variable(
                value, dtype="int32", trainable=False, name=name.lstrip("_")
            ))

    def call(self, inputs, training=None):
        # The probe only in training steps: evaluation traces stay as they are.
        probe = self._taylor_probe if training is True else None
        if self.compact_plan is not None:
            return self._compact_call(inputs, self.compact_plan, probe)
        mask = ops.cast(self.mask, self.compute_dtype)
        # (input_dim, units): masking the kernel, not only the output, makes the
        # gradient of pruned columns exactly zero.
        kernel = ops.multiply(ops.cast(self.kernel, self.compute_dtype), mask)
        outputs = ops.matmul(inputs, kernel)  # (batch_size, units)
        if self.use_bias:
            outputs = ops.add(outputs, ops.multiply(ops.cast(self.bias, self.compute_dtype), mask))
        if probe is not None:
            outputs = probe(outputs)
        if self.activation is not None and self.activation is not keras.activations.linear:
            outputs = self.activation(outputs)
            if self.activation not in ZERO_PRESERVING_ACTIVATIONS:
                # activation(0) need not be 0 (sigmoid): mask again after it.
                outputs = ops.multiply(outputs, mask)
        return outputs

    def _compact_call(self, inputs, plan, probe=None):
        kernel = ops.cast(self.kernel, self.compute_dtype)  # (input_dim, units)
        if plan.kept_inputs is not None:
            rows = self.compact_producer.neuron_order_variable[: plan.kept_inputs]
            kernel = ops.take(kernel, rows, axis=0)
        if plan.kept_outputs is not None:
            columns = self.neuron_order_variable[: plan.kept_outputs]
            # (kept_inputs, kept_outputs): the only block that is multiplied.
            kernel = ops.take(kernel, columns, axis=1)
        outputs = ops.matmul(inputs, kernel)
        if self.use_bias:
            bias = ops.cast(self.bias, self.compute_dtype)
            if plan.kept_outputs is not None:
                bias = ops.take(bias, columns, axis=0)
            outputs = ops.add(outputs, bias)
        if probe is not None:
            outputs = probe(outputs, columns if plan.kept_outputs is not None else None)
        if self.activation is not None:
            outputs = self.activation(outputs)
        if plan.kept_outputs is not None and not plan.emit_compact:
            # Back to (batch_size, units): pruned neurons read an appended
            # zero column, so they are exactly 0 whatever the activation.
            outputs = ops.pad(outputs, [[0, 0], [0, 1]])
            outputs = ops.take(outputs, self._compact_columns, axis=1)
        return outputs

    def set_compact_plan(self, plan, producer=None):
        """Sets (or with None clears) the static compact execution plan.

        Args:
            plan: A `CompactPlan` that agrees with the mask, or None for the
                masked path.
            producer: The MaskedDense whose compact output this layer reads;
                required when `plan.kept_inputs` is set.

        Compiled functions that call the layer must be rebuilt afterwards
        unless one traced under an equal plan is reused.
        """
        if plan is not None:
            active = self.active_units
            expected = None if active == self.units else active
            if plan.kept_outputs != expected:
                raise ValueError(
                    f"Compact plan for `{self.name}` keeps {plan.kept_outputs} neurons "
                    f"but the mask keeps {active} of {self.units}."
                )
            if plan.kept_inputs is not None:
                if producer is None or producer.active_units != plan.kept_inputs:
                    raise ValueError(
                        f"Compact plan for `{self.name}` reads {plan.kept_inputs} inputs: pass "
                        "the producer whose mask keeps that many."
                    )
        self.compact_plan = plan
        if plan is not None:
            self.refresh_compact_indices()
        reference = producer if plan is not None and plan.kept_inputs else None
        # A plain reference: assigning a layer attribute would make Keras
        # track the producer as a sub-layer of this one.
        object.__setattr__(self, "_compact_producer", reference)

    def refresh_compact_indices(self):
        """Sets the compact steps' index state from the mask (a mask restored
        from a checkpoint, say). `set_mask` and `set_compact_plan` call it."""
        if self._neuron_order is None:  # not built
            return
        keep = self.mask_numpy()
        self._neuron_order.assign(neuron_order(keep))
        self._compact_columns.assign(compact_columns(keep))

    @property
    def neuron_order_variable(self):
        """int32 `(units,)` variable: the kept neurons ascending, then the pruned
        (`neuron_order`), as of the last `refresh_compact_indices`."""
        return self._neuron_order

    def set_taylor_probe(self, probe):
        """Sets (or with None removes) a `step_taylor.StepTaylorProbe` on the
        pre-activation of training calls. Re-trace training steps afterwards."""
        object.__setattr__(self, "_taylor_probe", probe)

    @property
    def taylor_probe(self):
        return self._taylor_probe

    @property
    def compact_producer(self):
        """The MaskedDense whose compact output this layer reads, or None."""
        return self._compact_producer

    def compute_output_shape(self, input_shape):
        plan = self.compact_plan
        if plan is not None and plan.emit_compact:
            return tuple(input_shape[:-1]) + (plan.kept_outputs,)
        return tuple(input_shape[:-1]) + (self.units,)

    def set_mask(self, mask):
        """Sets the mask (see `PrunableNeurons.set_mask`); drops a compact plan it contradicts."""
        super().set_mask(mask)
        self.refresh_compact_indices()
        plan = self.compact_plan
        if plan is not None:
            expected = None if self.active_units == self.units else self.active_units
            if plan.kept_outputs != expected:
                # A stale plan would gather the wrong number of neurons.
                self.set_compact_plan(None)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "prunable": self.prunable,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
