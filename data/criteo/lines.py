"""The Criteo line format, stated once in plain Python: names, rules, `parse_line`.

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
1-based line number and the field; a blank line is a bad line. (With
`skip_bad_lines=True` the readers drop it and count it instead: see
`stats`.)

`parse_line` is the readable statement of these rules and the source of
every error message; `block_parser.parse_block` applies the same rules to a
whole block at once and asks `parse_line` what is wrong with a bad line.
"""

import re

from agp_tf.data.features import NUM_DENSE
from agp_tf.data.features import NUM_FIELDS
from agp_tf.data.features import NUM_SPARSE

DENSE_NAMES = tuple(f"I{i}" for i in range(1, NUM_DENSE + 1))
SPARSE_NAMES = tuple(f"C{i}" for i in range(1, NUM_SPARSE + 1))
FIELD_NAMES = ("label",) + DENSE_NAMES + SPARSE_NAMES

MAX_DENSE_DIGITS = 18  # any 18-digit integer fits in int64
HEX_DIGITS = 8

FIRST_DENSE = 1  # index of I1 among the 40 fields
FIRST_SPARSE = 1 + NUM_DENSE  # index of C1
_DENSE_RE = re.compile(r"-?[0-9]{1,%d}" % MAX_DENSE_DIGITS)
_HEX_RE = re.compile(r"[0-9a-fA-F]{%d}" % HEX_DIGITS)


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
    for name, value in zip(DENSE_NAMES, fields[FIRST_DENSE:FIRST_SPARSE]):
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
    for name, value in zip(SPARSE_NAMES, fields[FIRST_SPARSE:]):
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
