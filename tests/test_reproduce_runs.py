"""reproduce.runs: a run's command line and record."""

import re
import subprocess
import sys

import pytest

from reproduce import experiments, runs
from tests.reproduce_helpers import FC_LAYERS

SUMMARY = {
    "schedule": "alternate(0.5)", "settings": {"seed": 1},
    "test": {"ne": 0.9, "accuracy": 0.76},
    "lookahead_ne": 0.95, "lookahead_bce": 0.52,
    "windows": [{"rows": 300, "accuracy": 0.70, "ne": 1.0},
                {"rows": 100, "accuracy": 0.80, "ne": 0.9}],
    "train_flops": 80, "dense_train_flops": 100, "train_flops_change": -0.2,
    "predicted_train_flops_change": -0.2, "flips": 2, "train_seconds": 3.0,
    "total_seconds": 9.0, "resumed_after_windows": 0, "fc_layers": FC_LAYERS,
}
# history.csv rows as csv.DictReader gives them: strings, empty when not logged.
HISTORY = [{"window": "1", "train_a/active_units": "2.0", "train_a/sparsity": "0.5"},
           {"window": "2", "train_a/active_units": "", "train_loss": "0.5"}]


def _record(history=HISTORY):
    return runs.make_record(SUMMARY, history, experiments.alternate(0.5), 1, ["--data=synthetic"],
                            revision="abc", command=["train.py"], process_seconds=12.5)


def test_record_holds_what_the_tables_read():
    record = _record()
    assert record["configuration"] == "alternate-0.5" and record["seed"] == 1
    assert record["train_rows"] == 400
    assert record["lookahead_accuracy"] == pytest.approx((0.7 * 300 + 0.8 * 100) / 400)
    assert record["train_flops_change"] == record["predicted_train_flops_change"] == -0.2
    assert record["revision"] == "abc" and record["process_seconds"] == 12.5
    assert record["dense_fc_parameters"] == (3 * 4 + 4) + (4 * 1 + 1)
    first, second = record["curve"]
    assert (first["rows_seen"], second["rows_seen"]) == (0, 300)
    assert first["active_fc_parameters_after"] == (3 * 2 + 2) + (2 * 1 + 1)
    assert second["active_fc_parameters_after"] == 21  # not logged: dense


def test_record_refuses_a_history_of_other_length():
    with pytest.raises(ValueError, match="history.csv has 1 windows, summary.json 2"):
        _record(HISTORY[:1])


def test_command_and_directory(tmp_path):
    configuration = experiments.alternate(0.5)
    directory = runs.run_dir(str(tmp_path), configuration, 2)
    assert directory == str(tmp_path / "runs" / "alternate-0.5" / "seed-2")
    command = runs.train_command(configuration, 2, ("--data=synthetic",), directory, ("--threads=1",))
    assert command[:2] == [sys.executable, runs.TRAIN_SCRIPT]
    assert command[2:] == [f"--run_dir={directory}", "--seed=2", "--verbose=2", "--data=synthetic",
                           "--threads=1", *configuration.flags]
    assert runs.load_record(directory) is None


def test_git_revision_ignores_what_a_reproduction_writes(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{40}(\+modified)?", runs.git_revision())
    assert runs.git_revision(str(tmp_path)) == "unknown"

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "results").mkdir()
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / "results" / "README.md").write_text("old\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    clean = runs.git_revision(str(tmp_path))
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "results" / "README.md").write_text("new\n")
    assert runs.git_revision(str(tmp_path)) == clean
    (tmp_path / "code.py").write_text("a = 2\n")
    assert runs.git_revision(str(tmp_path)) == clean + "+modified"
