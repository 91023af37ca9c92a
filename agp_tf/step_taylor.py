"""Taylor statistics from the training steps themselves: no extra passes.

For neuron t of a Dense layer with pre-activation `z[:, t] = x @ w[:, t] +
b[t]`, the per-batch Taylor term `sum_i w[i,t] * g[i,t] + b[t] * g_b[t]`
equals the gradient of the loss with respect to a multiplicative gate on
`z[:, t]` at value 1, which is `sum over the batch of dL/dz[:, t] * z[:, t]`.
The backward pass of a training step computes `dL/dz` anyway, so a
`StepTaylorProbe` placed on `z` (identity forward) adds one product and one
reduction per layer to the step, squares the term and adds it to an
accumulator: exactly the extra-pass statistic (`importance.taylor_terms`,
squared per batch and summed), but on the batches being trained, with no
forward or backward pass of its own.

Under a distribution strategy each replica sees its part of the batch: the
replicas' terms are summed (all-reduced) before squaring, so every replica
accumulates the term of the global batch and picks the same neurons.

A probe is switched on and off by a variable (`active`), so one traced
(XLA-compiled) training step serves the steps inside and outside a scoring
window: opening a window compiles nothing. Switched off, a probe's term is
computed and masked out (`tf.where`); through `GrowPruneCallback` a probed
dense step measured as fast as an unprobed one (BUILD.md has the figures).
`GrowPruneController` installs probes in the phases that hold a scoring
window (the dense phases of `alternate`) and none in the others (on a
compact layer the scatter back to full width would cost). Under a
parameter-server strategy the accumulation sits in a `tf.cond`, so no
update of a remote variable runs outside a window. On several replicas
neither the all-reduce nor a mirrored update can sit in a `tf.cond`
(TensorFlow refuses a `merge_call` there), so the controller installs
probes for the scoring windows only and the steps outside them carry no
collective. Installing or removing a probe needs the training function
traced again, as a change of compact plans does.

Differences from extra-pass scoring: the training steps run with
`training=True` (dropout active, if the model has any), the loss is what the
step differentiates (regularization included, and scaled by a
`LossScaleOptimizer`'s scale under mixed precision: rankings within a layer
do not change), and the weights move between the scored batches (with
learning rate 0 the two agree to float rounding).
"""

import numpy as np
import tensorflow as tf


def gate_terms(upstream, pre_activation):
    """`sum over batch of dL/dz * z`: the linear Taylor term of every neuron.

    Args:
        upstream: `dL/dz`, shape `(batch, units)`.
        pre_activation: `z`, same shape.

    Returns:
        float32 `(units,)`.
    """
    return tf.reduce_sum(
        tf.cast(upstream, tf.float32) * tf.cast(pre_activation, tf.float32), axis=0
    )


class StepTaylorProbe:
    """Accumulates one layer's squared Taylor terms over training steps.

    Args:
        units: The layer's number of neurons.
        name: Name of the accumulator variables.
        active: Whether the probe accumulates from the start (see
            `set_active`), or a boolean `tf.Variable` to switch several
            probes at once (one variable read per step for all of them).

    Create it under the model's distribution strategy scope: the
    accumulators are then mirrored, and every replica adds the same
    (all-reduced) value.

    Example:

    ```python
    probe = StepTaylorProbe(layer.units)
    layer.set_taylor_probe(probe)      # then re-trace the training step
    model.fit(data.take(16))           # 16 scored training steps
    probe.scores()                     # (units,) float64
    probe.set_active(False)            # the same traced step, no longer scoring
    ```
    """

    def __init__(self, units, name="taylor_probe", active=True):
        self.units = int(units)
        aggregation = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.accumulator = tf.Variable(
            tf.zeros([self.units], tf.float32), trainable=False, name=f"{name}_scores",
            aggregation=aggregation,
        )
        self.steps = tf.Variable(0, trainable=False, name=f"{name}_steps", aggregation=aggregation)
        if isinstance(active, tf.Variable):
            self.active = active
        else:
            self.active = tf.Variable(bool(active), trainable=False, name=f"{name}_active",
                                      aggregation=aggregation)

    def reset(self):
        self.accumulator.assign(tf.zeros([self.units], tf.float32))
        self.steps.assign(0)

    def set_active(self, on):
        """Switches accumulation on or off for the steps that follow (no re-trace;
        a shared `active` variable switches every probe that holds it)."""
        self.active.assign(bool(on))

    def is_active(self):
        return bool(self.active.numpy())

    def scores(self):
        """Squared terms summed over the steps so far, float64 `(units,)`."""
        return np.asarray(self.accumulator.numpy(), dtype=np.float64)

    def num_steps(self):
        return int(self.steps.numpy())

    def get_state(self):
        return {"scores": self.scores().tolist(), "steps": self.num_steps()}

    def set_state(self, state):
        self.accumulator.assign(np.asarray(state["scores"], dtype=np.float32))
        self.steps.assign(int(state["steps"]))

    def __call__(self, pre_activation, columns=None):
        """Identity on `pre_activation`; its gradient adds the squared terms.

        Args:
            pre_activation: `z`, `(batch, units)`, or `(batch, kept)` under
                a compact plan.
            columns: Under a compact plan, the kept neurons' indices
                `(kept,)`: their terms land there, the others get 0.
        """
        accumulator, steps, units, active = self.accumulator, self.steps, self.units, self.active

        def full_width(term):
            if columns is None:
                return term
            return tf.scatter_nd(tf.reshape(tf.cast(columns, tf.int32), [-1, 1]), term, [units])

        def accumulate(square):
            accumulator.assign_add(full_width(square))
            steps.assign_add(1)
            return tf.constant(True)

        @tf.custom_gradient
        def probe(z):
            def grad(upstream):
                term = gate_terms(upstream, z)
                if isinstance(tf.distribute.get_strategy(),
                              tf.distribute.experimental.ParameterServerStrategy):
                    # The accumulators live on the parameter servers: update
                    # them inside a window only.
                    tf.cond(active, lambda: accumulate(tf.square(term)),
                            lambda: tf.constant(False))
                    return upstream
                context = tf.distribute.get_replica_context()
                if context is not None and context.num_replicas_in_sync > 1:
                    # Neither this collective nor a mirrored update can sit in
                    # a tf.cond (TensorFlow refuses a merge_call there): the
                    # controller installs probes on several replicas for the
                    # scoring windows only.
                    term = context.all_reduce(tf.distribute.ReduceOp.SUM, term)
                # Stateful ops in the backward pass run with the step; the mask
                # (not a product: a NaN term would survive * 0) keeps an
                # inactive probe's sums as they are.
                square = tf.where(active, tf.square(term), tf.zeros_like(term))
                accumulator.assign_add(full_width(square))
                steps.assign_add(tf.cast(active, tf.int32))
                return upstream

            return tf.identity(z), grad

        return probe(pre_activation)


__all__ = ["StepTaylorProbe", "gate_terms"]
