"""Tests for agp_tf.data.criteo.lines: the per-line rules and their errors."""

import pytest

from agp_tf.data import criteo
from tests.criteo_helpers import make_line


def test_parse_line_values_and_padding():
    full = make_line(1, [5, -3, None, 0, 1382], [0x68FD1E64, None, "ABCDEF01"])
    label, dense, hashes = criteo.parse_line(full + "\n")
    assert label == 1
    assert dense == [5, -3, 0, 0, 1382] + [0] * 8
    assert hashes == [0x68FD1E64, 0, 0xABCDEF01] + [0] * 23
    stripped = full.rstrip("\t")
    assert stripped.count("\t") == 16  # 17 fields
    with pytest.raises(criteo.CriteoParseError, match="17 tab-separated fields.*pad_short_lines"):
        criteo.parse_line(stripped)
    assert criteo.parse_line(stripped, pad_short_lines=True) == (label, dense, hashes)


def test_short_lines_are_never_shifted_into_place():
    # A label-less Kaggle test row: I1..I13, C1..C26 (39 fields). With I1 = 1
    # and C1 all digits, every value passes its slot's check once shifted.
    test_row = "\t".join(["1", "5", "", "0"] + [""] * 9 + ["12345678"] + ["68fd1e64"] * 25)
    assert test_row.count("\t") == 38
    with pytest.raises(criteo.CriteoParseError, match="39 tab-separated fields; expected 40"):
        criteo.parse_line(test_row)
    with pytest.raises(criteo.CriteoParseError, match="39 tab-separated fields"):
        criteo.parse_block(test_row.encode())
    # A last line cut right after a tab ends with an empty field: padding
    # would make it a valid row, so even with padding it is bad.
    full = make_line(0, [1, 2, 3], [0xABCDEF01] * 26)
    cut = full[: full.index("abcdef01")]
    assert cut.endswith("\t")
    block = (full + "\n" + cut).encode()
    for pad in (False, True):
        with pytest.raises(criteo.CriteoParseError, match="^b:2: line has 15"):
            criteo.parse_block(block, "b", pad_short_lines=pad)
    with pytest.raises(criteo.CriteoParseError, match="ends with an empty one"):
        criteo.parse_line(cut, pad_short_lines=True)
    stats = criteo.ParseStats()
    chunk = criteo.parse_block(block, "b", skip_bad_lines=True, stats=stats, pad_short_lines=True)
    assert len(chunk) == 1 and stats.bad_lines == 1


@pytest.mark.parametrize(
    "line, field, fragment",
    [
        (make_line(0) + "\t", None, "41 tab-separated fields"),
        (make_line(0).rstrip("\t"), None, "1 tab-separated fields; expected 40"),
        (make_line(2), "label", "label must be 0 or 1"),
        ("\t".join([""] + [""] * 39), "label", "got ''"),
        (make_line("01"), "label", "got '01'"),
        (make_line(0, [None, "1.5"]), "I2", "'1.5'"),
        (make_line(0, ["abc"]), "I1", "'abc'"),
        (make_line(0, [None] * 12 + ["-"]), "I13", "'-'"),
        (make_line(0, ["+3"]), "I1", "'+3'"),
        (make_line(0, ["--1"]), "I1", "'--1'"),
        (make_line(0, [" 5"]), "I1", "' 5'"),
        (make_line(0, ["1" * 19]), "I1", "at most 18 digits"),
        (make_line(0, [], ["68fd1e6g"]), "C1", "'68fd1e6g'"),
        (make_line(0, [], [None, "68fd1e6"]), "C2", "8 hex digits"),
        (make_line(0, [], [None] * 25 + ["68fd1e641"]), "C26", "'68fd1e641'"),
        (make_line(0, [], ["0x68fd1e"]), "C1", "'0x68fd1e'"),
        (make_line(0, [], ["68fd\x101e"]), "C1", "hex digits"),
    ],
)
def test_parse_line_rejects(line, field, fragment):
    with pytest.raises(criteo.CriteoParseError) as info:
        criteo.parse_line(line, "some/file.txt", 17)
    assert info.value.path == "some/file.txt"
    assert info.value.line_number == 17
    assert info.value.field == field
    assert str(info.value).startswith("some/file.txt:17: ")
    assert fragment in str(info.value)
