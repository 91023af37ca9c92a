"""Preprocesses Criteo Kaggle / Criteo 1TB text files into binary shards.

Criteo Kaggle (7 equal days; train / test / val as in the DLRM reference):

    python scripts/preprocess.py --input=/data/train.txt \\
        --output_dir=/data/criteo_kaggle --shuffle=day

Criteo 1TB (one file per day; `day_*` globs are sorted day_0, day_1, .. day_23):

    python scripts/preprocess.py --input='/data/day_*' --split_mode=days \\
        --max_ind_range=10000000 --output_dir=/data/criteo_1tb

Read the result with `agp_tf.data.shards.shard_dataset(output_dir, split,
batch_size)`; `metadata.json` there gives row counts and embedding table
sizes. Bad input lines stop the run with the file and line number unless
`--skip_bad_lines`.
"""

import glob
import os
import sys
import time

from absl import app
from absl import flags

from quiet_startup import import_tensorflow  # scripts/, beside this file

FLAGS = flags.FLAGS

flags.DEFINE_list(
    "input",
    None,
    "Input text files or glob patterns, comma-separated, read in the given order "
    "(each pattern's matches in natural order: day_2 before day_10).",
)
flags.DEFINE_string("output_dir", None, "Directory for shards, vocabulary and metadata.")
flags.DEFINE_enum(
    "split_mode",
    "kaggle",
    ["kaggle", "days", "none"],
    "kaggle: all rows cut into --num_days equal days; days: one input file per day "
    "(Criteo 1TB); none: one split named 'all'.",
)
flags.DEFINE_integer("num_days", 7, "Days for --split_mode=kaggle.")
flags.DEFINE_integer(
    "max_ind_range", 0, "Fold hashes modulo this before the vocabulary (0: no folding)."
)
flags.DEFINE_string(
    "vocabulary",
    "build",
    "'build' to build the vocabulary from the inputs, a path to a saved vocabulary.npz, "
    "or 'none' for hashing-only ids (hash % max_ind_range).",
)
flags.DEFINE_enum(
    "vocab_order",
    "sorted",
    ["sorted", "first_seen"],
    "Id order when building: sorted values, or first appearance (the reference's order).",
)
flags.DEFINE_enum(
    "oov",
    "error",
    ["error", "reserve"],
    "Values missing from a given vocabulary: stop with an error, or map to a reserved id.",
)
flags.DEFINE_enum(
    "shuffle",
    "none",
    ["none", "day", "total"],
    "Permute rows within each training day, or across all training days.",
)
flags.DEFINE_float(
    "max_bad_fraction", 0.001,  # agp_tf.data.criteo.DEFAULT_MAX_BAD_FRACTION
    "With --skip_bad_lines: fail when more than this share of the lines is bad.",
)
flags.DEFINE_integer("seed", 0, "Seed of the shuffle.")
flags.DEFINE_integer("rows_per_shard", 1 << 20, "Rows per shard file (160 bytes per row).")
flags.DEFINE_bool(
    "skip_bad_lines", False, "Skip and count malformed lines instead of stopping at the first."
)
flags.DEFINE_bool(
    "pad_short_lines", False,
    "Pad lines with fewer than 40 fields with empty trailing fields, for copies whose trailing "
    "empty fields were stripped (a line must still end with a value).",
)
flags.DEFINE_bool("overwrite", False, "Replace an earlier preprocessing in --output_dir.")
flags.DEFINE_integer("block_mib", 4, "MiB of text parsed per block.")
flags.DEFINE_float("progress_seconds", 1.0, "Seconds between progress lines (0: none).")


def expand_inputs(patterns):
    """Expands globs; each pattern's matches in natural order (day_2 < day_10)."""
    from agp_tf.data.criteo import natural_sort_key  # see main()

    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern), key=natural_sort_key)
        if not matches:
            raise app.UsageError(f"--input: no file matches {pattern!r}")
        paths.extend(matches)
    return paths


class ProgressLine:
    """A one-line progress report on stderr: phase, percent, rows, rows/s."""

    def __init__(self, interval):
        self.interval = interval
        self._phase = None
        self._phase_start = 0.0
        self._last = 0.0
        self._printed = False

    def __call__(self, phase, done_bytes, total_bytes, rows, bad_lines):
        now = time.monotonic()
        if phase != self._phase:
            self.close()
            self._phase, self._phase_start, self._last = phase, now, now
        finished = done_bytes >= total_bytes
        if not self.interval or not (finished or now - self._last >= self.interval):
            return
        self._last = now
        elapsed = now - self._phase_start
        rate = f"{rows / elapsed:,.0f}" if elapsed > 0.01 else "-"
        percent = 100.0 * done_bytes / total_bytes if total_bytes else 100.0
        sys.stderr.write(
            f"\r[{phase}] {percent:5.1f}%  {rows:,} rows  {rate} rows/s  "
            f"{bad_lines:,} bad lines skipped"
        )
        sys.stderr.flush()
        self._printed = True

    def close(self):
        """Ends the current progress line, if one was written."""
        if self._printed:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._printed = False


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    # Imported after flag parsing: --help and flag errors need no TensorFlow.
    import_tensorflow()  # first: the readers import it
    from agp_tf.data import criteo
    from agp_tf.data import shards

    inputs = expand_inputs(FLAGS.input)
    vocabulary = None if FLAGS.vocabulary == "none" else FLAGS.vocabulary
    progress = ProgressLine(FLAGS.progress_seconds)
    start = time.monotonic()
    try:
        metadata = shards.preprocess(
            inputs,
            FLAGS.output_dir,
            split_mode=FLAGS.split_mode,
            num_days=FLAGS.num_days,
            max_ind_range=FLAGS.max_ind_range,
            vocabulary=vocabulary,
            vocab_order=FLAGS.vocab_order,
            oov=FLAGS.oov,
            shuffle=FLAGS.shuffle,
            seed=FLAGS.seed,
            rows_per_shard=FLAGS.rows_per_shard,
            skip_bad_lines=FLAGS.skip_bad_lines,
            max_bad_fraction=FLAGS.max_bad_fraction,
            pad_short_lines=FLAGS.pad_short_lines,
            overwrite=FLAGS.overwrite,
            block_bytes=FLAGS.block_mib << 20,
            progress=progress,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        progress.close()
        hint = ""
        if isinstance(error, criteo.CriteoParseError):
            hint = " (rerun with --skip_bad_lines to skip and count such lines)"
        print(f"preprocess: error: {error}{hint}", file=sys.stderr)
        return 1
    progress.close()

    elapsed = time.monotonic() - start
    total = sum(split["rows"] for split in metadata["splits"].values())
    print(f"Wrote {total:,} rows to {os.path.abspath(FLAGS.output_dir)} in {elapsed:.1f}s")
    for name, split in metadata["splits"].items():
        print(f"  {name:5s} {split['rows']:>14,} rows in {len(split['shards'])} shard(s)")
    print(f"Bad lines skipped: {metadata['bad_lines']:,}")
    for example in metadata["bad_line_examples"]:
        print(f"  {example}")
    print(f"Embedding table sizes: {metadata['table_sizes']}")
    return 0


if __name__ == "__main__":
    flags.mark_flags_as_required(["input", "output_dir"])
    app.run(main)
