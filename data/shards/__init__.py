"""Preprocessed Criteo data as compact binary shards, and a fast tf.data reader.

Text files (read by `agp_tf.data.criteo`) are preprocessed once into a
directory of fixed-length 160-byte records, a vocabulary and a
`metadata.json`; training then reads the records back with no parsing.
Every name below is served from this package (`from agp_tf.data import
shards; shards.shard_dataset(..)`):

- `records`: the on-disk format: the record layout (`to_records`,
  `decode_records`, `decode_batch`), the directory's files and
  `load_metadata`;
- `writer`: `ShardWriter`, one split's records into numbered shard files;
- `preprocessing`: `preprocess`, the two passes from text to a directory
  (with the out-of-core day / total shuffle);
- `reader`: `shard_dataset`, `read_split`, `row_slices`: reading a split,
  or a row range of it, back.

Imports go one way: records, writer <- preprocessing; records <- reader.
"""

from agp_tf.data.shards.preprocessing import SHUFFLE_MODES
from agp_tf.data.shards.preprocessing import SPLIT_MODES
from agp_tf.data.shards.preprocessing import preprocess
from agp_tf.data.shards.reader import read_split
from agp_tf.data.shards.reader import row_slices
from agp_tf.data.shards.reader import shard_dataset
from agp_tf.data.shards.reader import shard_files
from agp_tf.data.shards.records import FORMAT_VERSION
from agp_tf.data.shards.records import METADATA_FILE
from agp_tf.data.shards.records import RECORD_BYTES
from agp_tf.data.shards.records import RECORD_DTYPE
from agp_tf.data.shards.records import VOCABULARY_FILE
from agp_tf.data.shards.records import decode_batch
from agp_tf.data.shards.records import decode_records
from agp_tf.data.shards.records import load_metadata
from agp_tf.data.shards.records import to_records
from agp_tf.data.shards.writer import DEFAULT_ROWS_PER_SHARD
from agp_tf.data.shards.writer import ShardWriter

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
