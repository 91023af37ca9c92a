"""Preprocessed Criteo data as compact binary shards, and a fast tf.data reader.

A shard is a flat file of fixed-length little-endian records, 160 bytes per
row:

    offset  0: label              float32
    offset  4: dense[13]          float32   (already log(x + 1))
    offset 56: sparse[26]         int32     (contiguous ids)

so the reader needs no parsing: it reads raw records, batches the byte
strings, and decodes a whole batch with one `tf.io.decode_raw`.

A preprocessed directory holds:

    metadata.json        format version, row counts per split and shard,
                         vocabulary sizes, embedding table sizes, options
    vocabulary.npz       the `Vocabulary` used (absent in hashing-only mode)
    train-00000.bin ...  shards per split, in split order
    test-00000.bin ...
    val-00000.bin ...

`metadata.json` is written last, so a directory without it is incomplete.

Shuffling (`shuffle="day"` or `"total"`) is an exact uniform permutation of
each training day (or of all training days), done out of core: rows go to
random bucket files, and each bucket is permuted in memory when its range
is complete. Test and validation rows keep file order, as in the reference.
"""

import json
import math
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from agp_tf.data import criteo
from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import NUM_DENSE
from agp_tf.data.features import NUM_SPARSE
from agp_tf.data.features import SPARSE_KEY

FORMAT_VERSION = 1
RECORD_DTYPE = np.dtype(
    [("label", "<f4"), ("dense", "<f4", (NUM_DENSE,)), ("sparse", "<i4", (NUM_SPARSE,))]
)
RECORD_BYTES = RECORD_DTYPE.itemsize  # 160
METADATA_FILE = "metadata.json"
VOCABULARY_FILE = "vocabulary.npz"
SPLIT_MODES = ("kaggle", "days", "none")
SHUFFLE_MODES = ("none", "day", "total")
DEFAULT_ROWS_PER_SHARD = 1 << 20  # 160 MiB files
_MAX_BUCKETS = 256  # open bucket files per shuffled range


def to_records(dense, sparse, labels):
    """Packs model arrays into a structured record array.

    Args:
        dense: float32 `(n, 13)`.
        sparse: int32 `(n, 26)`.
        labels: float32 `(n,)`.

    Returns:
        `(n,)` array of `RECORD_DTYPE`; `.tobytes()` is the on-disk form.

    Example:

    ```python
    records = to_records(np.zeros((2, 13), np.float32), np.ones((2, 26), np.int32),
                         np.array([0., 1.], np.float32))
    records.tobytes()[:8]   # b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00" (label 0, dense 0)
    ```
    """
    records = np.empty(len(labels), dtype=RECORD_DTYPE)
    records["label"] = labels
    records["dense"] = dense
    records["sparse"] = sparse
    return records


def decode_records(data):
    """Decodes shard bytes (or a record array) into `(features, labels)` numpy.

    Example:

    ```python
    features, labels = decode_records(open("val-00000.bin", "rb").read())
    features[SPARSE_KEY].shape   # (rows, 26)
    ```
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) % RECORD_BYTES:
            raise ValueError(
                f"Shard data must be a whole number of {RECORD_BYTES}-byte records. "
                f"Received: {len(data)} bytes"
            )
        data = np.frombuffer(data, dtype=RECORD_DTYPE)
    features = {
        DENSE_KEY: np.ascontiguousarray(data["dense"]),  # (n, 13)
        SPARSE_KEY: np.ascontiguousarray(data["sparse"]),  # (n, 26)
    }
    return features, np.ascontiguousarray(data["label"])  # (n,)


class ShardWriter:
    """Writes the records of one split into numbered shard files.

    Args:
        output_dir: Directory of the shards.
        split: Split name; files are `{split}-00000.bin`, `{split}-00001.bin`...
        rows_per_shard: A new file is started after this many rows.

    Example:

    ```python
    writer = ShardWriter("/data/criteo", "val", rows_per_shard=1 << 20)
    writer.write(to_records(dense, sparse, labels))
    writer.close()   # [{"file": "val-00000.bin", "rows": ...}]
    ```
    """

    def __init__(self, output_dir, split, rows_per_shard=DEFAULT_ROWS_PER_SHARD):
        if rows_per_shard < 1:
            raise ValueError(
                f"`rows_per_shard` must be >= 1. Received: rows_per_shard={rows_per_shard}"
            )
        self.output_dir = output_dir
        self.split = split
        self.rows_per_shard = int(rows_per_shard)
        self.shards = []
        self._file = None
        self._rows_in_file = 0

    @property
    def rows(self):
        return sum(shard["rows"] for shard in self.shards)

    def write(self, records):
        """Appends `records` (`RECORD_DTYPE` array)."""
        done = 0
        while done < len(records):
            if self._file is None:
                name = f"{self.split}-{len(self.shards):05d}.bin"
                self._file = open(os.path.join(self.output_dir, name), "wb")
                self.shards.append({"file": name, "rows": 0})
                self._rows_in_file = 0
            take = min(len(records) - done, self.rows_per_shard - self._rows_in_file)
            self._file.write(records[done : done + take].tobytes())
            self.shards[-1]["rows"] += take
            self._rows_in_file += take
            done += take
            if self._rows_in_file == self.rows_per_shard:
                self._file.close()
                self._file = None

    def close(self):
        """Closes the open file; returns the list of `{"file", "rows"}`."""
        if self._file is not None:
            self._file.close()
            self._file = None
        return self.shards


class _ShuffledRange:
    """Exact out-of-core permutation of a known number of rows.

    Each row goes to a uniformly random bucket file; `drain` permutes each
    bucket in memory and hands it on. Random bucket choice followed by a
    uniform permutation within buckets is a uniform permutation of the
    whole range (every row is treated alike).
    """

    def __init__(self, tmp_dir, name, num_rows, rows_per_bucket, rng):
        self.num_buckets = int(np.clip(math.ceil(num_rows / rows_per_bucket), 1, _MAX_BUCKETS))
        self._rng = rng
        self._paths = [os.path.join(tmp_dir, f"{name}-{b}.tmp") for b in range(self.num_buckets)]
        self._files = [open(path, "wb") for path in self._paths]

    def add(self, records):
        bucket = self._rng.integers(self.num_buckets, size=len(records))
        order = np.argsort(bucket, kind="stable")
        ends = np.cumsum(np.bincount(bucket, minlength=self.num_buckets))
        grouped = records[order]
        for b, (lo, hi) in enumerate(zip(np.concatenate([[0], ends[:-1]]), ends)):
            if hi > lo:
                self._files[b].write(grouped[lo:hi].tobytes())

    def close(self):
        for f in self._files:
            f.close()

    def drain(self, writer):
        """Writes the permuted buckets to `writer` and deletes them."""
        self.close()
        for path in self._paths:
            records = np.fromfile(path, dtype=RECORD_DTYPE)
            writer.write(records[self._rng.permutation(len(records))])
            os.remove(path)


def _day_split(split_mode, rows_per_file, num_days):
    if split_mode == "kaggle":
        return criteo.DaySplit.equal_days(sum(rows_per_file), num_days)
    if split_mode == "days":
        if len(rows_per_file) < 2:
            raise ValueError(
                "split_mode='days' takes one file per day and needs at least 2 files. "
                f"Received: {len(rows_per_file)} file(s)"
            )
        return criteo.DaySplit.from_day_sizes(rows_per_file)
    return None


def _split_names(split_mode):
    return ("all",) if split_mode == "none" else criteo.SPLITS


def _clear_previous(output_dir):
    """Removes the files a previous preprocessing listed in its metadata."""
    metadata = load_metadata(output_dir)
    for split in metadata["splits"].values():
        for shard in split["shards"]:
            path = os.path.join(output_dir, shard["file"])
            if os.path.exists(path):
                os.remove(path)
    for name in (METADATA_FILE, VOCABULARY_FILE):
        path = os.path.join(output_dir, name)
        if os.path.exists(path):
            os.remove(path)


def preprocess(
    inputs,
    output_dir,
    split_mode="kaggle",
    num_days=criteo.KAGGLE_NUM_DAYS,
    max_ind_range=0,
    vocabulary="build",
    vocab_order="sorted",
    oov="error",
    shuffle="none",
    seed=0,
    rows_per_shard=DEFAULT_ROWS_PER_SHARD,
    skip_bad_lines=False,
    max_bad_fraction=criteo.DEFAULT_MAX_BAD_FRACTION,
    pad_short_lines=False,
    overwrite=False,
    block_bytes=criteo.DEFAULT_BLOCK_BYTES,
    progress=None,
):
    """Preprocesses Criteo text files into shards, vocabulary and metadata.

    Two streaming passes: the first builds the vocabulary and counts rows
    (or only counts them when a vocabulary is given), the second
    preprocesses every row and writes it to its split.

    Args:
        inputs: Text files in order (Kaggle `train.txt`; 1TB `day_0`..).
        output_dir: Output directory (created if needed).
        split_mode: `"kaggle"`: the rows of all inputs cut into `num_days`
            equal days; `"days"`: each input file is one day (1TB); `"none"`:
            one split named `"all"`, in file order.
        num_days: Days for `"kaggle"` (the reference uses 7).
        max_ind_range: Fold hashes `% max_ind_range` before the vocabulary
            (0: no folding). Required in hashing-only mode.
        vocabulary: `"build"` to build it from `inputs`; a `Vocabulary` or a
            path to a saved one; None for hashing-only ids
            (`hash % max_ind_range`, no vocabulary).
        vocab_order: `"sorted"` or `"first_seen"` when building.
        oov: `"error"` or `"reserve"` for values a given vocabulary lacks.
        shuffle: `"none"`, `"day"` (permute rows within each training day) or
            `"total"` (permute all training rows). Test and val keep order.
        seed: Seed of the shuffle.
        rows_per_shard: Rows per shard file.
        skip_bad_lines: Skip and count bad lines instead of raising.
        max_bad_fraction: With `skip_bad_lines`, fail when more than this
            share of the lines is bad (`criteo.check_bad_lines`); an empty
            input, or one with no good line, fails always.
        pad_short_lines: Pad lines whose trailing empty fields were stripped
            (see the field-count rule in `agp_tf.data.criteo`).
        overwrite: Replace a previous preprocessing in `output_dir`.
        block_bytes: Bytes per parsed text block.
        progress: Optional callable `(phase, bytes_read, bytes_total, rows,
            bad_lines)`; phase is `"vocabulary"`, `"count"` or `"write"`.

    Returns:
        The metadata dict (also written to `output_dir/metadata.json`).

    Raises:
        criteo.CriteoParseError: On a bad line, unless `skip_bad_lines`.
        FileExistsError: If `output_dir` holds a preprocessing and not
            `overwrite`.

    Example:

    ```python
    metadata = preprocess(["train.txt"], "/data/criteo_kaggle", shuffle="day")
    metadata["splits"]["train"]["rows"], metadata["table_sizes"][:3]
    # 39291958, [1460, 583, 10131227]
    ```
    """
    inputs = criteo.check_input_paths(inputs)
    for name, value, allowed in (
        ("split_mode", split_mode, SPLIT_MODES),
        ("shuffle", shuffle, SHUFFLE_MODES),
        ("oov", oov, criteo.OOV_MODES),
        ("vocab_order", vocab_order, criteo.VOCAB_ORDERS),
    ):
        if value not in allowed:
            raise ValueError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")
    if vocabulary is None and not 0 < max_ind_range <= 2**31:
        raise ValueError(
            "Hashing-only mode (vocabulary=None) needs max_ind_range in [1, 2**31]. "
            f"Received: max_ind_range={max_ind_range}"
        )
    os.makedirs(output_dir, exist_ok=True)
    if os.path.exists(os.path.join(output_dir, METADATA_FILE)):
        if not overwrite:
            raise FileExistsError(
                f"{output_dir} already holds preprocessed data ({METADATA_FILE}); "
                "pass overwrite=True to replace it"
            )
        _clear_previous(output_dir)

    total_bytes = sum(os.path.getsize(p) for p in inputs)

    def report(phase):
        if progress is None:
            return None
        return lambda done, rows, bad: progress(phase, done, total_bytes, rows, bad)

    # Pass 1: vocabulary and row counts.
    first_pass = criteo.ParseStats()
    if isinstance(vocabulary, str) and vocabulary == "build":
        vocabulary = criteo.Vocabulary.build(
            inputs,
            max_ind_range=max_ind_range,
            order=vocab_order,
            skip_bad_lines=skip_bad_lines,
            stats=first_pass,
            block_bytes=block_bytes,
            progress=report("vocabulary"),
            pad_short_lines=pad_short_lines,
        )
    else:
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = criteo.Vocabulary.load(vocabulary)
        if vocabulary is not None:
            # The fold belongs to the vocabulary; a different one is a mistake.
            if max_ind_range and max_ind_range != vocabulary.max_ind_range:
                raise ValueError(
                    f"`max_ind_range` differs from the given vocabulary's "
                    f"({vocabulary.max_ind_range}). Received: max_ind_range={max_ind_range}"
                )
            max_ind_range = vocabulary.max_ind_range
        for _ in criteo.iter_chunks(
            inputs, skip_bad_lines, first_pass, block_bytes, report("count"), pad_short_lines
        ):
            pass
    criteo.check_bad_lines(first_pass, inputs, max_bad_fraction)
    rows_per_file = [first_pass.rows_per_file[p] for p in inputs]
    days = _day_split(split_mode, rows_per_file, num_days)
    num_rows = sum(rows_per_file)
    splits = _split_names(split_mode)
    ranges = {s: days.split_range(s) if days else (0, num_rows) for s in splits}

    # Pass 2: preprocess and write.
    writers = {s: ShardWriter(output_dir, s, rows_per_shard) for s in splits}
    rng = np.random.default_rng(seed)
    if shuffle == "none" or days is None:
        shuffle_ranges = []
    elif shuffle == "day":
        offsets = days.day_offsets
        shuffle_ranges = [(offsets[d], offsets[d + 1]) for d in range(len(days.day_sizes) - 1)]
    else:
        shuffle_ranges = [ranges["train"]]
    tmp_dir = tempfile.mkdtemp(prefix=".shuffle-", dir=output_dir) if shuffle_ranges else None
    buckets, buckets_stop = None, None  # the shuffled range being filled
    second_pass = criteo.ParseStats()
    row = 0
    try:
        for chunk in criteo.iter_chunks(
            inputs, skip_bad_lines, second_pass, block_bytes, report("write"), pad_short_lines
        ):
            records = to_records(*criteo.transform_chunk(chunk, vocabulary, max_ind_range, oov))
            lo_row, hi_row = row, row + len(records)
            row = hi_row
            for split in splits:
                start, stop = ranges[split]
                lo, hi = max(start, lo_row), min(stop, hi_row)
                if lo >= hi:
                    continue
                if split != "train" or not shuffle_ranges:
                    writers[split].write(records[lo - lo_row : hi - lo_row])
                    continue
                # Training rows of shuffled ranges go through bucket files.
                while lo < hi:
                    if buckets is None:
                        r_start, buckets_stop = next(
                            r for r in shuffle_ranges if r[0] <= lo < r[1]
                        )
                        buckets = _ShuffledRange(
                            tmp_dir, f"rows{r_start}", buckets_stop - r_start, rows_per_shard, rng
                        )
                    take = min(hi, buckets_stop)
                    buckets.add(records[lo - lo_row : take - lo_row])
                    lo = take
                    if lo == buckets_stop:
                        buckets.drain(writers["train"])
                        buckets = None
    finally:
        if buckets is not None:  # an error stopped the pass
            buckets.close()
        for writer in writers.values():
            writer.close()
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    if row != num_rows:
        raise RuntimeError(
            f"The inputs changed between passes: {num_rows} rows, then {row} rows"
        )

    vocab_entry = None
    if vocabulary is not None:
        vocabulary.save(os.path.join(output_dir, VOCABULARY_FILE))
        vocab_entry = {
            "file": VOCABULARY_FILE,
            "order": vocabulary.order,
            "max_ind_range": vocabulary.max_ind_range,
            "vocab_sizes": list(vocabulary.vocab_sizes),
        }
        table_sizes = list(vocabulary.table_sizes(oov))
    else:
        table_sizes = [int(max_ind_range)] * NUM_SPARSE
    metadata = {
        "format_version": FORMAT_VERSION,
        "record_bytes": RECORD_BYTES,
        "record_layout": [
            ["label", "float32", 1],
            ["dense", "float32", NUM_DENSE],
            ["sparse", "int32", NUM_SPARSE],
        ],
        "inputs": [
            {"path": os.path.abspath(p), "rows": n} for p, n in zip(inputs, rows_per_file)
        ],
        "split_mode": split_mode,
        "pad_short_lines": bool(pad_short_lines),
        "day_sizes": list(days.day_sizes) if days else None,
        "splits": {
            s: {"rows": writers[s].rows, "shards": writers[s].shards} for s in splits
        },
        "vocabulary": vocab_entry,
        "max_ind_range": int(max_ind_range),
        "oov": oov,
        "table_sizes": table_sizes,
        "shuffle": shuffle,
        "seed": seed,
        "bad_lines": first_pass.bad_lines,
        "bad_line_examples": first_pass.bad_line_examples,
    }
    tmp_path = os.path.join(output_dir, METADATA_FILE + ".tmp")
    with open(tmp_path, "w") as f:
        json.dump(metadata, f, indent=1)
    os.replace(tmp_path, os.path.join(output_dir, METADATA_FILE))
    return metadata


def load_metadata(data_dir):
    """Reads and checks `data_dir/metadata.json`.

    Example:

    ```python
    load_metadata("/data/criteo_kaggle")["table_sizes"]
    ```
    """
    path = os.path.join(data_dir, METADATA_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} not found: {data_dir} is not a finished preprocessing output"
        )
    with open(path) as f:
        metadata = json.load(f)
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: shard format version {metadata.get('format_version')} is not "
            f"supported (expected {FORMAT_VERSION})"
        )
    if metadata.get("record_bytes") != RECORD_BYTES:
        raise ValueError(f"{path}: record size {metadata.get('record_bytes')} != {RECORD_BYTES}")
    return metadata


def shard_files(data_dir, split):
    """Paths of the shards of `split`, checked against the metadata sizes.

    Example:

    ```python
    shard_files("/data/criteo_kaggle", "val")   # [".../val-00000.bin", ...]
    ```
    """
    return _shard_table(data_dir, split)[0]


def _shard_table(data_dir, split):
    """`(paths, rows)` of the shards of `split`, sizes checked."""
    metadata = load_metadata(data_dir)
    if split not in metadata["splits"]:
        raise ValueError(
            f"`split` must be one of {tuple(metadata['splits'])}. Received: split={split!r}"
        )
    paths = []
    for shard in metadata["splits"][split]["shards"]:
        path = os.path.join(data_dir, shard["file"])
        expected = shard["rows"] * RECORD_BYTES
        size = os.path.getsize(path) if os.path.exists(path) else None
        if size != expected:
            raise ValueError(
                f"{path}: expected {expected} bytes ({shard['rows']} rows), found "
                f"{'no file' if size is None else f'{size} bytes'}"
            )
        paths.append(path)
    return paths, [shard["rows"] for shard in metadata["splits"][split]["shards"]]


def read_split(data_dir, split):
    """A whole split as numpy `(features, labels)` (small splits, tests).

    Example:

    ```python
    features, labels = read_split("/data/criteo_small", "val")
    ```
    """
    paths = shard_files(data_dir, split)
    records = np.concatenate(
        [np.fromfile(p, dtype=RECORD_DTYPE) for p in paths]
        or [np.zeros(0, dtype=RECORD_DTYPE)]
    )
    return decode_records(records)


def decode_batch(raw):
    """Decodes raw records to tensors.

    Args:
        raw: tf.string, `(batch,)` strings of one record each, or a scalar
            string of `batch` records back to back.

    Returns:
        `(features, labels)` as in `agp_tf.data.features`.

    Example:

    ```python
    features, labels = decode_batch(tf.constant(open("val-00000.bin", "rb").read()))
    ```
    """
    words = tf.io.decode_raw(raw, tf.int32, little_endian=True)  # (batch, 40) or (batch * 40,)
    return _split_words(tf.reshape(words, [-1, RECORD_BYTES // 4]))


def _split_words(words):
    """`(batch, 40)` int32 record words -> `(features, labels)`."""
    labels = tf.bitcast(words[:, 0], tf.float32)  # (batch,)
    dense = tf.bitcast(words[:, 1 : 1 + NUM_DENSE], tf.float32)  # (batch, 13)
    sparse = words[:, 1 + NUM_DENSE :]  # (batch, 26)
    return {DENSE_KEY: dense, SPARSE_KEY: sparse}, labels


def row_slices(shard_rows, start, stop):
    """Which rows of which shards hold rows `[start, stop)` of a split.

    Args:
        shard_rows: Rows of each shard of the split, in order.
        start, stop: Row range of the split, `0 <= start <= stop <= total`.

    Returns:
        List of `(shard index, first row in the shard, rows)`, in order;
        together exactly the `stop - start` rows asked for.

    Example:

    ```python
    row_slices([4, 4, 4], 3, 9)   # [(0, 3, 1), (1, 0, 4), (2, 0, 1)]
    ```
    """
    total = sum(shard_rows)
    if not 0 <= start <= stop <= total:
        raise ValueError(
            f"Row range must lie in [0, {total}]. Received: start={start}, stop={stop}"
        )
    slices, offset = [], 0
    for index, rows in enumerate(shard_rows):
        first, last = max(start, offset), min(stop, offset + rows)
        if first < last:
            slices.append((index, first - offset, last - first))
        offset += rows
    return slices


def _read_blocks(path, file_rows, first, rows, block_rows, buffer_bytes):
    """Records `[first, first + rows)` of one shard as `(k, 40)` int32 blocks.

    Whole blocks of `block_rows` come from one fixed-length reader; the last
    partial block from a second one. Both seek past the rows before `first`
    (`header_bytes`) and stop before the rows after (`footer_bytes`), so only
    the rows asked for are read.
    """
    full = rows // block_rows
    tail = rows % block_rows
    after = file_rows - first - rows
    blocks = tf.data.FixedLengthRecordDataset(
        path,
        block_rows * RECORD_BYTES,
        header_bytes=first * RECORD_BYTES,
        footer_bytes=(tail + after) * RECORD_BYTES,
        buffer_size=buffer_bytes,
    )
    rest = tf.data.FixedLengthRecordDataset(
        path,
        tf.maximum(tail, 1) * RECORD_BYTES,
        header_bytes=(first + full * block_rows) * RECORD_BYTES,
        footer_bytes=after * RECORD_BYTES,
        buffer_size=buffer_bytes,
    )  # one record when tail > 0, none otherwise
    words = blocks.concatenate(rest).map(
        lambda raw: tf.reshape(tf.io.decode_raw(raw, tf.int32), [-1, RECORD_BYTES // 4])
    )
    return words


def shard_dataset(
    data_dir,
    split,
    batch_size,
    drop_remainder=False,
    shuffle_files=False,
    shuffle_buffer=0,
    seed=None,
    num_parallel_reads=1,
    block_rows=8192,
    buffer_bytes=4 << 20,
    row_range=None,
):
    """`tf.data.Dataset` of `(features, labels)` batches read from shards.

    Shards are read in blocks of `block_rows` records; each block is one
    `decode_raw`, and `rebatch` cuts the blocks into batches, so no op runs
    per row.

    Args:
        data_dir: A `preprocess` output directory.
        split: `"train"`, `"test"`, `"val"` (or `"all"` for split_mode none).
        batch_size: Rows per batch.
        drop_remainder: Drop a short last batch (static batch dimension).
        shuffle_files: Shuffle the shard order every iteration.
        shuffle_buffer: Rows in a row-level shuffle buffer (0: none). This
            path runs per row and is much slower; the shards of a shuffled
            preprocessing (`shuffle="day"` / `"total"`) are already permuted.
        seed: Seed for the file and row shuffles.
        num_parallel_reads: Shards read concurrently; with more than one,
            blocks of different shards interleave (deterministically).
        block_rows: Records per read block.
        buffer_bytes: Read buffer per shard.
        row_range: Optional `(start, stop)`: only rows `[start, stop)` of the
            split, reached by seeking (the rows before are not read).

    Returns:
        A dataset of `(features, labels)`, see `agp_tf.data.features`.

    Example:

    ```python
    train = shard_dataset("/data/criteo_kaggle", "train", 2048, drop_remainder=True)
    val = shard_dataset("/data/criteo_kaggle", "val", 2048)
    model.fit(train, validation_data=val)
    ```
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    if block_rows < 1:
        raise ValueError(f"`block_rows` must be >= 1. Received: block_rows={block_rows}")
    paths, rows = _shard_table(data_dir, split)
    start, stop = (0, sum(rows)) if row_range is None else row_range
    slices = row_slices(rows, start, stop)
    files = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant([paths[i] for i, _, _ in slices], dtype=tf.string),
            tf.constant([rows[i] for i, _, _ in slices], dtype=tf.int64),
            tf.constant([first for _, first, _ in slices], dtype=tf.int64),
            tf.constant([count for _, _, count in slices], dtype=tf.int64),
        )
    )
    if shuffle_files:
        files = files.shuffle(max(len(paths), 1), seed=seed, reshuffle_each_iteration=True)
    read = lambda path, file_rows, first, count: _read_blocks(
        path, file_rows, first, count, block_rows, buffer_bytes
    )
    if num_parallel_reads > 1:
        words = files.interleave(
            read,
            cycle_length=num_parallel_reads,
            num_parallel_calls=num_parallel_reads,
            deterministic=True,
        )
    else:
        words = files.flat_map(read)
    if shuffle_buffer:
        words = words.unbatch().shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        words = words.batch(batch_size, drop_remainder=drop_remainder)
    else:
        words = words.rebatch(batch_size, drop_remainder=drop_remainder)
    return words.map(_split_words).prefetch(tf.data.AUTOTUNE)


__all__ = [
    "FORMAT_VERSION",
    "RECORD_BYTES",
    "RECORD_DTYPE",
    "ShardWriter",
    "decode_batch",
    "decode_records",
    "load_metadata",
    "preprocess",
    "read_split",
    "row_slices",
    "shard_dataset",
    "shard_files",
    "to_records",
]
