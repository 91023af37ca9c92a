"""SavedModel export of a trained model for serving.

The exported SavedModel holds plain TensorFlow graphs and variables: serving
it needs `tensorflow` only, not `agp_tf`, `keras_rs` or Keras custom
objects. The serving signature `serving_default` (alias of `serve`) takes
the model's named inputs (for DLRM: `dense_features` float32 `(batch, 13)`,
`sparse_features` int32 `(batch, 26)`) and returns `{"probabilities":
(batch, 1)}`.
"""

import contextlib
import os

import keras
import numpy as np
import tensorflow as tf

from agp_tf import topology


@contextlib.contextmanager
def _plain_execution(model):
    """Traces the model with masks (no compact plans), whatever the phase."""
    layers = [layer for layer in topology.dense_layers(model) if hasattr(layer, "compact_plan")]
    saved = [layer.compact_plan for layer in layers]
    for layer in layers:
        layer.compact_plan = None
    try:
        yield
    finally:
        for layer, plan in zip(layers, saved):
            layer.compact_plan = plan


def input_signature(model):
    """`tf.TensorSpec`s of the model's inputs, in the model's input structure.

    Dict inputs keep their keys, which become the signature's argument names.
    """
    structure = getattr(model, "_inputs_struct", model.inputs)

    def spec(tensor, name):
        return tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype, name=name)

    if isinstance(structure, dict):
        return {key: spec(tensor, key) for key, tensor in structure.items()}
    return tf.nest.map_structure(lambda t: spec(t, t.name), structure)


def export_saved_model(model, path, output_name="probabilities"):
    """Writes `model` as a SavedModel with a serving signature.

    Args:
        model: A built Keras functional model.
        path: Output directory (created; must not exist or be empty).
        output_name: Key of the output tensor in the signature's result.

    Returns:
        `path`.

    Example:

    ```python
    agp_tf.export.export_saved_model(model, "/tmp/dlrm_savedmodel")
    served = tf.saved_model.load("/tmp/dlrm_savedmodel")
    served.signatures["serving_default"](dense_features=..., sparse_features=...)
    ```
    """
    if os.path.isdir(path) and os.listdir(path):
        raise ValueError(f"Export directory is not empty: {path}")
    signature = input_signature(model)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(inputs):
        return {output_name: model(inputs, training=False)}

    with _plain_execution(model):
        archive.add_endpoint(name="serve", fn=serve, input_signature=[signature])
        archive.write_out(path, verbose=False)
    return path


@keras.saving.register_keras_serializable(package="agp_tf")
class FrozenCompactDense(keras.layers.Layer):
    """The kept block of a pruned MaskedDense, for export only.

    Holds a kernel of shape `(kept inputs, kept outputs)`. With
    `scatter_index` the output goes back to full width (pruned neurons read
    a zero column); without it, it stays compact for the next such layer.
    """

    def __init__(self, kernel, bias, activation=None, scatter_index=None, **kwargs):
        super().__init__(**kwargs)
        self._kernel_value = np.asarray(kernel, dtype="float32")
        self._bias_value = None if bias is None else np.asarray(bias, dtype="float32")
        self.activation = keras.activations.get(activation)
        self.scatter_index = None if scatter_index is None else np.asarray(scatter_index, "int32")

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self._kernel_value.shape,
            initializer=keras.initializers.Constant(self._kernel_value), trainable=False,
        )
        self.bias = None
        if self._bias_value is not None:
            self.bias = self.add_weight(
                name="bias", shape=self._bias_value.shape,
                initializer=keras.initializers.Constant(self._bias_value), trainable=False,
            )

    def call(self, inputs):
        outputs = keras.ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        outputs = self.activation(outputs)
        if self.scatter_index is not None:
            outputs = keras.ops.take(
                keras.ops.pad(outputs, [[0, 0], [0, 1]]), self.scatter_index, axis=1
            )
        return outputs

    def compute_output_shape(self, input_shape):
        width = len(self.scatter_index) if self.scatter_index is not None else self._kernel_value.shape[1]
        return tuple(input_shape[:-1]) + (width,)


def compact_model(model):
    """A copy of `model` whose pruned MaskedDense layers are physically smaller.

    Every other layer is shared with `model` (same weights). Same predictions
    as `model` with its current masks; useful for a model that ends sparse
    (pruning-only schedules).
    """
    plans = topology.compact_plans(model)

    def replace(layer):
        plan, producer = plans.get(layer.name, (None, None))
        if plan is None or (plan.kept_outputs is None and plan.kept_inputs is None):
            return layer
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        bias = keras.ops.convert_to_numpy(layer.bias) if layer.use_bias else None
        if plan.kept_inputs is not None:
            kernel = kernel[producer.mask_numpy(), :]
        scatter_index = None
        if plan.kept_outputs is not None:
            keep = layer.mask_numpy()
            kernel = kernel[:, keep]
            bias = None if bias is None else bias[keep]
            if not plan.emit_compact:
                scatter_index = np.where(keep, np.cumsum(keep) - 1, keep.sum())
        return FrozenCompactDense(
            kernel, bias, activation=keras.activations.serialize(layer.activation),
            scatter_index=scatter_index, name=layer.name,
        )

    return keras.models.clone_model(model, clone_function=replace)
