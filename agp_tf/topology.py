"""Which dense layers a model has, and which layer consumes each one's output.

Pruning a neuron removes its kernel column; every dense layer that reads its
output (a consumer) loses the matching kernel row. FLOPs accounting and
function-preserving regrowth both need these producer -> consumer links,
with the row at which the producer's outputs enter the consumer's kernel.

The links are read from the Keras functional graph (Sequential models
included). They are followed through layers that pass a zero input on as a
zero at the same position (`PASS_THROUGH`: Dropout, Flatten or Reshape of a
2-D tensor, activation layers with f(0) = 0) and through `Concatenate` on
the last axis (with the column offset of each input). Any other layer ends
a link. Subclassed models have no graph to read: pass the links explicitly
(`explicit_links`).
"""

import contextlib
import dataclasses

import keras
import numpy as np

from agp_tf import keras_graph
from agp_tf.layers import CompactPlan, MaskedDense, PrunableNeurons

# Layers with a kernel `(input_dim, units)` whose columns are output neurons.
DENSE_LIKE = (PrunableNeurons, keras.layers.Dense)

# Layers whose output at a position is 0 when their input there is 0.
_DROPOUTS = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.SpatialDropout1D)
_ACTIVATIONS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)
_RESHAPES = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Identity)


@dataclasses.dataclass(frozen=True)
class Link:
    """The producer's `units` outputs are rows `offset ... offset + units - 1` of
    `consumer`'s kernel."""

    consumer: object
    offset: int = 0


def dense_layers(model):
    """Every Dense-like layer (`DENSE_LIKE`) of `model`, nested included."""
    found = []
    for layer in keras_graph.sublayers(model):
        if isinstance(layer, DENSE_LIKE):
            found.append(layer)
    return found


def prunable_layers(model):
    """The `PrunableNeurons` layers of `model` (MaskedDense and custom) with `prunable=True`."""
    return [
        layer
        for layer in dense_layers(model)
        if isinstance(layer, PrunableNeurons) and layer.prunable
    ]


def in_graph(layer):
    """Whether `layer` was called on symbolic tensors (functional or Sequential)."""
    return bool(keras_graph.inbound_nodes(layer))


def _single_input(layer):
    """The one input tensor of `layer`'s one call, or None."""
    nodes = keras_graph.inbound_nodes(layer)
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None  # shared layer, or several inputs
    return nodes[0].input_tensors[0]


def _is_rank2(tensor):
    return len(tensor.shape) == 2 and tensor.shape[-1] is not None


def _keeps_zeros(operation, tensor):
    """Whether `operation` maps a zero at a position of `tensor` to a zero there."""
    if isinstance(operation, _DROPOUTS):
        return True
    if isinstance(operation, _RESHAPES):
        output = keras_graph.inbound_nodes(operation)[0].output_tensors[0]
        return _is_rank2(tensor) and _is_rank2(output) and output.shape[-1] == tensor.shape[-1]
    if isinstance(operation, _ACTIVATIONS):
        zeros = np.zeros((1, int(tensor.shape[-1])), dtype="float32")
        return bool(np.all(keras.ops.convert_to_numpy(operation(zeros)) == 0.0))
    return False


def input_sources(tensor):
    """The dense layers whose outputs make up `tensor`'s columns.

    Returns:
        List of `(dense_layer, offset)`: `dense_layer`'s outputs are columns
        `offset ...` of `tensor`. Columns from anything that cannot be
        followed are not listed.
    """
    history = keras_graph.history(tensor)
    if history is None or not _is_rank2(tensor):
        return []
    operation, _, tensor_index = history
    if keras_graph.is_graph_model(operation):
        # A nested functional or Sequential model: continue inside it.
        inner = keras.tree.flatten(operation.outputs)[tensor_index]
        return input_sources(inner)
    if isinstance(operation, DENSE_LIKE):
        return [(operation, 0)] if len(keras_graph.inbound_nodes(operation)) == 1 else []
    nodes = keras_graph.inbound_nodes(operation)
    if len(nodes) != 1:
        return []
    inputs = nodes[0].input_tensors
    if isinstance(operation, keras.layers.Concatenate):
        if operation.axis not in (-1, 1) or not all(_is_rank2(t) for t in inputs):
            return []
        sources, offset = [], 0
        for part in inputs:
            sources += [(layer, offset + at) for layer, at in input_sources(part)]
            offset += int(part.shape[-1])
        return sources
    if len(inputs) == 1 and _keeps_zeros(operation, inputs[0]):
        return input_sources(inputs[0])
    return []


def direct_producer(layer):
    """The Dense-like layer whose output is `layer`'s whole input, or None.

    This is the link compact execution can chain on (the input arrives
    compact); `input_sources` gives every link, merges included.
    """
    tensor = _single_input(layer)
    if tensor is None:
        return None
    history = keras_graph.history(tensor)
    producer = history[0] if history else None
    if not isinstance(producer, DENSE_LIKE):
        return None
    if len(keras_graph.inbound_nodes(producer)) != 1:
        return None
    return producer


def producers_of(layer):
    """`(producer, offset)` pairs of the dense layers feeding `layer`'s kernel rows."""
    tensor = _single_input(layer)
    return [] if tensor is None else input_sources(tensor)


def consumers(model, explicit_links=None):
    """Maps each dense layer's name to the `Link`s of the dense layers reading its output.

    Args:
        model: A built Keras model.
        explicit_links: Optional dict producer name -> consumer name, list of
            consumer names, or list of `(consumer name, row offset)`. Replaces
            what the graph says for those producers; required for layers
            called outside a functional graph (subclassed models).
    """
    by_name = {layer.name: layer for layer in dense_layers(model)}
    links = {name: [] for name in by_name}
    for layer in by_name.values():
        for producer, offset in producers_of(layer):
            if producer.name in links:
                links[producer.name].append(Link(layer, offset))
    for producer_name, given in (explicit_links or {}).items():
        links[producer_name] = _parse_links(producer_name, given, by_name)
    return links


def _parse_links(producer_name, given, by_name):
    if producer_name not in by_name:
        raise ValueError(
            f"`links` names a producer `{producer_name}` that is not a dense layer of the "
            f"model. Dense layers: {sorted(by_name)}"
        )
    producer = by_name[producer_name]
    entries = [given] if isinstance(given, str) else list(given)
    parsed = []
    for entry in entries:
        name, offset = (entry, 0) if isinstance(entry, str) else entry
        if name not in by_name:
            raise ValueError(
                f"`links[{producer_name!r}]` names `{name}`, not a dense layer of the model. "
                f"Dense layers: {sorted(by_name)}"
            )
        consumer = by_name[name]
        rows = int(consumer.kernel.shape[0])
        if not 0 <= offset <= rows - producer.units:
            raise ValueError(
                f"`links[{producer_name!r}]`: `{name}` has {rows} input rows, too few for "
                f"{producer.units} outputs of `{producer_name}` at offset {offset}."
            )
        parsed.append(Link(consumer, int(offset)))
    return parsed


def unlinked_layers(model, explicit_links=None):
    """Prunable layers whose consumers cannot be read from a graph nor were given."""
    given = set(explicit_links or {})
    return [
        layer.name
        for layer in prunable_layers(model)
        if not in_graph(layer) and layer.name not in given
    ]


def feeds_only_masked_dense(layer, model):
    """Whether every use of `layer`'s output is a MaskedDense reading it directly.

    Such a layer may pass its output on compact during a sparse phase. False
    when the output is a model output or also goes anywhere else.
    """
    nodes = keras_graph.outbound_nodes(layer)
    if not nodes:
        return False
    for node in nodes:
        if not isinstance(node.operation, MaskedDense) or direct_producer(node.operation) is not layer:
            return False
    outputs = {id(t) for t in model.outputs}
    for node in keras_graph.inbound_nodes(layer):
        if any(id(t) in outputs for t in node.output_tensors):
            return False
    return True


def compact_plans(model):
    """The compact execution plan of every MaskedDense of `model`, from the masks.

    Returns:
        Dict layer name -> `(CompactPlan, producer)`, where `producer` is the
        MaskedDense whose compact output the layer reads, or None. A layer
        with every neuron and every input kept gets `CompactPlan()`, the
        plain path: its mask is all ones, so the step skips multiplying by it
        (15% of a dense DLRM step at batch 128, 5% at batch 2048).
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


def set_compact_plans(model, compact=True):
    """Sets every MaskedDense's plan from the masks (`compact_plans`), or with
    `compact=False` clears them all (the masked path).

    With every neuron kept this is the plain path, the step a dense phase of
    growth and pruning runs. Functions traced before must be traced again
    when this returns True.

    Returns:
        Whether any layer's plan or producer changed.
    """
    plans = compact_plans(model) if compact else {}
    changed = False
    for layer in dense_layers(model):
        if not isinstance(layer, MaskedDense):
            continue
        plan, producer = plans.get(layer.name, (None, None))
        if layer.compact_plan != plan or layer.compact_producer is not producer:
            layer.set_compact_plan(plan, producer)
            changed = True
        elif plan is not None:
            # Same plan, masks perhaps changed (a prune at the same sparsity,
            # a restored checkpoint): the compiled step stays, its indices move.
            layer.refresh_compact_indices()
    return changed


def plan_signature(model):
    """Hashable key of every MaskedDense's compact plan and producer.

    Compiled functions that call the model depend on exactly this; every
    cache of compiled functions keys on it.
    """
    return tuple(
        (layer.name, layer.compact_plan, getattr(layer.compact_producer, "name", None))
        for layer in dense_layers(model)
        if isinstance(layer, MaskedDense)
    )


def has_no_plans(model):
    """Whether no MaskedDense of `model` has a compact plan (all run the masked path)."""
    return all(
        layer.compact_plan is None for layer in dense_layers(model) if isinstance(layer, MaskedDense)
    )


@contextlib.contextmanager
def without_compact_plans(model):
    """Every MaskedDense of `model` on the masked full-width path inside the block.

    The plans are put back afterwards. A function traced inside computes the
    same outputs as a compact one (pruned neurons are 0 by their masks) and
    stays valid in every phase.
    """
    saved = [
        (layer, layer.compact_plan, layer.compact_producer)
        for layer in dense_layers(model)
        if isinstance(layer, MaskedDense) and layer.compact_plan is not None
    ]
    for layer, _, _ in saved:
        layer.set_compact_plan(None)
    try:
        yield
    finally:
        for layer, plan, producer in saved:
            layer.set_compact_plan(plan, producer)
