"""Criteo files as blocks of whole lines, parsed in order; input checks and row counts.

`iter_blocks` reads a file (plain or `.gz`) in blocks of whole lines and
says where each block starts (`BlockStart`: row, byte offset, line number);
`iter_chunks` parses the blocks of a list of files with
`block_parser.parse_block` and records those starts and the row counts in a
`stats.ParseStats`; `count_rows` is the counting pass. A later read of a row
range (`stream`) seeks to a recorded `BlockStart` instead of reading from
the start. No reader ever holds a whole file in memory.
"""

import dataclasses
import gzip
import os
import re

from agp_tf.data.criteo.block_parser import parse_block
from agp_tf.data.criteo.stats import ParseStats

DEFAULT_BLOCK_BYTES = 4 << 20  # ~17k Kaggle lines; keeps numpy temporaries small


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


def count_lines(block):
    """Lines in a block (a last line without its newline counts)."""
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
        pad_short_lines: Pad short lines (see the field-count rule in `lines`).

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
            lines += count_lines(block)
            stats.bytes_read = bytes_before + bytes_on_disk
        counts.append(lines)
        stats.rows_per_file[path] = lines
    return counts


def natural_sort_key(path):
    """Sort key that puts `day_2` before `day_10`."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", os.fspath(path))]
