"""Speed of asynchronous training on a parameter-server cluster, and what a flip costs.

Run it as the chief (coordinator) of a cluster, e.g. on this machine:

    python scripts/launch_local_cluster.py --workers=2 --ps=1 -- \\
        python scripts/benchmark_parameter_server.py --steps=600

It trains the paper's DLRM (`ParameterServerTrainer`, SGD) on a pool of
random batches that every worker holds (no input pipeline in the timing),
once with `--schedule=dense` and once with alternate growth and pruning,
and prints steps/s, rows/s, and at the controller's check points (flips and
the starts of scoring windows): the wait for the queued steps (the drain;
mostly training, not idle time), scoring plus applying a flip
(`FlipEvent.seconds`), and everything from the drain's end to the next
step scheduled, tracing of new step functions included (`check s`). Sparse
phases run compactly. Both runs are timed after `--warmup_steps` untimed
steps (tracing and first reads of the dense step).
"""

import json
import os
import statistics
import sys

from absl import app, flags
from absl import logging as absl_logging

from quiet_startup import import_tensorflow, quiet_native_stderr  # scripts/, beside this file

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 600, "Timed training steps per run.")
flags.DEFINE_integer("warmup_steps", 40, "Untimed steps before each run (tracing, first reads).")
flags.DEFINE_integer("batch_size", 128, "Rows per step.")
flags.DEFINE_float("sparsity", 0.7, "Sparsity of the alternate run's sparse phases.")
flags.DEFINE_integer("importance_batches", 16, "Training steps scored before each prune.")
flags.DEFINE_integer("max_vocab_size", 100_000, "Cap on each embedding table's rows.")
flags.DEFINE_integer("embedding_shards", 0, "Row shards of the embedding table (0: one per ps).")
flags.DEFINE_string("json_out", None, "Also write the results here as JSON.")

POOL_BATCHES = 16


def random_pool(vocab_sizes, batch_size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = POOL_BATCHES * batch_size
    dense = rng.exponential(size=(rows, 13)).astype("float32")
    sparse = np.stack([rng.integers(0, n, rows) for n in vocab_sizes], axis=1).astype("int32")
    labels = (rng.random(rows) < 0.25).astype("float32")
    return {"dense_features": dense, "sparse_features": sparse}, labels


def one_run(strategy, schedule, pool, vocab_sizes, shards):
    import keras
    import tensorflow as tf

    from agp_tf.distribute.parameter_server import ParameterServerTrainer
    from agp_tf.models.dlrm import build_dlrm

    with strategy.scope():
        model = build_dlrm(vocab_sizes, seed=0, embedding_shards=shards)
        optimizer = keras.optimizers.SGD(0.1)
    trainer = ParameterServerTrainer(strategy, model, optimizer, keras.losses.BinaryCrossentropy())
    x, y = pool
    batch = FLAGS.batch_size

    def dataset_fn(context):
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True).repeat()

    trainer.fit(dataset_fn, FLAGS.warmup_steps)  # untimed: traces the step, first reads
    total = FLAGS.warmup_steps + FLAGS.steps
    controller = trainer.make_controller(
        schedule, FLAGS.steps, start_step=FLAGS.warmup_steps,
        importance_batches=FLAGS.importance_batches, compact=True,
    )
    log = trainer.fit(dataset_fn, total, controller=controller)
    timed = log.steps - FLAGS.warmup_steps
    flips = [
        {"step": e.step, "to_sparsity": e.to_sparsity, "seconds": e.seconds}
        for e in log.flips
    ]
    return {
        "schedule": repr(schedule),
        "steps": timed,
        "seconds": log.seconds,
        "steps_per_second": timed / log.seconds,
        "rows_per_second": timed * batch / log.seconds,
        "flips": flips,
        "drain_seconds": log.drain_seconds,
        "check_seconds": log.check_seconds,
        "check_steps": log.check_steps,
        "timeline": log.timeline,
        "steps_applied": log.steps_applied,
    }


def _median(values):
    return statistics.median(values) if values else float("nan")


def main(argv):
    del argv
    from agp_tf.distribute import cluster as cluster_lib

    cluster, task = cluster_lib.current_task()
    if task is None or task.type != "chief" or "ps" not in cluster:
        sys.exit("benchmark_parameter_server.py runs as the chief of a cluster with a ps job: "
                 "start it with scripts/launch_local_cluster.py --ps=1 (see --help).")
    import_tensorflow(inter_op_threads=len(cluster["worker"]) + 1)
    absl_logging.set_verbosity(absl_logging.WARNING)  # not every closure TensorFlow waits for
    import tensorflow as tf

    from agp_tf import schedules
    from agp_tf.data.features import CRITEO_KAGGLE_VOCAB_SIZES

    with quiet_native_stderr():
        strategy = tf.distribute.ParameterServerStrategy(
            tf.distribute.cluster_resolver.TFConfigClusterResolver()
        )
    vocab_sizes = [min(n, FLAGS.max_vocab_size) for n in CRITEO_KAGGLE_VOCAB_SIZES]
    shards = FLAGS.embedding_shards or len(cluster["ps"])
    pool = random_pool(vocab_sizes, FLAGS.batch_size)
    results = {
        "workers": len(cluster["worker"]),
        "ps": len(cluster["ps"]),
        "batch_size": FLAGS.batch_size,
        "embedding_shards": shards,
        "runs": [
            one_run(strategy, schedule, pool, vocab_sizes, shards)
            for schedule in (schedules.dense(), schedules.alternate(FLAGS.sparsity))
        ],
    }
    print(f"{results['workers']} worker(s), {results['ps']} ps, batch {FLAGS.batch_size}, "
          f"{shards} embedding shard(s), {FLAGS.steps} timed steps per run")
    print("| schedule | steps/s | rows/s | flips | checks | drain s (median) | "
          "score+apply s (median) | check s (sum) |")
    print("|---|---|---|---|---|---|---|---|")
    for run in results["runs"]:
        flips = run["flips"]
        print(f"| {run['schedule']} | {run['steps_per_second']:.1f} | {run['rows_per_second']:,.0f} | "
              f"{len(flips)} | {len(run['check_seconds'])} | {_median(run['drain_seconds']):.3f} | "
              f"{_median([f['seconds'] for f in flips]):.3f} | {sum(run['check_seconds']):.2f} |")
    for run in results["runs"]:
        print(f"{run['schedule']}: steps/s between drains: " + ", ".join(
            f"{a}-{b} {(b - a) / (tb - ta):.1f}"
            for (a, ta), (b, tb) in zip(run["timeline"], run["timeline"][1:]) if tb > ta
        ))
        if run["check_seconds"]:
            print(f"{run['schedule']}: check points at steps "
                  + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in
                              zip(run["check_steps"], run["check_seconds"])))
    if FLAGS.json_out:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.json_out)), exist_ok=True)
        with open(FLAGS.json_out, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    app.run(main)
