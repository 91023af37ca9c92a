"""scripts/launch_local_cluster.py: clusters of real processes on 127.0.0.1, always ended."""

import ast
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import SMALL_TRAIN_FLAGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHER = os.path.join(REPO, "scripts", "launch_local_cluster.py")
TRAIN = os.path.join(REPO, "scripts", "train.py")
SMALL = [*SMALL_TRAIN_FLAGS, "--verbose=2"]  # the flip lines are read


def launch(*args, timeout=600):
    return subprocess.run(
        [sys.executable, LAUNCHER, *args], capture_output=True, text=True, timeout=timeout
    )


def cluster_ports(stdout):
    """The ports of the cluster the launcher printed."""
    line = next(line for line in stdout.splitlines() if line.startswith("Cluster "))
    spec = ast.literal_eval(line[len("Cluster "):line.index("; logs in")])
    return [int(address.rsplit(":", 1)[1]) for addresses in spec.values() for address in addresses]


def assert_ports_free(ports):
    """Nothing listens on the cluster's ports any more: every task process ended."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as handle:
            # Closed connections may linger in TIME_WAIT; a listener may not.
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            handle.bind(("127.0.0.1", port))  # raises if a server still holds it


def check_training_run(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["flips"] == 4
    assert summary["train_flops_change"] == pytest.approx(summary["predicted_train_flops_change"], abs=1e-9)
    assert summary["train_flops_change"] < -0.2
    assert 0.0 < summary["test"]["ne"] < 2.0
    # The export serves what the final model predicts.
    import keras
    import tensorflow as tf

    import agp_tf.models.dlrm  # noqa: F401  (registers DLRM's classes)

    final = keras.models.load_model(os.path.join(run_dir, "final.keras"))
    served = tf.saved_model.load(os.path.join(run_dir, "export"))
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(8, 13)).astype("float32")
    sparse = rng.integers(0, 50, size=(8, 26)).astype("int32")
    out = served.signatures["serving_default"](
        dense_features=tf.constant(dense), sparse_features=tf.constant(sparse)
    )["probabilities"].numpy()
    expected = final({"dense_features": dense, "sparse_features": sparse}).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    return summary


@pytest.mark.slow
def test_parameter_server_training_job(tmp_path):
    run_dir = str(tmp_path / "run")
    result = launch(
        "--workers=2", "--ps=1", f"--task_log_dir={tmp_path / 'logs'}", "--",
        sys.executable, TRAIN, "--strategy=parameter_server", "--nojit_compile",
        f"--run_dir={run_dir}", *SMALL,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stderr.strip() == "", result.stderr[-2000:]
    assert "step 13: prune to sparsity 0.7" in result.stdout
    check_training_run(run_dir)
    assert_ports_free(cluster_ports(result.stdout))


@pytest.mark.slow
def test_multi_worker_training_job(tmp_path):
    run_dir = str(tmp_path / "run")
    result = launch(
        "--workers=2", f"--task_log_dir={tmp_path / 'logs'}", "--",
        sys.executable, TRAIN, "--strategy=multi_worker", "--nojit_compile",
        f"--run_dir={run_dir}", *SMALL,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    summary = check_training_run(run_dir)
    assert summary["settings"]["strategy"] == "multi_worker"
    # Only the chief wrote: worker 1's log says it left the outputs to the chief.
    with open(tmp_path / "logs" / "worker-1.log") as handle:
        assert "done; the chief writes the outputs" in handle.read()
    assert_ports_free(cluster_ports(result.stdout))


@pytest.fixture
def launcher(capsys):
    """scripts/launch_local_cluster.py imported here: `run(*flags, "--", *command)` -> exit code."""
    sys.path.insert(0, os.path.dirname(LAUNCHER))
    import launch_local_cluster

    def run(*argv):
        launch_local_cluster.FLAGS.unparse_flags()
        rest = launch_local_cluster.FLAGS(["launch_local_cluster.py", *argv])
        return launch_local_cluster.main(rest)

    yield run
    launch_local_cluster.FLAGS.unparse_flags()


def test_a_failing_task_stops_the_cluster_with_its_exit_code_and_log(launcher, tmp_path, capsys):
    program = "import os, sys; print('bad input', flush=True); sys.exit(3 if '\"index\": 1' in os.environ['TF_CONFIG'] else 0)"
    assert launcher("--workers=2", f"--task_log_dir={tmp_path}", "--", sys.executable, "-c", program) == 3
    err = capsys.readouterr().err
    assert "worker:1 exited with code 3; stopping the cluster" in err
    assert "bad input" in err  # its log's tail


def test_timeout_stops_every_process(launcher, tmp_path, capsys):
    program = "import time; time.sleep(60)"
    assert launcher("--workers=1", "--ps=1", "--timeout=3", f"--task_log_dir={tmp_path}", "--",
                    sys.executable, "-c", program) == 124
    captured = capsys.readouterr()
    assert "ran past --timeout=3 s" in captured.err
    assert_ports_free(cluster_ports(captured.out))


def test_a_command_is_required(launcher):
    from absl import app

    with pytest.raises(app.UsageError, match="Give the command to run after --"):
        launcher("--workers=2")
    with pytest.raises(app.UsageError, match="--workers must be >= 1"):
        launcher("--workers=0", "--", "true")


@pytest.mark.slow
def test_multi_worker_job_restarted_after_a_worker_dies_resumes_from_the_chiefs_checkpoint(tmp_path):
    """A dead worker stops the synchronous job; started again, every worker resumes
    from the chief's last window checkpoint and the run ends as planned."""
    import time

    from agp_tf.distribute.cluster import Task, local_cluster
    from agp_tf.distribute.processes import LocalProcesses

    run_dir = tmp_path / "run"
    command = [sys.executable, TRAIN, "--strategy=multi_worker", "--nojit_compile",
               f"--run_dir={run_dir}", *SMALL]
    workers = [Task("worker", 0), Task("worker", 1)]
    with LocalProcesses(local_cluster(2), str(tmp_path / "logs"), {"PYTHONPATH": REPO}) as processes:
        for task in workers:
            processes.start(task, command)
        deadline = time.monotonic() + 240
        state = run_dir / "state.json"
        while time.monotonic() < deadline:
            if state.exists() and json.loads(state.read_text())["windows_done"] >= 2:
                break
            assert processes.processes[workers[0]].poll() is None, processes.log_tail(workers[0])
            time.sleep(0.2)
        processes.kill(workers[1])
        # The chief cannot go on alone: it stops (collectives time out) ...
        assert processes.wait(workers[0], timeout=180) != 0
        done = json.loads(state.read_text())["windows_done"]
        assert 2 <= done < 8
        # ... and the job started again resumes where the chief's checkpoint is.
        for task in workers:
            processes.start(task, command)
        for task in workers:
            assert processes.wait(task, timeout=300) == 0, processes.log_tail(task)
        assert f"{done} windows already done" in processes.log_tail(workers[0], lines=400)
        assert f"{done} windows already done" in processes.log_tail(workers[1], lines=400)
    summary = check_training_run(str(run_dir))
    assert summary["resumed_after_windows"] == done


@pytest.mark.slow
def test_parameter_server_job_with_train_py_on_every_host(tmp_path):
    """As on real hosts: the same train.py command everywhere; workers and ps serve."""
    from agp_tf.distribute.cluster import Task, local_cluster
    from agp_tf.distribute.processes import LocalProcesses

    run_dir = tmp_path / "run"
    command = [sys.executable, TRAIN, "--strategy=parameter_server", "--nojit_compile",
               f"--run_dir={run_dir}", *SMALL]
    cluster = local_cluster(2, ps=1, chief=True)
    chief = Task("chief", 0)
    with LocalProcesses(cluster, str(tmp_path / "logs"), {"PYTHONPATH": REPO}) as processes:
        for task in [Task("ps", 0), Task("worker", 0), Task("worker", 1), chief]:
            processes.start(task, command)
        assert processes.wait(chief, timeout=300) == 0, processes.log_tail(chief)
        for task in [Task("ps", 0), Task("worker", 1)]:
            assert processes.processes[task].poll() is None  # still serving
            assert f"{task}: serving the parameter-server cluster" in processes.log_tail(task)
    check_training_run(str(run_dir))
