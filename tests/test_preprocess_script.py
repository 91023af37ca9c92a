"""End-to-end tests of scripts/preprocess.py, run as a subprocess."""

import os
import subprocess
import sys

import numpy as np
import pytest

from agp_tf.data import shards
from tests.criteo_helpers import make_line
from tests.criteo_helpers import random_lines
from tests.criteo_helpers import write_lines

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "preprocess.py"
)


def run_script(*flags):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, SCRIPT, *flags], capture_output=True, text=True, env=env, timeout=300
    )


def test_bad_line_stops_with_file_line_and_field(tmp_path):
    lines = random_lines(np.random.default_rng(20), 12)
    lines[6] = make_line(1, [], [None, None, None, "nothex!!"])
    path = write_lines(tmp_path / "train.txt", lines)
    result = run_script(f"--input={path}", f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 1
    assert f"{path}:7: field C4: categorical value must be empty or 8 hex digits" in result.stderr
    assert "--skip_bad_lines" in result.stderr
    assert not os.path.exists(tmp_path / "out" / shards.METADATA_FILE)


def test_days_glob_skip_bad_lines_and_summary(tmp_path):
    rng = np.random.default_rng(21)
    sizes = {"day_1": 6, "day_2": 5, "day_10": 8}  # natural order: day_1, day_2, day_10
    for name, size in sizes.items():
        lines = random_lines(rng, size)
        if name == "day_2":
            lines.append(make_line(2))  # bad label: skipped
        write_lines(tmp_path / name, lines)
    out = tmp_path / "out"
    result = run_script(
        f"--input={tmp_path / 'day_*'}",
        f"--output_dir={out}",
        "--split_mode=days",
        "--skip_bad_lines",
        "--max_bad_fraction=0.1",  # 1 of 20 lines
        "--shuffle=day",
        "--seed=3",
        "--rows_per_shard=4",
        "--max_ind_range=1000",
    )
    assert result.returncode == 0, result.stderr
    assert "[vocabulary] 100.0%  19 rows" in result.stderr  # progress lines
    assert "[write] 100.0%  19 rows" in result.stderr
    assert "Wrote 19 rows" in result.stdout
    summary = [line.split() for line in result.stdout.splitlines()]
    assert ["train", "11", "rows", "in", "3", "shard(s)"] in summary
    assert ["test", "4", "rows", "in", "1", "shard(s)"] in summary
    assert ["val", "4", "rows", "in", "1", "shard(s)"] in summary
    assert "Bad lines skipped: 1" in result.stdout
    assert f"{tmp_path / 'day_2'}:6: field label: label must be 0 or 1; got '2'" in result.stdout
    metadata = shards.load_metadata(str(out))
    assert [os.path.basename(i["path"]) for i in metadata["inputs"]] == list(sizes)
    assert metadata["day_sizes"] == [6, 5, 8]
    assert metadata["shuffle"] == "day" and metadata["vocabulary"]["max_ind_range"] == 1000


@pytest.mark.slow
def test_bad_data_policy_fails_on_empty_all_bad_and_too_many_bad(tmp_path):
    from agp_tf.data import criteo

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    rng = np.random.default_rng(22)
    all_bad = write_lines(tmp_path / "all_bad.txt", ["2\t1"] * 5)
    some_bad = write_lines(tmp_path / "some_bad.txt", random_lines(rng, 19) + ["2\t1"])
    # The policy itself, in this process (the script calls the same function).
    for path, skip, message in [
        (all_bad, True, "No valid line: all 5 lines"),
        (some_bad, True, "1 of 20 lines"),
    ]:
        out = tmp_path / f"out_{os.path.basename(path)}"
        with pytest.raises(ValueError, match=message):
            shards.preprocess([str(path)], str(out), skip_bad_lines=skip)
        assert not os.path.exists(out / shards.METADATA_FILE)
    # The script: exit 1 and the message, then a tolerated share.
    out = tmp_path / "out_empty"
    result = run_script(f"--input={empty}", f"--output_dir={out}")
    assert result.returncode == 1, result.stdout
    assert "Empty input" in result.stderr, result.stderr[-2000:]
    assert not os.path.exists(out / shards.METADATA_FILE)
    result = run_script(
        f"--input={some_bad}", f"--output_dir={tmp_path / 'ok'}", "--skip_bad_lines",
        "--max_bad_fraction=0.05",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert criteo.DEFAULT_MAX_BAD_FRACTION == 0.001  # the script's documented default
