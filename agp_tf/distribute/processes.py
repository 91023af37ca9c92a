"""Starts the tasks of a cluster as local processes, and always ends them.

`LocalProcesses` is what `scripts/launch_local_cluster.py` and the
distributed tests use: each task runs as its own process, in its own
process group, with `TF_CONFIG` set to its place in the cluster and its
output in `<log_dir>/<type>-<index>.log`. Leaving the `with` block (normally
or by an exception) kills every process group it started and waits for
them, so no process or port is left behind.
"""

import os
import signal
import subprocess
import sys
import time

from agp_tf.distribute import cluster as cluster_lib


class LocalProcesses:
    """A set of started task processes, ended together.

    Args:
        cluster: Cluster spec (see `agp_tf.distribute.cluster`).
        log_dir: Folder for one log file per task.
        environ: Extra environment variables for every process.

    Example:

    ```python
    with LocalProcesses(cluster, "/tmp/logs") as processes:
        processes.start(Task("ps", 0), SERVER_COMMAND)
        processes.start(Task("chief", 0), [sys.executable, "train.py"])
        processes.wait(Task("chief", 0), timeout=600)
    ```
    """

    def __init__(self, cluster, log_dir, environ=None):
        self.cluster = cluster_lib.check_cluster(cluster)
        self.log_dir = log_dir
        self.environ = dict(environ or {})
        self.processes = {}  # Task -> Popen
        os.makedirs(log_dir, exist_ok=True)

    def log_path(self, task):
        return os.path.join(self.log_dir, f"{task.type}-{task.index}.log")

    def start(self, task, command, environ=None, show_output=False):
        """Starts `command` as `task`; returns the Popen.

        Its output is appended to `log_path(task)`, or with `show_output`
        goes to this process's stdout and stderr.
        """
        if task in self.processes and self.processes[task].poll() is None:
            raise RuntimeError(f"Task {task} is already running (pid {self.processes[task].pid}).")
        env = dict(os.environ, **self.environ, **(environ or {}))
        env["TF_CONFIG"] = cluster_lib.tf_config(self.cluster, task)
        with open(self.log_path(task), "ab") as log:
            process = subprocess.Popen(
                list(command), env=env, stdout=None if show_output else log,
                stderr=None if show_output else subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.processes[task] = process
        return process

    def start_server(self, task, environ=None):
        """Starts a plain TensorFlow server (`python -m agp_tf.distribute.server`) as `task`."""
        return self.start(task, [sys.executable, "-m", "agp_tf.distribute.server"], environ)

    def kill(self, task, sig=signal.SIGKILL):
        """Sends `sig` to `task`'s process group and waits for the process to end."""
        process = self.processes[task]
        _signal_group(process, sig)
        process.wait()

    def wait(self, task, timeout):
        """Waits for `task` to end; returns its exit code. Raises with its log's tail on timeout."""
        try:
            return self.processes[task].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"Task {task} did not end within {timeout} s. Last lines of its log:\n"
                + self.log_tail(task)
            ) from None

    def log_tail(self, task, lines=40):
        try:
            with open(self.log_path(task), errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def close(self, grace_seconds=2.0):
        """Ends every started process: SIGTERM, then SIGKILL after `grace_seconds`."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            # The group too: a task's own children must not outlive it.
            _signal_group(process, signal.SIGKILL)
            process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def _signal_group(process, sig):
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


__all__ = ["LocalProcesses"]
