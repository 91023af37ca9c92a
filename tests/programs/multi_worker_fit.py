"""One worker of a synchronous multi-worker `model.fit` with `GrowPruneCallback`.

Started once per worker by `tests/test_distribute_multi_worker.py` through
`LocalProcesses` (TF_CONFIG set): `MultiWorkerMirroredStrategy` from
`multi_worker_strategy()`. Without TF_CONFIG it trains the same model on the
default strategy in one process, the reference run.

Data: every worker builds the same global dataset (256 rows of XOR data in
batches of 32, no shuffling) and `fit` hands it to the strategy, with the
DATA auto-shard policy set explicitly (`from_tensor_slices` has no files to
shard). The strategy then splits each global batch of 32 into one batch of
16 per worker, so one step trains on the same 32 rows as one step of the
single process.

With `--taylor_source data` each worker scores its own share of the
importance batches (`importance_shard`), so the workers only agree on the
neurons to keep because the controller all-reduces the terms.

Schedule: `alternate(0.5)` over 10 epochs of 8 steps: dense, sparse from
step 16, dense from 32, sparse from 48, dense from 64 to 80.

Writes `<out>/<name>.npz` (weights and masks by variable path, optimizer
variables under `optimizer/`, the prune scores under `scores/<step>/<layer>`)
and `<out>/<name>.json` (flips, mask history, sparse steps checked, pid),
`name` being the task (`worker-0`) or `single`.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.dirname(TESTS))

import tensorflow as tf  # noqa: E402

# Before the strategy exists (it starts this process's server and collectives).
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)

from agp_tf.distribute import multi_worker  # noqa: E402

STARTED = time.monotonic()
if os.environ.get("TF_CONFIG"):
    strategy = multi_worker.multi_worker_strategy()
    task = multi_worker.task_of(strategy)
    NAME = f"{task.type}-{task.index}"
else:
    strategy = tf.distribute.get_strategy()
    NAME = "single"

import keras  # noqa: E402
import numpy as np  # noqa: E402

import helpers  # noqa: E402
from agp_tf import GrowPruneCallback, schedules  # noqa: E402

GLOBAL_BATCH = 32
EPOCHS = 10
PRUNABLE = ("d0", "d1")


class SparseStepsChecked(helpers.PrunedWeightsStayZero):
    """PrunedWeightsStayZero, plus the steps checked and the mask at every change."""

    def __init__(self, names):
        super().__init__(names)
        self.steps_checked = 0
        self.step = 0
        self.mask_history = []  # [step after which the masks changed, {layer: mask}]
        self._last = None

    def on_train_batch_end(self, batch, logs=None):
        before = self.sparse_steps
        super().on_train_batch_end(batch, logs)
        self.step += 1
        self.steps_checked += int(self.sparse_steps > before)
        masks = {n: self.model.get_layer(n).mask_numpy().astype(int).tolist() for n in self.names}
        if masks != self._last:
            self.mask_history.append([self.step, masks])
            self._last = masks


def importance_shard(x, y):
    """This worker's share of 4 global importance batches of 32 rows.

    Not distributed by the strategy: the controller iterates it on each
    worker. Worker w of W scores rows [w * 32 / W, (w + 1) * 32 / W) of
    every global batch, the single process all 32: the controller's mean
    over workers of the per-batch terms is then the global batch's term.
    """
    workers = strategy.num_replicas_in_sync
    index = multi_worker.task_of(strategy).index if workers > 1 else 0
    share = GLOBAL_BATCH // workers
    batches = len(x) // GLOBAL_BATCH
    x = x.reshape(batches, GLOBAL_BATCH, -1)[:, index * share : (index + 1) * share]
    y = y.reshape(batches, GLOBAL_BATCH)[:, index * share : (index + 1) * share]
    return helpers.dataset(x.reshape(batches * share, -1), y.reshape(-1), share)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--taylor_source", choices=("training", "data"), default="training")
    parser.add_argument("--log_dir", default=None)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    x, y = helpers.xor_data(rows=256, features=3, seed=0)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train = helpers.dataset(x, y, GLOBAL_BATCH).with_options(options)
    importance_data = None
    if args.taylor_source == "data":
        importance_data = importance_shard(x[:128], y[:128])

    with strategy.scope():
        model = helpers.mlp((3, 16, 8, 1), prunable=(True, True, False), seed=0)
        model.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            loss="binary_crossentropy",
            steps_per_execution=1,
            jit_compile=False,
        )
    grow_prune = GrowPruneCallback(
        schedules.alternate(0.5),
        importance_data,
        importance_batches=4,
        taylor_source=args.taylor_source,
        log_dir=args.log_dir,
        verbose=True,
    )
    checked = SparseStepsChecked(PRUNABLE)
    history = model.fit(train, epochs=EPOCHS, verbose=0, callbacks=[grow_prune, checked])

    arrays = {variable.path: keras.ops.convert_to_numpy(variable) for variable in model.weights}
    for variable in model.optimizer.variables:
        arrays[f"optimizer/{variable.path}"] = keras.ops.convert_to_numpy(variable)
    for event in grow_prune.flips:
        for layer, scores in event.scores.items():
            arrays[f"scores/{event.step}/{layer}"] = np.asarray(scores)
    np.savez(os.path.join(args.out, f"{NAME}.npz"), **arrays)
    result = {
        "name": NAME,
        "pid": os.getpid(),
        "chief": multi_worker.is_chief(strategy),
        "num_replicas": strategy.num_replicas_in_sync,
        "steps_per_epoch": grow_prune.params.get("steps"),
        "flips": [[e.step, e.from_sparsity, e.to_sparsity] for e in grow_prune.flips],
        "mask_history": checked.mask_history,
        "sparse_steps_checked": checked.steps_checked,
        "sparse_layer_steps": checked.sparse_steps,
        "loss": [float(v) for v in history.history["loss"]],
        "seconds": time.monotonic() - STARTED,
    }
    with open(os.path.join(args.out, f"{NAME}.json"), "w") as handle:
        json.dump(result, handle)
    print(f"{NAME} done in {result['seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
