"""The vectorized block parser: `parse_block` turns a block of lines into a `ParsedChunk`.

It applies the rules of `lines` to a whole block of lines at once with
numpy, and gives the same rows, values and errors as `lines.parse_line`
(which it asks what is wrong with a bad line). The readers in `files` and
`stream` cut files into blocks and call it; `ParsedChunk` holds raw values
only (no vocabulary, no transform: see `stream.transform_chunk`).

How it works: the offsets of every tab and newline give each line's 40
field bounds (`_field_bounds`); then each column is decoded for all lines
together (`_parse_dense`, `_parse_hashes`), and a line is good when its
field count, label and every field pass.
"""

import dataclasses

import numpy as np

from agp_tf.data.criteo.lines import FIRST_DENSE
from agp_tf.data.criteo.lines import FIRST_SPARSE
from agp_tf.data.criteo.lines import HEX_DIGITS
from agp_tf.data.criteo.lines import MAX_DENSE_DIGITS
from agp_tf.data.criteo.lines import CriteoParseError
from agp_tf.data.criteo.lines import parse_line
from agp_tf.data.criteo.stats import MAX_BAD_LINE_EXAMPLES
from agp_tf.data.features import NUM_FIELDS

_TAB, _NEWLINE, _MINUS, _ZERO = 9, 10, 45, 48
_PAD = 32  # zero bytes around a block; >= the reach of the digit reads (18 back, 8 on)


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


# The digit and hex conversions below are plain numpy, one gather per digit
# position. They replaced a SWAR version (unaligned uint64 word views, 8
# digits per multiply-shift) that was not fast enough to pay for its bit
# tricks (the bar was 1.5x): parse_block on a ~4 MiB block, median of 9
# interleaved runs each (numpy, one thread, shared 2-core machine), was
# 1.22x faster with SWAR on the real Kaggle head repeated 17 times (17,000
# rows: 37.0 vs 45.8 ms, 460k vs 371k rows/s; 1.12-1.24x over 4 runs) and
# 1.33-1.44x on SyntheticCriteo text (17,246 rows: 33.0 vs 47.4 ms).

# Nibble value of each byte; 16 marks a byte that is not a hex digit.
_NIBBLE = np.full(256, 16, dtype=np.uint8)
_NIBBLE[ord("0") : ord("9") + 1] = np.arange(10)
_NIBBLE[ord("a") : ord("f") + 1] = np.arange(10, 16)
_NIBBLE[ord("A") : ord("F") + 1] = np.arange(10, 16)


def _parse_dense(buffer, starts, ends):
    """Vectorized dense fields: values int64 `(n, 13)` and ok mask `(n, 13)`.

    Digit k from the right of every field is read at once (`ends - 1 - k`;
    up to 18 bytes before a field, inside the padding at the block's start)
    and counted only where the field has that many digits.
    """
    lengths = ends - starts  # (n, 13)
    negative = (buffer[starts] == _MINUS) & (lengths > 0)
    num_digits = lengths - negative
    ok = (num_digits <= MAX_DENSE_DIGITS) & ~(negative & (num_digits == 0))
    num_digits = np.minimum(num_digits, MAX_DENSE_DIGITS)
    values = np.zeros(lengths.shape, dtype=np.int64)
    for k in range(int(num_digits.max(initial=0))):  # least significant digit first
        # uint8 arithmetic wraps: any byte other than "0".."9" gives > 9.
        digit = (buffer[ends - 1 - k] - np.uint8(_ZERO)).astype(np.int64)  # (n, 13)
        present = k < num_digits
        ok &= ~present | (digit <= 9)
        values += np.where(present, digit, 0) * 10**k
    return np.where(negative, -values, values), ok


def _parse_hashes(buffer, starts, ends):
    """Vectorized categorical fields: int64 `(n, 26)` and ok mask `(n, 26)`.

    The 8 bytes from each field's start (past a shorter field's end: such a
    field is bad or empty anyway) are mapped to nibbles through `_NIBBLE`
    and shifted in, first char most significant.
    """
    lengths = ends - starts  # (n, 26)
    values = np.zeros(lengths.shape, dtype=np.int64)
    hex_ok = np.ones(lengths.shape, dtype=bool)
    for k in range(HEX_DIGITS):
        nibble = _NIBBLE[buffer[starts + k]]  # (n, 26)
        hex_ok &= nibble < 16
        values = (values << 4) | nibble
    ok = (lengths == 0) | ((lengths == HEX_DIGITS) & hex_ok)
    return np.where(lengths == 0, 0, values), ok


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
    # Padding lets the digit reads run past either end of the block.
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
        buffer, starts[:, FIRST_DENSE:FIRST_SPARSE], ends[:, FIRST_DENSE:FIRST_SPARSE]
    )
    hashes, hashes_ok = _parse_hashes(buffer, starts[:, FIRST_SPARSE:], ends[:, FIRST_SPARSE:])
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
