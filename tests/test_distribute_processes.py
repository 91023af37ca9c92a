import os
import sys
import time

import pytest

from agp_tf.distribute.cluster import Task, local_cluster
from agp_tf.distribute.processes import LocalProcesses


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its exit status is left.
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def test_every_process_and_its_children_end_with_the_block(tmp_path):
    # The task starts a child of its own: the process group takes both down.
    program = (
        "import subprocess, sys, time, os;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print(os.environ['TF_CONFIG'], child.pid, flush=True); time.sleep(60)"
    )
    cluster = local_cluster(2)
    with pytest.raises(RuntimeError, match="boom"):
        with LocalProcesses(cluster, str(tmp_path)) as processes:
            for index in range(2):
                processes.start(Task("worker", index), [sys.executable, "-c", program])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not all(
                os.path.getsize(processes.log_path(Task("worker", i))) for i in range(2)
            ):
                time.sleep(0.05)
            logs = [open(processes.log_path(Task("worker", i))).read().split() for i in range(2)]
            pids = [p.pid for p in processes.processes.values()] + [int(log[-1]) for log in logs]
            assert ' '.join(logs[1]).endswith('"index": 1}} ' + str(pids[-1]))  # its own TF_CONFIG
            raise RuntimeError("boom")  # a failing test: the block still ends them
    # The grandchildren are not ours to wait for: give the kernel a moment.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def test_wait_timeout_names_the_task_and_shows_its_log(tmp_path):
    with LocalProcesses(local_cluster(1), str(tmp_path)) as processes:
        processes.start(Task("worker", 0), [sys.executable, "-c", "print('still here', flush=True); import time; time.sleep(30)"])
        with pytest.raises(TimeoutError, match=r"(?s)worker:0 did not end within 1 s.*still here"):
            time.sleep(1.0)
            processes.wait(Task("worker", 0), timeout=1)
        with pytest.raises(RuntimeError, match="already running"):
            processes.start(Task("worker", 0), [sys.executable, "-c", "pass"])


def test_kill_then_restart_a_task(tmp_path):
    with LocalProcesses(local_cluster(1), str(tmp_path)) as processes:
        task = Task("worker", 0)
        first = processes.start(task, [sys.executable, "-c", "import time; time.sleep(30)"])
        processes.kill(task)
        assert first.poll() is not None
        processes.start(task, [sys.executable, "-c", "print('again')"])
        assert processes.wait(task, timeout=30) == 0
        assert "again" in processes.log_tail(task)
