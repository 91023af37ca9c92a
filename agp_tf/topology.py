"""Which dense layers a model has, and which layer consumes each one's output.

Pruning a neuron removes its kernel column; the layer that reads its output
(the consumer) loses the matching kernel row. Both FLOPs accounting and
function-preserving regrowth need that producer -> consumer link, which is
read from the Keras functional graph (Sequential models included). Links
through other layers (Dropout, Concatenate, ...) are not followed: such a
producer simply has no consumer.
"""

import keras

from agp_tf.layers import MaskedDense


def dense_layers(model):
    """Every Dense-like layer (MaskedDense or keras Dense) of `model`, nested included."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (MaskedDense, keras.layers.Dense)):
            found.append(layer)
    return found


def prunable_layers(model):
    """The MaskedDense layers of `model` built with `prunable=True`."""
    return [
        layer
        for layer in dense_layers(model)
        if isinstance(layer, MaskedDense) and layer.prunable
    ]


def direct_producer(layer):
    """The Dense-like layer whose output is `layer`'s only input, or None.

    None as well when `layer` is called more than once (shared weights) or
    its input comes from anything else.
    """
    nodes = getattr(layer, "_inbound_nodes", [])
    producers = set()
    for node in nodes:
        tensors = node.input_tensors
        if len(tensors) != 1:
            return None
        history = getattr(tensors[0], "_keras_history", None)
        if history is None:
            return None
        producer = history.operation
        if not isinstance(producer, (MaskedDense, keras.layers.Dense)):
            return None
        producers.add(id(producer))
        found = producer
    if len(producers) != 1:
        return None
    return found


def consumers(model):
    """Maps `id(producer)` -> list of Dense-like layers that read its output directly."""
    links = {}
    for layer in dense_layers(model):
        producer = direct_producer(layer)
        if producer is not None:
            links.setdefault(id(producer), []).append(layer)
    return links
