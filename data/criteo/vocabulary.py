"""Contiguous ids for categorical values: `Vocabulary`, built in one pass by `VocabularyBuilder`.

Reference mapping of a categorical field (DLRM `data_utils.py` /
`dlrm_data_pytorch.py`): empty -> 0, hex -> unsigned 32-bit integer (held in
int64, as `block_parser` yields it), optionally `% max_ind_range`
(`fold_hashes`), then a contiguous id per column from a `Vocabulary` built
in one streaming pass (`Vocabulary.build`, over `files.iter_chunks`). As in
the reference, an empty field and the hash `00000000` are the same value.

Vocabulary order. `order="sorted"` numbers the distinct values of a column
in increasing order (`np.unique`); `order="first_seen"` numbers them in order
of first appearance, which is what the reference's `getCriteoAdData` does
(it fills a Python dict per column). Both give the same sizes; the ids
differ by a per-column permutation only.

Out-of-vocabulary values. A value the vocabulary has not seen is an error by
default (`oov="error"`: `ValueError` naming file, line and column, raised by
`stream.transform_chunk`). With `oov="reserve"` it maps to a reserved id
`vocab_sizes[j]`, so the embedding table needs `vocab_sizes[j] + 1` rows
(`Vocabulary.table_sizes("reserve")`). The reference builds its vocabulary
over every day, so in its protocol no value is ever unseen.
"""

import numpy as np

from agp_tf.data.criteo.files import DEFAULT_BLOCK_BYTES
from agp_tf.data.criteo.files import iter_chunks
from agp_tf.data.criteo.lines import SPARSE_NAMES
from agp_tf.data.features import NUM_SPARSE

VOCABULARY_FORMAT_VERSION = 1
VOCAB_ORDERS = ("sorted", "first_seen")
OOV_MODES = ("error", "reserve")


def fold_hashes(hashes, max_ind_range):
    """Reference hash folding: `hash % max_ind_range` when it is positive.

    Args:
        hashes: Integer array of non-negative hash values.
        max_ind_range: Fold size; 0 or negative leaves the hashes as they are.

    Returns:
        int64 array of the same shape.

    Example:

    ```python
    fold_hashes(np.array([0x68FD1E64, 7]), 1000)   # [852, 7] (1761418852 % 1000)
    ```
    """
    hashes = np.asarray(hashes, dtype=np.int64)
    if max_ind_range and max_ind_range > 0:
        return hashes % np.int64(max_ind_range)
    return hashes


class Vocabulary:
    """Contiguous ids for the categorical values of each of the 26 columns.

    Args:
        columns: 26 1-D integer arrays; `columns[j][i]` is the (folded) hash
            value that gets id `i` in column j. Values in a column must be
            distinct.
        max_ind_range: The fold applied to hashes before lookup (0: none).
            It is part of the vocabulary: lookups fold raw hashes with it.
        order: `"sorted"` or `"first_seen"`; how the ids were assigned
            (recorded, and checked for `"sorted"`).

    Example:

    ```python
    vocab = Vocabulary.build(["train.txt"], max_ind_range=0)
    vocab.vocab_sizes[:3]                        # (1460, 583, 10131227)
    ids, unseen = vocab.lookup(chunk.hashes)     # int32 (n, 26), bool (n, 26)
    vocab.save("vocabulary.npz"); Vocabulary.load("vocabulary.npz")
    ```
    """

    def __init__(self, columns, max_ind_range=0, order="sorted"):
        if order not in VOCAB_ORDERS:
            raise ValueError(f"`order` must be one of {VOCAB_ORDERS}. Received: order={order!r}")
        columns = [np.asarray(c, dtype=np.int64).ravel() for c in columns]
        if len(columns) != NUM_SPARSE:
            raise ValueError(
                f"A vocabulary has {NUM_SPARSE} columns. Received: {len(columns)} columns"
            )
        self.max_ind_range = int(max_ind_range) if max_ind_range and max_ind_range > 0 else 0
        self.order = order
        self.columns = tuple(columns)
        self._sorted = []
        self._ids_of_sorted = []
        for j, values in enumerate(columns):
            if len(values) >= 2**31 - 1:
                raise ValueError(f"Column {SPARSE_NAMES[j]} has too many values for int32 ids")
            if order == "sorted":
                if np.any(np.diff(values) <= 0):
                    raise ValueError(
                        f"Column {SPARSE_NAMES[j]} of a 'sorted' vocabulary is not "
                        "strictly increasing"
                    )
                self._sorted.append(values)
                self._ids_of_sorted.append(None)
            else:
                permutation = np.argsort(values, kind="stable")
                sorted_values = values[permutation]
                if np.any(np.diff(sorted_values) == 0):
                    raise ValueError(f"Column {SPARSE_NAMES[j]} has repeated values")
                self._sorted.append(sorted_values)
                self._ids_of_sorted.append(permutation.astype(np.int32))

    @property
    def vocab_sizes(self):
        """Distinct values per column (tuple of 26 ints)."""
        return tuple(len(c) for c in self.columns)

    def table_sizes(self, oov="error"):
        """Embedding rows per column: `vocab_sizes`, plus one with `oov="reserve"`."""
        check_oov(oov)
        extra = 1 if oov == "reserve" else 0
        return tuple(size + extra for size in self.vocab_sizes)

    def lookup(self, hashes):
        """Maps raw hashes to ids.

        Args:
            hashes: Integer array `(n, 26)` of raw (unfolded) hash values.

        Returns:
            `(ids, unseen)`: int32 `(n, 26)` and bool `(n, 26)`. An unseen
            value gets the reserved id `vocab_sizes[j]`; callers decide
            whether that is an error (`transform_chunk` with `oov="error"`).
        """
        folded = fold_hashes(hashes, self.max_ind_range)  # (n, 26)
        ids = np.empty(folded.shape, dtype=np.int32)
        unseen = np.zeros(folded.shape, dtype=bool)
        for j in range(NUM_SPARSE):
            table, keys = self._sorted[j], folded[:, j]
            position = np.searchsorted(table, keys)
            if len(table):
                found = table[np.minimum(position, len(table) - 1)] == keys
            else:
                found = np.zeros(len(keys), dtype=bool)
            if self._ids_of_sorted[j] is not None:
                position[found] = self._ids_of_sorted[j][position[found]]
            position[~found] = len(table)
            ids[:, j] = position
            unseen[:, j] = ~found
        return ids, unseen

    @classmethod
    def build(
        cls,
        paths,
        max_ind_range=0,
        order="sorted",
        skip_bad_lines=False,
        stats=None,
        block_bytes=DEFAULT_BLOCK_BYTES,
        progress=None,
        pad_short_lines=False,
    ):
        """Builds the vocabulary in one streaming pass over `paths`.

        Args:
            paths: Files, in the order that defines `"first_seen"` ids.
            max_ind_range: Fold hashes with `% max_ind_range` first (0: no).
            order: `"sorted"` (np.unique order) or `"first_seen"` (the
                reference's dict order).
            skip_bad_lines: Skip and count bad lines instead of raising.
            stats: Optional `ParseStats` filled in by the pass (row counts
                per file, which the day split needs).
            block_bytes: Bytes per parsed block.
            progress: Optional callable `(bytes_read, rows, bad_lines)`.
            pad_short_lines: Pad short lines (see the field-count rule in `lines`).

        Returns:
            A `Vocabulary`.
        """
        builder = VocabularyBuilder(max_ind_range, order)
        chunks = iter_chunks(paths, skip_bad_lines, stats, block_bytes, progress, pad_short_lines)
        for chunk in chunks:
            builder.update(chunk.hashes)
        return builder.result()

    def save(self, path):
        """Writes the vocabulary to `path` (`.npz`, uncompressed)."""
        arrays = {name: values for name, values in zip(SPARSE_NAMES, self.columns)}
        with open(path, "wb") as f:
            np.savez(
                f,
                format_version=np.int64(VOCABULARY_FORMAT_VERSION),
                max_ind_range=np.int64(self.max_ind_range),
                order=np.array(self.order),
                **arrays,
            )

    @classmethod
    def load(cls, path):
        """Reads a vocabulary written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"])
            if version != VOCABULARY_FORMAT_VERSION:
                raise ValueError(
                    f"{path}: vocabulary format version {version} is not supported "
                    f"(expected {VOCABULARY_FORMAT_VERSION})"
                )
            return cls(
                [data[name] for name in SPARSE_NAMES],
                max_ind_range=int(data["max_ind_range"]),
                order=str(data["order"]),
            )


class VocabularyBuilder:
    """Accumulates distinct (folded) hash values per column, chunk by chunk.

    Chunk uniques wait in a pending list and are merged into the running
    uniques only when they outgrow them, so the whole build costs
    O(N log N) however many chunks there are.

    Args:
        max_ind_range: Fold hashes with `% max_ind_range` first (0: no).
        order: `"sorted"` or `"first_seen"`.

    Example:

    ```python
    builder = VocabularyBuilder(max_ind_range=0)
    for chunk in iter_chunks(["train.txt"]):
        builder.update(chunk.hashes)
    vocab = builder.result()
    ```
    """

    _MIN_MERGE = 1 << 16  # pending values below this never trigger a merge

    def __init__(self, max_ind_range=0, order="sorted"):
        if order not in VOCAB_ORDERS:
            raise ValueError(f"`order` must be one of {VOCAB_ORDERS}. Received: order={order!r}")
        self.max_ind_range = max_ind_range
        self.order = order
        self._rows = 0
        empty = np.zeros(0, dtype=np.int64)
        self._merged = [(empty, empty) for _ in range(NUM_SPARSE)]
        self._pending = [[] for _ in range(NUM_SPARSE)]
        self._pending_size = [0] * NUM_SPARSE

    def update(self, hashes):
        """Adds raw hashes `(n, 26)` (folded here)."""
        folded = fold_hashes(hashes, self.max_ind_range)
        track_first = self.order == "first_seen"
        for j in range(NUM_SPARSE):
            if track_first:
                values, first = np.unique(folded[:, j], return_index=True)
                first = first + self._rows
            else:
                values, first = np.unique(folded[:, j]), None
            self._pending[j].append((values, first))
            self._pending_size[j] += len(values)
            if self._pending_size[j] > max(len(self._merged[j][0]), self._MIN_MERGE):
                self._merge(j)
        self._rows += len(folded)

    def _merge(self, j):
        pieces = [self._merged[j]] + self._pending[j]
        values = np.concatenate([p[0] for p in pieces])
        if self.order == "first_seen":
            # Pieces are in reading order and each is duplicate-free, so the
            # first occurrence in `values` (stable unique) is the earliest.
            values, index = np.unique(values, return_index=True)
            first = np.concatenate([p[1] for p in pieces])[index]
        else:
            values, first = np.unique(values), np.zeros(0, dtype=np.int64)
        self._merged[j] = (values, first)
        self._pending[j] = []
        self._pending_size[j] = 0

    def result(self):
        """The `Vocabulary` of everything added so far."""
        columns = []
        for j in range(NUM_SPARSE):
            self._merge(j)
            values, first = self._merged[j]
            if self.order == "first_seen":
                values = values[np.argsort(first, kind="stable")]
            columns.append(values)
        return Vocabulary(columns, self.max_ind_range, self.order)


def check_oov(oov):
    """Raises unless `oov` is one of `OOV_MODES`."""
    if oov not in OOV_MODES:
        raise ValueError(f"`oov` must be one of {OOV_MODES}. Received: oov={oov!r}")
