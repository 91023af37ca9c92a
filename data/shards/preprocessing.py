"""`preprocess`: Criteo text files to a directory of shards, vocabulary and metadata.

Two streaming passes over the text (`agp_tf.data.criteo`): the first builds
the vocabulary and counts rows (or only counts them when a vocabulary is
given), the second transforms every row, packs it (`records.to_records`)
and writes it to its split (`writer.ShardWriter`). The metadata
(`records.METADATA_FILE`) is written last.

Shuffling (`shuffle="day"` or `"total"`) is an exact uniform permutation of
each training day (or of all training days), done out of core: rows go to
random bucket files, and each bucket is permuted in memory when its range
is complete (`_ShuffledRange`). Test and validation rows keep file order, as
in the reference.
"""

import json
import math
import os
import shutil
import tempfile

import numpy as np

from agp_tf.data import criteo
from agp_tf.data.features import NUM_DENSE
from agp_tf.data.features import NUM_SPARSE
from agp_tf.data.shards.records import FORMAT_VERSION
from agp_tf.data.shards.records import METADATA_FILE
from agp_tf.data.shards.records import RECORD_BYTES
from agp_tf.data.shards.records import RECORD_DTYPE
from agp_tf.data.shards.records import VOCABULARY_FILE
from agp_tf.data.shards.records import load_metadata
from agp_tf.data.shards.records import to_records
from agp_tf.data.shards.writer import DEFAULT_ROWS_PER_SHARD
from agp_tf.data.shards.writer import ShardWriter

SPLIT_MODES = ("kaggle", "days", "none")
SHUFFLE_MODES = ("none", "day", "total")
_MAX_BUCKETS = 256  # open bucket files per shuffled range


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
            (see the field-count rule in `agp_tf.data.criteo.lines`).
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
