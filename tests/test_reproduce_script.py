"""scripts/reproduce_paper.py end to end, in subprocesses."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from reproduce import experiments, runs
from tests.reproduce_helpers import fake_record

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "reproduce_paper.py")


def _reproduce(*flags, timeout=900):
    return subprocess.run([sys.executable, SCRIPT, *flags], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _write_record(output_dir, record):
    configuration = experiments.BASELINE
    directory = runs.run_dir(str(output_dir), configuration, record["seed"])
    os.makedirs(directory)
    with open(os.path.join(directory, runs.RECORD), "w") as handle:
        json.dump(record, handle)
    return directory


@pytest.mark.parametrize("flags, message", [
    (["--seeds=0"], "--seeds must be at least 1. Received: 0"),
    (["--data=shards"], "--data=shards needs --data_path"),
    (["--data=shards", "--data_path=/no/such/shards"], "--data_path='/no/such/shards' is not a directory"),
    (["--experiments=sweep,table9"], "experiments must be some of"),
    (["--synthetic_rows_per_day=0"], "--synthetic_rows_per_day must be at least 1"),
])
def test_bad_flags_stop_before_any_run(tmp_path, flags, message):
    result = _reproduce(f"--output_dir={tmp_path}", *flags)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"reproduce_paper.py: error: {message}" in result.stderr
    assert not os.path.exists(tmp_path / "runs")


def test_finished_runs_are_kept_only_with_resume_and_the_same_data(tmp_path):
    record = fake_record(experiments.BASELINE, 0)
    directory = _write_record(tmp_path, record)
    result = _reproduce(f"--output_dir={tmp_path}", "--quick")
    assert result.returncode == 2
    assert f"{tmp_path} holds 1 finished runs: pass --resume" in result.stderr
    result = _reproduce(f"--output_dir={tmp_path}", "--quick", "--resume")
    assert result.returncode == 2
    assert f"{directory} ran with other data (--data=synthetic)" in result.stderr


def test_report_only_writes_the_tables_of_the_finished_runs(tmp_path):
    result = _reproduce(f"--output_dir={tmp_path}", "--report_only")
    assert result.returncode == 2 and "holds no finished runs" in result.stderr
    data_flags = experiments.data_flags(experiments.SIZES["quick"])
    for seed in (0, 1):
        _write_record(tmp_path, {**fake_record(experiments.BASELINE, seed),
                                 "data_flags": list(data_flags)})
    result = _reproduce(f"--output_dir={tmp_path}", "--quick", "--report_only")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[2/16] alternate(0.7) seed 0: not run" in result.stdout
    readme = (tmp_path / "README.md").read_text()
    assert "- Runs: 2 of the 16 planned (a reproduction cut short)" in readme
    # Another teacher is other data: refused, naming both.
    result = _reproduce(f"--output_dir={tmp_path}", "--quick", "--report_only",
                        "--synthetic_teacher=default")
    assert result.returncode == 2 and "--synthetic_teacher=rich" in result.stderr
    assert "uses --data=synthetic --synthetic_teacher=default" in result.stderr
    assert not os.path.exists(runs.run_dir(str(tmp_path), experiments.alternate(0.7), 0))


@pytest.mark.slow  # about 5 minutes: 16 train.py runs, then one again
def test_quick_reproduction_writes_every_table_and_plot_and_resumes(tmp_path):
    result = _reproduce(f"--output_dir={tmp_path}", "--quick", "--threads=1",
                        "--synthetic_rows_per_day=3000")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[16/16] static 30% width seed 1" in result.stdout
    readme = (tmp_path / "README.md").read_text()
    for heading in ("## The paper's claims here", "### Table I", "### Table II",
                    "### Fig. 5 data", "### Premise"):
        assert heading in readme
    for name in ("capacity.png", "curves.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["max_flops_counter_minus_prediction"] < 1e-9
    assert [row["configuration"] for row in data["table_1"]] == [
        "dense", "alternate-0.7", "alternate-0.3"]
    # A run of the reproduction again, with its recorded seed: the same numbers.
    rerun = runs.run_dir(str(tmp_path), experiments.alternate(0.7), 1)
    before = runs.load_record(rerun)
    assert before["settings"]["synthetic_teacher"] == "rich" and before["seed"] == 1
    assert before["train_rows"] == 3 * 3000
    assert "--noexport" in before["command"] and not os.path.exists(os.path.join(rerun, "export"))
    # Its rows were read from the rows cache (seed 1's first run wrote them),
    # which is gone now that every run is done; the rerun generates them again.
    assert f"--synthetic_cache_dir={tmp_path / 'cache' / 'rows'}" in before["command"]
    assert not os.path.exists(tmp_path / "cache") and "Removed the rows and XLA" in result.stdout
    shutil.rmtree(rerun)
    result = _reproduce(f"--output_dir={tmp_path}", "--quick", "--threads=1", "--resume",
                        "--synthetic_rows_per_day=3000")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done earlier") == 15
    after = runs.load_record(rerun)
    for name in ("ne", "accuracy"):
        assert after["test"][name] == pytest.approx(before["test"][name], rel=1e-5)
    assert after["train_flops"] == before["train_flops"]
    assert (tmp_path / "README.md").read_text().count("alternate(0.7)") == readme.count(
        "alternate(0.7)")


@pytest.mark.slow  # about a minute: preprocessing, then 2 train.py runs on shards
def test_shards_with_some_experiments(tmp_path):
    from agp_tf.data.synthetic import SyntheticCriteo

    text = str(tmp_path / "train.txt")
    SyntheticCriteo(rows_per_day=512, max_vocab_size=50).write_tsv(text)  # 7 days
    shards_dir = str(tmp_path / "shards")
    preprocess = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "preprocess.py"), f"--input={text}",
         f"--output_dir={shards_dir}", "--progress_seconds=0"],
        capture_output=True, text=True, timeout=300,
    )
    assert preprocess.returncode == 0, preprocess.stderr[-3000:]
    output = tmp_path / "out"
    result = _reproduce(f"--output_dir={output}", "--quick", "--experiments=premise",
                        "--seeds=1", "--data=shards", f"--data_path={shards_dir}",
                        "--synthetic_rows_per_day=10")
    assert result.returncode == 2 and "with --data=synthetic" in result.stderr
    result = _reproduce(f"--output_dir={output}", "--quick", "--experiments=premise",
                        "--seeds=1", "--data=shards", f"--data_path={shards_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 configurations x 1 seeds = 2 runs" in result.stdout
    record = runs.load_record(runs.run_dir(str(output), experiments.static_smaller(), 0))
    assert record["settings"]["data"] == "shards" and record["settings"]["top_mlp"] == [
        "76", "38", "1"]
    assert "### Premise" in (output / "README.md").read_text()
