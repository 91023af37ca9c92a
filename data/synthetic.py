"""A seeded, drifting, Criteo-like click stream.

`SyntheticCriteo` generates click logs shaped like Criteo Kaggle `train.txt`:
13 heavy-tailed integer counts (some missing, the occasional negative I2), 26
categorical columns with Zipf-like popularity (some missing), and a click
label drawn from a hidden teacher model whose logit mixes per-id effects,
field-weighted pairwise interactions of per-id latent vectors (FM / DLRM
style), nonlinear functions of those interactions and a small MLP of the
dense features.

The stream is split into "days" that drift the way real click logs do:

- the teacher's latent vectors rotate: each field turns by its own
  rotation, a steady turn plus a random walk (four moves a day, so drift
  also runs within a day), and what an id means for the click changes;
- id popularity changes: the Zipf rank -> id mapping of each column is
  re-ranked every day by a drifting log-popularity, so the long tail
  reorders quickly and the head slowly;
- new ids appear: a fraction of each column's ids only exist from a later
  day on;
- the dense count distributions shift a little.

The teacher's bias is calibrated per quarter day so that every part of the
stream has the target click rate.

Everything is a pure function of `(config, day, row range)`: day `d` is
generated without generating days `0..d-1`, in fixed blocks of `BLOCK_ROWS`
rows, each from its own seed, so the same seed gives the same data bit for
bit on a given platform (numpy build and CPU), whatever window size or order
it is read in. Generation is vectorized numpy, several hundred thousand rows
per second on one core; a generator is safe to read from several threads.

Outputs:

- `SyntheticBatch`: numpy arrays in the layout of `agp_tf.data.features`
  (dense already preprocessed: missing -> 0, negative -> 0, `log(x + 1)`;
  categorical as contiguous ids in `[0, vocab_size)`, id `MISSING_ID` for an
  empty value), plus the raw integer counts, their missing mask, the
  categorical hash values and the teacher's click probability;
- `SyntheticCriteo.dataset`: a `tf.data.Dataset` of `(features, labels)`;
- `SyntheticBatch.to_tsv` / `SyntheticCriteo.write_tsv`: raw Criteo Kaggle
  text (40 tab-separated fields, empty where missing, categorical values as 8
  lowercase hex digits). The id -> hash mapping of each column is a bijection,
  so a pipeline parsing the text recovers the same categories and labels
  (`agp_tf.data.criteo` reads back bit-identical labels and dense features).
"""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np

from . import features

__all__ = [
    "BLOCK_ROWS", "DEFAULT_DENSE_MISSING_RATES", "DEFAULT_SPARSE_MISSING_RATES",
    "DEFAULT_ZIPF_EXPONENTS", "MISSING_ID", "SyntheticBatch", "SyntheticCriteo",
    "SyntheticCriteoConfig", "fmix32", "fmix32_inverse", "format_tsv",
    "hashes_to_ids", "head_interactions", "ids_to_hashes",
    "rotation_matrices", "sigmoid", "zipf_ranks",
]

MISSING_ID = 0
"""Id of an empty categorical value in every column."""

BLOCK_ROWS = 16_384
"""Rows per independently seeded block of a day. Part of the data contract:
changing it changes the generated data."""

# Missing rates of Criteo Kaggle train.txt, per column.
DEFAULT_DENSE_MISSING_RATES = (
    0.4536, 0.0, 0.2148, 0.2208, 0.0260, 0.2233, 0.0434, 0.0005, 0.0434,
    0.4536, 0.0434, 0.7656, 0.2208,
)
DEFAULT_SPARSE_MISSING_RATES = (
    0.0, 0.0, 0.034, 0.034, 0.0, 0.121, 0.0, 0.0, 0.0, 0.0, 0.0, 0.034, 0.0,
    0.0, 0.0, 0.034, 0.0, 0.0, 0.44, 0.44, 0.034, 0.763, 0.0, 0.034, 0.44,
    0.44,
)
# Zipf exponents fitted by eye to the share of each column's most frequent
# value in the public 1,000-row head of train.txt.
DEFAULT_ZIPF_EXPONENTS = (
    1.6, 0.9, 1.0, 1.0, 2.2, 1.8, 0.65, 1.9, 3.5, 1.3, 0.75, 1.0, 0.7, 1.3,
    0.8, 1.0, 1.4, 0.9, 1.9, 0.2, 1.0, 1.5, 1.6, 1.0, 1.3, 1.0,
)

# Columns of one group go missing together (one shared uniform per group), as
# in the real data (I1/I10; I4/I13; I7/I9/I11; C3/C4/C12/C16/C21/C24;
# C19/C20/C25/C26).
_DENSE_MISSING_GROUPS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 6, 0, 6, 8, 3])
_SPARSE_MISSING_GROUPS = np.array(
    [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 2, 10, 11, 12, 2, 13, 14, 15, 15, 2, 16,
     17, 2, 15, 15]
)

# Per dense column: share of zeros, and log-logistic location and scale (as
# the mean and standard deviation of the log) of the positive counts, fitted
# by eye to the quantiles of the public head of train.txt.
_DENSE_ZERO_RATE = np.array(
    [0.45, 0.15, 0.01, 0.09, 0.01, 0.07, 0.26, 0.12, 0.03, 0.52, 0.27, 0.70, 0.06],
    dtype=np.float32,
)
_DENSE_MU = np.array(
    [0.9, 2.1, 1.8, 1.6, 8.0, 3.8, 1.6, 2.3, 3.8, 0.0, 0.7, 0.7, 1.6], dtype=np.float32
)
_DENSE_SIGMA = np.array(
    [1.1, 2.2, 1.5, 0.9, 1.8, 1.6, 1.5, 1.0, 1.4, 0.4, 0.9, 1.0, 1.0], dtype=np.float32
)
# Largest value of each count column in train.txt; the tails stop there.
_DENSE_MAX = np.array(
    [5775, 257675, 65535, 969, 23159456, 431037, 56311, 6047, 29019, 11, 231, 4008, 7393],
    dtype=np.int32,
)
_I2_NEGATIVE_RATE = 0.10  # I2 is -1, -2 or -3 this often
_DENSE_ROW_CORRELATION = 0.3  # shared "activity" factor across a row's counts

# Teacher structure: interaction heads of rank _HEAD_RANK over the 26
# categorical fields plus one field for the dense features; head 0 enters the
# logit linearly, the others through tanh.
_NUM_NONLINEAR_HEADS = 3
_HEAD_RANK = 4
_FIELDS_PER_HEAD = 7
_DENSE_HIDDEN = 16
_TANH_GAIN = 1.5  # tanh(1.5 z / std(z)) is clearly nonlinear on typical z
_TIME_STEPS_PER_DAY = 4  # latent rotation and dense drift move 4 times a day
_ID_CACHE_LIMIT = 1 << 22  # ids whose popularity scores stay in memory

# Seed-sequence tags of the independent random streams.
_TAG_ROWS, _TAG_IDS, _TAG_TABLE, _TAG_TEACHER, _TAG_CALIBRATION, _TAG_HASH = range(6)

# Products up to these sizes (multiply-adds) stay single-threaded in OpenBLAS.
_BLAS_SMALL_PRODUCT = 1 << 17
_BLAS_SMALL_VECTOR = 1 << 13

_UINT32 = np.uint32
_FMIX_C1 = 0x85EBCA6B
_FMIX_C2 = 0xC2B2AE35
_FMIX_C1_INV = pow(_FMIX_C1, -1, 2**32)
_FMIX_C2_INV = pow(_FMIX_C2, -1, 2**32)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# --------------------------------------------------------------------------
# Pure functions.
# --------------------------------------------------------------------------


def zipf_ranks(uniforms, num_items, exponent):
    """Maps uniforms to Zipf-like ranks by an inverse CDF.

    Rank `r` (0-based) gets probability close to `(r + 1) ** -exponent`
    normalized over `num_items` ranks: a continuous power law on
    `[0.5, num_items + 0.5)` rounded to the nearest integer. Its inverse CDF
    is closed-form, so no table of `num_items` probabilities is needed.
    Written with `log1p` so that it stays accurate as `exponent -> 1`; the
    limit `exponent == 1` itself is taken at `1 - 1e-4`.

    Args:
        uniforms: float32 or float64 array in `[0, 1)`, any shape; the math
            runs in its dtype (float32 is accurate to about one rank in
            2**21).
        num_items: Number of ranks, at least 1; an integer or an integer
            array broadcastable against `uniforms` (one per column, say).
        exponent: Zipf exponent, at least 0 (0 gives uniform ranks); a float
            or an array broadcastable against `uniforms`.

    Returns:
        int32 array of the broadcast shape, rank `i` in `[0, num_items[i])`.

    Example:

    ```python
    u = np.random.default_rng(0).random(100_000)
    ranks = zipf_ranks(u, num_items=1000, exponent=1.2)
    np.mean(ranks == 0)   # about 0.25: the top rank dominates
    ```
    """
    num_items = np.asarray(num_items, dtype=np.int64)
    if np.any(num_items < 1):
        raise ValueError(f"`num_items` must be at least 1. Received: num_items={num_items}")
    if not np.all(np.asarray(exponent) >= 0.0):
        raise ValueError(f"`exponent` must be at least 0. Received: exponent={exponent}")
    u = np.asarray(uniforms)
    dtype = u.dtype if u.dtype in (np.float32, np.float64) else np.float64
    shape = np.broadcast_shapes(u.shape, num_items.shape, np.shape(exponent))
    x = np.broadcast_to(u, shape).astype(dtype)  # a copy, overwritten below
    ranks = np.empty(shape, dtype=np.int32)
    _zipf_ranks_into(x, num_items, exponent, ranks)
    return ranks


def _zipf_ranks_into(x, num_items, exponent, ranks):
    """`zipf_ranks` of the uniforms `x`, written to `ranks`; overwrites `x`."""
    num_items = np.asarray(num_items, dtype=np.float64)
    one_minus_s = 1.0 - np.asarray(exponent, dtype=np.float64)
    one_minus_s = np.where(np.abs(one_minus_s) < 1e-4, 1e-4, one_minus_s)
    # rank + 1 = round(low * (1 + u * c) ** (1 / (1 - s))), low = 0.5.
    low = 0.5
    c = np.expm1(one_minus_s * np.log((num_items + 0.5) / low)).astype(x.dtype)
    x *= c
    np.log1p(x, out=x)
    x *= (1.0 / one_minus_s).astype(x.dtype)
    x += x.dtype.type(math.log(low))
    np.exp(x, out=x)
    x -= x.dtype.type(0.5)  # round to nearest, then 0-based: floor(x + 0.5) - 1
    np.copyto(ranks, x, casting="unsafe")  # truncates; x >= 0
    np.minimum(ranks, (num_items - 1).astype(np.int32), out=ranks)


def fmix32(x):
    """MurmurHash3's 32-bit finalizer: a bijection of uint32 that mixes bits.

    Args:
        x: Integer array, any shape; taken modulo 2**32.

    Returns:
        uint32 array of the shape of `x`.

    Example:

    ```python
    fmix32(np.array([0, 1, 2]))   # three well-spread 32-bit values
    ```
    """
    h = np.asarray(x).astype(np.uint64).astype(_UINT32)
    h ^= h >> _UINT32(16)
    h *= _UINT32(_FMIX_C1)
    h ^= h >> _UINT32(13)
    h *= _UINT32(_FMIX_C2)
    h ^= h >> _UINT32(16)
    return h


def fmix32_inverse(h):
    """Inverse of `fmix32`: `fmix32_inverse(fmix32(x)) == x % 2**32`.

    Args:
        h: Integer array, any shape; taken modulo 2**32.

    Returns:
        uint32 array of the shape of `h`.

    Example:

    ```python
    x = np.arange(5)
    fmix32_inverse(fmix32(x))   # [0, 1, 2, 3, 4]
    ```
    """
    x = np.asarray(h).astype(np.uint64).astype(_UINT32)
    x ^= x >> _UINT32(16)
    x *= _UINT32(_FMIX_C2_INV)
    x ^= (x >> _UINT32(13)) ^ (x >> _UINT32(26))
    x *= _UINT32(_FMIX_C1_INV)
    x ^= x >> _UINT32(16)
    return x


def ids_to_hashes(ids, salt):
    """Maps categorical ids to 32-bit hash values, bijectively.

    Args:
        ids: Integer array of ids in `[0, 2**32)`, any shape.
        salt: The column's salt, an integer in `[0, 2**32)` (or an array
            broadcastable against the first argument, one salt per column).

    Returns:
        uint32 array of the shape of `ids`.

    Example:

    ```python
    hashes = ids_to_hashes(np.array([1, 2, 3]), salt=12345)
    hashes_to_ids(hashes, salt=12345)   # [1, 2, 3]
    ```
    """
    shifted = np.asarray(ids).astype(np.uint64) + np.asarray(salt, dtype=np.uint64)
    return fmix32(shifted & np.uint64(0xFFFFFFFF))


def hashes_to_ids(hashes, salt):
    """Inverse of `ids_to_hashes` for the same salt.

    Args:
        hashes: Integer array of hash values in `[0, 2**32)`, any shape.
        salt: The column's salt, an integer in `[0, 2**32)` (or an array
            broadcastable against the first argument, one salt per column).

    Returns:
        int64 array of the shape of `hashes`.

    Example:

    ```python
    hashes_to_ids(ids_to_hashes(np.array([7]), salt=1), salt=1)   # [7]
    ```
    """
    x = fmix32_inverse(hashes).astype(np.int64)
    return (x - np.asarray(salt, dtype=np.int64)) % (2**32)


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
    return _head_interactions(latent, projections, norms, _fresh)


def _fresh(name, shape, dtype=np.float32):
    """Workspace that allocates (the pure-function default)."""
    del name
    return np.empty(shape, dtype=dtype)


def _head_interactions(latent, projections, norms, workspace):
    """`head_interactions`, its large intermediates from `workspace(name,
    shape, dtype)`."""
    num_fields, batch_size, dim = latent.shape
    _, rank, num_heads = projections.shape
    columns = rank * num_heads
    flat = projections.reshape(num_fields, columns)  # (F, C)
    mix = np.ascontiguousarray(flat.T)  # (C, F)
    squares = workspace("squares", (columns, batch_size))  # sum_d s_c[b, d]^2
    # A stack of small products (see _matmul_rows), `rows` examples each.
    rows = max(1, _BLAS_SMALL_PRODUCT // (columns * num_fields * dim))
    full = batch_size - batch_size % rows
    if full:
        stacks = full // rows
        stack = latent[:, :full].reshape(num_fields, stacks, rows * dim).transpose(1, 0, 2)
        mixed = np.matmul(mix, stack, out=workspace("mixed", (stacks, columns, rows * dim)))
        np.square(mixed, out=mixed)
        sums = _row_sums(
            mixed.reshape(stacks * columns * rows, dim),
            out=workspace("mixed_sums", (stacks * columns * rows, 1)),
        )
        squares[:, :full] = (
            sums.reshape(stacks, columns, rows).transpose(1, 0, 2).reshape(columns, full)
        )
    if full < batch_size:
        mixed = mix @ latent[:, full:].reshape(num_fields, -1)  # (C, rest * dim)
        squares[:, full:] = np.square(mixed).reshape(columns, -1, dim).sum(axis=2)
    if norms is None:
        norms = _row_sums(np.square(latent).reshape(-1, dim)).reshape(num_fields, batch_size)
    norms_t = workspace("norms_t", (batch_size, num_fields))
    norms_t[...] = norms.T
    diagonal = _matmul_rows(
        norms_t, np.square(flat), out=workspace("diagonal", (batch_size, columns))
    )  # (B, C)
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


def _row_sums(x, out=None):
    """Sums over the short last axis of `x` (n, d), as small matrix-vector
    products: much faster than `x.sum(axis=1)` when d is short. `out`, if
    given, has shape (n, 1)."""
    return _matmul_rows(x, np.ones((x.shape[1], 1), dtype=x.dtype), out)[:, 0]


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


def format_tsv(labels, dense_raw, dense_missing, hashes, sparse_missing):
    """Formats rows as Criteo Kaggle `train.txt` text.

    Each line has 40 tab-separated fields: the label (0 or 1), I1..I13 as
    decimal integers, C1..C26 as 8 lowercase hex digits; a missing value is
    an empty field.

    Args:
        labels: Array, shape `(batch_size,)`, 0 or 1.
        dense_raw: Integer array, shape `(batch_size, 13)`.
        dense_missing: bool array, shape `(batch_size, 13)`.
        hashes: Integer array of uint32 values, shape `(batch_size, 26)`.
        sparse_missing: bool array, shape `(batch_size, 26)`.

    Returns:
        bytes: the lines, each ending with a newline.

    Example:

    ```python
    text = format_tsv(np.array([1]), np.zeros((1, 13), int),
                      np.ones((1, 13), bool), np.zeros((1, 26), np.uint32),
                      np.zeros((1, 26), bool))
    text.count(b"\\t")   # 39
    ```
    """
    n = len(labels)
    num_dense = features.NUM_DENSE
    fields = np.empty((n, features.NUM_FIELDS), dtype="S20")  # (n, 40); any int64 fits
    fields[:, 0] = np.where(np.asarray(labels) > 0.5, b"1", b"0")
    dense_text = np.asarray(dense_raw, dtype=np.int64).astype("S20")  # (n, 13)
    dense_text[np.asarray(dense_missing)] = b""
    fields[:, 1 : 1 + num_dense] = dense_text
    # Hex digits by nibble lookup: (n, 26, 8) bytes viewed as (n, 26) 'S8'.
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    nibbles = (np.asarray(hashes, dtype=np.uint32)[..., None] >> shifts) & np.uint32(15)
    hex_text = np.ascontiguousarray(_HEX_DIGITS[nibbles]).view("S8")[..., 0]  # (n, 26)
    hex_text[np.asarray(sparse_missing)] = b""
    fields[:, 1 + num_dense :] = hex_text
    lines = [b"\t".join(row) for row in fields.tolist()]
    lines.append(b"")
    return b"\n".join(lines)


# --------------------------------------------------------------------------
# Configuration and batches.
# --------------------------------------------------------------------------


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _per_column(value, count, name):
    """Broadcasts a scalar to a tuple of `count` floats, or checks a sequence."""
    if np.ndim(value) == 0:
        return (float(value),) * count
    values = tuple(float(v) for v in value)
    if len(values) != count:
        raise ValueError(
            f"`{name}` must be a float or a sequence of {count} floats. "
            f"Received: {name}={value!r}"
        )
    return values


@dataclasses.dataclass(frozen=True)
class SyntheticCriteoConfig:
    """Configuration of a `SyntheticCriteo` stream.

    Args:
        seed: Non-negative integer; the whole stream is a function of it.
        num_days: Number of days in the stream.
        rows_per_day: Rows of each day.
        vocab_sizes: 26 full vocabulary sizes (missing value included);
            default: Criteo Kaggle's.
        max_vocab_size: Cap on each vocabulary size. The default keeps the
            total near 10**6 ids, small enough for a laptop; `None` gives
            Criteo's full sizes (34M ids: about a minute to calibrate and
            1.5 GB of memory).
        click_rate: Target mean label over the stream; the teacher's bias is
            calibrated to it.
        zipf_exponents: Zipf exponent of the popularity of each column's
            ids, a float or 26 floats.
        dense_missing_rates: Rate of empty I1..I13, a float or 13 floats.
        sparse_missing_rates: Rate of empty C1..C26, a float or 26 floats.
        latent_dim: Dimension of the teacher's per-id latent vectors.
        first_order_scale: Standard deviation of the teacher's per-id
            (first-order) logit term.
        pairwise_scale: Standard deviation of its linear pairwise
            interaction term.
        nonlinear_scale: Standard deviation of its term nonlinear in
            interactions.
        dense_scale: Standard deviation of its dense-feature MLP term.
        latent_rotation_per_day: Steady turn (radians per day) of each
            rotation angle of the teacher's latent vectors (each field turns
            in its own planes and directions).
        latent_rotation_noise_per_day: Standard deviation (radians) of the
            daily random-walk change of each of those angles, on top of the
            steady turn: after `d` days about `sqrt(d)` times this.
        popularity_drift: Standard deviation of the drifting part of each
            id's log-popularity (whose base is Zipf's `-s * log(rank)`):
            the long tail reorders quickly, the head rarely.
        popularity_rotation_per_day: Angle (radians per day) by which the
            drifting part of the popularity score turns.
        new_id_fraction_per_day: Share of a column's ids first appearing on
            each day after day 0 (columns with fewer than
            `1 / new_id_fraction_per_day` ids get none).
        dense_drift_per_day: Shift per day of the log-mean of each count
            column (direction per column fixed by the seed).
        teacher_table_rows: A column with more ids than this gets its latent
            vectors as the sum of two hashed tables of this many rows
            (memory stays bounded for full-size vocabularies).
        calibration_rows: Rows (spread over all days) used to normalize the
            teacher's terms and calibrate its bias.

    Example:

    ```python
    config = SyntheticCriteoConfig(seed=1, rows_per_day=100_000, max_vocab_size=10_000)
    config.effective_vocab_sizes[:3]   # (1460, 583, 10000)
    ```
    """

    seed: int = 0
    num_days: int = 7
    rows_per_day: int = 500_000
    vocab_sizes: tuple = features.CRITEO_KAGGLE_VOCAB_SIZES
    max_vocab_size: int | None = 100_000
    click_rate: float = 0.25
    zipf_exponents: float | tuple = DEFAULT_ZIPF_EXPONENTS
    dense_missing_rates: float | tuple = DEFAULT_DENSE_MISSING_RATES
    sparse_missing_rates: float | tuple = DEFAULT_SPARSE_MISSING_RATES
    latent_dim: int = 8
    first_order_scale: float = 1.0
    pairwise_scale: float = 0.7
    nonlinear_scale: float = 0.5
    dense_scale: float = 0.5
    latent_rotation_per_day: float = 0.1
    latent_rotation_noise_per_day: float = 0.1
    popularity_drift: float = 0.5
    popularity_rotation_per_day: float = 0.3
    new_id_fraction_per_day: float = 0.02
    dense_drift_per_day: float = 0.03
    teacher_table_rows: int = 1 << 18
    calibration_rows: int = 1 << 16

    def __post_init__(self):
        def require(ok, name, rule):
            if not ok:
                raise ValueError(
                    f"`{name}` {rule}. Received: {name}={getattr(self, name)!r}"
                )

        require(_is_int(self.seed) and self.seed >= 0, "seed", "must be a non-negative integer")
        require(_is_int(self.num_days) and self.num_days >= 1, "num_days", "must be an integer >= 1")
        require(
            _is_int(self.rows_per_day) and self.rows_per_day >= 1,
            "rows_per_day", "must be an integer >= 1",
        )
        sizes = tuple(self.vocab_sizes)
        require(
            len(sizes) == features.NUM_SPARSE
            and all(_is_int(v) and 2 <= v <= 2**31 for v in sizes),
            "vocab_sizes", f"must be {features.NUM_SPARSE} integers in [2, 2**31] (int32 ids)",
        )
        object.__setattr__(self, "vocab_sizes", tuple(int(v) for v in sizes))
        require(
            self.max_vocab_size is None
            or (_is_int(self.max_vocab_size) and self.max_vocab_size >= 2),
            "max_vocab_size", "must be None or an integer >= 2",
        )
        require(0.0 < self.click_rate < 1.0, "click_rate", "must lie in (0, 1)")
        for name, count in (
            ("zipf_exponents", features.NUM_SPARSE),
            ("dense_missing_rates", features.NUM_DENSE),
            ("sparse_missing_rates", features.NUM_SPARSE),
        ):
            object.__setattr__(self, name, _per_column(getattr(self, name), count, name))
        require(all(s >= 0.0 for s in self.zipf_exponents), "zipf_exponents", "must be >= 0")
        for name in ("dense_missing_rates", "sparse_missing_rates"):
            require(all(0.0 <= r < 1.0 for r in getattr(self, name)), name, "must lie in [0, 1)")
        require(_is_int(self.latent_dim) and self.latent_dim >= 1, "latent_dim", "must be >= 1")
        for name in (
            "first_order_scale", "pairwise_scale", "nonlinear_scale", "dense_scale",
            "latent_rotation_per_day", "latent_rotation_noise_per_day",
            "popularity_drift", "popularity_rotation_per_day", "dense_drift_per_day",
        ):
            require(getattr(self, name) >= 0.0, name, "must be >= 0")
        require(
            0.0 <= self.new_id_fraction_per_day
            and self.new_id_fraction_per_day * (self.num_days - 1) < 1.0,
            "new_id_fraction_per_day",
            f"must be >= 0 and leave some ids on day 0 (times num_days - 1 = "
            f"{self.num_days - 1} below 1)",
        )
        require(
            _is_int(self.teacher_table_rows) and self.teacher_table_rows >= 2,
            "teacher_table_rows", "must be an integer >= 2",
        )
        require(
            _is_int(self.calibration_rows)
            and self.calibration_rows >= self.num_days * _TIME_STEPS_PER_DAY * 64,
            "calibration_rows",
            f"must be an integer >= {_TIME_STEPS_PER_DAY * 64} * num_days",
        )

    @property
    def effective_vocab_sizes(self):
        """The 26 vocabulary sizes after the `max_vocab_size` cap."""
        if self.max_vocab_size is None:
            return self.vocab_sizes
        return tuple(min(v, self.max_vocab_size) for v in self.vocab_sizes)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SyntheticBatch:
    """Consecutive rows of one day of a `SyntheticCriteo` stream.

    Attributes:
        day: The day of the rows.
        start: Index of the first row within the day.
        labels: float32, shape `(num_rows,)`, 1.0 for a click.
        dense: float32, shape `(num_rows, 13)`, preprocessed counts
            (`features.DENSE_KEY` layout).
        sparse: int32, shape `(num_rows, 26)`, contiguous ids, `MISSING_ID`
            where empty (`features.SPARSE_KEY` layout).
        dense_raw: int32, shape `(num_rows, 13)`, raw counts (0 where
            missing; I2 may be negative).
        dense_missing: bool, shape `(num_rows, 13)`.
        probabilities: float32, shape `(num_rows,)`, the teacher's click
            probability (the Bayes-optimal prediction).
        hash_salts: uint32, shape `(26,)`, the id -> hash salt per column.

    Example:

    ```python
    batch = SyntheticCriteo(rows_per_day=1000).day(0)
    x, y = batch.features(), batch.labels
    text = batch.to_tsv()   # the same rows as Criteo Kaggle text
    ```
    """

    day: int
    start: int
    labels: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    dense_raw: np.ndarray
    dense_missing: np.ndarray
    probabilities: np.ndarray
    hash_salts: np.ndarray

    _ROW_FIELDS = (
        "labels", "dense", "sparse", "dense_raw", "dense_missing", "probabilities",
    )

    def __repr__(self):
        return f"SyntheticBatch(day={self.day}, start={self.start}, num_rows={self.num_rows})"

    @property
    def num_rows(self):
        """Number of rows."""
        return len(self.labels)

    @property
    def sparse_missing(self):
        """bool, shape `(num_rows, 26)`: where a categorical value is empty."""
        return self.sparse == MISSING_ID

    def features(self):
        """The `features.DENSE_KEY` / `features.SPARSE_KEY` feature dict.

        Example:

        ```python
        model.fit(batch.features(), batch.labels)
        ```
        """
        return {features.DENSE_KEY: self.dense, features.SPARSE_KEY: self.sparse}

    def sparse_hashes(self):
        """uint32, shape `(num_rows, 26)`: the raw hash of every categorical
        value (also defined where missing; the text leaves those empty).

        Example:

        ```python
        f"{batch.sparse_hashes()[0, 0]:08x}"   # C1 of the first row, as in the text
        ```
        """
        return ids_to_hashes(self.sparse, self.hash_salts[None, :])

    def to_tsv(self):
        """The rows as Criteo Kaggle `train.txt` text (bytes, one line a row).

        Example:

        ```python
        batch.to_tsv().split(b"\n")[0].count(b"\t")   # 39: 40 fields
        ```
        """
        return format_tsv(
            self.labels, self.dense_raw, self.dense_missing,
            self.sparse_hashes(), self.sparse_missing,
        )

    def slice(self, start, stop):
        """Rows `[start, stop)` of this batch, as a batch (views, no copy).

        Example:

        ```python
        head = batch.slice(0, 100)   # head.start == batch.start
        ```
        """
        if not 0 <= start <= stop <= self.num_rows:
            raise ValueError(
                f"`start` and `stop` must satisfy 0 <= start <= stop <= num_rows "
                f"({self.num_rows}). Received: start={start!r}, stop={stop!r}"
            )
        arrays = {name: getattr(self, name)[start:stop] for name in self._ROW_FIELDS}
        return dataclasses.replace(self, start=self.start + start, **arrays)

    @staticmethod
    def concatenate(batches):
        """Joins consecutive batches of one day into one batch.

        Example:

        ```python
        whole = SyntheticBatch.concatenate(stream.windows(days=[0], window_rows=1000))
        ```
        """
        batches = list(batches)
        for before, after in zip(batches, batches[1:]):
            if after.day != before.day or after.start != before.start + before.num_rows:
                raise ValueError(
                    "`batches` must be consecutive rows of one day. Received: batches "
                    f"with (day, start, num_rows) ({before.day}, {before.start}, "
                    f"{before.num_rows}) then ({after.day}, {after.start}, {after.num_rows})"
                )
        if len(batches) == 1:
            return batches[0]
        arrays = {
            name: np.concatenate([getattr(b, name) for b in batches])
            for name in SyntheticBatch._ROW_FIELDS
        }
        return dataclasses.replace(batches[0], **arrays)


# --------------------------------------------------------------------------
# The generator.
# --------------------------------------------------------------------------


def _rng(*key):
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(key)))


class SyntheticCriteo:
    """A seeded, drifting, Criteo-like click stream.

    Args:
        config: A `SyntheticCriteoConfig`; default: the default config.
        **overrides: Fields of the config to replace, e.g. `seed=3`.

    The first call that needs rows builds and calibrates the teacher (one to
    two seconds at the default size, longer with full-size vocabularies).
    Day `d` is independent of the other days: `day(6)` does not generate
    days 0..5.

    Example:

    ```python
    stream = SyntheticCriteo(seed=0, rows_per_day=100_000, max_vocab_size=10_000)
    day0 = stream.day(0)                       # SyntheticBatch of 100k rows
    for window in stream.windows(days=[1], window_rows=20_000):
        ...                                    # 5 windows of day 1, in order
    ds = stream.dataset(days=range(6), batch_size=128)   # tf.data batches
    stream.write_tsv("/tmp/train.txt", days=[6], num_rows=1000)
    ```
    """

    def __init__(self, config=None, **overrides):
        if config is None:
            config = SyntheticCriteoConfig(**overrides)
        elif not isinstance(config, SyntheticCriteoConfig):
            raise TypeError(
                f"`config` must be a SyntheticCriteoConfig or None. Received: config={config!r}"
            )
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self._config = config
        self._vocab = np.array(config.effective_vocab_sizes, dtype=np.int64)
        self._day_cache = {}
        self._id_cache = {}
        self._time_cache = None
        self._params = None
        self._local = threading.local()
        self._lock = threading.RLock()  # guards the caches below
        rng = _rng(config.seed, _TAG_HASH)
        # Salts in [1, 2**32 - vocab]: no id maps to the hash 00000000,
        # which the reference preprocessing reads as an empty field.
        salts = rng.integers(1, 2**32 - self._vocab + 1, size=features.NUM_SPARSE)
        self._hash_salts = salts.astype(np.uint32)
        self._dense_drift = rng.choice([-1.0, 1.0], size=features.NUM_DENSE).astype(np.float32)
        self._zipf_exponents = np.array(config.zipf_exponents)[:, None]  # (26, 1)
        self._sparse_missing_rates = np.array(config.sparse_missing_rates, np.float32)[:, None]
        self._dense_missing_rates = np.array(config.dense_missing_rates, np.float32)

    # ----- Public accessors.

    @property
    def config(self):
        """The `SyntheticCriteoConfig`."""
        return self._config

    @property
    def vocab_sizes(self):
        """The 26 vocabulary sizes of the ids (missing id included)."""
        return tuple(int(v) for v in self._vocab)

    @property
    def num_days(self):
        """Number of days."""
        return self._config.num_days

    @property
    def rows_per_day(self):
        """Rows per day."""
        return self._config.rows_per_day

    def ids_to_hashes(self, column, ids):
        """Raw hash values (uint32) of ids of categorical column `column` (0-25).

        Example:

        ```python
        stream.hashes_to_ids(3, stream.ids_to_hashes(3, [1, 2]))   # [1, 2]
        ```
        """
        return ids_to_hashes(ids, self._hash_salts[self._check_column(column)])

    def hashes_to_ids(self, column, hashes):
        """Ids (int64) of raw hash values of categorical column `column`.

        Raises:
            ValueError: if a hash is not one of the column's ids.

        Example:

        ```python
        stream.hashes_to_ids(0, stream.ids_to_hashes(0, [5]))   # [5]
        ```
        """
        column = self._check_column(column)
        ids = hashes_to_ids(hashes, self._hash_salts[column])
        if np.any(ids >= self._vocab[column]):
            raise ValueError(
                f"`hashes` holds values that are no id of column {column} "
                f"(vocabulary size {self._vocab[column]}). Received: hashes={hashes!r}"
            )
        return ids

    def day(self, day, num_rows=None):
        """The first `num_rows` rows of day `day` (default: the whole day).

        Args:
            day: Integer in `[0, num_days)`.
            num_rows: Integer in `[1, rows_per_day]`, or None.

        Returns:
            A `SyntheticBatch`.

        Example:

        ```python
        batch = stream.day(6, num_rows=10_000)
        batch.sparse.shape   # (10000, 26)
        ```
        """
        num_rows = self._check_num_rows(num_rows)
        return self.rows(day, 0, num_rows)

    def rows(self, day, start, stop):
        """Rows `[start, stop)` of day `day`, the same as the slice of `day(day)`.

        Example:

        ```python
        a = stream.rows(2, 100, 200)
        b = stream.day(2).slice(100, 200)   # equal arrays
        ```
        """
        day = self._check_day(day)
        if not (_is_int(start) and _is_int(stop) and 0 <= start < stop <= self.rows_per_day):
            raise ValueError(
                f"`start` and `stop` must satisfy 0 <= start < stop <= rows_per_day "
                f"({self.rows_per_day}). Received: start={start!r}, stop={stop!r}"
            )
        parts = []
        for block in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
            block_start = block * BLOCK_ROWS
            rows = self._block(day, block)
            lo, hi = max(start - block_start, 0), min(stop - block_start, rows.num_rows)
            parts.append(rows.slice(lo, hi))
        return SyntheticBatch.concatenate(parts)

    def windows(self, days=None, window_rows=BLOCK_ROWS, num_rows=None):
        """Consecutive windows of `window_rows` rows, day after day.

        A window never spans two days: the last window of a day holds the
        remaining rows (fewer when `window_rows` does not divide the day).
        The rows are those of `day(d, num_rows)`, in order.

        Args:
            days: A day or an iterable of days; default: all days in order.
            window_rows: Rows per window, at least 1.
            num_rows: Rows used of each day (default `rows_per_day`).

        Yields:
            `SyntheticBatch`es; `batch.day` and `batch.start` say where they are.

        Example:

        ```python
        for window in stream.windows(days=range(6), window_rows=50_000):
            evaluate(model, window)   # look-ahead on unseen rows first
            train(model, window)
        ```
        """
        days = self._check_days(days)
        if not (_is_int(window_rows) and window_rows >= 1):
            raise ValueError(
                f"`window_rows` must be an integer >= 1. Received: window_rows={window_rows!r}"
            )
        num_rows = self._check_num_rows(num_rows)
        for day in days:
            pending, pending_rows = [], 0
            for block in range(math.ceil(num_rows / BLOCK_ROWS)):
                rows = self._block(day, block)
                rows = rows.slice(0, min(rows.num_rows, num_rows - block * BLOCK_ROWS))
                offset = 0
                while offset < rows.num_rows:
                    take = min(window_rows - pending_rows, rows.num_rows - offset)
                    pending.append(rows.slice(offset, offset + take))
                    pending_rows += take
                    offset += take
                    if pending_rows == window_rows:
                        yield SyntheticBatch.concatenate(pending)
                        pending, pending_rows = [], 0
            if pending:
                yield SyntheticBatch.concatenate(pending)

    def dataset(self, days=None, batch_size=128, num_rows=None, drop_remainder=False):
        """A `tf.data.Dataset` of `(features, labels)` batches.

        Batches are `windows(days, batch_size, num_rows)`: consecutive rows,
        never spanning two days. Features follow `agp_tf.data.features`.

        Args:
            days: A day or an iterable of days; default: all days.
            batch_size: Rows per batch.
            num_rows: Rows used of each day (default `rows_per_day`).
            drop_remainder: Drop the short last batch of each day (gives
                static batch shapes).

        Returns:
            A `tf.data.Dataset` yielding `({DENSE_KEY: float32 (b, 13),
            SPARSE_KEY: int32 (b, 26)}, float32 (b,))`.

        Example:

        ```python
        ds = stream.dataset(days=range(6), batch_size=256, drop_remainder=True)
        model.fit(ds)
        ```
        """
        import tensorflow as tf  # Deferred: the numpy API does not need it.

        days = self._check_days(days)
        num_rows = self._check_num_rows(num_rows)
        if not (_is_int(batch_size) and batch_size >= 1):
            raise ValueError(
                f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}"
            )
        # The generator hands over whole windows of many batches (one Python
        # call per window, not per batch); tf.data cuts them into batches.
        window_rows = batch_size * max(1, BLOCK_ROWS // batch_size)

        def generate():
            for window in self.windows(days, window_rows, num_rows):
                yield window.features(), window.labels

        signature = (
            {
                features.DENSE_KEY: tf.TensorSpec((None, features.NUM_DENSE), tf.float32),
                features.SPARSE_KEY: tf.TensorSpec((None, features.NUM_SPARSE), tf.int32),
            },
            tf.TensorSpec((None,), tf.float32),
        )

        def split(window_features, labels):
            full = tf.shape(labels)[0] // batch_size * batch_size

            def batches(t):  # (full, ...) -> (full / batch_size, batch_size, ...)
                return tf.reshape(t[:full], tf.concat([[-1, batch_size], tf.shape(t)[1:]], 0))

            whole = tf.data.Dataset.from_tensor_slices(
                (tf.nest.map_structure(batches, window_features), batches(labels))
            )
            if drop_remainder:
                return whole
            rest = tf.data.Dataset.from_tensors(
                (tf.nest.map_structure(lambda t: t[full:], window_features), labels[full:])
            ).filter(lambda _, rest_labels: tf.size(rest_labels) > 0)
            return whole.concatenate(rest)

        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        dataset = dataset.flat_map(split)
        if drop_remainder:
            batch_signature = tf.nest.map_structure(
                lambda spec: tf.TensorSpec((batch_size,) + tuple(spec.shape[1:]), spec.dtype),
                signature,
            )
            dataset = dataset.map(
                lambda x, y: tf.nest.map_structure(
                    lambda t, spec: tf.ensure_shape(t, spec.shape), (x, y), batch_signature
                )
            )
        return dataset.prefetch(tf.data.AUTOTUNE)

    def write_tsv(self, path, days=None, num_rows=None):
        """Writes days as a Criteo Kaggle `train.txt`-format file.

        Args:
            path: Output file path (overwritten).
            days: A day or an iterable of days; default: all days, in order
                (the real file's "day" chunks are consecutive too).
            num_rows: Rows written of each day (default `rows_per_day`).

        Returns:
            The number of rows written.

        Example:

        ```python
        stream.write_tsv("/tmp/train.txt", days=[0, 1], num_rows=1000)   # 2000
        ```
        """
        written = 0
        with open(path, "wb") as f:
            for window in self.windows(days, 4 * BLOCK_ROWS, num_rows):
                f.write(window.to_tsv())
                written += window.num_rows
        return written

    # ----- Validation.

    def _check_day(self, day):
        if not (_is_int(day) and 0 <= day < self.num_days):
            raise ValueError(
                f"`day` must be an integer in [0, {self.num_days}). Received: day={day!r}"
            )
        return int(day)

    def _check_days(self, days):
        if days is None:
            return list(range(self.num_days))
        if _is_int(days):
            return [self._check_day(days)]
        return [self._check_day(d) for d in days]

    def _check_num_rows(self, num_rows):
        if num_rows is None:
            return self.rows_per_day
        if not (_is_int(num_rows) and 1 <= num_rows <= self.rows_per_day):
            raise ValueError(
                f"`num_rows` must be None or an integer in [1, {self.rows_per_day}]. "
                f"Received: num_rows={num_rows!r}"
            )
        return int(num_rows)

    def _check_column(self, column):
        if not (_is_int(column) and 0 <= column < features.NUM_SPARSE):
            raise ValueError(
                f"`column` must be an integer in [0, {features.NUM_SPARSE}). "
                f"Received: column={column!r}"
            )
        return int(column)

    def _scratch(self, name, shape, dtype=np.float32):
        """A buffer reused across blocks (one set per thread): fresh
        multi-megabyte temporaries per block cost more in page faults than
        the arithmetic, above all in threads other than the main one."""
        buffers = self._local.__dict__.setdefault("buffers", {})
        buffer = buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = buffers[name] = np.empty(shape, dtype=dtype)
        return buffer

    # ----- Per-day state: which ids exist, and their popularity ranks.

    def _day_state(self, day):
        """Rank -> id tables of `day`: flat int32 ids, per-column offsets, sizes."""
        with self._lock:
            return self._day_state_locked(day)

    def _day_state_locked(self, day):
        state = self._day_cache.get(day)
        if state is None:
            tables = [self._rank_to_id(column, day) for column in range(features.NUM_SPARSE)]
            sizes = np.array([len(t) for t in tables], dtype=np.int64)
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            # Ranks run in float64 only where float32 would blur them.
            dtype = np.float32 if sizes.max() <= 2**21 else np.float64
            state = (np.concatenate(tables), offsets[:, None], sizes[:, None], dtype)
            if len(self._day_cache) >= 2:  # Windows read days in order: keep two.
                self._day_cache.pop(next(iter(self._day_cache)))
            self._day_cache[day] = state
        return state

    def _id_attributes(self, column):
        """Per-id popularity scores and birth uniforms of a column, each (ids,).

        Cached while all columns together have at most `_ID_CACHE_LIMIT` ids;
        full-size vocabularies regenerate them per day instead.
        """
        cached = self._id_cache.get(column)
        if cached is not None:
            return cached
        num_ids = int(self._vocab[column]) - 1
        rng = _rng(self._config.seed, _TAG_IDS, column)
        # Base log-popularity: a random id order, scored as Zipf's
        # -s * log(rank), so drift below reorders the long tail easily and
        # the head only rarely.
        base_rank = rng.permutation(num_ids).astype(np.float32) + np.float32(1.0)
        base = np.log(base_rank) * np.float32(-self._config.zipf_exponents[column])
        attributes = (base,) + tuple(
            rng.standard_normal(num_ids, dtype=np.float32) for _ in range(2)
        )
        attributes += (rng.random(num_ids, dtype=np.float32),)
        if self._vocab.sum() <= _ID_CACHE_LIMIT:
            self._id_cache[column] = attributes
        return attributes

    def _rank_to_id(self, column, day):
        """int32 ids alive on `day`, most popular first."""
        config = self._config
        num_ids = int(self._vocab[column]) - 1  # ids 1..num_ids; 0 is missing
        base, drift_cos, drift_sin, birth_u = self._id_attributes(column)
        # Log-popularity: the base plus a unit-variance part turning at a
        # constant angle per day (so day d needs no earlier day), scaled.
        angle = config.popularity_rotation_per_day * day
        sigma = config.popularity_drift
        score = base + np.float32(sigma) * (
            np.float32(math.cos(angle)) * drift_cos + np.float32(math.sin(angle)) * drift_sin
        )
        # New ids: the top `q * (num_days - 1)` of birth_u are born on days
        # 1.., q of them per day; small columns keep all their ids.
        q = config.new_id_fraction_per_day
        alive = np.ones(num_ids, dtype=bool)
        if q > 0 and num_ids * q >= 1.0:
            first_new = 1.0 - q * (config.num_days - 1)
            birth = np.where(birth_u < first_new, 0, 1 + np.floor((birth_u - first_new) / q))
            alive = birth <= day
            if not alive.any():
                alive[0] = True
        ids = np.flatnonzero(alive)
        order = np.argsort(-score[ids], kind="stable")
        return (ids[order] + 1).astype(np.int32)

    # ----- Features.

    def _sample_features(self, rng, n, day, t):
        """Draws ids (26, n) int32 (a workspace buffer), raw dense (n, 13)
        int32 and its missing mask (n, 13)."""
        config = self._config
        scratch = self._scratch
        flat_ids, offsets, sizes, dtype = self._day_state(day)
        num_sparse, num_dense = features.NUM_SPARSE, features.NUM_DENSE
        # Categorical: Zipf rank -> id of the day, then missing values.
        u = rng.random((num_sparse, n), dtype=dtype, out=scratch("u", (num_sparse, n), dtype))
        ranks = scratch("ranks", (num_sparse, n), np.int32)
        _zipf_ranks_into(u, sizes, self._zipf_exponents, ranks)
        ranks += offsets.astype(np.int32)
        ids = np.take(flat_ids, ranks, out=scratch("ids", (num_sparse, n), np.int32), mode="clip")
        groups = _SPARSE_MISSING_GROUPS
        group_u = rng.random(
            (groups.max() + 1, n), dtype=np.float32,
            out=scratch("sparse_groups", (groups.max() + 1, n)),
        )
        expanded = np.take(group_u, groups, axis=0, out=scratch("sparse_expanded", (num_sparse, n)))
        keep = np.greater_equal(
            expanded, self._sparse_missing_rates, out=scratch("keep", (num_sparse, n), bool)
        )
        ids *= keep  # MISSING_ID == 0

        # Dense: log-logistic counts (heavier-tailed than lognormal, and a
        # logistic variate costs one uniform) sharing a per-row factor.
        noise = rng.random(
            (n, num_dense + 1), dtype=np.float32, out=scratch("noise", (n, num_dense + 1))
        )
        np.clip(noise, np.float32(1e-7), np.float32(1.0 - 1e-7), out=noise)
        odds = np.subtract(np.float32(1.0), noise, out=scratch("odds", (n, num_dense + 1)))
        np.divide(noise, odds, out=noise)
        np.log(noise, out=noise)  # logistic, variance pi^2 / 3
        z = np.multiply(
            noise[:, :num_dense], np.float32(math.sqrt(1.0 - _DENSE_ROW_CORRELATION)),
            out=scratch("z", (n, num_dense)),
        )
        z += noise[:, num_dense:] * np.float32(math.sqrt(_DENSE_ROW_CORRELATION))
        z *= _DENSE_SIGMA * np.float32(math.sqrt(3.0) / math.pi)  # unit variance first
        z += _DENSE_MU + np.float32(config.dense_drift_per_day * t) * self._dense_drift
        np.minimum(z, np.float32(21.0), out=z)  # exp(21) ~ 1.3e9 < 2**31
        np.exp(z, out=z)
        z += np.float32(0.5)
        np.maximum(z, np.float32(1.0), out=z)
        counts = z.astype(np.int32)  # (n, 13)
        np.minimum(counts, _DENSE_MAX, out=counts)
        zero_u = rng.random((n, num_dense), dtype=np.float32, out=scratch("zero_u", (n, num_dense)))
        keep_dense = np.greater_equal(
            zero_u, _DENSE_ZERO_RATE, out=scratch("keep_dense", (n, num_dense), bool)
        )
        counts *= keep_dense
        # I2 (column 1): -1, -2 or -3 in the band of zero_u just above zeros.
        negative_u = (zero_u[:, 1] - _DENSE_ZERO_RATE[1]) * np.float32(1.0 / _I2_NEGATIVE_RATE)
        negative_value = -1 - (negative_u >= 0.8).astype(np.int32) - (negative_u >= 0.95)
        counts[:, 1] = np.where((negative_u >= 0) & (negative_u < 1), negative_value, counts[:, 1])
        dense_groups = _DENSE_MISSING_GROUPS
        group_u = rng.random(
            (n, dense_groups.max() + 1), dtype=np.float32,
            out=scratch("dense_groups", (n, dense_groups.max() + 1)),
        )
        expanded = np.take(
            group_u, dense_groups, axis=1, out=scratch("dense_expanded", (n, num_dense))
        )
        missing = expanded < self._dense_missing_rates  # (n, 13)
        np.logical_not(missing, out=keep_dense)
        counts *= keep_dense
        return ids, counts, missing

    # ----- The teacher.

    def _teacher_params(self):
        """Random teacher parameters that need no calibration (cached)."""
        with self._lock:
            if self._params is None:
                self._params = self._build_teacher_params()
            return self._params

    def _build_teacher_params(self):
        config = self._config
        k = config.latent_dim
        num_fields = features.NUM_SPARSE + 1  # 26 categorical + dense
        rng = _rng(config.seed, _TAG_TEACHER)
        bases = np.linalg.qr(rng.standard_normal((num_fields, k, k)))[0]
        # Rotation angles: a steady turn (each plane its own direction) plus
        # a random walk, so a model one day stale already loses a little and
        # one a week stale clearly more, whatever the seed. Precomputed for
        # every time step, so any day stands alone.
        num_steps = config.num_days * _TIME_STEPS_PER_DAY
        speed = config.latent_rotation_per_day * rng.choice([-1.0, 1.0], size=(num_fields, k // 2))
        noise = config.latent_rotation_noise_per_day / math.sqrt(_TIME_STEPS_PER_DAY)
        increments = noise * rng.standard_normal((num_steps, num_fields, k // 2))
        increments += speed / _TIME_STEPS_PER_DAY
        increments[0] = 0.0  # time 0 is the reference
        params = {
            "bases": bases,
            "angles": np.cumsum(increments, axis=0),  # (steps, 27, k // 2)
            "first_order": rng.standard_normal((features.NUM_SPARSE, k)).astype(np.float32),
            "projections": _sparse_projections(rng, num_fields),
            "head_weights": (
                rng.choice([-1.0, 1.0], size=_NUM_NONLINEAR_HEADS)
                * rng.uniform(0.5, 1.0, size=_NUM_NONLINEAR_HEADS)
            ).astype(np.float32),
            "dense_in": (
                rng.standard_normal((features.NUM_DENSE, _DENSE_HIDDEN))
                / math.sqrt(features.NUM_DENSE)
            ).astype(np.float32),
            "dense_in_bias": (0.5 * rng.standard_normal(_DENSE_HIDDEN)).astype(np.float32),
            "dense_out": rng.standard_normal(_DENSE_HIDDEN).astype(np.float32),
            "dense_latent": rng.standard_normal((_DENSE_HIDDEN, k)).astype(np.float32),
        }
        # All columns' latent tables in one array: one gather per block.
        # Columns above `teacher_table_rows` ids hold two hashed tables.
        tables = []
        for column in range(features.NUM_SPARSE):
            rows = int(self._vocab[column])
            if rows > config.teacher_table_rows:
                rows = 2 * config.teacher_table_rows
            tables.append(_rng(config.seed, _TAG_TABLE, column).standard_normal(
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
        """Latent table rotated to time `step / _TIME_STEPS_PER_DAY`, and the
        first-order weight of every row (cached for the last step)."""
        with self._lock:
            if self._time_cache is None or self._time_cache[0] != step:
                self._time_cache = (step, self._rotate_tables(step))
            return self._time_cache[1]

    def _rotate_tables(self, step):
        params = self._teacher_params()
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

    def _teacher_heads(self, ids, dense, step, stats):
        """Raw teacher quantities for ids (26, n), dense (n, 13) at `step`:
        first-order sum (n,), interaction heads (1 + heads, n), dense MLP (n,)."""
        params = self._teacher_params()
        time_state = self._time_state(step)
        scratch = self._scratch
        num_sparse, k = features.NUM_SPARSE, self._config.latent_dim
        n = ids.shape[1]
        rows = np.add(ids, params["table_offsets"], out=scratch("rows", (num_sparse, n), np.intp))
        hashed = params["hashed"]
        rows_per_table = self._config.teacher_table_rows
        for column in hashed:
            rows[column] = params["table_offsets"][column, 0] + ids[column] % rows_per_table
        latent = scratch("latent", (num_sparse + 1, n, k))  # (27, n, k)
        np.take(time_state["table"], rows, axis=0, out=latent[:num_sparse], mode="clip")
        first = np.take(  # (26, n): <latent, a_f> per field
            time_state["first"], rows, out=scratch("first", (num_sparse, n)), mode="clip"
        )
        norms = scratch("norms", (num_sparse + 1, n))  # (27, n)
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
        x = np.subtract(dense, stats["dense_mean"], out=scratch("x", (n, features.NUM_DENSE)))
        x *= stats["dense_inv_std"]
        hidden = _matmul_rows(x, params["dense_in"], out=scratch("hidden", (n, _DENSE_HIDDEN)))
        hidden += params["dense_in_bias"]
        np.tanh(hidden, out=hidden)  # (n, H)
        dense_latent = _matmul_rows(
            hidden, params["dense_latent"], out=scratch("dense_latent", (n, k))
        )
        dense_latent *= stats["dense_latent_scale"]
        _matmul_rows(dense_latent, time_state["dense_rotation"].T, out=latent[num_sparse])
        squared = np.square(dense_latent, out=scratch("dense_squared", (n, k)))
        norms[num_sparse] = _row_sums(squared)
        heads = _head_interactions(latent, params["projections"], norms, scratch)  # (1 + heads, n)
        dense_term = _matmul_rows(hidden, params["dense_out"][:, None])[:, 0]
        return first.sum(axis=0), heads, dense_term

    def _teacher_terms(self, ids, dense, step, stats):
        """Unscaled logit terms (4, n): first-order, linear pairwise,
        nonlinear pairwise, dense MLP."""
        return _combine_terms(*self._teacher_heads(ids, dense, step, stats), stats)

    def _teacher(self):
        """Teacher parameters plus calibrated normalization and biases (cached)."""
        with self._lock:
            params = self._teacher_params()
            if "bias" not in params:
                params.update(self._calibrate(params))
            return params

    def _calibrate(self, params):
        """Normalization statistics, term scales and per-step biases."""
        config = self._config
        # An equal sample of every time step of the stream.
        num_steps = config.num_days * _TIME_STEPS_PER_DAY
        per_step = config.calibration_rows // num_steps
        samples = []
        for step in range(num_steps):
            rng = _rng(config.seed, _TAG_CALIBRATION, step)
            day = step // _TIME_STEPS_PER_DAY
            ids, counts, missing = self._sample_features(
                rng, per_step, day, step / _TIME_STEPS_PER_DAY
            )
            samples.append((ids.copy(), features.transform_dense(counts, missing)))
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
            self._teacher_heads(ids, dense_step, step, stats)
            for step, (ids, dense_step) in enumerate(samples)
        ]
        first, heads, dense_term = (np.concatenate(parts, axis=-1) for parts in zip(*raw))
        # tanh sees each head in units of its spread: clearly nonlinear.
        stats["head_gain"] = (
            _TANH_GAIN / np.maximum(heads[1:].std(axis=1), 1e-6)
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

    def _block(self, day, block):
        """Block `block` of day `day`: rows [block * BLOCK_ROWS, ...) of the day."""
        config = self._config
        start = block * BLOCK_ROWS
        n = min(BLOCK_ROWS, config.rows_per_day - start)
        teacher = self._teacher()
        # Drift is continuous in time: a few steps per day.
        step = day * _TIME_STEPS_PER_DAY + (start * _TIME_STEPS_PER_DAY) // config.rows_per_day
        rng = _rng(config.seed, _TAG_ROWS, day, block)
        ids, counts, missing = self._sample_features(rng, n, day, step / _TIME_STEPS_PER_DAY)
        # The reference preprocessing; counts are already 0 where missing.
        dense = features.transform_dense(counts)  # (n, 13)
        terms = self._teacher_terms(ids, dense, step, teacher)  # (4, n)
        logits = np.einsum("t,tn->n", teacher["term_scales"], terms) + teacher["bias"][step]
        probabilities = sigmoid(logits.astype(np.float32))
        labels = (rng.random(n, dtype=np.float32) < probabilities).astype(np.float32)
        return SyntheticBatch(
            day=day,
            start=start,
            labels=labels,
            dense=dense,
            sparse=np.ascontiguousarray(ids.T),
            dense_raw=counts,
            dense_missing=missing,
            probabilities=probabilities,
            hash_salts=self._hash_salts,
        )


def _sparse_projections(rng, num_fields):
    """Head projections (num_fields, rank, heads), each head on a few fields.

    Each head involves `_FIELDS_PER_HEAD` random fields, so the pairwise
    signal sits in a few dozen field pairs rather than spread thinly over
    all of them, as in real logs, and a model can learn it from less data.
    """
    num_heads = 1 + _NUM_NONLINEAR_HEADS
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
