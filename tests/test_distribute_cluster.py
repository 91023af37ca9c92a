import json
import socket

import pytest

from agp_tf.distribute import cluster as cluster_lib
from agp_tf.distribute.cluster import Task

CLUSTER = {"worker": ["h0:10", "h1:11"], "ps": ["h2:12"]}


def test_parse_tf_config_gives_cluster_and_task():
    text = json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}})
    cluster, task = cluster_lib.parse_tf_config(text)
    assert cluster == CLUSTER and task == Task("worker", 1) and str(task) == "worker:1"
    assert cluster_lib.parse_tf_config(cluster_lib.tf_config(CLUSTER, task)) == (CLUSTER, task)


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ('{"cluster": {}}', 'needs "cluster" and "task"'),
    (json.dumps({"cluster": CLUSTER, "task": {"type": "ps", "index": 3}}), "is not in the cluster"),
    (json.dumps({"cluster": {"boss": ["h:1"]}, "task": {"type": "boss"}}), "Unknown job 'boss'"),
    (json.dumps({"cluster": {"worker": ["nohostport"]}, "task": {"type": "worker"}}), "is not 'host:port'"),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker"}}), "non-empty list"),
    (json.dumps({"cluster": {"chief": ["a:1", "b:2"]}, "task": {"type": "chief"}}), "at most one chief"),
])
def test_bad_tf_config_is_named(text, message):
    with pytest.raises(ValueError, match=message):
        cluster_lib.parse_tf_config(text)


def test_chief_is_chief_task_else_worker_zero():
    assert cluster_lib.chief_task(CLUSTER) == Task("worker", 0)
    assert cluster_lib.chief_task({**CLUSTER, "chief": ["h3:13"]}) == Task("chief", 0)

    def environ(task_type, index, cluster=CLUSTER):
        return {"TF_CONFIG": cluster_lib.tf_config(cluster, Task(task_type, index))}

    assert cluster_lib.is_chief(environ("worker", 0))
    assert not cluster_lib.is_chief(environ("worker", 1))
    assert not cluster_lib.is_chief(environ("worker", 0, {**CLUSTER, "chief": ["h3:13"]}))
    assert cluster_lib.is_chief({})  # one process, no cluster
    assert cluster_lib.current_task({"TF_CONFIG": "  "}) == (None, None)


def test_local_cluster_uses_distinct_free_ports():
    spec = cluster_lib.local_cluster(3, ps=2, chief=True)
    assert [len(spec[job]) for job in ("worker", "ps", "chief")] == [3, 2, 1]
    addresses = [a for job in spec.values() for a in job]
    assert len(set(addresses)) == 6 and all(a.startswith("127.0.0.1:") for a in addresses)
    for address in addresses:  # free: each can be bound
        with socket.socket() as handle:
            handle.bind(("127.0.0.1", int(address.rsplit(":", 1)[1])))
    with pytest.raises(ValueError, match="workers=0"):
        cluster_lib.local_cluster(0)
