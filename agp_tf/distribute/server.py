"""`python -m agp_tf.distribute.server`: a TensorFlow server for the task in `TF_CONFIG`.

Parameter servers, and the workers of a parameter-server cluster, run no
program of their own: they serve variables and run the closures the
coordinator sends them until they are killed.
"""

import sys

from agp_tf.distribute import cluster as cluster_lib


def server_config(cluster):
    """The session config of a server in `cluster`.

    `inter_op_parallelism_threads >= workers + 1` avoids hangs when several
    workers use one server at once (the value TF's own multi-worker test
    helpers use).
    """
    import tensorflow as tf

    config = tf.compat.v1.ConfigProto()
    config.inter_op_parallelism_threads = len(cluster.get("worker", [])) + 1
    return config


def serve(cluster, task):
    """Runs the TensorFlow server of `task` (a worker or ps) until the process is killed."""
    if task.type not in ("worker", "ps"):
        raise ValueError(f"A parameter-server cluster serves worker and ps tasks, not {task}.")
    import tensorflow as tf

    server = tf.distribute.Server(
        tf.train.ClusterSpec(cluster), job_name=task.type, task_index=task.index,
        protocol="grpc", config=server_config(cluster), start=True,
    )
    print(f"agp_tf server {task} listening on {cluster[task.type][task.index]}", flush=True)
    server.join()


def main():
    cluster, task = cluster_lib.current_task()
    if task is None:
        sys.exit("agp_tf.distribute.server: set TF_CONFIG to this task's place in the cluster.")
    try:
        serve(cluster, task)
    except ValueError as error:
        sys.exit(f"agp_tf.distribute.server: {error}")


if __name__ == "__main__":
    main()
