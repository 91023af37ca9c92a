"""Cluster specs and `TF_CONFIG`: who is in the job, and which task this process is.

Pure functions over the JSON that TensorFlow reads from the `TF_CONFIG`
environment variable:

    {"cluster": {"worker": ["host0:port", "host1:port"], "ps": ["host2:port"]},
     "task": {"type": "worker", "index": 0}}

The chief is `chief:0` when the cluster has a "chief" job, else `worker:0`
(the rule of `MultiWorkerMirroredStrategy`). Under a parameter-server
cluster the process that runs the training loop (the coordinator) is the
"chief" task and writes logs, checkpoints and exports.
"""

import dataclasses
import json
import os
import socket

TASK_TYPES = ("chief", "worker", "ps", "evaluator")


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of a cluster: `type` ("chief", "worker", "ps") and `index`."""

    type: str
    index: int

    def __str__(self):
        return f"{self.type}:{self.index}"


def check_cluster(cluster):
    """Raises ValueError unless `cluster` is a dict job -> non-empty list of "host:port"."""
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"A cluster spec is a dict job -> list of 'host:port'. Received: {cluster!r}")
    for job, addresses in cluster.items():
        if job not in TASK_TYPES:
            raise ValueError(f"Unknown job {job!r} in the cluster spec; jobs are {TASK_TYPES}.")
        if not isinstance(addresses, (list, tuple)) or not addresses:
            raise ValueError(f"Job {job!r} needs a non-empty list of 'host:port'. Received: {addresses!r}")
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"Job {job!r}: {address!r} is not 'host:port'.")
    if "chief" in cluster and len(cluster["chief"]) != 1:
        raise ValueError(f"A cluster has at most one chief. Received: chief={cluster['chief']!r}")
    return cluster


def parse_tf_config(text):
    """`(cluster, Task)` from the text of `TF_CONFIG`, with errors naming what is wrong."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). Received: {text!r}") from None
    if not isinstance(config, dict) or "cluster" not in config or "task" not in config:
        raise ValueError(f'TF_CONFIG needs "cluster" and "task" keys. Received: {text!r}')
    cluster = check_cluster(config["cluster"])
    task = config["task"]
    if not isinstance(task, dict) or "type" not in task:
        raise ValueError(f'TF_CONFIG "task" needs a "type" and an "index". Received: {task!r}')
    task = Task(str(task["type"]), int(task.get("index", 0)))
    if task.type not in cluster or not 0 <= task.index < len(cluster[task.type]):
        raise ValueError(f"TF_CONFIG task {task} is not in the cluster {cluster}.")
    return cluster, task


def current_task(environ=None):
    """`(cluster, Task)` of this process from `TF_CONFIG`, or `(None, None)` when unset."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        return None, None
    return parse_tf_config(text)


def chief_task(cluster):
    """The task that writes logs, checkpoints and exports."""
    return Task("chief", 0) if "chief" in cluster else Task("worker", 0)


def is_chief(environ=None):
    """Whether this process is the cluster's chief (True without `TF_CONFIG`)."""
    cluster, task = current_task(environ)
    return task is None or task == chief_task(cluster)


def tf_config(cluster, task):
    """The `TF_CONFIG` text that makes a process `task` of `cluster`."""
    check_cluster(cluster)
    return json.dumps({"cluster": cluster, "task": {"type": task.type, "index": task.index}})


def free_ports(count, host="127.0.0.1"):
    """`count` distinct TCP ports that were free on `host` a moment ago.

    The sockets are held open together while the ports are chosen, so the
    kernel cannot hand the same port out twice.
    """
    sockets = []
    try:
        for _ in range(count):
            handle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            handle.bind((host, 0))
            sockets.append(handle)
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def local_cluster(workers, ps=0, chief=False, host="127.0.0.1"):
    """A cluster spec on `host` with free ports: `workers` workers, `ps` parameter servers."""
    if workers < 1 or ps < 0:
        raise ValueError(f"A cluster needs >= 1 worker and >= 0 ps. Received: workers={workers}, ps={ps}")
    ports = iter(free_ports(workers + ps + int(bool(chief)), host))
    cluster = {"worker": [f"{host}:{next(ports)}" for _ in range(workers)]}
    if ps:
        cluster["ps"] = [f"{host}:{next(ports)}" for _ in range(ps)]
    if chief:
        cluster["chief"] = [f"{host}:{next(ports)}"]
    return cluster


__all__ = [
    "Task",
    "check_cluster",
    "chief_task",
    "current_task",
    "free_ports",
    "is_chief",
    "local_cluster",
    "parse_tf_config",
    "tf_config",
]
