"""Synchronous multi-worker training with `model.fit` and `MultiWorkerMirroredStrategy`.

Every worker runs the same program with its own `TF_CONFIG` (see
`agp_tf.distribute.cluster`); `multi_worker_strategy()` checks it, applies
`agp_tf.distribute.keras_compat` (stock Keras 3.15 `fit` fails on several
workers without it) and creates the strategy. Create it first thing in the
program, before any other TensorFlow op runs: the strategy configures the
process's TensorFlow server and collectives.

Growth and pruning stay in step on every worker: gradients are all-reduced
each step, so weights and optimizer slots agree; Taylor scores are
all-reduced too (in the training step's backward pass with
`taylor_source="training"`, across workers at the prune with
`taylor_source="data"`), so every worker's `GrowPruneController` picks the
same neurons and applies the same flip to its own copy of the variables.
A mask assigned on one worker only would silently diverge from the others.

Keras callbacks have no notion of chief: write logs, checkpoints and
exports on the chief only (`is_chief(strategy)`), and give the other
workers a throw-away directory when Keras insists on writing somewhere
(`scratch_dir`). `GrowPruneCallback(log_dir=...)` writes TensorBoard
summaries on the chief only by itself.

Example (every worker):

```python
strategy = multi_worker.multi_worker_strategy()
with strategy.scope():
    model = build_model()
    model.compile(...)
with multi_worker.scratch_dir("runs/tb", strategy) as log_dir:
    model.fit(train_ds, epochs=5, callbacks=[
        agp_tf.GrowPruneCallback(schedules.alternate(0.5), None),
        keras.callbacks.TensorBoard(log_dir),
    ])
```
"""

import contextlib
import os
import shutil
import tempfile

import tensorflow as tf

from agp_tf.distribute import cluster as cluster_lib
from agp_tf.distribute import keras_compat

_SYNCHRONOUS_JOBS = ("chief", "worker")


def check_multi_worker_config(environ=None):
    """`(cluster, Task)` from `TF_CONFIG`, or ValueError saying what is wrong for this strategy."""
    cluster, task = cluster_lib.current_task(environ)
    if task is None:
        raise ValueError(
            "MultiWorkerMirroredStrategy needs TF_CONFIG naming the cluster and this "
            'process\'s task, e.g. {"cluster": {"worker": ["host0:port", "host1:port"]}, '
            '"task": {"type": "worker", "index": 0}}; TF_CONFIG is not set. For one '
            "process, use the default strategy (or MirroredStrategy) instead."
        )
    if "ps" in cluster:
        raise ValueError(
            "TF_CONFIG describes a parameter-server cluster (it has a 'ps' job): use "
            "agp_tf.distribute.parameter_server (train.py --strategy=parameter_server), "
            "not MultiWorkerMirroredStrategy. "
            f"Received cluster: {cluster}"
        )
    if task.type not in _SYNCHRONOUS_JOBS:
        raise ValueError(
            f"MultiWorkerMirroredStrategy runs on 'chief' and 'worker' tasks; this "
            f"process is {task} (TF_CONFIG task)."
        )
    return cluster, task


def multi_worker_strategy(communication_options=None):
    """Applies `keras_compat` and returns a `MultiWorkerMirroredStrategy` from `TF_CONFIG`.

    Args:
        communication_options: Optional
            `tf.distribute.experimental.CommunicationOptions` (default: the
            strategy's, ring all-reduce on CPU).

    Raises:
        ValueError: `TF_CONFIG` is missing, malformed, or not a
            chief/worker task of a cluster without parameter servers.
        RuntimeError: The installed Keras is not one `keras_compat` was
            tested with.
    """
    check_multi_worker_config()
    keras_compat.apply()
    return tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver(),
        communication_options=communication_options,
    )


def is_multi_worker(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` spanning more than one worker."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        strategy.num_replicas_in_sync > len(strategy.extended.worker_devices)
    )


def task_of(strategy=None):
    """This process's `Task` from `strategy.cluster_resolver` (else `TF_CONFIG`), or None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type is not None:
        return cluster_lib.Task(str(resolver.task_type), int(resolver.task_id or 0))
    _, task = cluster_lib.current_task()
    return task


def is_chief(strategy=None):
    """Whether this process writes logs, checkpoints and exports.

    Read from the strategy's cluster resolver (task type and id; the chief
    is `chief:0` if the cluster has one, else `worker:0`); strategies
    without one fall back to `TF_CONFIG` (`cluster.is_chief()`): True for a
    plain single process.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return cluster_lib.is_chief()
    cluster = resolver.cluster_spec().as_dict()
    if not cluster:
        return True
    return task_of(strategy) == cluster_lib.chief_task(cluster)


@contextlib.contextmanager
def scratch_dir(directory, strategy=None):
    """`directory` on the chief; elsewhere a temporary directory, removed on exit.

    For what Keras writes on every worker but only the chief should keep
    (`keras.callbacks.TensorBoard`, `ModelCheckpoint` files, exports): each
    worker writes its own directory, so no two processes share a file.
    """
    if is_chief(strategy):
        os.makedirs(directory, exist_ok=True)
        yield directory
        return
    task = task_of(strategy)
    scratch = tempfile.mkdtemp(prefix=f"agp_tf-{task.type}-{task.index}-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


__all__ = [
    "check_multi_worker_config",
    "is_chief",
    "is_multi_worker",
    "multi_worker_strategy",
    "scratch_dir",
    "task_of",
]
