"""Batches of model arrays streamed from Criteo text: `iter_batches` and `criteo_dataset`.

Reference preprocessing (DLRM `data_utils.py` / `dlrm_data_pytorch.py`),
applied to each parsed chunk by `transform_chunk`:

- dense: empty -> 0, negative -> 0, then `log(x + 1)` in float32
  (`agp_tf.data.features.transform_dense`);
- categorical: the hash value, folded and mapped to a contiguous id per
  column by a `vocabulary.Vocabulary` (or `hash % max_ind_range` without
  one); an unseen value follows the `oov` mode (see `vocabulary`).

A stream reads the good rows of a range (a split of a `days.DaySplit`, or
any `row_range`) block by block through `files.iter_blocks` and
`block_parser.parse_block`, seeking to a recorded `files.BlockStart` when
it has the index of an earlier pass; it optionally permutes rows within
windows that never cross a day boundary, then cuts exact batches. It never
holds a whole file in memory.
"""

import bisect
import itertools
import math

import numpy as np
import tensorflow as tf

from agp_tf.data.criteo.block_parser import parse_block
from agp_tf.data.criteo.days import DaySplit
from agp_tf.data.criteo.files import DEFAULT_BLOCK_BYTES
from agp_tf.data.criteo.files import check_input_paths
from agp_tf.data.criteo.files import count_lines
from agp_tf.data.criteo.files import count_rows
from agp_tf.data.criteo.files import iter_blocks
from agp_tf.data.criteo.lines import SPARSE_NAMES
from agp_tf.data.criteo.stats import ParseStats
from agp_tf.data.criteo.vocabulary import check_oov
from agp_tf.data.criteo.vocabulary import fold_hashes
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import NUM_DENSE
from agp_tf.data.features import NUM_SPARSE
from agp_tf.data.features import SPARSE_KEY
from agp_tf.data.features import transform_dense


def transform_chunk(chunk, vocabulary=None, max_ind_range=0, oov="error"):
    """Reference preprocessing of a parsed chunk into model arrays.

    Args:
        chunk: A `ParsedChunk`.
        vocabulary: A `Vocabulary`; None maps each hash to
            `hash % max_ind_range` directly (no vocabulary pass needed).
        max_ind_range: Without a vocabulary: the table size, in
            `[1, 2**31]`. With one: 0, or equal to its `max_ind_range`.
        oov: `"error"` raises on a value the vocabulary has not seen;
            `"reserve"` maps it to id `vocab_sizes[j]`.

    Returns:
        `(dense, sparse, labels)`: float32 `(n, 13)`, int32 `(n, 26)`,
        float32 `(n,)`.

    Raises:
        ValueError: On an unseen value with `oov="error"`, naming the file,
            line and column.
    """
    dense = transform_dense(chunk.dense)  # (n, 13)
    labels = chunk.labels.astype(np.float32)  # (n,)
    if vocabulary is None:
        if not 0 < max_ind_range <= 2**31:
            raise ValueError(
                "Without a vocabulary, `max_ind_range` must lie in [1, 2**31] so ids "
                f"fit int32. Received: max_ind_range={max_ind_range}"
            )
        return dense, fold_hashes(chunk.hashes, max_ind_range).astype(np.int32), labels
    if max_ind_range and max_ind_range != vocabulary.max_ind_range:
        raise ValueError(
            "`max_ind_range` differs from the vocabulary's fold "
            f"({vocabulary.max_ind_range}). Received: max_ind_range={max_ind_range}"
        )
    sparse, unseen = vocabulary.lookup(chunk.hashes)  # (n, 26) twice
    if oov == "error" and unseen.any():
        row, column = np.argwhere(unseen)[0]
        raise ValueError(
            f"{chunk.path}:{chunk.line_numbers[row]}: field {SPARSE_NAMES[column]}: "
            f"value {int(chunk.hashes[row, column]):08x} is not in the vocabulary "
            f"(folded: {int(fold_hashes(chunk.hashes[row, column], vocabulary.max_ind_range))}). "
            "Build the vocabulary over these files, or pass oov='reserve'."
        )
    return dense, sparse, labels


def _first_block(index, path, row):
    """The last block start of `path` in `index` at or before the file's row `row`."""
    starts = index.block_starts[path]
    k = bisect.bisect_right([b.row for b in starts], row) - 1
    return starts[max(k, 0)]


def _iter_row_range(paths, start, stop, skip_bad_lines, stats, block_bytes, index=None,
                    pad_short_lines=False):
    """Yields `(chunk, first_row_index)` for the good rows in `[start, stop)`.

    With `index` (the `ParseStats` of an earlier pass over all of `paths`
    with the same `skip_bad_lines`), files wholly before `start` are not
    opened and a file is entered at the last block start before `start`:
    reading consecutive ranges reads each row about once.
    """
    stats = ParseStats() if stats is None else stats
    row = 0
    for path in paths:
        if row >= stop:
            return
        begin = None
        if index is not None:
            file_rows = index.rows_per_file[path]
            if row + file_rows <= start:
                row += file_rows
                continue
            begin = _first_block(index, path, start - row)
            row += begin.row
        stats.rows_per_file.setdefault(path, 0)
        # Bytes on disk: a .gz file is decompressed from its start to seek.
        tell = begin.offset if begin is not None and not path.endswith(".gz") else 0
        for block, first_line, bytes_on_disk, _ in iter_blocks(path, block_bytes, begin):
            if row >= stop:
                return
            stats.bytes_read += bytes_on_disk - tell
            tell = bytes_on_disk
            if not skip_bad_lines:
                # Every line is a row here, so whole blocks before `start`
                # are skipped by counting lines, without parsing.
                lines = count_lines(block)
                if row + lines <= start:
                    row += lines
                    continue
            chunk = parse_block(block, path, first_line, skip_bad_lines, stats, pad_short_lines)
            stats.rows_per_file[path] += len(chunk)
            lo, hi = max(start - row, 0), min(stop - row, len(chunk))
            if lo < hi:
                yield chunk.take(slice(lo, hi)), row + lo
            row += len(chunk)


def _rebatch(pieces, batch_size, drop_remainder):
    """Turns a stream of `(dense, sparse, labels)` pieces into exact batches."""
    held, held_rows = [], 0
    for piece in pieces:
        held.append(piece)
        held_rows += len(piece[2])
        if held_rows < batch_size:
            continue
        arrays = [np.concatenate(parts) for parts in zip(*held)]
        whole = held_rows - held_rows % batch_size
        for lo in range(0, whole, batch_size):
            yield tuple(a[lo : lo + batch_size] for a in arrays)
        held = [tuple(a[whole:] for a in arrays)] if whole < held_rows else []
        held_rows -= whole
    if held_rows and not drop_remainder:
        yield tuple(np.concatenate(parts) for parts in zip(*held))


def _shuffle_windows(pieces, boundaries, window, rng):
    """Permutes rows within windows of `window` rows that never cross a boundary.

    `pieces` yields `(first_row_index, (dense, sparse, labels))`.
    """
    held, held_rows = [], 0

    def flush():
        arrays = [np.concatenate(parts) for parts in zip(*held)]
        order = rng.permutation(len(arrays[2]))
        return tuple(a[order] for a in arrays)

    boundaries = list(boundaries)
    for first_row, arrays in pieces:
        n = len(arrays[2])
        cuts = [b - first_row for b in boundaries if first_row < b < first_row + n]
        for lo, hi in zip([0] + cuts, cuts + [n]):
            if lo > 0 and held:  # a boundary: never mix days
                yield flush()
                held, held_rows = [], 0
            while lo < hi:
                take = min(hi - lo, window - held_rows)
                held.append(tuple(a[lo : lo + take] for a in arrays))
                held_rows += take
                lo += take
                if held_rows == window:
                    yield flush()
                    held, held_rows = [], 0
    if held:
        yield flush()


def iter_batches(
    paths,
    batch_size,
    vocabulary=None,
    max_ind_range=0,
    split=None,
    days=None,
    oov="error",
    shuffle_rows=0,
    seed=None,
    drop_remainder=False,
    skip_bad_lines=False,
    stats=None,
    block_bytes=DEFAULT_BLOCK_BYTES,
    row_range=None,
    index=None,
    pad_short_lines=False,
):
    """Streams preprocessed numpy batches from Criteo text files.

    Args:
        paths: A file or list of files, read in order (Kaggle: `train.txt`;
            1TB: `day_0` .. `day_23`).
        batch_size: Rows per batch (the last one may be shorter).
        vocabulary: A `Vocabulary` (usual), or None to use
            `hash % max_ind_range` as the id.
        max_ind_range: Only without a vocabulary (see `transform_chunk`).
        split: None or `"all"` for every row; `"train"`, `"test"` or `"val"`
            for that part of `days`.
        days: A `DaySplit`; None with a split means Kaggle days
            (`DaySplit.equal_days(total rows)`; the rows are counted first,
            a pass over the files).
        oov: `"error"` or `"reserve"` (see `transform_chunk`).
        shuffle_rows: 0 keeps file order; otherwise rows are permuted within
            windows of this many rows that never cross a day boundary (a
            window as large as a day shuffles the whole day).
        seed: Seed of the shuffle.
        drop_remainder: Drop a last batch shorter than `batch_size`.
        skip_bad_lines: Skip and count bad lines instead of raising.
            Without it every line is a row, so whole blocks before the
            split's first row are skipped by counting lines, unparsed (they
            are checked when the split holding them is read).
        stats: Optional `ParseStats` filled in while reading.
        block_bytes: Bytes per parsed block.
        row_range: Optional `(start, stop)` of good-row indices over all
            the files, instead of a split (e.g. one training window).
        index: Optional `ParseStats` of an earlier pass over all of `paths`
            (`count_rows`, `Vocabulary.build`) with the same
            `skip_bad_lines`: the read seeks to its first row instead of
            reading the files from the start.
        pad_short_lines: Pad short lines (see the field-count rule in `lines`).

    Yields:
        `(features, labels)`: `{DENSE_KEY: float32 (b, 13), SPARSE_KEY:
        int32 (b, 26)}` and float32 `(b,)`.

    Example:

    ```python
    vocab = Vocabulary.load("vocabulary.npz")
    for features, labels in iter_batches("train.txt", 2048, vocab, split="val"):
        ...
    ```
    """
    paths = check_input_paths(paths)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    check_oov(oov)
    if row_range is not None and split not in (None, "all"):
        raise ValueError(
            f"Pass `split` or `row_range`, not both. Received: split={split!r}, "
            f"row_range={row_range!r}"
        )
    if days is None and split not in (None, "all"):
        if index is None:
            index = ParseStats()
            count_rows(paths, skip_bad_lines, block_bytes, index, pad_short_lines)
        days = DaySplit.equal_days(index.rows)
    if row_range is not None:
        start, stop = (int(r) for r in row_range)
        if not 0 <= start <= stop:
            raise ValueError(f"`row_range` must be (start, stop) with 0 <= start <= stop. "
                             f"Received: row_range={row_range!r}")
    elif days is None:
        start, stop = 0, math.inf
    else:
        start, stop = days.split_range(split or "all")

    pieces = (
        (first_row, transform_chunk(chunk, vocabulary, max_ind_range, oov))
        for chunk, first_row in _iter_row_range(
            paths, start, stop, skip_bad_lines, stats, block_bytes, index, pad_short_lines
        )
    )
    if shuffle_rows:
        boundaries = days.boundaries(start, stop) if days is not None else []
        rng = np.random.default_rng(seed)
        stream = _shuffle_windows(pieces, boundaries, int(shuffle_rows), rng)
    else:
        stream = (arrays for _, arrays in pieces)
    for dense, sparse, labels in _rebatch(stream, batch_size, drop_remainder):
        yield {DENSE_KEY: dense, SPARSE_KEY: sparse}, labels


def criteo_dataset(paths, batch_size, seed=None, drop_remainder=False, **kwargs):
    """`tf.data.Dataset` of preprocessed batches read from Criteo text files.

    A thin wrapper over `iter_batches` (same arguments); the parsing runs in
    numpy inside `from_generator`. Each iteration of the dataset (epoch)
    reads the files again; with `shuffle_rows`, epoch k uses the seed
    sequence `(seed, k)`, so epochs differ but the run is reproducible.

    Args:
        paths: Files, as in `iter_batches`.
        batch_size: Rows per batch.
        seed: Shuffle seed (with `shuffle_rows`).
        drop_remainder: Drop a short last batch (the batch dimension is then
            static).
        **kwargs: Other `iter_batches` arguments.

    Returns:
        A dataset of `(features, labels)`, see `agp_tf.data.features`.

    Example:

    ```python
    vocab = Vocabulary.load("vocabulary.npz")
    train = criteo_dataset("train.txt", 2048, vocabulary=vocab, split="train",
                           shuffle_rows=1 << 20, seed=0)
    model.fit(train, validation_data=criteo_dataset(
        "train.txt", 2048, vocabulary=vocab, split="val"))
    ```
    """
    paths = check_input_paths(paths)
    if kwargs.get("days") is None and kwargs.get("split") not in (None, "all"):
        # Count once here, not at every epoch; the count's block starts let
        # every epoch seek to the split.
        index = ParseStats()
        rows = count_rows(
            paths,
            kwargs.get("skip_bad_lines", False),
            kwargs.get("block_bytes", DEFAULT_BLOCK_BYTES),
            index,
            kwargs.get("pad_short_lines", False),
        )
        kwargs["days"] = DaySplit.equal_days(sum(rows))
        kwargs.setdefault("index", index)
    batch_dim = batch_size if drop_remainder else None
    signature = (
        {
            DENSE_KEY: tf.TensorSpec((batch_dim, NUM_DENSE), tf.float32),
            SPARSE_KEY: tf.TensorSpec((batch_dim, NUM_SPARSE), tf.int32),
        },
        tf.TensorSpec((batch_dim,), tf.float32),
    )
    epochs = itertools.count()

    def generator():
        epoch_seed = None if seed is None else np.random.SeedSequence([seed, next(epochs)])
        return iter_batches(
            paths, batch_size, seed=epoch_seed, drop_remainder=drop_remainder, **kwargs
        )

    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
    return dataset.prefetch(tf.data.AUTOTUNE)
