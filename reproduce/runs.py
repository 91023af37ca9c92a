"""One configuration and seed as a `train.py` process, and what it leaves.

Each run is the main job itself (`scripts/train.py`) in its own process and
run directory, `<output_dir>/runs/<configuration>/seed-<k>/`, so a number in
the tables is what a user running those flags gets. When the process ends,
`record.json` is written next to its files (atomically): the record of the
run. A run directory with a record is done; one without (an interrupted
run) is continued by `train.py` itself, which resumes after its last
finished window.
"""

import csv
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_SCRIPT = os.path.join(REPO, "scripts", "train.py")
RECORD = "record.json"
ACTIVE_UNITS = "/active_units"  # history.csv: train_<layer>/active_units at a window's end


class RunError(RuntimeError):
    """A `train.py` run failed; the message names it, its log and its last lines."""


def run_dir(output_dir, configuration, seed):
    return os.path.join(output_dir, "runs", configuration.name, f"seed-{seed}")


def train_command(configuration, seed, data_flags, directory, extra_flags=()):
    """The `train.py` command line of one run."""
    return [
        sys.executable, TRAIN_SCRIPT, f"--run_dir={directory}", f"--seed={seed}", "--verbose=2",
        *data_flags, *extra_flags, *configuration.flags,
    ]


def git_revision(repo=REPO):
    """The checkout's commit, `+modified` when tracked files outside
    `results/` (which a reproduction writes) differ from it; `unknown`
    outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                  ".", ":(exclude)results"],
                                 cwd=repo, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+modified" if changed.strip() else "")


def load_record(directory):
    """The run's record, or None when it has not finished."""
    path = os.path.join(directory, RECORD)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def execute(configuration, seed, data_flags, output_dir, extra_flags=(), revision=None):
    """Runs `train.py` for one configuration and seed; returns its record.

    Its stdout and stderr go to `train.log` in the run directory.

    Raises:
        RunError: the process failed; the message has its last lines.
    """
    directory = run_dir(output_dir, configuration, seed)
    os.makedirs(directory, exist_ok=True)
    command = train_command(configuration, seed, data_flags, directory, extra_flags)
    log_path = os.path.join(directory, "train.log")
    started = time.perf_counter()
    with open(log_path, "a") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, text=True,
                                cwd=REPO)
    process_seconds = time.perf_counter() - started
    if result.returncode != 0:
        with open(log_path) as log:
            tail = "".join(log.readlines()[-15:])
        raise RunError(f"{configuration.label} seed {seed} failed (exit {result.returncode}); "
                       f"log: {log_path}\n{tail}")
    with open(os.path.join(directory, "summary.json")) as handle:
        summary = json.load(handle)
    with open(os.path.join(directory, "history.csv")) as handle:
        history = list(csv.DictReader(handle))
    record = make_record(
        summary, history, configuration, seed, data_flags,
        revision=revision or git_revision(), command=command[1:],
        process_seconds=process_seconds,
    )
    temporary = os.path.join(directory, RECORD + ".tmp")
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1)
    os.replace(temporary, os.path.join(directory, RECORD))
    return record


def make_record(summary, history, configuration, seed, data_flags, revision, command,
                process_seconds):
    """The record of a finished run, from its `summary.json` and the rows of
    its `history.csv`: pure.

    `lookahead_accuracy` is the training accuracy of the tables: each
    window scored before the model trains on it (progressive validation,
    the usual training accuracy of one-pass click models), weighted by rows.
    The curve has a point per window: its look-ahead accuracy and NE at the
    rows seen before it, and the active FC parameters when it ends.
    """
    from agp_tf import flops  # Keras: imported when needed

    windows = summary["windows"]
    if len(history) != len(windows):
        raise ValueError(f"history.csv has {len(history)} windows, summary.json {len(windows)}")
    specs = [flops.LayerSpec(**{**layer, "producers": tuple(layer["producers"])})
             for layer in summary["fc_layers"]]
    rows = sum(window["rows"] for window in windows)
    seen, curve = 0, []
    for window, logged in zip(windows, history):
        active = {
            column[len("train_"):-len(ACTIVE_UNITS)]: int(float(value))
            for column, value in logged.items() if column.endswith(ACTIVE_UNITS) and value
        }
        curve.append({"rows_seen": seen, "rows": window["rows"],
                      "lookahead_accuracy": window["accuracy"], "lookahead_ne": window["ne"],
                      "active_fc_parameters_after": flops.active_parameters(specs, active)})
        seen += window["rows"]
    return {
        "configuration": configuration.name,
        "label": configuration.label,
        "meta": configuration.meta,
        "seed": seed,
        "revision": revision,
        "command": list(command),
        "data_flags": list(data_flags),
        "schedule": summary["schedule"],
        "settings": summary["settings"],
        "train_rows": rows,
        "test": summary["test"],
        "lookahead_ne": summary["lookahead_ne"],
        "lookahead_bce": summary["lookahead_bce"],
        "lookahead_accuracy": sum(w["accuracy"] * w["rows"] for w in windows) / rows,
        "train_flops": summary["train_flops"],
        "dense_train_flops": summary["dense_train_flops"],
        "train_flops_change": summary["train_flops_change"],
        "predicted_train_flops_change": summary["predicted_train_flops_change"],
        "flips": summary["flips"],
        "dense_fc_parameters": flops.active_parameters(specs),
        "train_seconds": summary["train_seconds"],
        "train_cpu_seconds": summary.get("train_cpu_seconds"),  # None: train.py before it
        "total_seconds": summary["total_seconds"],
        "process_seconds": process_seconds,
        "resumed_after_windows": summary["resumed_after_windows"],
        "curve": curve,
    }
