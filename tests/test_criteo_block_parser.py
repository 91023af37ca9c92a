"""Tests for agp_tf.data.criteo.block_parser: the vectorized parser against the per-line rules."""

import math

import numpy as np
import pytest

from agp_tf.data import criteo
from agp_tf.data import features
from tests.criteo_helpers import KAGGLE_HEAD
from tests.criteo_helpers import make_line
from tests.criteo_helpers import needs_kaggle_head
from tests.criteo_helpers import random_lines


@pytest.mark.parametrize("pad", [False, True])
def test_parse_block_matches_parse_line_on_random_lines(pad):
    rng = np.random.default_rng(1)
    lines = random_lines(rng, 400, strip_rate=0.5 if pad else 0.0)
    # Digit-count edges of the 8-byte word arithmetic, hex edges.
    lines += [
        make_line(1, [12345678, 123456789, 10**15, 10**16 - 1, 10**16, 10**17 + 3, 10**18 - 1]),
        make_line(0, ["00000000007", "-0", "-12345678901", 99999999, 100000000]),
        make_line(1, [], [0xFFFFFFFF, 0, "aBcDeF09", "FFFFFFFF", "00000000", "9a9A9f9F"]),
    ]
    chunk = criteo.parse_block("\n".join(lines).encode(), "f", 1, pad_short_lines=pad)
    assert len(chunk) == len(lines)
    np.testing.assert_array_equal(chunk.line_numbers, np.arange(1, len(lines) + 1))
    for i, line in enumerate(lines):
        label, dense, hashes = criteo.parse_line(line, pad_short_lines=pad)
        assert chunk.labels[i] == label
        assert chunk.dense[i].tolist() == dense
        assert chunk.hashes[i].tolist() == hashes
    assert chunk.dense[-3].tolist()[:7] == [
        12345678, 123456789, 10**15, 10**16 - 1, 10**16, 10**17 + 3, 10**18 - 1
    ]
    assert chunk.hashes[-1].tolist()[:6] == [
        0xFFFFFFFF, 0, 0xABCDEF09, 0xFFFFFFFF, 0, 0x9A9A9F9F
    ]


BAD_LINES = [
    (make_line(0) + "\tx", None),
    (make_line(3), "label"),
    ("", None),  # blank line: 1 field
    (make_line(0, [None, None, "1e3"]), "I3"),
    (make_line(0, [None] * 4 + ["1-2"]), "I5"),
    (make_line(0, ["-"]), "I1"),
    (make_line(0, ["9" * 19]), "I1"),
    (make_line(0, [], [None, None, "12345g78"]), "C3"),
    (make_line(0, [], [None] * 10 + ["1234567"]), "C11"),
    (make_line(0, [], [None] * 25 + ["123456789"]), "C26"),
    (make_line(0, [], ["1234\x10678"]), "C1"),  # control byte that bit 5 maps to '0'
    (make_line(0, [], ["1234\xe9678"]), "C1"),  # non-ASCII
]


@pytest.mark.parametrize("bad_line, field", BAD_LINES)
def test_parse_block_finds_exact_first_bad_line(bad_line, field):
    rng = np.random.default_rng(2)
    good = random_lines(rng, 30)
    lines = good[:23] + [bad_line] + good[23:]
    block = "\n".join(lines).encode("latin-1")
    with pytest.raises(criteo.CriteoParseError) as info:
        criteo.parse_block(block, "day_3", first_line_number=101)
    assert (info.value.path, info.value.line_number, info.value.field) == ("day_3", 124, field)
    assert str(info.value).startswith("day_3:124: ")

    stats = criteo.ParseStats()
    chunk = criteo.parse_block(block, "day_3", 101, skip_bad_lines=True, stats=stats)
    assert stats.bad_lines == 1
    assert stats.bad_line_examples[0].startswith("day_3:124: ")
    assert len(chunk) == 30
    np.testing.assert_array_equal(
        chunk.line_numbers, [101 + i for i in range(31) if i != 23]
    )
    expected = criteo.parse_block("\n".join(good).encode(), "day_3", 1)
    np.testing.assert_array_equal(chunk.hashes, expected.hashes)
    np.testing.assert_array_equal(chunk.dense, expected.dense)


def test_crlf_and_missing_final_newline():
    lines = [make_line(1, [3], [0xA]), make_line(0, [None, 4], [None, 0xB], strip_trailing=True)]
    block = ("\r\n".join(lines) + "\r").encode()
    chunk = criteo.parse_block(block, pad_short_lines=True)
    assert chunk.labels.tolist() == [1, 0]
    assert chunk.dense[:, :2].tolist() == [[3, 0], [0, 4]]
    assert chunk.hashes[:, :2].tolist() == [[0xA, 0], [0, 0xB]]


@pytest.mark.parametrize("pad", [False, True])
def test_parse_block_agrees_with_parse_line_on_mutated_lines(pad):
    rng = np.random.default_rng(9)
    lines = [line.encode() for line in random_lines(rng, 300, strip_rate=0.5 if pad else 0.0)]
    interesting = np.array(
        [0, 9, 13, 16, 25, 32, 43, 45, 46, 47, 48, 57, 58, 64, 65, 70, 71, 96, 97, 102, 103]
        + [128, 233, 255]
    )
    mutated = []
    for line in lines:
        line = bytearray(line)
        for _ in range(int(rng.integers(0, 3))):
            if line:
                line[int(rng.integers(len(line)))] = int(rng.choice(interesting))
        mutated.append(bytes(line))
    expected = []
    for number, line in enumerate(mutated, start=1):
        try:
            expected.append((number, criteo.parse_line(line, pad_short_lines=pad)))
        except criteo.CriteoParseError:
            pass
    assert 50 < len(expected) < 280  # both outcomes well represented
    stats = criteo.ParseStats()
    chunk = criteo.parse_block(b"\n".join(mutated), "m", 1, skip_bad_lines=True, stats=stats,
                               pad_short_lines=pad)
    assert chunk.line_numbers.tolist() == [n for n, _ in expected]
    assert stats.bad_lines == len(mutated) - len(expected)
    for i, (_, (label, dense, hashes)) in enumerate(expected):
        assert (chunk.labels[i], chunk.dense[i].tolist(), chunk.hashes[i].tolist()) == (
            label, dense, hashes
        )


@needs_kaggle_head
def test_kaggle_head_rows_by_hand():
    with open(KAGGLE_HEAD, "rb") as f:
        text = f.read()
    # This copy has its trailing empty fields stripped (498 of 1000 lines).
    with pytest.raises(criteo.CriteoParseError, match=":3: line has 38 .*pad_short_lines"):
        criteo.parse_block(text, KAGGLE_HEAD)
    chunk = criteo.parse_block(text, KAGGLE_HEAD, pad_short_lines=True)
    assert len(chunk) == 1000
    assert int(chunk.labels.sum()) == 205

    # Line 1, all 40 fields: 0 1 1 5 0 1382 4 15 2 181 1 2 '' 2 | 68fd1e64 80e26c9b ..
    assert chunk.labels[0] == 0
    assert chunk.dense[0].tolist() == [1, 1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, 0, 2]
    assert chunk.hashes[0, :2].tolist() == [0x68FD1E64, 0x80E26C9B]
    assert chunk.hashes[0, 21] == 0  # C22 empty
    assert chunk.hashes[0, 25] == 0x9727DD16
    dense = features.transform_dense(chunk.dense[:5])
    assert dense[0, 4] == pytest.approx(math.log(1383), rel=1e-6)
    assert dense[0, 11] == 0.0

    # Line 5, 38 fields (C25, C26 stripped), I2 = -1, I3 and I12 empty.
    assert chunk.dense[4].tolist() == [3, -1, 0, 0, 2, 0, 3, 0, 0, 1, 1, 0, 0]
    np.testing.assert_allclose(
        dense[4], [math.log(4), 0, 0, 0, math.log(3), 0, math.log(4), 0, 0]
        + [math.log(2), math.log(2), 0, 0], rtol=1e-6
    )
    assert chunk.hashes[4, 18:].tolist() == [0, 0, 0x21C9516A, 0, 0x32C7478E, 0xB34F3128, 0, 0]
