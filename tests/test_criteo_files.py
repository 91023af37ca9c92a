"""Tests for agp_tf.data.criteo.files: blocks, line numbers, gzip, row counts."""

import gzip

import numpy as np
import pytest

from agp_tf.data import criteo
from tests.criteo_helpers import make_line
from tests.criteo_helpers import random_lines
from tests.criteo_helpers import write_lines


def test_iter_chunks_line_numbers_across_blocks_and_files(tmp_path):
    rng = np.random.default_rng(3)
    first = write_lines(tmp_path / "day_0", random_lines(rng, 57), final_newline=False)
    second_lines = random_lines(rng, 40)
    second_lines[33] = make_line(0, [], [None, "zzzzzzzz"])
    second = write_lines(tmp_path / "day_1", second_lines)
    stats = criteo.ParseStats()
    with pytest.raises(criteo.CriteoParseError, match=r"day_1:34: field C2"):
        for _ in criteo.iter_chunks([first, second], stats=stats, block_bytes=1000):
            pass
    assert stats.rows_per_file[first] == 57

    stats = criteo.ParseStats()
    chunks = list(criteo.iter_chunks([first, second], True, stats, block_bytes=1000))
    assert len(chunks) > 10  # many blocks, each cut at a line end
    assert stats.rows_per_file == {first: 57, second: 39}
    assert stats.bad_lines == 1
    numbers = np.concatenate([c.line_numbers for c in chunks if c.path == second])
    np.testing.assert_array_equal(numbers, [n for n in range(1, 41) if n != 34])
    assert criteo.count_rows([first, second]) == [57, 40]
    assert criteo.count_rows([first, second], skip_bad_lines=True) == [57, 39]


def test_gzip_input_reads_like_plain(tmp_path):
    lines = random_lines(np.random.default_rng(4), 50)
    plain = write_lines(tmp_path / "day_0", lines)
    packed = str(tmp_path / "day_0.gz")
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        dst.write(src.read())
    a = list(criteo.iter_chunks(plain, block_bytes=500))
    b = list(criteo.iter_chunks(packed, block_bytes=500))
    np.testing.assert_array_equal(
        np.concatenate([c.hashes for c in a]), np.concatenate([c.hashes for c in b])
    )


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        list(criteo.iter_chunks(str(tmp_path / "nope.txt")))
