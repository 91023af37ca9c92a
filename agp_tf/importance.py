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
(`keep_top`) is shared.
"""

import math

import numpy as np

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
