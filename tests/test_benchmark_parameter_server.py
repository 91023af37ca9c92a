"""scripts/benchmark_parameter_server.py: run as a cluster's chief, and refused elsewhere."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "benchmark_parameter_server.py")
LAUNCHER = os.path.join(REPO, "scripts", "launch_local_cluster.py")


@pytest.mark.slow  # a process that loads TensorFlow: about 5 s
def test_outside_a_cluster_it_says_how_to_start_it():
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode != 0
    assert "runs as the chief of a cluster with a ps job" in result.stderr


@pytest.mark.slow
def test_prints_speeds_and_flip_costs_for_dense_and_alternate(tmp_path):
    out = tmp_path / "ps.json"
    result = subprocess.run(
        [sys.executable, LAUNCHER, "--workers=1", "--ps=1", f"--task_log_dir={tmp_path / 'logs'}",
         "--", sys.executable, SCRIPT, "--steps=40", "--warmup_steps=4", "--batch_size=16",
         "--sparsity=0.5", "--importance_batches=2", "--max_vocab_size=50",
         "--embedding_shards=2", f"--json_out={out}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "| dense() |" in result.stdout and "| alternate(0.5, phase_fraction=0.2) |" in result.stdout
    report = json.loads(out.read_text())
    assert report["workers"] == 1 and report["embedding_shards"] == 2
    dense, alternate = report["runs"]
    assert dense["steps"] == alternate["steps"] == 40
    assert dense["flips"] == [] and dense["steps_applied"] == alternate["steps_applied"] == 40
    # Flips at 20% of the 40 timed steps, after the 4 warm-up steps.
    assert [flip["step"] for flip in alternate["flips"]] == [12, 20, 28, 36]
    assert all(speed > 0 for speed in (dense["steps_per_second"], alternate["steps_per_second"]))
    assert len(alternate["check_seconds"]) == len(alternate["check_steps"]) >= 4
