"""Neuron importance scores and the choice of kept neurons: pure functions.

A neuron t of a Dense layer owns its kernel column `w[:, t]` and bias
`b[t]`. Criteria:

- `"taylor"` (default): first-order Taylor estimate of the loss change when
  the neuron is removed, per mini-batch `(sum_i w[i,t] * g[i,t] + b[t] *
  g_b[t]) ** 2` with `g` the loss gradient, summed over N mini-batches
  (square per batch, then add);
- `"magnitude"`: L2 norm of the neuron's weights, bias included;
- `"random"`: uniform random scores from a seed.

Only the scoring rule differs between criteria; the selection rule
(`keep_top`) is shared. `taylor_terms` computes one batch's linear terms on
a model (a forward and backward pass); the rest is plain numpy.
"""

import math

import keras
import numpy as np
import tensorflow as tf

CRITERIA = ("taylor", "magnitude", "random")

# Guards floor((1 - s) * units) against float error, e.g. (1 - 0.7) * 10.
_EPSILON = 1e-9


def check_criterion(criterion):
    if criterion not in CRITERIA:
        raise ValueError(
            f"`criterion` must be one of {CRITERIA}. Received: criterion={criterion!r}"
        )
    return criterion


def num_kept(units, sparsity):
    """Neurons kept at `sparsity`: floor((1 - sparsity) * units), at least 1."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"`sparsity` must lie in [0, 1). Received: sparsity={sparsity}")
    return max(1, int(math.floor((1.0 - sparsity) * units + _EPSILON)))


def taylor_batch_terms(kernel, kernel_grad, bias=None, bias_grad=None):
    """Per-neuron linear Taylor term of one mini-batch (before squaring).

    Args:
        kernel: Array of shape `(input_dim, units)`.
        kernel_grad: Loss gradient w.r.t. the kernel, same shape.
        bias: Optional array of shape `(units,)`.
        bias_grad: Loss gradient w.r.t. the bias, shape `(units,)`.

    Returns:
        Array of shape `(units,)`: `sum_i w[i,t] * g[i,t] + b[t] * g_b[t]`.
        Kept separate from the square so that partial gradients (from
        replicas or micro-batches) can be summed before squaring.
    """
    terms = np.sum(np.asarray(kernel) * np.asarray(kernel_grad), axis=0)
    if bias is not None:
        terms = terms + np.asarray(bias) * np.asarray(bias_grad)
    return terms


def taylor_scores(batch_terms):
    """Sums the squared per-batch terms: `sum_n terms[n] ** 2`, shape `(units,)`."""
    batch_terms = np.asarray(batch_terms, dtype=np.float64)
    return np.sum(np.square(batch_terms), axis=0)


def magnitude_scores(kernel, bias=None):
    """L2 norm of each neuron's weights (kernel column and bias), `(units,)`."""
    squares = np.sum(np.square(np.asarray(kernel, dtype=np.float64)), axis=0)
    if bias is not None:
        squares = squares + np.square(np.asarray(bias, dtype=np.float64))
    return np.sqrt(squares)


def random_scores(units, seed):
    """Uniform random scores in [0, 1), shape `(units,)`, from `seed`."""
    return np.random.default_rng(seed).random(units)


def keep_top(scores, count, eligible=None):
    """Boolean mask keeping the `count` highest-scoring neurons.

    Ties go to the lower index, so the choice is deterministic.

    Args:
        scores: Array of shape `(units,)`.
        count: Number of neurons to keep, in [1, units].
        eligible: Optional boolean array `(units,)`; only these may be kept.

    Returns:
        Boolean array of shape `(units,)` with exactly `count` True entries.

    Example:

    ```python
    keep_top([0.1, 3.0, 2.0, 3.0], 2)   # [False, True, False, True]
    ```
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if np.isnan(scores).any():
        raise ValueError("Importance scores contain NaN; check the loss on the importance data.")
    units = scores.shape[0]
    if eligible is not None:
        eligible = np.asarray(eligible, dtype=bool)
        scores = np.where(eligible, scores, -np.inf)
        available = int(eligible.sum())
    else:
        available = units
    if not 1 <= count <= available:
        raise ValueError(
            f"`count` must lie in [1, {available}]. Received: count={count}"
        )
    order = np.argsort(-scores, kind="stable")
    keep = np.zeros(units, dtype=bool)
    keep[order[:count]] = True
    return keep


# Taylor terms under float16 compute: the loss is scaled before the backward
# pass (as LossScaleOptimizer does) so small gradients do not flush to zero.
FLOAT16_LOSS_SCALE = 2.0**12


def resolve_loss(model, loss=None):
    """The loss Taylor scores differentiate: `fn(y_true, y_pred, sample_weight) -> scalar`.

    Args:
        model: A Keras model; its compiled loss is used when `loss` is None.
        loss: Optional loss: a Keras loss name, a `keras.losses.Loss`, or a
            function `fn(y_true, y_pred)` returning per-sample losses.

    The result reduces like `compile` does (weighted sum over the batch
    size), never touches the model's loss trackers, and has no
    regularization terms.
    """
    loss = getattr(model, "loss", None) if loss is None else loss
    if loss is None:
        raise ValueError(
            'The "taylor" criterion needs a loss: compile the model with one or pass `loss=`.'
        )
    if isinstance(loss, (dict, list, tuple)):
        raise ValueError(
            "The model was compiled with one loss per output; pass the loss to score "
            f"neurons on as `loss=` (a single function of y_true, y_pred). Received: {loss!r}"
        )
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss
    if not callable(loss):
        raise ValueError(f"`loss` must be a Keras loss or a callable. Received: loss={loss!r}")
    return _PerSampleLoss(loss)


class _PerSampleLoss:
    """A per-sample loss function reduced as `compile` reduces it.

    Weighted sum over the number of loss values ("sum_over_batch_size").
    """

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _same_rank(y_true, y_pred)
        values = tf.cast(self.fn(y_true, y_pred), "float32")
        count = tf.cast(tf.size(values), "float32")
        if sample_weight is not None:
            weight = tf.cast(sample_weight, "float32")
            while len(weight.shape) > len(values.shape):
                weight = tf.squeeze(weight, axis=-1)
            values = values * weight
        return tf.reduce_sum(values) / tf.maximum(count, 1.0)


def _same_rank(y_true, y_pred):
    """Labels `(batch,)` against predictions `(batch, 1)` (and the reverse), as `compile` allows."""
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if pred_rank == true_rank + 1 and y_pred.shape[-1] == 1:
        y_true = tf.expand_dims(y_true, -1) if true_rank == 1 else y_true
        y_pred = y_pred if true_rank == 1 else tf.squeeze(y_pred, -1)
    elif true_rank == pred_rank + 1 and y_true.shape[-1] == 1:
        y_pred = tf.expand_dims(y_pred, -1) if pred_rank == 1 else y_pred
        y_true = y_true if pred_rank == 1 else tf.squeeze(y_true, -1)
    return y_true, y_pred


def taylor_terms(model, layers, loss_fn, x, y, sample_weight=None, include_regularization=False):
    """One batch's linear Taylor term of every neuron of `layers` (before squaring).

    Runs the model with `training=False` (no dropout noise, no BatchNorm
    updates), computes `loss_fn` in float32 and differentiates it. Under a
    float16 compute dtype the loss is scaled by `FLOAT16_LOSS_SCALE` for the
    backward pass and the terms unscaled, in float32.

    Args:
        model: The Keras model whose `layers` are scored.
        layers: Dense-like layers with `kernel` `(input_dim, units)` and
            optional `bias`.
        loss_fn: `fn(y_true, y_pred, sample_weight) -> scalar`, e.g. from
            `resolve_loss`.
        x, y, sample_weight: One batch.
        include_regularization: Whether the model's regularization losses
            join the loss.

    Returns:
        List of float32 tensors `(units,)`: `sum_i w[i,t] * g[i,t] + b[t] *
        g_b[t]` per layer.
    """
    variables = []
    for layer in layers:
        variables.append(layer.kernel)
        if layer.use_bias:
            variables.append(layer.bias)
    float16 = any(layer.compute_dtype == "float16" for layer in layers)
    scale = FLOAT16_LOSS_SCALE if float16 else 1.0
    with tf.GradientTape() as tape:
        y_pred = model(x, training=False)
        y_pred = keras.tree.map_structure(lambda t: tf.cast(t, "float32"), y_pred)
        y_true = keras.tree.map_structure(lambda t: tf.cast(t, "float32"), y)
        loss = tf.cast(loss_fn(y_true, y_pred, sample_weight), "float32")
        if include_regularization and model.losses:
            loss += tf.add_n([tf.cast(term, "float32") for term in model.losses])
        scaled = loss * scale
    grads = iter(
        tape.gradient(
            scaled, [v.value for v in variables],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
    )
    terms = []
    for layer in layers:
        kernel_grad = tf.cast(next(grads), "float32")
        # (units,)
        term = tf.reduce_sum(tf.cast(layer.kernel.value, "float32") * kernel_grad, axis=0)
        if layer.use_bias:
            term += tf.cast(layer.bias.value, "float32") * tf.cast(next(grads), "float32")
        terms.append(term / scale)
    return terms
