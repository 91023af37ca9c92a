"""What a pass over Criteo files counts (`ParseStats`), and the bad-data policy.

A bad line (see `lines`) stops a read with `CriteoParseError` unless the
reader runs with `skip_bad_lines=True`; then it is dropped, takes no row
index, and is counted here with the first `MAX_BAD_LINE_EXAMPLES` messages.
`check_bad_lines` judges a finished pass by these counts: every reader of
Criteo text (preprocessing, training on text) calls it after its counting
pass. `block_parser` counts the bad lines; `files` and `stream` fill in the
rows, bytes and block starts.
"""

import dataclasses

# With skip_bad_lines, the share of bad lines above which a pass fails.
DEFAULT_MAX_BAD_FRACTION = 0.001
MAX_BAD_LINE_EXAMPLES = 10


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
