"""Criteo Kaggle / Criteo 1TB click logs, read as the DLRM reference reads them.

One example per line, 40 tab-separated fields: `label`, `I1`..`I13`
(integers), `C1`..`C26` (8-hex-digit hashes); files may be gzipped. Every
name below is served from this package (`from agp_tf.data import criteo;
criteo.iter_batches(..)`); each module states its part of the rules:

- `lines`: field names, the format rules (field count, per-field checks,
  `pad_short_lines`), `CriteoParseError`, and `parse_line`, the readable
  statement of those rules;
- `block_parser`: `parse_block`, the same rules applied to a whole block
  with vectorized numpy, yielding a `ParsedChunk` of raw values;
- `stats`: `ParseStats` (what a pass counts) and `check_bad_lines`, the
  bad-data policy of `skip_bad_lines`;
- `files`: files cut into blocks of whole lines (`iter_blocks`,
  `BlockStart`), parsed in order (`iter_chunks`), counted (`count_rows`);
- `vocabulary`: hash folding, `Vocabulary` / `VocabularyBuilder` (id order,
  out-of-vocabulary values);
- `days`: the reference's days and train / test / val split (`DaySplit`);
- `stream`: the reference preprocessing of parsed rows (`transform_chunk`)
  and the batch streams `iter_batches` and `criteo_dataset`.

Imports go one way: lines <- block_parser <- files <- vocabulary <- stream
(`stats` and `days` depend on nothing of the package).
"""

from agp_tf.data.criteo.block_parser import ParsedChunk
from agp_tf.data.criteo.block_parser import parse_block
from agp_tf.data.criteo.days import KAGGLE_NUM_DAYS
from agp_tf.data.criteo.days import SPLITS
from agp_tf.data.criteo.days import DaySplit
from agp_tf.data.criteo.days import equal_day_sizes
from agp_tf.data.criteo.files import DEFAULT_BLOCK_BYTES
from agp_tf.data.criteo.files import BlockStart
from agp_tf.data.criteo.files import check_input_paths
from agp_tf.data.criteo.files import count_rows
from agp_tf.data.criteo.files import iter_blocks
from agp_tf.data.criteo.files import iter_chunks
from agp_tf.data.criteo.files import natural_sort_key
from agp_tf.data.criteo.lines import DENSE_NAMES
from agp_tf.data.criteo.lines import FIELD_NAMES
from agp_tf.data.criteo.lines import HEX_DIGITS
from agp_tf.data.criteo.lines import MAX_DENSE_DIGITS
from agp_tf.data.criteo.lines import SPARSE_NAMES
from agp_tf.data.criteo.lines import CriteoParseError
from agp_tf.data.criteo.lines import parse_line
from agp_tf.data.criteo.stats import DEFAULT_MAX_BAD_FRACTION
from agp_tf.data.criteo.stats import MAX_BAD_LINE_EXAMPLES
from agp_tf.data.criteo.stats import ParseStats
from agp_tf.data.criteo.stats import check_bad_lines
from agp_tf.data.criteo.stream import criteo_dataset
from agp_tf.data.criteo.stream import iter_batches
from agp_tf.data.criteo.stream import transform_chunk
from agp_tf.data.criteo.vocabulary import OOV_MODES
from agp_tf.data.criteo.vocabulary import VOCAB_ORDERS
from agp_tf.data.criteo.vocabulary import VOCABULARY_FORMAT_VERSION
from agp_tf.data.criteo.vocabulary import Vocabulary
from agp_tf.data.criteo.vocabulary import VocabularyBuilder
from agp_tf.data.criteo.vocabulary import fold_hashes

__all__ = [
    "BlockStart",
    "check_bad_lines",
    "CriteoParseError",
    "DaySplit",
    "ParseStats",
    "ParsedChunk",
    "Vocabulary",
    "VocabularyBuilder",
    "check_input_paths",
    "count_rows",
    "criteo_dataset",
    "equal_day_sizes",
    "fold_hashes",
    "iter_batches",
    "iter_blocks",
    "iter_chunks",
    "natural_sort_key",
    "parse_block",
    "parse_line",
    "transform_chunk",
]
