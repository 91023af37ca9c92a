"""Analytic training FLOPs of the dense layers, as a model trains.

Per sample, a dense layer with `a_in` active inputs and `a_out` active
outputs costs

    forward:  2 * a_in * a_out  (+ a_out for the bias add)
    backward: 4 * a_in * a_out  (input gradients + kernel gradients)
              (+ a_out for the bias gradient)

A pruned neuron lowers its own layer's `a_out` and, when its output feeds
another dense layer (directly or through a merge, see `agp_tf.topology`),
that layer's `a_in`. Only dense layers are
counted (embedding look-ups, the interaction and activations are not): they
are what pruning changes, and what dominates a DLRM step.

The pure functions take `LayerSpec`s; `layer_specs(model)` reads them off a
Keras model.
"""

import dataclasses

from agp_tf import importance, topology
from agp_tf.layers import PrunableNeurons


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """Static description of one dense layer for FLOPs accounting.

    Attributes:
        name: Layer name (unique within the model).
        input_dim: Inputs of the dense layer.
        units: Output neurons.
        use_bias: Whether the layer has a bias.
        prunable: Whether its neurons can be pruned.
        producers: Names of the dense layers whose outputs are inputs of
            this one.
    """

    name: str
    input_dim: int
    units: int
    use_bias: bool = True
    prunable: bool = False
    producers: tuple = ()


def dense_layer_flops(active_inputs, active_outputs, use_bias=True):
    """`(forward, backward)` FLOPs per sample of one dense layer.

    Example:

    ```python
    dense_layer_flops(3, 4)   # (2*3*4 + 4, 4*3*4 + 4) == (28, 52)
    ```
    """
    matmul = 2 * active_inputs * active_outputs
    bias = active_outputs if use_bias else 0
    return matmul + bias, 2 * matmul + bias


def active_units_at(specs, sparsity):
    """Active outputs of each layer when every prunable layer is at `sparsity`."""
    return {
        spec.name: importance.num_kept(spec.units, sparsity) if spec.prunable else spec.units
        for spec in specs
    }


def training_flops_per_sample(specs, active_units=None):
    """Forward + backward FLOPs per training sample.

    Args:
        specs: List of `LayerSpec`.
        active_units: Dict layer name -> active outputs; missing names (or
            None for all) count as dense.
    """
    active_units = active_units or {}
    by_name = {spec.name: spec for spec in specs}
    total = 0
    for spec in specs:
        a_out = active_units.get(spec.name, spec.units)
        a_in = _active_inputs(spec, by_name, active_units)
        forward, backward = dense_layer_flops(a_in, a_out, spec.use_bias)
        total += forward + backward
    return total


def _active_inputs(spec, by_name, active_units):
    """Inputs of `spec` left when its producers have only their active units."""
    inputs = spec.input_dim
    for name in spec.producers:
        producer = by_name[name]
        inputs -= producer.units - active_units.get(producer.name, producer.units)
    return inputs


def active_parameters(specs, active_units=None):
    """Weights and biases the active neurons use: the FC parameters a
    compact model of these widths would have.

    Args:
        specs: List of `LayerSpec`.
        active_units: Dict layer name -> active outputs; missing names (or
            None for all) count as dense.

    Example:

    ```python
    specs = [LayerSpec("a", 3, 4, prunable=True), LayerSpec("b", 4, 1, producers=("a",))]
    active_parameters(specs)              # (3*4 + 4) + (4*1 + 1) == 21
    active_parameters(specs, {"a": 2})    # (3*2 + 2) + (2*1 + 1) == 11
    ```
    """
    active_units = active_units or {}
    by_name = {spec.name: spec for spec in specs}
    total = 0
    for spec in specs:
        outputs = active_units.get(spec.name, spec.units)
        total += _active_inputs(spec, by_name, active_units) * outputs
        total += outputs if spec.use_bias else 0
    return total


def predict_relative_training_flops(specs, schedule, total_steps):
    """Predicted training FLOPs of `schedule` relative to dense training.

    Sums, phase by phase, the per-sample FLOPs at the schedule's sparsity
    times the phase's steps (from `schedule.boundary_steps`), as
    `FlopsCounter` does on a real run with a constant batch size.

    Returns:
        Ratio actual / dense; the relative change is `ratio - 1`.

    Example:

    ```python
    predict_relative_training_flops(specs, schedules.alternate(0.7), 1000)
    ```
    """
    if total_steps < 1:
        raise ValueError(f"`total_steps` must be >= 1. Received: total_steps={total_steps}")
    dense = training_flops_per_sample(specs)
    starts = schedule.boundary_steps(total_steps)
    ends = starts[1:] + (total_steps,)
    actual = sum(
        (end - start) * training_flops_per_sample(specs, active_units_at(specs, sparsity))
        for start, end, (_, sparsity) in zip(starts, ends, schedule.boundaries)
    )
    return actual / (dense * total_steps)


def layer_specs(model, links=None):
    """`LayerSpec`s of every dense layer of a built Keras model.

    Args:
        model: A built Keras model.
        links: Producer -> consumer links as `topology.consumers` returns
            them; read from the model's graph when None.
    """
    layers = topology.dense_layers(model)
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise ValueError(f"Dense layer names must be unique for FLOPs accounting: {names}")
    links = topology.consumers(model) if links is None else links
    producers = {layer.name: [] for layer in layers}
    for producer_name, found in links.items():
        for link in found:
            producers[link.consumer.name].append(producer_name)
    specs = []
    for layer in layers:
        if not layer.built:
            raise ValueError(f"Layer `{layer.name}` is not built; build the model first.")
        specs.append(
            LayerSpec(
                name=layer.name,
                input_dim=int(layer.kernel.shape[0]),
                units=int(layer.kernel.shape[1]),
                use_bias=layer.use_bias,
                prunable=isinstance(layer, PrunableNeurons) and layer.prunable,
                producers=tuple(producers[layer.name]),
            )
        )
    return specs


def current_active_units(model):
    """Dict layer name -> active outputs, read from the masks."""
    return {
        layer.name: layer.active_units
        for layer in topology.dense_layers(model)
        if isinstance(layer, PrunableNeurons)
    }


class FlopsCounter:
    """Counts the training FLOPs actually spent, next to the dense equivalent.

    Call `add_steps(flops_per_sample, samples)` for the steps run at a given
    cost; `relative_change` is `actual / dense - 1` (negative = saving).

    Example:

    ```python
    counter = FlopsCounter(dense_flops_per_sample=1000)
    counter.add_steps(700, samples=128)
    counter.relative_change   # -0.3
    ```
    """

    def __init__(self, dense_flops_per_sample):
        self.dense_flops_per_sample = dense_flops_per_sample
        self.actual = 0
        self.dense = 0
        self.samples = 0

    def add_steps(self, flops_per_sample, samples):
        self.actual += flops_per_sample * samples
        self.dense += self.dense_flops_per_sample * samples
        self.samples += samples

    @property
    def relative_change(self):
        return self.actual / self.dense - 1.0 if self.dense else 0.0

    def get_state(self):
        return {
            "actual": self.actual,
            "dense": self.dense,
            "samples": self.samples,
            "dense_flops_per_sample": self.dense_flops_per_sample,
        }

    def set_state(self, state):
        self.actual, self.dense, self.samples = state["actual"], state["dense"], state["samples"]

    @classmethod
    def from_state(cls, state):
        """A counter restored from `get_state()` output."""
        per_sample = state.get("dense_flops_per_sample")
        if per_sample is None:  # states written before it was kept
            per_sample = state["dense"] / state["samples"] if state["samples"] else 0
        counter = cls(per_sample)
        counter.set_state(state)
        return counter
