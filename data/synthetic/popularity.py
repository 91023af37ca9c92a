"""Id popularity: which ids a categorical column holds on a day, and how often.

Each column's ids have Zipf-like popularity, drawn by `zipf_ranks` (rank ->
probability close to `(rank + 1) ** -exponent`), and a day's rank -> id
mapping drifts the way real click logs do:

- id popularity changes: the mapping is re-ranked every day by a drifting
  log-popularity (Zipf's `-s * log(rank)` of a random id order plus a part
  turning at a constant angle a day), so the long tail reorders quickly and
  the head slowly;
- new ids appear: a fraction of each column's ids only exist from a later
  day on.

`Popularity` builds a day's tables from the seed alone (day `d` needs no
earlier day) and keeps the last two; `sampling` draws a block's ids through
it, and the teacher (`teacher`) sees every day's ids when it calibrates.
"""

import math
import threading

import numpy as np

from .. import features
from . import seeds

# Keeps the id cache: 1.10-1.14x rows/s reading whole days in a worker thread
# (page faults 0.046 -> 0.004 a row), 1.06x in the main thread, for 13 MB at
# the default size (A/B, default config, median of 9, 2 cores).
_ID_CACHE_LIMIT = 1 << 22  # ids whose popularity scores stay in memory


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
    ranks = np.empty(shape, dtype=np.int32)
    np.copyto(ranks, x, casting="unsafe")  # truncates; x >= 0
    np.minimum(ranks, (num_items - 1).astype(np.int32), out=ranks)
    return ranks


class Popularity:
    """Rank -> id tables of the 26 categorical columns, per day.

    Args:
        config: The stream's `SyntheticCriteoConfig`.
        vocab: int64 array `(26,)`, the vocabulary sizes (missing id
            included).

    Safe to use from several threads.
    """

    def __init__(self, config, vocab):
        self._config = config
        self._vocab = vocab
        self._zipf_exponents = np.array(config.zipf_exponents)[:, None]  # (26, 1)
        self._days = {}
        self._ids = {}
        self._lock = threading.Lock()  # guards `_days` and `_ids`

    def draw(self, rng, n, day):
        """int32 ids (26, n) of `n` rows of `day` (none missing yet): a
        Zipf rank per value, mapped to the id of that rank on the day."""
        flat_ids, offsets, sizes, dtype = self._day(day)
        u = rng.random((features.NUM_SPARSE, n), dtype=dtype)
        ranks = zipf_ranks(u, sizes, self._zipf_exponents)
        ranks += offsets.astype(np.int32)
        return np.take(flat_ids, ranks, mode="clip")

    def _day(self, day):
        """Rank -> id tables of `day`: flat int32 ids, per-column offsets, sizes."""
        with self._lock:
            state = self._days.get(day)
            if state is None:
                tables = [self._rank_to_id(column, day) for column in range(features.NUM_SPARSE)]
                sizes = np.array([len(t) for t in tables], dtype=np.int64)
                offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
                # Ranks run in float64 only where float32 would blur them.
                dtype = np.float32 if sizes.max() <= 2**21 else np.float64
                state = (np.concatenate(tables), offsets[:, None], sizes[:, None], dtype)
                if len(self._days) >= 2:  # Windows read days in order: keep two.
                    self._days.pop(next(iter(self._days)))
                self._days[day] = state
            return state

    def _id_attributes(self, column):
        """Per-id popularity scores and birth uniforms of a column, each (ids,).

        Cached while all columns together have at most `_ID_CACHE_LIMIT` ids;
        full-size vocabularies regenerate them per day instead.
        """
        cached = self._ids.get(column)
        if cached is not None:
            return cached
        num_ids = int(self._vocab[column]) - 1
        rng = seeds.rng(self._config.seed, seeds.TAG_IDS, column)
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
            self._ids[column] = attributes
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
