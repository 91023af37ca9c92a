"""Which dense layers a model has, and which layer consumes each one's output.

Pruning a neuron removes its kernel column; the layer that reads its output
(the consumer) loses the matching kernel row. Both FLOPs accounting and
function-preserving regrowth need that producer -> consumer link, which is
read from the Keras functional graph (Sequential models included). Links
through other layers (Dropout, Concatenate, ...) are not followed: such a
producer simply has no consumer.
"""

import keras

from agp_tf.layers import CompactPlan, MaskedDense


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


def feeds_only_masked_dense(layer, model):
    """Whether every use of `layer`'s output is a MaskedDense reading it directly.

    Such a layer may pass its output on compact during a sparse phase. False
    when the output is a model output or also goes anywhere else.
    """
    nodes = getattr(layer, "_outbound_nodes", [])
    if not nodes:
        return False
    for node in nodes:
        if not isinstance(node.operation, MaskedDense) or direct_producer(node.operation) is not layer:
            return False
    outputs = {id(t) for t in model.outputs}
    for node in getattr(layer, "_inbound_nodes", []):
        if any(id(t) in outputs for t in node.output_tensors):
            return False
    return True


def compact_plans(model):
    """The compact execution plan of every MaskedDense of `model`, from the masks.

    Returns:
        Dict layer name -> `(CompactPlan, producer)`, where `producer` is the
        MaskedDense whose compact output the layer reads, or None.
    """
    layers = [layer for layer in dense_layers(model) if isinstance(layer, MaskedDense)]
    kept = {}
    for layer in layers:
        active = layer.active_units
        kept[layer.name] = None if active == layer.units else active
    emits = {
        layer.name: kept[layer.name] is not None and feeds_only_masked_dense(layer, model)
        for layer in layers
    }
    plans = {}
    for layer in layers:
        producer = direct_producer(layer)
        if not (isinstance(producer, MaskedDense) and emits.get(producer.name, False)):
            producer = None
        kept_inputs = kept[producer.name] if producer is not None else None
        plan = CompactPlan(kept[layer.name], kept_inputs, emits[layer.name])
        plans[layer.name] = (plan, producer)
    return plans
