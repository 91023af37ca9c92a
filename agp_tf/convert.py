"""Conversion between users' own Keras models and agp_tf models.

`prunable` is the on-ramp: it copies a Sequential or functional Keras model
with its chosen `keras.layers.Dense` layers replaced by `MaskedDense` layers
holding the same weights and configuration, so the copy predicts exactly
what the original does until it is trained. `strip` is the way back: it
replaces every `MaskedDense` by a plain `Dense` with the mask folded into
its weights, so the result loads and serves without agp_tf.

Both rewrite the model's layer graph with `keras.models.clone_model`,
recursing into nested Sequential and functional sub-models. Subclassed
models have no graph to rewrite and are refused.
"""

import warnings

import keras
import numpy as np
from agp_tf import keras_graph
from agp_tf.layers import MaskedDense

# Dense config keys that MaskedDense takes with the same meaning.
# `name`, `trainable`, `dtype` and `activity_regularizer` are base
# `keras.layers.Layer` arguments, which MaskedDense passes on.
_SHARED_KEYS = frozenset(
    {
        "name",
        "trainable",
        "dtype",
        "activity_regularizer",
        "units",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "bias_regularizer",
        "kernel_constraint",
        "bias_constraint",
    }
)
# Dense keys whose non-default value changes the forward pass (LoRA,
# quantization): refused, see `_masked_dense_config`.
_LORA_KEYS = frozenset({"lora_rank", "lora_alpha"})
# MaskedDense keys a plain Dense has no use for: pruning state only.
_PRUNING_KEYS = frozenset({"prunable"})


_is_graph_model = keras_graph.is_graph_model


def _check_graph_model(model, function):
    if _is_graph_model(model):
        if not model.built:
            raise ValueError(
                f"{function}() needs a built model: give `{model.name}` a keras.Input "
                "(or call `model.build(input_shape)`) first."
            )
        return
    if isinstance(model, keras.Model):
        raise ValueError(
            f"{function}() rewrites the layer graph of a Sequential or functional model; "
            f"`{model.name}` is a subclassed model ({type(model).__name__}) whose call() "
            "cannot be rewritten. Build its dense layers with agp_tf.MaskedDense "
            "directly instead of keras.layers.Dense."
        )
    raise ValueError(
        f"{function}() expects a keras Sequential or functional Model. "
        f"Received: {type(model).__name__}"
    )


def _graph_layers(model, seen=None):
    """The layers of `model`'s graph and of its nested graph models, each once."""
    seen = set() if seen is None else seen
    for layer in model.layers:
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if _is_graph_model(layer):
            yield from _graph_layers(layer, seen)
        else:
            yield layer


def _hidden_inside(layers, kind):
    """`{opaque layer: [its sub-layers of type kind]}` for layers clone_model copies whole."""
    hidden = {}
    for layer in layers:
        if isinstance(layer, kind):
            continue
        inner = [sub for sub in keras_graph.sublayers(layer) if isinstance(sub, kind)]
        if inner:
            hidden[layer] = inner
    return hidden


def _opaque_error(container, inner, kind_name, advice):
    names = ", ".join(f"`{layer.name}`" for layer in inner)
    return (
        f"{kind_name} layer(s) {names} sit inside `{container.name}` "
        f"({type(container).__name__}), which is not a Sequential or functional model: "
        f"its call() cannot be rewritten. {advice}"
    )


_TO_MASKED = "Build those layers with agp_tf.MaskedDense directly instead of keras.layers.Dense."
_TO_DENSE = "Replace them with keras.layers.Dense in that layer's code."


def _output_dense_layers(model):
    """ids of the Dense/MaskedDense layers whose output is an output of `model`.

    Followed back through single-input layers that keep the shape
    (Activation, Dropout, normalization, ...) and into nested graph models:
    pruning such a layer's neurons would delete model outputs.
    """
    found = set()

    def visit(tensor):
        while True:
            history = keras_graph.history(tensor)
            if history is None:
                return
            operation, node_index, tensor_index = history
            if _is_graph_model(operation):
                inner = keras.tree.flatten(operation.outputs)
                tensor = inner[tensor_index]
                continue
            if isinstance(operation, (keras.layers.Dense, MaskedDense)):
                found.add(id(operation))
                return
            inputs = keras_graph.inbound_nodes(operation)[node_index].input_tensors
            if len(inputs) != 1 or tuple(inputs[0].shape) != tuple(tensor.shape):
                return
            tensor = inputs[0]

    for tensor in keras.tree.flatten(model.outputs):
        visit(tensor)
    return found


def _unsuitable_input(layer):
    """Why `layer`'s input does not suit a MaskedDense, or None if it does."""
    nodes = keras_graph.inbound_nodes(layer)
    if not nodes:
        return "it has not been called on a symbolic input, so its input shape is unknown"
    for node in nodes:
        tensors = node.input_tensors
        if len(tensors) != 1:
            return f"it is called on {len(tensors)} tensors"
        shape = tuple(tensors[0].shape)
        if len(shape) != 2 or shape[-1] is None:
            return (
                f"its input has shape {shape}; MaskedDense takes 2-D inputs "
                "(batch, features) with a known number of features"
            )
        # Dense passes a Keras mask on, MaskedDense does not: converting would
        # drop it (and the loss masking that it may drive).
        if getattr(tensors[0], "_keras_mask", None) is not None:
            return "its input carries a Keras mask, which MaskedDense does not pass on"
    return None


def _masked_dense_config(layer):
    """The MaskedDense config equivalent to Dense `layer`'s; ValueError if there is none."""
    if getattr(layer, "lora_enabled", False) or getattr(layer, "lora_rank", None):
        raise ValueError(
            f"Dense layer `{layer.name}` has LoRA enabled (lora_rank="
            f"{layer.lora_rank}): its kernel is a frozen base plus a low-rank delta, "
            "which MaskedDense does not have. Merge or drop the LoRA weights first."
        )
    if layer.quantization_mode is not None:
        raise ValueError(
            f"Dense layer `{layer.name}` is quantized (mode "
            f"{layer.quantization_mode!r}, dtype policy {layer.dtype_policy.name!r}); "
            "MaskedDense keeps float weights. Convert the float model, then quantize."
        )
    config = layer.get_config()
    for key, value in config.items():
        if key in _SHARED_KEYS:
            continue
        if key == "quantization_config" and value is None:
            continue
        if key in _LORA_KEYS:
            reason = "LoRA is not supported by MaskedDense"
        elif key == "quantization_config":
            reason = "quantization is not supported by MaskedDense"
        else:
            # A Dense option this module does not know may change what the
            # layer computes: never drop it silently.
            reason = "agp_tf does not know this Dense option"
        raise ValueError(
            f"Cannot convert Dense layer `{layer.name}`: config key {key!r} = {value!r} "
            f"({reason})."
        )
    config = {key: value for key, value in config.items() if key in _SHARED_KEYS}
    config["prunable"] = True
    return config


def _dense_config(layer):
    """The plain Dense config equivalent to MaskedDense `layer`'s."""
    config = layer.get_config()
    unknown = sorted(set(config) - _SHARED_KEYS - _PRUNING_KEYS)
    if unknown:
        raise ValueError(
            f"Cannot strip MaskedDense layer `{layer.name}`: config key(s) {unknown} "
            "have no plain Dense equivalent known to agp_tf.convert."
        )
    return {key: value for key, value in config.items() if key in _SHARED_KEYS}


def _check_foldable(layer):
    """Raises if a plain Dense with the folded mask would not match `layer`'s output.

    MaskedDense multiplies its output by the mask after the activation; a
    plain Dense outputs activation(0) for a pruned neuron, which is 0 only
    for activations such as relu, tanh or linear.
    """
    keep = layer.mask_numpy()
    if keep.all() or layer.activation in (None, keras.activations.linear):
        return
    # Pruned columns 0, kept columns spread over a range, as a folded layer sees them.
    probe = np.zeros((3, layer.units), "float32")
    probe[:, keep] = np.linspace(-3.0, 3.0, 3, dtype="float32")[:, None]
    probe = keras.ops.cast(probe, layer.compute_dtype)
    pruned = keras.ops.convert_to_numpy(layer.activation(probe))[:, ~keep]
    if np.any(pruned != 0):
        name = keras.activations.serialize(layer.activation)
        raise ValueError(
            f"Cannot strip MaskedDense layer `{layer.name}`: it has pruned neurons and its "
            f"activation {name!r} is not 0 at 0, so a plain Dense would output "
            f"{float(pruned.flat[0])} where the masked layer outputs 0. Follow it with a "
            "layer that ignores those neurons, or use agp_tf.export.compact_model."
        )


def _copy_layer(layer):
    """A new layer like `layer`, by config, as clone_model's default does."""
    try:
        return type(layer).from_config(layer.get_config())
    except Exception as error:  # re-raised with the layer named
        raise ValueError(
            f"Cannot copy layer `{layer.name}` ({type(layer).__name__}): rebuilding it from "
            f"its get_config() failed ({error})."
        ) from error


def _copy_weights(old, new):
    # Plain operations in a functional graph (keras.ops calls) hold no weights.
    if isinstance(old, keras.layers.Layer):
        new.set_weights(old.get_weights())


def _copy_into_masked(old, new):
    # The mask keeps its initial ones: every neuron is kept.
    new.kernel.assign(keras.ops.convert_to_numpy(old.kernel))
    if old.use_bias:
        new.bias.assign(keras.ops.convert_to_numpy(old.bias))


def _copy_folded(old, new):
    keep = old.mask_numpy()
    kernel = keras.ops.convert_to_numpy(old.kernel)
    new.kernel.assign(kernel * keep[None, :].astype(kernel.dtype))
    if old.use_bias:
        bias = keras.ops.convert_to_numpy(old.bias)
        new.bias.assign(bias * keep.astype(bias.dtype))


def _rebuild(model, replace):
    """A copy of `model`'s graph with each leaf layer replaced by `replace(layer)`.

    `replace` returns `(new layer, copy)`, where `copy(old, new)` sets the
    new layer's weights once it is built. Nested graph models are rebuilt
    the same way (explicit recursion, so every leaf goes through
    `replace`); a layer used twice stays one shared layer.
    """
    clones, copies = {}, []

    def clone(layer):
        if id(layer) in clones:
            return clones[id(layer)]
        if _is_graph_model(layer):
            new = clone_graph(layer)
        else:
            new, copy = replace(layer)
            copies.append((layer, new, copy))
        clones[id(layer)] = new
        return new

    def clone_graph(graph_model):
        new = keras.models.clone_model(graph_model, clone_function=clone)
        if not graph_model.trainable:
            # clone_model rebuilds a functional model trainable.
            new.trainable = False
        return new

    new_model = clone_graph(model)
    # clone_model builds every new layer on the new graph; now the weights fit.
    for old, new, copy in copies:
        copy(old, new)
    return new_model


def _resolve(layers, dense_layers, hidden):
    """The Dense layers named (or given) in `layers`, in order, without repeats."""
    if isinstance(layers, (str, keras.layers.Layer)):
        layers = [layers]
    by_name = {}
    for layer in dense_layers:
        by_name.setdefault(layer.name, []).append(layer)
    hidden_by_name = {
        inner.name: (container, inner) for container, group in hidden.items() for inner in group
    }
    valid = sorted(by_name)
    chosen = []
    for item in layers:
        if isinstance(item, str):
            if item in hidden_by_name and item not in by_name:
                container, inner = hidden_by_name[item]
                raise ValueError(_opaque_error(container, [inner], "Dense", _TO_MASKED))
            matches = by_name.get(item)
            if not matches:
                raise ValueError(
                    f"No Dense layer named {item!r} in the model. Dense layers: {valid}"
                )
            if len(matches) > 1:
                raise ValueError(
                    f"{len(matches)} Dense layers are named {item!r}: pass the layer "
                    "objects instead of the name."
                )
            layer = matches[0]
        elif isinstance(item, keras.layers.Layer):
            if not any(item is layer for layer in dense_layers):
                raise ValueError(
                    f"Layer `{item.name}` ({type(item).__name__}) is not a Dense layer of "
                    f"the model. Dense layers: {valid}"
                )
            layer = item
        else:
            raise TypeError(
                "`layers` must hold layer names or Dense layer objects. "
                f"Received: {item!r}"
            )
        if not any(layer is seen for seen in chosen):
            chosen.append(layer)
    return chosen


def prunable(model, layers=None, exclude_outputs=True):
    """A copy of `model` whose chosen Dense layers are prunable `MaskedDense` layers.

    Each chosen `keras.layers.Dense` becomes a `MaskedDense` (with
    `prunable=True` and every neuron kept) with the same name,
    configuration (activation, initializers, regularizers, constraints,
    activity regularizer, dtype policy, `trainable`) and weights, so the
    copy predicts exactly what `model` does before training. Every other
    layer, Dense layers not chosen included, is copied unchanged. Nested
    Sequential and functional sub-models are converted too. `model` is not
    modified and shares no variables with the copy.

    Args:
        model: A built Sequential or functional Keras model.
        layers: None to choose every exact `keras.layers.Dense` applied to a
            2-D input `(batch, features)` with a known number of features,
            except (with `exclude_outputs`) those whose output is a model
            output, directly or through shape-keeping layers such as
            Activation or Dropout. Otherwise an iterable of layer names or
            Dense layer objects, converted whatever `exclude_outputs` says.
        exclude_outputs: Whether the default choice leaves out the Dense
            layers that produce the model's outputs (pruning those would
            delete outputs).

    Returns:
        A new model of the same kind (Sequential or functional), compiled
        with `model`'s compile config if `model` was compiled (fresh
        optimizer state).

    Raises:
        ValueError: `model` is subclassed or not built; a name matches no
            Dense layer (the message lists them); a named layer is not on a
            2-D input, is a Dense subclass, or sits inside a layer that is
            not a graph model; a chosen Dense uses LoRA, is quantized, or has
            a config key agp_tf does not know.

    Example:

    ```python
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(64, activation="relu", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    converted = agp_tf.prunable(model)       # "hidden" is a MaskedDense
    type(converted.get_layer("output"))     # keras.layers.Dense
    agp_tf.prunable(model, layers=["hidden", "output"])  # both converted
    ```
    """
    _check_graph_model(model, "prunable")
    found = list(_graph_layers(model))
    dense_layers = [layer for layer in found if isinstance(layer, keras.layers.Dense)]
    hidden = _hidden_inside(found, keras.layers.Dense)
    if layers is None:
        outputs = _output_dense_layers(model) if exclude_outputs else set()
        chosen = [
            layer
            for layer in dense_layers
            # Subclasses of Dense may compute something else: left alone.
            if type(layer) is keras.layers.Dense
            and id(layer) not in outputs
            and _unsuitable_input(layer) is None
        ]
        for container, inner in hidden.items():
            message = _opaque_error(container, inner, "Dense", _TO_MASKED)
            warnings.warn(f"{message} They stay Dense.")
    else:
        chosen = _resolve(layers, dense_layers, hidden)
        for layer in chosen:
            if type(layer) is not keras.layers.Dense:
                raise ValueError(
                    f"Layer `{layer.name}` is a {type(layer).__name__}, a subclass of Dense "
                    "whose forward pass MaskedDense cannot reproduce."
                )
            reason = _unsuitable_input(layer)
            if reason is not None:
                raise ValueError(f"Cannot convert Dense layer `{layer.name}`: {reason}.")
    # Every refusal is raised before anything is built.
    configs = {id(layer): _masked_dense_config(layer) for layer in chosen}

    def replace(layer):
        if id(layer) in configs:
            return MaskedDense.from_config(configs[id(layer)]), _copy_into_masked
        return _copy_layer(layer), _copy_weights

    return _rebuild(model, replace)


def strip(model):
    """A copy of `model` with every `MaskedDense` replaced by a plain Dense.

    Each MaskedDense becomes a `keras.layers.Dense` with the same name and
    configuration whose kernel columns and bias entries of pruned neurons
    are zero (the mask folded in), so the copy predicts what `model` does
    and a `.keras` file or SavedModel of it loads without agp_tf. Other
    layers, other agp_tf layers (e.g. `FrozenCompactDense` from
    `agp_tf.export.compact_model`) included, are copied unchanged. Nested
    Sequential and functional sub-models are stripped too. `model` is not
    modified.

    Args:
        model: A built Sequential or functional Keras model.

    Returns:
        A new model of the same kind.

    Raises:
        ValueError: `model` is subclassed or not built; a MaskedDense has
            pruned neurons and an activation that is not 0 at 0 (sigmoid,
            softmax, ...), which a plain Dense cannot reproduce; a
            MaskedDense is a subclass, has an unknown config key, or sits
            inside a layer that is not a graph model.

    Example:

    ```python
    converted = agp_tf.prunable(model)
    converted.fit(...)                  # with agp_tf.GrowPruneCallback
    plain = agp_tf.strip(converted)
    plain.save("model.keras")           # loads with keras alone
    ```
    """
    _check_graph_model(model, "strip")
    found = list(_graph_layers(model))
    hidden = _hidden_inside(found, MaskedDense)
    for container, inner in hidden.items():
        raise ValueError(_opaque_error(container, inner, "MaskedDense", _TO_DENSE))

    configs = {}
    for layer in found:
        if not isinstance(layer, MaskedDense):
            continue
        if type(layer) is not MaskedDense:
            raise ValueError(
                f"Layer `{layer.name}` is a {type(layer).__name__}, a subclass of "
                "MaskedDense whose forward pass a plain Dense may not reproduce."
            )
        _check_foldable(layer)
        configs[id(layer)] = _dense_config(layer)

    def replace(layer):
        if id(layer) in configs:
            return keras.layers.Dense.from_config(configs[id(layer)]), _copy_folded
        return _copy_layer(layer), _copy_weights

    return _rebuild(model, replace)


__all__ = ["prunable", "strip"]
