"""SavedModel export of a trained model for serving.

The exported SavedModel holds plain TensorFlow graphs and variables: serving
it needs `tensorflow` only, not `agp_tf`, `keras_rs` or Keras custom
objects. The serving signature `serving_default` (alias of `serve`) takes
the model's named inputs (for DLRM: `dense_features` float32 `(batch, 13)`,
`sparse_features` int32 `(batch, 26)`) and returns `{"probabilities":
(batch, 1)}`.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from agp_tf import keras_graph, topology
from agp_tf.layers import compact_columns


def input_signature(model):
    """`tf.TensorSpec`s of the model's inputs, in the model's input structure.

    Dict inputs keep their keys, which become the signature's argument names.
    """
    structure = keras_graph.input_structure(model)

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

    with topology.without_compact_plans(model):
        archive.add_endpoint(name="serve", fn=serve, input_signature=[signature])
        archive.write_out(path, verbose=False)
    return path


@keras.saving.register_keras_serializable(package="agp_tf")
class FrozenCompactDense(keras.layers.Layer):
    """The kept block of a pruned MaskedDense, for export only.

    Holds a kernel of shape `(kept inputs, kept outputs)`. With
    `scatter_index` the output goes back to full width (pruned neurons read
    a zero column); without it, it stays compact for the next such layer.

    Args:
        kernel_shape: `(kept inputs, kept outputs)`.
        use_bias: Whether the layer adds a bias.
        activation: Activation function or its name.
        scatter_index: Optional int list `(units,)`: each neuron's column in
            the compact output, or the kept count for a pruned neuron.
        kernel: Optional initial kernel values (the `.keras` file restores
            them otherwise).
        bias: Optional initial bias values.
    """

    def __init__(
        self, kernel_shape, use_bias=True, activation=None, scatter_index=None,
        kernel=None, bias=None, **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_shape = tuple(int(n) for n in kernel_shape)
        self.use_bias = bool(use_bias)
        self._initial = (kernel, bias)
        self.activation = keras.activations.get(activation)
        self.scatter_index = None if scatter_index is None else np.asarray(scatter_index, "int32")

    def build(self, input_shape):
        kernel, bias = self._initial
        self.kernel = self.add_weight(
            name="kernel", shape=self.kernel_shape, trainable=False,
            initializer="zeros" if kernel is None else keras.initializers.Constant(kernel),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=self.kernel_shape[1:], trainable=False,
                initializer="zeros" if bias is None else keras.initializers.Constant(bias),
            )
        self._initial = (None, None)  # the variables hold them now

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
        width = len(self.scatter_index) if self.scatter_index is not None else self.kernel_shape[1]
        return tuple(input_shape[:-1]) + (width,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_shape": list(self.kernel_shape),
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
                "scatter_index": (
                    None if self.scatter_index is None else self.scatter_index.tolist()
                ),
            }
        )
        return config


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
                scatter_index = compact_columns(keep)
        return FrozenCompactDense(
            kernel.shape, use_bias=bias is not None,
            activation=keras.activations.serialize(layer.activation),
            scatter_index=scatter_index, kernel=kernel, bias=bias, name=layer.name,
        )

    return keras.models.clone_model(model, clone_function=replace)
