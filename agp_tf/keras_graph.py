"""The Keras 3 internals agp_tf reads a model's layer graph and train steps through, in one place.

Keras has no public API for where a layer was called (its nodes), which
operation made a symbolic tensor, or a model's nested layers in order; the
topology (producer -> consumer links), the converter and the export need
them. Nor for reducing a distributed training step's outputs as `fit` does,
which `agp_tf.multi_step` needs. (The multi-worker fixes live apart, in
`agp_tf.distribute.keras_compat`.) Every use goes through this module,
and `tests/test_keras_graph.py` fails when one of them changes in a new
Keras.
"""

import keras
from keras.src.models.functional import Functional


def is_graph_model(layer):
    """Whether `layer` is a Sequential or functional model (a graph clone_model can rewrite)."""
    return isinstance(layer, (keras.Sequential, Functional))


def sublayers(layer, recursive=True):
    """The layers inside `layer` (nested ones too when `recursive`), in creation order."""
    return list(layer._flatten_layers(include_self=False, recursive=recursive))


def inbound_nodes(operation):
    """The nodes at which `operation` was called on symbolic tensors (one per call)."""
    return list(getattr(operation, "_inbound_nodes", None) or [])


def outbound_nodes(operation):
    """The nodes of the operations that read `operation`'s outputs."""
    return list(getattr(operation, "_outbound_nodes", None) or [])


def history(tensor):
    """`(operation, node_index, tensor_index)` that made a symbolic tensor, or None."""
    found = getattr(tensor, "_keras_history", None)
    if found is None:
        return None
    return found.operation, found.node_index, found.tensor_index


def input_structure(model):
    """The model's symbolic inputs in the structure it was built with (a dict stays a dict)."""
    return getattr(model, "_inputs_struct", model.inputs)


def reduce_step_outputs(outputs, strategy):
    """A training step's per-replica outputs reduced as `model.fit` reduces them ("auto")."""
    from keras.src.backend.tensorflow import trainer  # looked up per call: keras_compat patches it

    return trainer.reduce_per_replica(outputs, strategy, reduction="auto")
