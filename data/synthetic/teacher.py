"""The hidden teacher: the model whose click probability labels the rows.

Its logit mixes four terms, each scaled to a configured spread: per-id
(first-order) effects, a field-weighted pairwise interaction of per-id
latent vectors (FM / DLRM style, `head_interactions`), nonlinear (tanh)
functions of more such interactions, and a small MLP of the dense features,
which also enter the interactions as a 27th field.

It drifts: each field's latent vectors turn by their own rotation
(`rotation_matrices`), a steady turn plus a random walk that moves
`TIME_STEPS_PER_DAY` times a day, so what an id means for the click
changes, within a day too. Its bias is calibrated per time step so that
every part of the stream has the target click rate: drift shows in who
clicks, not in how many do. The calibration sample comes from the stream's
row sampler (`sampling`); `stream` asks the teacher for the click
probabilities of every block.
"""

import math
import threading

import numpy as np

from .. import features
from . import seeds
from .config import TIME_STEPS_PER_DAY
from .hashing import fmix32

# Teacher structure: interaction heads of rank _HEAD_RANK over the 26
# categorical fields plus one field for the dense features; head 0 enters the
# logit linearly, the others (`config.nonlinear_heads`) through tanh.
_HEAD_RANK = 4
_FIELDS_PER_HEAD = 7

# Products up to these sizes (multiply-adds) stay single-threaded in OpenBLAS.
_BLAS_SMALL_PRODUCT = 1 << 17
_BLAS_SMALL_VECTOR = 1 << 13


def rotation_matrices(bases, angles):
    """Field-specific rotations `B diag(R(angle_i)) B^T` of latent space.

    Args:
        bases: float array, shape `(num_fields, dim, dim)`, orthogonal
            matrices.
        angles: float array, shape `(num_fields, dim // 2)`, the rotation
            angle (radians) of each 2-D plane spanned by consecutive basis
            columns.

    Returns:
        float32 array, shape `(num_fields, dim, dim)`; orthogonal, the
        identity where all angles are 0. An odd `dim` leaves the last basis
        direction fixed.

    Example:

    ```python
    bases = np.stack([np.eye(2)])
    rotation_matrices(bases, np.array([[np.pi / 2]]))   # [[[0, -1], [1, 0]]]
    ```
    """
    bases = np.asarray(bases, dtype=np.float64)
    num_fields, dim, _ = bases.shape
    angles = np.asarray(angles, dtype=np.float64)  # (num_fields, dim // 2)
    inner = np.tile(np.eye(dim), (num_fields, 1, 1))  # (num_fields, dim, dim)
    cos, sin = np.cos(angles), np.sin(angles)
    for i in range(dim // 2):
        p, q = 2 * i, 2 * i + 1
        inner[:, p, p] = cos[:, i]
        inner[:, p, q] = -sin[:, i]
        inner[:, q, p] = sin[:, i]
        inner[:, q, q] = cos[:, i]
    rotations = bases @ inner @ np.swapaxes(bases, 1, 2)
    return rotations.astype(np.float32)


def head_interactions(latent, projections, norms=None):
    """Field-weighted pairwise interactions of low-rank heads.

    For head weights `W = P P^T` (with `P = projections[:, :, h]`), returns
    `sum_{f < g} W[f, g] <latent[f], latent[g]>` per example and head, in
    `O(num_fields * dim * rank)` per example instead of
    `O(num_fields**2 * dim)`: with mixed vectors `s_r = sum_f P[f, r]
    latent[f]`, the sum is `(sum_r |s_r|^2 - sum_f W[f, f] |latent[f]|^2) / 2`.

    Args:
        latent: float32 array, shape `(num_fields, batch_size, dim)`.
        projections: float32 array, shape `(num_fields, rank, num_heads)`.
        norms: Optional float32 array, shape `(num_fields, batch_size)`,
            the squared norms of `latent` if already known.

    Returns:
        float32 array, shape `(num_heads, batch_size)`.

    Example:

    ```python
    latent = np.ones((3, 1, 2), np.float32)     # three fields, all (1, 1)
    projections = np.ones((3, 1, 1), np.float32)
    head_interactions(latent, projections)      # [[6.]]: 3 pairs, dot 2 each
    ```
    """
    num_fields, batch_size, dim = latent.shape
    _, rank, num_heads = projections.shape
    columns = rank * num_heads
    flat = projections.reshape(num_fields, columns)  # (F, C)
    mix = np.ascontiguousarray(flat.T)  # (C, F)
    # float32 intermediates (the result's dtype) whatever the inputs'.
    squares = np.empty((columns, batch_size), dtype=np.float32)  # sum_d s_c[b, d]^2
    # A stack of small products (see _matmul_rows), `rows` examples each.
    # Keeps: 1.28-1.37x rows/s (2.6x per CPU second) over one plain `mix @
    # latent` product, which also changes the bits for latent_dim > 8
    # (A/B, default config, 16k-row blocks, median of 12, 2 cores).
    rows = max(1, _BLAS_SMALL_PRODUCT // (columns * num_fields * dim))
    full = batch_size - batch_size % rows
    if full:
        stacks = full // rows
        stack = latent[:, :full].reshape(num_fields, stacks, rows * dim).transpose(1, 0, 2)
        mixed = np.matmul(mix, stack).astype(np.float32, copy=False)  # (S, C, rows * dim)
        np.square(mixed, out=mixed)
        sums = _row_sums(mixed.reshape(stacks * columns * rows, dim))
        squares[:, :full] = (
            sums.reshape(stacks, columns, rows).transpose(1, 0, 2).reshape(columns, full)
        )
    if full < batch_size:
        mixed = mix @ latent[:, full:].reshape(num_fields, -1)  # (C, rest * dim)
        squares[:, full:] = np.square(mixed).reshape(columns, -1, dim).sum(axis=2)
    if norms is None:
        norms = _row_sums(np.square(latent).reshape(-1, dim)).reshape(num_fields, batch_size)
    norms_t = np.ascontiguousarray(norms.T, dtype=np.float32)  # (B, F)
    diagonal = _matmul_rows(norms_t, np.square(flat)).astype(np.float32, copy=False)  # (B, C)
    np.subtract(squares, diagonal.T, out=squares)  # (C, B)
    squares *= np.float32(0.5)
    return squares.reshape(rank, num_heads, batch_size).sum(axis=0)


def _matmul_rows(x, w, out=None):
    """`x @ w` for a tall `x` (n, a) and a small `w` (a, b), as a stack of
    small products, into `out` (n, b) if given.

    BLAS libraries run a large product on several threads; for these thin
    products that costs more than it saves (and far more beside
    TensorFlow's own threads on a small machine). Products of at most
    `_BLAS_SMALL_PRODUCT` multiply-adds (`_BLAS_SMALL_VECTOR` for a single
    column) stay on the calling thread in OpenBLAS.
    """
    # Keeps: 2.0x rows per CPU second over plain `x @ w`, which spreads over
    # both cores for the same wall rows/s (0.97-1.04x) and changes the bits
    # of the first-order products in _rotate_tables (A/B, default config,
    # 16k-row blocks, median of 12, 2 cores).
    n, a = x.shape
    b = w.shape[1]
    limit = _BLAS_SMALL_VECTOR if b == 1 else _BLAS_SMALL_PRODUCT
    rows = max(1, limit // (a * b))
    full = n - n % rows
    if out is None:
        out = np.empty((n, b), dtype=np.result_type(x, w))
    if full:
        np.matmul(x[:full].reshape(-1, rows, a), w, out=out[:full].reshape(-1, rows, b))
    if full < n:
        np.matmul(x[full:], w, out=out[full:])
    return out


def _row_sums(x):
    """Sums over the short last axis of `x` (n, d), as small matrix-vector
    products: much faster than `x.sum(axis=1)` when d is short."""
    # Keeps: 1.16-1.28x rows/s over `x.sum(axis=1)`, which also changes the
    # bits for latent_dim > 8 (A/B, default config, 16k-row blocks, median of 12).
    return _matmul_rows(x, np.ones((x.shape[1], 1), dtype=x.dtype))[:, 0]


def sigmoid(x):
    """Numerically stable logistic function, elementwise.

    Example:

    ```python
    sigmoid(np.array([0.0]))   # [0.5]
    ```
    """
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


class Teacher:
    """The teacher of one stream: parameters, drift and calibration.

    Args:
        config: The stream's `SyntheticCriteoConfig`.
        vocab: int64 array `(26,)`, the vocabulary sizes.
        sample_rows: `(rng, n, day, t) -> (ids, counts, missing)`, the
            stream's row sampler (`sampling.RowSampler.sample`), for the
            calibration sample.

    Parameters, the tables rotated to the last time step asked for and the
    calibration are built on first use and cached; safe to use from several
    threads.
    """

    def __init__(self, config, vocab, sample_rows):
        self._config = config
        self._vocab = vocab
        self._sample_rows = sample_rows
        self._params = None
        self._time_cache = None
        self._calibration = None
        self._lock = threading.RLock()  # guards the three caches

    def params(self):
        """Random teacher parameters that need no calibration (cached)."""
        with self._lock:
            if self._params is None:
                self._params = self._build_params()
            return self._params

    def calibration(self):
        """Normalization statistics, term scales and per-step biases (cached).

        Samples rows of every day: call it before sampling a block, so that
        the block's day stays among the days `popularity` keeps.
        """
        with self._lock:
            if self._calibration is None:
                self._calibration = self._calibrate()
            return self._calibration

    def click_probabilities(self, ids, dense, step):
        """float32 (n,): the click probability of rows with ids (26, n) and
        preprocessed dense features (n, 13) at time step `step`."""
        stats = self.calibration()
        terms = _combine_terms(*self._heads(ids, dense, step, stats), stats)  # (4, n)
        logits = np.einsum("t,tn->n", stats["term_scales"], terms) + stats["bias"][step]
        return sigmoid(logits.astype(np.float32))

    def _build_params(self):
        config = self._config
        k = config.latent_dim
        num_fields = features.NUM_SPARSE + 1  # 26 categorical + dense
        rng = seeds.rng(config.seed, seeds.TAG_TEACHER)
        bases = np.linalg.qr(rng.standard_normal((num_fields, k, k)))[0]
        # Rotation angles: a steady turn (each plane its own direction) plus
        # a random walk, so a model one day stale already loses a little and
        # one a week stale clearly more, whatever the seed. Precomputed for
        # every time step, so any day stands alone.
        num_steps = config.num_days * TIME_STEPS_PER_DAY
        speed = config.latent_rotation_per_day * rng.choice([-1.0, 1.0], size=(num_fields, k // 2))
        noise = config.latent_rotation_noise_per_day / math.sqrt(TIME_STEPS_PER_DAY)
        increments = noise * rng.standard_normal((num_steps, num_fields, k // 2))
        increments += speed / TIME_STEPS_PER_DAY
        increments[0] = 0.0  # time 0 is the reference
        params = {
            "bases": bases,
            "angles": np.cumsum(increments, axis=0),  # (steps, 27, k // 2)
            "first_order": rng.standard_normal((features.NUM_SPARSE, k)).astype(np.float32),
            "projections": _sparse_projections(rng, num_fields, config.nonlinear_heads),
            "head_weights": (
                rng.choice([-1.0, 1.0], size=config.nonlinear_heads)
                * rng.uniform(0.5, 1.0, size=config.nonlinear_heads)
            ).astype(np.float32),
            "dense_in": (
                rng.standard_normal((features.NUM_DENSE, config.dense_hidden))
                / math.sqrt(features.NUM_DENSE)
            ).astype(np.float32),
            "dense_in_bias": (0.5 * rng.standard_normal(config.dense_hidden)).astype(np.float32),
            "dense_out": rng.standard_normal(config.dense_hidden).astype(np.float32),
            "dense_latent": rng.standard_normal((config.dense_hidden, k)).astype(np.float32),
        }
        # All columns' latent tables in one array: one gather per block.
        # Columns above `teacher_table_rows` ids hold two hashed tables.
        tables = []
        for column in range(features.NUM_SPARSE):
            rows = int(self._vocab[column])
            if rows > config.teacher_table_rows:
                rows = 2 * config.teacher_table_rows
            tables.append(seeds.rng(config.seed, seeds.TAG_TABLE, column).standard_normal(
                (rows, k), dtype=np.float32))
        sizes = np.array([len(t) for t in tables])
        table = np.concatenate(tables)  # (total rows, k)
        # Unit vectors: rotations keep them so, and the interaction heads
        # need no per-id norms. Ids differ in direction; per-id strength
        # comes from the first-order term.
        table /= np.sqrt(np.square(table).sum(axis=1, keepdims=True))
        params["table"] = table
        params["table_offsets"] = np.concatenate([[0], np.cumsum(sizes)[:-1]])[:, None]
        params["hashed"] = [
            c for c in range(features.NUM_SPARSE) if self._vocab[c] > config.teacher_table_rows
        ]
        return params

    def _time_state(self, step):
        """Latent table rotated to time `step / TIME_STEPS_PER_DAY`, and the
        first-order weight of every row (cached for the last step)."""
        with self._lock:
            if self._time_cache is None or self._time_cache[0] != step:
                self._time_cache = (step, self._rotate_tables(step))
            return self._time_cache[1]

    def _rotate_tables(self, step):
        params = self.params()
        rotations = rotation_matrices(params["bases"], params["angles"][step])  # (27, k, k)
        table = params["table"]
        rotated = np.empty_like(table)
        first = np.empty(len(table), dtype=np.float32)
        bounds = list(params["table_offsets"][:, 0]) + [len(table)]
        for column in range(features.NUM_SPARSE):
            lo, hi = bounds[column], bounds[column + 1]
            rotated[lo:hi] = _matmul_rows(table[lo:hi], rotations[column].T)
            direction = params["first_order"][column][:, None]  # (k, 1)
            first[lo:hi] = _matmul_rows(rotated[lo:hi], direction)[:, 0]
        return {"table": rotated, "first": first, "dense_rotation": rotations[-1]}

    def _heads(self, ids, dense, step, stats):
        """Raw teacher quantities for ids (26, n), dense (n, 13) at `step`:
        first-order sum (n,), interaction heads (1 + heads, n), dense MLP (n,)."""
        params = self.params()
        time_state = self._time_state(step)
        num_sparse, k = features.NUM_SPARSE, self._config.latent_dim
        n = ids.shape[1]
        # Large arrays are filled in place where they can be: a version with
        # more multi-megabyte temporaries (here and in `sampling`) page-faulted
        # in worker threads, where tf.data runs `dataset()`'s generator (0.12
        # to 0.20 faults a row, 0.83x rows/s); this one does not, and beats
        # the per-thread buffers it replaced by 1.10x rows/s with 48 MB less
        # memory per thread (A/B, default config, median of 12).
        rows = ids + params["table_offsets"]  # (26, n) rows of the joint table
        hashed = params["hashed"]
        rows_per_table = self._config.teacher_table_rows
        for column in hashed:
            rows[column] = params["table_offsets"][column, 0] + ids[column] % rows_per_table
        latent = np.empty((num_sparse + 1, n, k), dtype=np.float32)  # (27, n, k)
        np.take(time_state["table"], rows, axis=0, out=latent[:num_sparse], mode="clip")
        first = np.take(time_state["first"], rows, mode="clip")  # (26, n): <latent, a_f>
        norms = np.empty((num_sparse + 1, n), dtype=np.float32)  # (27, n)
        norms[:num_sparse] = 1.0  # unit vectors
        for column in hashed:
            # The sum of two hashed rows, rescaled to a unit vector: distinct
            # ids almost never share both rows.
            second = (
                params["table_offsets"][column, 0] + rows_per_table
                + fmix32(ids[column]) % np.uint32(rows_per_table)
            ).astype(np.intp)
            latent[column] += time_state["table"][second]
            scale = 1.0 / np.sqrt(_row_sums(np.square(latent[column])))  # (n,)
            latent[column] *= scale[:, None]
            first[column] = (first[column] + time_state["first"][second]) * scale
        x = dense - stats["dense_mean"]
        x *= stats["dense_inv_std"]
        hidden = _matmul_rows(x, params["dense_in"])
        hidden += params["dense_in_bias"]
        np.tanh(hidden, out=hidden)  # (n, H)
        dense_latent = _matmul_rows(hidden, params["dense_latent"])
        dense_latent *= stats["dense_latent_scale"]
        _matmul_rows(dense_latent, time_state["dense_rotation"].T, out=latent[num_sparse])
        norms[num_sparse] = _row_sums(np.square(dense_latent))
        heads = head_interactions(latent, params["projections"], norms)  # (1 + heads, n)
        dense_term = _matmul_rows(hidden, params["dense_out"][:, None])[:, 0]
        return first.sum(axis=0), heads, dense_term

    def _calibrate(self):
        """Normalization statistics, term scales and per-step biases."""
        config = self._config
        params = self.params()
        # An equal sample of every time step of the stream.
        num_steps = config.num_days * TIME_STEPS_PER_DAY
        per_step = config.calibration_rows // num_steps
        samples = []
        for step in range(num_steps):
            rng = seeds.rng(config.seed, seeds.TAG_CALIBRATION, step)
            day = step // TIME_STEPS_PER_DAY
            ids, counts, missing = self._sample_rows(rng, per_step, day, step / TIME_STEPS_PER_DAY)
            samples.append((ids, features.transform_dense(counts, missing)))
        dense = np.concatenate([dense_step for _, dense_step in samples])
        stats = {
            "dense_mean": dense.mean(axis=0),
            "dense_inv_std": 1.0 / np.maximum(dense.std(axis=0), 1e-3),
            "head_weights": params["head_weights"],
        }
        # The dense latent gets unit variance per coordinate, like the tables.
        x = (dense - stats["dense_mean"]) * stats["dense_inv_std"]
        hidden = np.tanh(x @ params["dense_in"] + params["dense_in_bias"])
        stats["dense_latent_scale"] = 1.0 / (hidden @ params["dense_latent"]).std()
        stats = {name: np.asarray(value, dtype=np.float32) for name, value in stats.items()}
        raw = [
            self._heads(ids, dense_step, step, stats)
            for step, (ids, dense_step) in enumerate(samples)
        ]
        first, heads, dense_term = (np.concatenate(parts, axis=-1) for parts in zip(*raw))
        # tanh sees each head in units of its spread: clearly nonlinear.
        stats["head_gain"] = (
            config.tanh_gain / np.maximum(heads[1:].std(axis=1), 1e-6)
        )[:, None].astype(np.float32)
        terms = _combine_terms(first, heads, dense_term, stats)  # (4, calibration rows)
        targets = np.array(
            [config.first_order_scale, config.pairwise_scale, config.nonlinear_scale,
             config.dense_scale],
            dtype=np.float32,
        )
        scales = targets / np.maximum(terms.std(axis=1), 1e-6)
        logits = (scales @ terms).astype(np.float64).reshape(num_steps, per_step)
        stats["term_scales"] = scales.astype(np.float32)
        # One bias per time step: every part of the stream has the target
        # click rate, so drift shows in who clicks, not in how many do.
        stats["bias"] = np.array(
            [_calibrate_bias(step_logits, config.click_rate) for step_logits in logits],
            dtype=np.float32,
        )
        return stats


def _sparse_projections(rng, num_fields, nonlinear_heads):
    """Head projections (num_fields, rank, heads), each head on a few fields.

    Each head involves `_FIELDS_PER_HEAD` random fields, so the pairwise
    signal sits in a few dozen field pairs rather than spread thinly over
    all of them, as in real logs, and a model can learn it from less data.
    """
    num_heads = 1 + nonlinear_heads
    projections = rng.standard_normal((num_fields, _HEAD_RANK, num_heads))
    for head in range(num_heads):
        chosen = rng.choice(num_fields, size=_FIELDS_PER_HEAD, replace=False)
        mask = np.zeros(num_fields)
        mask[chosen] = 1.0
        projections[:, :, head] *= mask[:, None] / math.sqrt(_HEAD_RANK * _FIELDS_PER_HEAD)
    return projections.astype(np.float32)


def _combine_terms(first, heads, dense_term, stats):
    """Stacks the teacher's logit terms (4, n); the nonlinear heads go through tanh."""
    nonlinear = np.einsum("h,hn->n", stats["head_weights"], np.tanh(heads[1:] * stats["head_gain"]))
    return np.stack([first, heads[0], nonlinear, dense_term])


def _calibrate_bias(logits, target):
    """Bias b with mean(sigmoid(logits + b)) == target, by bisection."""
    low, high = -30.0, 30.0
    for _ in range(80):
        mid = 0.5 * (low + high)
        if sigmoid(logits + mid).mean() < target:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
