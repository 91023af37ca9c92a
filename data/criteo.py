"""Criteo Kaggle / Criteo 1TB click logs, read as the DLRM reference reads them.

Input format (Kaggle `train.txt`, 1TB `day_0` .. `day_23`, optionally
gzipped as `*.gz`): one example per line, tab-separated, no header, 40
fields: `label`, `I1`..`I13` (integers, may be empty, may be negative),
`C1`..`C26` (8-hex-digit hashes, may be empty).

Field-count rule. A line has exactly 40 fields; any other count makes it
bad, so nothing is ever shifted into place (a label-less row of Kaggle's
`test.txt` has 39). Some copies of the data had their trailing empty fields
stripped (`str.strip()` removes tabs too): for those, `pad_short_lines=True`
(`--pad_short_lines`) pads a shorter line with empty fields at the end, but
only when its last field is non-empty, since a stripped line never ends with
an empty field and a line cut right after a tab does. Padding cannot tell a
stripped line from one cut inside a field, nor from a label-less row whose
values happen to pass the per-field checks: use it only for such copies.

Per-field rules (anything else makes the line bad):

- `label`: exactly `0` or `1` (an empty label is bad: it would silently
  become a negative example);
- `I1`..`I13`: empty, or an optional `-` followed by 1 to 18 ASCII digits;
- `C1`..`C26`: empty, or exactly 8 ASCII hex digits (either case).

A bad line raises `CriteoParseError` (a `ValueError`) naming the file, the
1-based line number and the field. With `skip_bad_lines=True` it is dropped
and counted in a `ParseStats`. A blank line is a bad line.

Reference preprocessing (DLRM `data_utils.py` / `dlrm_data_pytorch.py`):

- dense: empty -> 0, negative -> 0, then `log(x + 1)` in float32;
- categorical: empty -> 0, hex -> unsigned 32-bit integer (held in int64),
  optionally `% max_ind_range`, then a contiguous id per column from a
  `Vocabulary` built in one streaming pass. As in the reference, an empty
  field and the hash `00000000` are the same value.

Vocabulary order. `order="sorted"` numbers the distinct values of a column
in increasing order (`np.unique`); `order="first_seen"` numbers them in order
of first appearance, which is what the reference's `getCriteoAdData` does
(it fills a Python dict per column). Both give the same sizes; the ids
differ by a per-column permutation only.

Out-of-vocabulary values. A value the vocabulary has not seen is an error by
default (`oov="error"`: `ValueError` naming file, line and column). With
`oov="reserve"` it maps to a reserved id `vocab_sizes[j]`, so the embedding
table needs `vocab_sizes[j] + 1` rows (`Vocabulary.table_sizes("reserve")`).
The reference builds its vocabulary over every day, so in its protocol no
value is ever unseen.

Days and splits. Kaggle: the rows are cut, in file order, into 7 days of
`divmod(num_rows, 7)` rows with the first `num_rows % 7` days one row longer
(`DaySplit.equal_days`). Criteo 1TB: each file is one day
(`DaySplit.from_day_sizes`). Days 0 .. D-2 are `"train"`; the last day is
cut with `np.array_split(.., 2)`: the first `ceil(n / 2)` rows are `"test"`,
the remaining `floor(n / 2)` rows are `"val"`. Row indices count good rows
only (bad lines skipped with `skip_bad_lines` take no index).

Streams (`iter_batches`, `criteo_dataset`) read the files in blocks of whole
lines and parse each block with vectorized numpy; they never hold a whole
file in memory.
"""

import bisect
import dataclasses
import gzip
import itertools
import math
import os
import re

import numpy as np
import tensorflow as tf

from agp_tf.data.features import DENSE_KEY
from agp_tf.data.features import NUM_DENSE
from agp_tf.data.features import NUM_FIELDS
from agp_tf.data.features import NUM_SPARSE
from agp_tf.data.features import SPARSE_KEY
from agp_tf.data.features import transform_dense

DENSE_NAMES = tuple(f"I{i}" for i in range(1, NUM_DENSE + 1))
SPARSE_NAMES = tuple(f"C{i}" for i in range(1, NUM_SPARSE + 1))
FIELD_NAMES = ("label",) + DENSE_NAMES + SPARSE_NAMES

SPLITS = ("train", "test", "val")
KAGGLE_NUM_DAYS = 7
MAX_DENSE_DIGITS = 18  # any 18-digit integer fits in int64
HEX_DIGITS = 8
DEFAULT_BLOCK_BYTES = 4 << 20  # ~17k Kaggle lines; keeps numpy temporaries small
# With skip_bad_lines, the share of bad lines above which a pass fails.
DEFAULT_MAX_BAD_FRACTION = 0.001
VOCABULARY_FORMAT_VERSION = 1
VOCAB_ORDERS = ("sorted", "first_seen")
OOV_MODES = ("error", "reserve")
MAX_BAD_LINE_EXAMPLES = 10

_FIRST_DENSE = 1
_FIRST_SPARSE = 1 + NUM_DENSE
_DENSE_RE = re.compile(r"-?[0-9]{1,%d}" % MAX_DENSE_DIGITS)
_HEX_RE = re.compile(r"[0-9a-fA-F]{%d}" % HEX_DIGITS)

_TAB, _NEWLINE, _MINUS, _ZERO = 9, 10, 45, 48
_PAD = 32  # zero bytes around a block; >= the 24-byte reach of the word reads


class CriteoParseError(ValueError):
    """A line of a Criteo file that breaks the format.

    Attributes:
        path: The file.
        line_number: 1-based line number in that file.
        field: Field name (`"label"`, `"I3"`, `"C7"`), or None when the line
            as a whole is bad (wrong field count).
        reason: What is wrong, without the location.
    """

    def __init__(self, path, line_number, field, reason):
        self.path = path
        self.line_number = line_number
        self.field = field
        self.reason = reason
        where = f"{path}:{line_number}"
        if field is not None:
            where += f": field {field}"
        super().__init__(f"{where}: {reason}")


@dataclasses.dataclass
class ParseStats:
    """Counters a pass over Criteo files fills in.

    Attributes:
        rows_per_file: Good rows per file path, in reading order.
        bad_lines: Lines skipped (only with `skip_bad_lines=True`).
        bad_line_examples: Messages of the first few skipped lines.
        bytes_read: Bytes read from disk (compressed bytes for `.gz`).
        block_starts: Per file path, one `BlockStart` per block read, in
            order: where a later read of a row range can seek to.
    """

    rows_per_file: dict = dataclasses.field(default_factory=dict)
    bad_lines: int = 0
    bad_line_examples: list = dataclasses.field(default_factory=list)
    bytes_read: int = 0
    block_starts: dict = dataclasses.field(default_factory=dict)

    @property
    def rows(self):
        """Good rows over all files."""
        return sum(self.rows_per_file.values())


@dataclasses.dataclass(frozen=True)
class BlockStart:
    """Where a block of whole lines begins in a file.

    Attributes:
        row: Good rows of the file before the block.
        offset: Byte offset of the block in the (uncompressed) file.
        line_number: 1-based number of the block's first line.
    """

    row: int
    offset: int
    line_number: int


def check_bad_lines(stats, paths, max_bad_fraction=DEFAULT_MAX_BAD_FRACTION):
    """The bad-data policy of a finished pass: raises unless enough good rows remain.

    Every reader of Criteo text (preprocessing, training on text) calls it
    after its counting pass. Skipped lines are only tolerated with
    `skip_bad_lines`; this bounds how many.

    Args:
        stats: The pass's `ParseStats`.
        paths: The files read (named in the errors).
        max_bad_fraction: Largest tolerated share of bad lines among all lines.

    Raises:
        ValueError: The input is empty, no line is good, or the bad share
            exceeds `max_bad_fraction`; the message gives the first examples.
    """
    if not 0.0 <= max_bad_fraction <= 1.0:
        raise ValueError(
            f"`max_bad_fraction` must lie in [0, 1]. Received: max_bad_fraction={max_bad_fraction}"
        )
    names = ", ".join(str(p) for p in paths)
    examples = "; ".join(stats.bad_line_examples[:3])
    lines = stats.rows + stats.bad_lines
    if lines == 0:
        raise ValueError(f"Empty input: {names} hold no lines.")
    if stats.rows == 0:
        raise ValueError(f"No valid line: all {lines:,} lines of {names} are bad. First: {examples}")
    fraction = stats.bad_lines / lines
    if fraction > max_bad_fraction:
        raise ValueError(
            f"{stats.bad_lines:,} of {lines:,} lines of {names} are bad ({fraction:.2%}), above "
            f"max_bad_fraction={max_bad_fraction}. First: {examples}"
        )


@dataclasses.dataclass(frozen=True)
class ParsedChunk:
    """Raw values of the good lines of one block of a file (no transform yet).

    Attributes:
        path: The file.
        line_numbers: int64 `(n,)`, 1-based line number of each row.
        labels: int64 `(n,)`, 0 or 1.
        dense: int64 `(n, 13)`, the integers as written (empty -> 0,
            negatives kept).
        hashes: int64 `(n, 26)`, each hash as an unsigned 32-bit value
            (empty -> 0).
        num_lines: Lines in the block, good and bad.
    """

    path: str
    line_numbers: np.ndarray
    labels: np.ndarray
    dense: np.ndarray
    hashes: np.ndarray
    num_lines: int

    def __len__(self):
        return len(self.labels)

    def take(self, index):
        """The rows at `index` (a slice or an index array), as a new chunk."""
        return ParsedChunk(
            self.path,
            self.line_numbers[index],
            self.labels[index],
            self.dense[index],
            self.hashes[index],
            self.num_lines,
        )


# --------------------------------------------------------------------------
# Pure math of the reference preprocessing.


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


def parse_line(line, path="<string>", line_number=1, pad_short_lines=False):
    """Parses one line with plain Python; the readable statement of the rules.

    The vectorized block parser follows exactly these rules; this function
    also produces its error messages.

    Args:
        line: The line, `str` or `bytes`, with or without its newline.
        path: File name for error messages.
        line_number: 1-based line number for error messages.
        pad_short_lines: Pad a line of fewer than 40 fields whose last field
            is non-empty (see the field-count rule above).

    Returns:
        `(label, dense, hashes)`: int, list of 13 ints (negatives kept),
        list of 26 ints (unsigned 32-bit hash values).

    Raises:
        CriteoParseError: If the line breaks the format.

    Example:

    ```python
    label, dense, hashes = parse_line("1\\t5\\t-1" + "\\t" * 12 + "68fd1e64" + "\\t" * 25)
    # 1, [5, -1, 0, ..., 0], [0x68fd1e64, 0, ..., 0]
    ```
    """
    if isinstance(line, bytes):
        line = line.decode("latin-1")  # one char per byte: never fails
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    fields = line.split("\t")
    if len(fields) != NUM_FIELDS:
        if len(fields) > NUM_FIELDS or not pad_short_lines:
            raise CriteoParseError(path, line_number, None, _field_count_error(len(fields)))
        if not fields[-1]:
            raise CriteoParseError(
                path, line_number, None,
                f"line has {len(fields)} fields and ends with an empty one: cut, not "
                "stripped (a stripped line ends with a value), so it is not padded",
            )
        fields += [""] * (NUM_FIELDS - len(fields))
    if fields[0] not in ("0", "1"):
        raise CriteoParseError(
            path, line_number, "label", f"label must be 0 or 1; got {fields[0]!r}"
        )
    dense = []
    for name, value in zip(DENSE_NAMES, fields[_FIRST_DENSE:_FIRST_SPARSE]):
        if value and not _DENSE_RE.fullmatch(value):
            raise CriteoParseError(
                path,
                line_number,
                name,
                "dense value must be empty or an integer of at most "
                f"{MAX_DENSE_DIGITS} digits; got {value!r}",
            )
        dense.append(int(value) if value else 0)
    hashes = []
    for name, value in zip(SPARSE_NAMES, fields[_FIRST_SPARSE:]):
        if value and not _HEX_RE.fullmatch(value):
            raise CriteoParseError(
                path,
                line_number,
                name,
                f"categorical value must be empty or {HEX_DIGITS} hex digits; got {value!r}",
            )
        hashes.append(int(value, 16) if value else 0)
    return int(fields[0]), dense, hashes


def _field_count_error(count):
    if count > NUM_FIELDS:
        return f"line has {count} tab-separated fields; expected {NUM_FIELDS}"
    return (
        f"line has {count} tab-separated fields; expected {NUM_FIELDS}. If this copy had "
        "its trailing empty fields stripped, pass pad_short_lines=True (--pad_short_lines)"
    )


# --------------------------------------------------------------------------
# Vectorized block parser.


def _words_at(buffer):
    """Unaligned little-endian uint64 view: element i is the 8 bytes at offset i."""
    return np.ndarray(
        shape=(len(buffer) - 7,), dtype="<u8", buffer=buffer, strides=(1,)
    )


def _field_bounds(buffer):
    """Start and end offsets of the 40 fields of every line.

    Args:
        buffer: uint8 array: `_PAD` zero bytes, whole lines each ending in
            `\\n`, `_PAD` zero bytes.

    Returns:
        `(starts, ends, num_fields, newlines)`: int64 `(n, 40)` twice (a
        padded field is empty: start == end == the line's newline), int64
        `(n,)` fields actually on each line, int64 `(n,)` newline offsets.
    """
    separators = np.flatnonzero((buffer == _TAB) | (buffer == _NEWLINE))
    line_ends = np.flatnonzero(buffer[separators] == _NEWLINE)  # index into separators
    newlines = separators[line_ends]
    num_fields = np.diff(line_ends, prepend=-1)  # tabs + 1 per line
    if num_fields.max() > NUM_FIELDS:
        # Rare: drop the tabs past the 39th of over-long lines (bad lines).
        rank = np.arange(len(separators)) - np.repeat(line_ends - num_fields + 1, num_fields)
        separators = separators[(rank < NUM_FIELDS - 1) | (buffer[separators] == _NEWLINE)]
        line_ends = np.flatnonzero(buffer[separators] == _NEWLINE)
    # Each tab ends one field; each newline ends the line's last field and,
    # repeated, the empty fields that pad the line to 40.
    repeats = np.ones(len(separators), dtype=np.int64)
    repeats[line_ends] = NUM_FIELDS + 1 - np.diff(line_ends, prepend=-1)
    ends = np.repeat(separators, repeats).reshape(-1, NUM_FIELDS)  # (n, 40)
    starts = np.empty_like(ends)
    starts.ravel()[0] = _PAD
    starts.ravel()[1:] = ends.ravel()[:-1] + 1
    np.minimum(starts, ends, out=starts)  # padded fields start at the newline
    return starts, ends, num_fields, newlines


def _bytes(value):
    """uint64 with every byte equal to `value`."""
    return np.uint64(0x0101010101010101 * value)


def _bytes_in_range(words, low, high):
    """0x80 in each byte of `words` that lies in [low, high] (bytes < 0x80 only)."""
    return (words + _bytes(0x80 - low)) & ~(words + _bytes(0x7F - high)) & _bytes(0x80)


# KEEP_HIGH[k]: mask of the k most significant bytes of a uint64.
_KEEP_HIGH = np.array(
    [((1 << (8 * k)) - 1) << (8 * (8 - k)) for k in range(9)], dtype=np.uint64
)
_U = np.uint64


def _eight_digits(words):
    """Values of 8 ASCII digits packed little-endian (first digit in byte 0).

    Every byte must be a digit; callers mask out the other words.
    """
    words = words - _bytes(_ZERO)
    words = words * _U(10) + (words >> _U(8))  # 2-digit lanes
    low = (words & _U(0x000000FF000000FF)) * _U(100 + (1000000 << 32))
    high = ((words >> _U(16)) & _U(0x000000FF000000FF)) * _U(1 + (10000 << 32))
    return ((low + high) >> _U(32)).astype(np.int64)


def _parse_dense(buffer, starts, ends):
    """Vectorized dense fields: values int64 `(n, 13)` and ok mask `(n, 13)`.

    Works on 8-byte words read at the end of each field (SWAR): bytes
    before the digits are replaced by "0", so the word's value is the
    field's value; a field of up to 18 digits spans up to 3 words.
    """
    words_at = _words_at(buffer)
    lengths = ends - starts  # (n, 13)
    negative = (buffer[starts] == _MINUS) & (lengths > 0)
    num_digits = lengths - negative
    ok = (num_digits <= MAX_DENSE_DIGITS) & ~(negative & (num_digits == 0))
    num_digits = np.minimum(num_digits, MAX_DENSE_DIGITS)
    num_words = -(-int(num_digits.max(initial=0)) // 8)
    values = np.zeros(lengths.shape, dtype=np.int64)
    for word in range(num_words):  # most significant word first
        below = 8 * (num_words - 1 - word)  # digits in the words after this one
        keep = _KEEP_HIGH[np.clip(num_digits - below, 0, 8)]  # (n, 13)
        chunk = words_at[ends - below - 8]  # (n, 13): the 8 bytes ending there
        chunk = (chunk & keep) | (_bytes(_ZERO) & ~keep)
        not_digit = ((chunk + _bytes(0x46)) | (chunk - _bytes(_ZERO))) & _bytes(0x80)
        ok &= not_digit == 0
        values = values * 10**8 + _eight_digits(chunk)
    return np.where(negative, -values, values), ok


def _parse_hashes(buffer, starts, ends):
    """Vectorized categorical fields: int64 `(n, 26)` and ok mask `(n, 26)`.

    Each field's 8 bytes are one uint64 word; validation, nibble decoding
    and packing are word-wide bit operations (SWAR).
    """
    lengths = ends - starts
    words = _words_at(buffer)[starts]  # (n, 26), first char in the low byte
    # Setting bit 5 maps A-F (only) onto a-f.
    is_hex = _bytes_in_range(words, 0x30, 0x39) | _bytes_in_range(
        words | _bytes(0x20), 0x61, 0x66
    )
    ascii_only = (words & _bytes(0x80)) == 0  # the range test needs bytes < 0x80
    ok = (lengths == 0) | ((lengths == HEX_DIGITS) & ascii_only & (is_hex == _bytes(0x80)))
    # Nibble per byte: low 4 bits, plus 9 for letters (bit 6 set).
    nibbles = (words & _bytes(0x0F)) + ((words >> _U(6)) & _bytes(0x01)) * _U(9)
    # Pack the 8 nibbles, first char most significant.
    packed = ((nibbles & _U(0x000F000F000F000F)) << _U(4)) | (
        (nibbles >> _U(8)) & _U(0x000F000F000F000F)
    )
    packed = ((packed & _U(0x000000FF000000FF)) << _U(8)) | (
        (packed >> _U(16)) & _U(0x000000FF000000FF)
    )
    packed = ((packed & _U(0xFFFF)) << _U(16)) | ((packed >> _U(32)) & _U(0xFFFF))
    return np.where(lengths == 0, 0, packed.astype(np.int64)), ok


def parse_block(block, path="<block>", first_line_number=1, skip_bad_lines=False, stats=None,
                pad_short_lines=False):
    """Parses a block of whole lines with vectorized numpy.

    Args:
        block: `bytes` holding whole lines; the last one may lack its `\\n`.
        path: File name for error messages and for the chunk.
        first_line_number: 1-based line number of the block's first line.
        skip_bad_lines: Drop bad lines (and count them in `stats`) instead of
            raising.
        stats: Optional `ParseStats`; bad lines are added to it.
        pad_short_lines: Pad short lines as `parse_line` does.

    Returns:
        A `ParsedChunk` with the good lines.

    Raises:
        CriteoParseError: At the first bad line, unless `skip_bad_lines`.

    Example:

    ```python
    chunk = parse_block(open("train.txt", "rb").read(1 << 20).rpartition(b"\\n")[0])
    chunk.labels.shape, chunk.dense.shape, chunk.hashes.shape
    # (n,), (n, 13), (n, 26)
    ```
    """
    if not block.endswith(b"\n"):
        block += b"\n"
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
    # Padding lets the 8-byte words run past either end of the block.
    buffer = np.frombuffer(bytes(_PAD) + block + bytes(_PAD), dtype=np.uint8)
    starts, ends, num_fields, newlines = _field_bounds(buffer)
    n = len(newlines)

    label_chars = buffer[starts[:, 0]]
    good = ((ends[:, 0] - starts[:, 0]) == 1) & (
        (label_chars == _ZERO) | (label_chars == _ZERO + 1)
    )
    if pad_short_lines:
        # A padded line's last own field must hold a value (else: cut).
        last = np.minimum(num_fields, NUM_FIELDS) - 1
        rows = np.arange(n)
        filled = ends[rows, last] > starts[rows, last]
        good &= (num_fields == NUM_FIELDS) | ((num_fields < NUM_FIELDS) & filled)
    else:
        good &= num_fields == NUM_FIELDS
    dense, dense_ok = _parse_dense(
        buffer, starts[:, _FIRST_DENSE:_FIRST_SPARSE], ends[:, _FIRST_DENSE:_FIRST_SPARSE]
    )
    hashes, hashes_ok = _parse_hashes(buffer, starts[:, _FIRST_SPARSE:], ends[:, _FIRST_SPARSE:])
    good &= dense_ok.all(axis=1) & hashes_ok.all(axis=1)

    line_numbers = np.arange(first_line_number, first_line_number + n, dtype=np.int64)
    labels = (label_chars - _ZERO).astype(np.int64)
    chunk = ParsedChunk(path, line_numbers, labels, dense, hashes, n)
    if good.all():
        return chunk
    bad = np.flatnonzero(~good)
    line_starts = np.concatenate([[_PAD], newlines[:-1] + 1])

    def line_error(i):
        # The per-line parser states what is wrong with the line.
        text = buffer[line_starts[i] : newlines[i]].tobytes()
        try:
            parse_line(text, path, int(line_numbers[i]), pad_short_lines)
        except CriteoParseError as error:
            return error
        return CriteoParseError(path, int(line_numbers[i]), None, "line rejected by the parser")

    if not skip_bad_lines:
        raise line_error(bad[0])
    if stats is not None:
        stats.bad_lines += len(bad)
        room = MAX_BAD_LINE_EXAMPLES - len(stats.bad_line_examples)
        stats.bad_line_examples.extend(str(line_error(i)) for i in bad[: max(room, 0)])
    return chunk.take(good)


# --------------------------------------------------------------------------
# Streaming over files.


def _open_binary(path):
    """Opens `path` for reading bytes (gzip when it ends in .gz).

    Returns `(stream, raw)`; `raw.tell()` is the position in the file on disk.
    """
    raw = open(path, "rb")
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw
    return raw, raw


def iter_blocks(path, block_bytes=DEFAULT_BLOCK_BYTES, start=None):
    """Yields `(block, first_line_number, bytes_on_disk, offset)` of whole lines.

    Args:
        path: A Criteo text file (`.gz` is decompressed on the fly).
        block_bytes: Bytes read per block; a block is then cut back to its
            last newline (a line longer than this makes the block longer).
        start: Optional `BlockStart` to begin at instead of the file's
            start. Plain files seek there; `.gz` files cannot seek, so they
            are decompressed up to it.

    `offset` is the block's byte offset in the uncompressed file.

    Example:

    ```python
    for block, first_line, _, _ in iter_blocks("day_0", 1 << 22):
        chunk = parse_block(block, "day_0", first_line)
    ```
    """
    stream, raw = _open_binary(path)
    with raw, stream:
        offset, line_number = (0, 1) if start is None else (start.offset, start.line_number)
        stream.seek(offset)
        carry = b""
        while True:
            data = stream.read(block_bytes)
            if not data:
                if carry:
                    yield carry, line_number, raw.tell(), offset
                return
            data = carry + data if carry else data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            yield block, line_number, raw.tell(), offset
            line_number += block.count(b"\n")
            offset += cut


def _count_lines(block):
    return block.count(b"\n") + (not block.endswith(b"\n"))


def check_input_paths(paths):
    """A file or list of files as a checked list of path strings.

    Raises:
        ValueError: If the list is empty.
        FileNotFoundError: If a file does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("`paths` must name at least one file. Received: paths=[]")
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Criteo input file not found: {path}")
    return paths


def iter_chunks(
    paths,
    skip_bad_lines=False,
    stats=None,
    block_bytes=DEFAULT_BLOCK_BYTES,
    progress=None,
    pad_short_lines=False,
):
    """Parses files in order and yields one `ParsedChunk` per block.

    Args:
        paths: A file or a list of files, read in the given order.
        skip_bad_lines: Drop and count bad lines instead of raising.
        stats: Optional `ParseStats` to fill in (rows per file, bad lines).
        block_bytes: Bytes per block.
        progress: Optional callable `(bytes_read, rows, bad_lines)`, called
            after every block with totals so far.
        pad_short_lines: Pad short lines (see the field-count rule).

    Example:

    ```python
    rows = sum(len(chunk) for chunk in iter_chunks(["train.txt"]))
    ```
    """
    paths = check_input_paths(paths)
    stats = ParseStats() if stats is None else stats
    bytes_before = stats.bytes_read
    for path in paths:
        stats.rows_per_file.setdefault(path, 0)
        starts = stats.block_starts.setdefault(path, [])
        for block, first_line, bytes_on_disk, offset in iter_blocks(path, block_bytes):
            starts.append(BlockStart(stats.rows_per_file[path], offset, first_line))
            chunk = parse_block(block, path, first_line, skip_bad_lines, stats, pad_short_lines)
            stats.rows_per_file[path] += len(chunk)
            stats.bytes_read = bytes_before + bytes_on_disk
            if progress is not None:
                progress(stats.bytes_read, stats.rows, stats.bad_lines)
            yield chunk
        bytes_before = stats.bytes_read


def count_rows(paths, skip_bad_lines=False, block_bytes=DEFAULT_BLOCK_BYTES, stats=None,
               pad_short_lines=False):
    """Good rows per file, in the given order.

    Without `skip_bad_lines` every line must be good (a later read raises at
    a bad one), so this only counts lines; with it, the files are parsed.
    `stats`, an optional `ParseStats`, is filled in (rows per file, and the
    bad lines when skipping). `pad_short_lines` matters only when skipping.

    Example:

    ```python
    count_rows(["day_0", "day_1"])   # [195841983, 199563535]
    ```
    """
    paths = check_input_paths(paths)
    stats = ParseStats() if stats is None else stats
    if skip_bad_lines:
        for _ in iter_chunks(paths, True, stats, block_bytes, pad_short_lines=pad_short_lines):
            pass
        return [stats.rows_per_file[p] for p in paths]
    counts = []
    for path in paths:
        lines, bytes_before = 0, stats.bytes_read
        starts = stats.block_starts[path] = []
        for block, first_line, bytes_on_disk, offset in iter_blocks(path, block_bytes):
            starts.append(BlockStart(lines, offset, first_line))
            lines += _count_lines(block)
            stats.bytes_read = bytes_before + bytes_on_disk
        counts.append(lines)
        stats.rows_per_file[path] = lines
    return counts


# --------------------------------------------------------------------------
# Vocabulary.


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
        _check_oov(oov)
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
            pad_short_lines: Pad short lines (see the field-count rule).

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


def _check_oov(oov):
    if oov not in OOV_MODES:
        raise ValueError(f"`oov` must be one of {OOV_MODES}. Received: oov={oov!r}")


# --------------------------------------------------------------------------
# Days and splits.


def equal_day_sizes(num_rows, num_days=KAGGLE_NUM_DAYS):
    """Rows per day when `num_rows` rows are cut into equal days (reference).

    The first `num_rows % num_days` days get one extra row.

    Example:

    ```python
    equal_day_sizes(45840617)   # (6548660, 6548660, 6548660, 6548660, 6548659, ...)
    equal_day_sizes(10)         # (2, 2, 2, 1, 1, 1, 1)
    ```
    """
    if num_days < 2:
        raise ValueError(f"`num_days` must be >= 2. Received: num_days={num_days}")
    if num_rows < 0:
        raise ValueError(f"`num_rows` must be >= 0. Received: num_rows={num_rows}")
    per_day, extra = divmod(int(num_rows), int(num_days))
    return tuple(per_day + (day < extra) for day in range(num_days))


@dataclasses.dataclass(frozen=True)
class DaySplit:
    """Days in file order, and the train / test / val row ranges over them.

    Row indices count good rows over all files in reading order. Days
    0 .. D-2 are `"train"`; the last day's first `ceil(n / 2)` rows are
    `"test"` and the rest `"val"` (the reference's `np.array_split(.., 2)`).
    `"all"` is every row.

    Example:

    ```python
    days = DaySplit.equal_days(45840617)       # Criteo Kaggle
    days.split_range("train")                  # (0, 39291958)
    days.split_range("test")                   # (39291958, 42566288)
    days.split_range("val")                    # (42566288, 45840617)
    days = DaySplit.from_day_sizes(count_rows([f"day_{d}" for d in range(24)]))   # 1TB
    ```
    """

    day_sizes: tuple

    def __post_init__(self):
        sizes = tuple(int(s) for s in self.day_sizes)
        if len(sizes) < 2 or min(sizes) < 0:
            raise ValueError(
                "A day split needs at least 2 days of non-negative size. "
                f"Received: day_sizes={self.day_sizes!r}"
            )
        object.__setattr__(self, "day_sizes", sizes)

    @classmethod
    def equal_days(cls, num_rows, num_days=KAGGLE_NUM_DAYS):
        """Kaggle: `num_rows` rows cut into `num_days` equal days in order."""
        return cls(equal_day_sizes(num_rows, num_days))

    @classmethod
    def from_day_sizes(cls, day_sizes):
        """1TB: one day per file, `day_sizes[d]` rows in day d."""
        return cls(tuple(day_sizes))

    @property
    def num_rows(self):
        return sum(self.day_sizes)

    @property
    def day_offsets(self):
        """`(D + 1,)` tuple; day d holds rows `[offsets[d], offsets[d + 1])`."""
        return tuple(itertools.accumulate(self.day_sizes, initial=0))

    def split_range(self, split):
        """`(start, stop)` good-row range of `"train"`, `"test"`, `"val"` or `"all"`."""
        offsets = self.day_offsets
        last_start, end = offsets[-2], offsets[-1]
        middle = last_start + math.ceil((end - last_start) / 2)
        ranges = {
            "train": (0, last_start),
            "test": (last_start, middle),
            "val": (middle, end),
            "all": (0, end),
        }
        if split not in ranges:
            raise ValueError(
                f"`split` must be one of {tuple(ranges)}. Received: split={split!r}"
            )
        return ranges[split]

    def split_sizes(self):
        """Rows per split, e.g. `{"train": .., "test": .., "val": ..}`."""
        return {s: self.split_range(s)[1] - self.split_range(s)[0] for s in SPLITS}

    def boundaries(self, start, stop):
        """Day and split boundaries strictly inside `(start, stop)`, sorted."""
        cuts = set(self.day_offsets) | {self.split_range("test")[1]}
        return sorted(c for c in cuts if start < c < stop)


# --------------------------------------------------------------------------
# Batches.


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
                lines = _count_lines(block)
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
        pad_short_lines: Pad short lines (see the field-count rule).

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
    _check_oov(oov)
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


def natural_sort_key(path):
    """Sort key that puts `day_2` before `day_10`."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.fspath(path))]


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
