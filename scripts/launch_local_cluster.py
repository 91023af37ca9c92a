"""Runs a command as a tf.distribute cluster of processes on this machine.

Picks free ports on 127.0.0.1, writes each process's TF_CONFIG, starts every
task in its own process group, waits for the job, and ends every process it
started (also on an error or Ctrl-C). Exit code: the job's.

    # Synchronous: 2 workers, each runs the command (worker 0 is the chief).
    python scripts/launch_local_cluster.py --workers=2 -- \\
        python scripts/train.py --strategy=multi_worker --run_dir=runs/mw

    # Asynchronous: the command runs as the chief (the coordinator);
    # 2 workers and 1 parameter server run TensorFlow servers.
    python scripts/launch_local_cluster.py --workers=2 --ps=1 -- \\
        python scripts/train.py --strategy=parameter_server --nojit_compile --run_dir=runs/ps

The chief's output (worker 0's without parameter servers) is shown here; the
other tasks' output goes to `--task_log_dir/<task>-<index>.log`. On real hosts,
set TF_CONFIG yourself instead (BUILD.md).
"""

import os
import sys
import tempfile
import time

from absl import app, flags

from quiet_startup import import_tensorflow  # scripts/, beside this file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # agp_tf from this checkout when not installed
import_tensorflow()  # `import agp_tf` loads TensorFlow: without its start-up noise

from agp_tf.distribute import cluster as cluster_lib  # noqa: E402
from agp_tf.distribute.processes import LocalProcesses  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("workers", 2, "Worker processes (>= 1).")
flags.DEFINE_integer("ps", 0, "Parameter servers; with 1 or more, the command runs as the chief "
                     "(coordinator) and the workers run TensorFlow servers.")
flags.DEFINE_string("task_log_dir", None, "Folder for the other tasks' logs (default: a new temporary one).")
flags.DEFINE_float("timeout", 0, "Seconds before the job is stopped (0: no limit).")


def job_tasks(cluster, ps):
    """The tasks that run the command; the job ends when they have."""
    if ps:
        return [cluster_lib.Task("chief", 0)]
    return [cluster_lib.Task("worker", index) for index in range(len(cluster["worker"]))]


def main(argv):
    command = argv[1:]
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise app.UsageError("Give the command to run after --, e.g. -- python scripts/train.py ...")
    if FLAGS.workers < 1 or FLAGS.ps < 0:
        raise app.UsageError(f"--workers must be >= 1 and --ps >= 0, got {FLAGS.workers} and {FLAGS.ps}")
    cluster = cluster_lib.local_cluster(FLAGS.workers, FLAGS.ps, chief=FLAGS.ps > 0)
    log_dir = FLAGS.task_log_dir or tempfile.mkdtemp(prefix="agp_cluster_")
    chief = cluster_lib.chief_task(cluster)
    environ = {"PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    print(f"Cluster {cluster}; logs in {log_dir}", flush=True)
    with LocalProcesses(cluster, log_dir, environ) as processes:
        for job in ("ps", "worker"):
            for index in range(len(cluster.get(job, []))) if FLAGS.ps else []:
                processes.start_server(cluster_lib.Task(job, index))
        tasks = job_tasks(cluster, FLAGS.ps)
        for task in tasks:
            processes.start(task, command, show_output=task == chief)
        return wait(processes, tasks)


def wait(processes, tasks):
    """Waits for `tasks`; the first failure (or the timeout) ends the job."""
    deadline = time.monotonic() + FLAGS.timeout if FLAGS.timeout else None
    running = list(tasks)
    while running:
        for task in list(running):
            code = processes.processes[task].poll()
            if code is None:
                continue
            running.remove(task)
            if code != 0:
                print(f"{task} exited with code {code}; stopping the cluster. Its log "
                      f"({processes.log_path(task)}) ends:\n{processes.log_tail(task)}",
                      file=sys.stderr, flush=True)
                return code
        if deadline is not None and time.monotonic() > deadline:
            print(f"The job ran past --timeout={FLAGS.timeout:g} s; stopping the cluster.",
                  file=sys.stderr, flush=True)
            return 124
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
