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
