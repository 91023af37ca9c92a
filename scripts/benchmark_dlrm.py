"""Training throughput of the paper's DLRM on CPU: samples per second.

Trains `agp_tf.models.dlrm.build_dlrm` (embedding dim 4, bottom MLP
13-256-128-64-4, top MLP 355-256-128-1, SGD with learning rate 0.1, BCE)
with `model.fit` for every combination of batch size, `jit_compile`,
embedding layout, dot interaction, MLP path and `steps_per_execution`, and
prints a markdown table (optionally JSON). The MLP path `plain` is the step
growth and pruning runs in its dense phases (every neuron kept, no mask
multiply); `masked` multiplies the kernels by the neuron masks, as a fit
without `GrowPruneCallback` does.

Data comes from in-memory tensors (random ids and features, whole batches
pre-built so the input pipeline costs nothing) or from preprocessed shards
(`agp_tf.data.shards`, the real input pipeline):

    python scripts/benchmark_dlrm.py --output_json=/tmp/dlrm_bench.json
    python scripts/benchmark_dlrm.py --full_vocab --steps=100
    python scripts/benchmark_dlrm.py --data=shards --shards_dir=/data/criteo_kaggle

Threads: TensorFlow runs one step's ops mostly in sequence (the MLPs are a
chain, and XLA compiles the step into one cluster), so intra-op parallelism
is what uses the cores. The default is intra-op = all cores and inter-op =
1: more inter-op threads on a small machine only compete with the intra-op
pool for the same cores. tf.data keeps its own threads.

Numbers are wall-clock throughput of the steps after `--warmup_steps`
(which absorb tracing and XLA compilation), the median and the best of
`--repeats` interleaved runs (the best is the least disturbed by other load); on a shared machine they are indicative only. The JSON
also holds resident memory after the build, after the run and the peak: it
only grows within one process, so measure memory with one configuration per
process, e.g.

    python scripts/benchmark_dlrm.py --full_vocab --embeddings=fused \
        --batch_sizes=128 --jit_compile=true --steps=20 --output_json=mem.json
"""

import json
import math
import os
import platform
import resource
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_list("batch_sizes", ["128", "2048"], "Batch sizes to measure.")
flags.DEFINE_list("jit_compile", ["true", "false"], "jit_compile settings to measure.")
flags.DEFINE_list("embeddings", ["fused", "separate"], "Embedding layouts to measure.")
flags.DEFINE_list(
    "interactions", ["agp_tf", "keras_rs"],
    "Dot interactions to measure (`build_dlrm(interaction=)`): agp_tf's, whose gradient is "
    "a gather, and keras_rs', whose gradient is a scatter. Same outputs.",
)
MLP_PATHS = ("plain", "masked")
flags.DEFINE_list(
    "mlp_paths", list(MLP_PATHS),
    "How the MLP layers run: plain (every neuron kept, so no mask multiply: the step "
    "GrowPruneCallback runs in dense phases, agp_tf.topology.set_compact_plans) or masked "
    "(kernels and biases multiplied by the neuron masks every step: a plain model.fit of the "
    "DLRM, no callback).",
)
flags.DEFINE_enum(
    "data", "memory", ["memory", "shards", "shards_in_memory"],
    "memory: pre-built in-memory batches of random ids; shards: "
    "agp_tf.data.shards.shard_dataset(--shards_dir, --shards_split); shards_in_memory: the "
    "same rows as --data=shards, loaded into memory once and cycled as pre-built batches "
    "(the fair in-memory baseline for shards: same ids, same tables)."
)
flags.DEFINE_string("shards_dir", None, "Preprocessed directory for --data=shards.")
flags.DEFINE_string("shards_split", "train", "Split read with --data=shards.")
flags.DEFINE_bool(
    "full_vocab", False,
    "Criteo Kaggle table sizes (33.8M rows). Default: sizes divided by --vocab_divisor. "
    "Ignored with --data=shards (the shards' metadata gives the sizes).",
)
flags.DEFINE_integer("vocab_divisor", 100, "Divisor of the Kaggle table sizes when not --full_vocab.")
flags.DEFINE_integer("embedding_dim", 4, "Embedding width.")
flags.DEFINE_list("bottom_mlp", ["256", "128", "64", "4"], "Bottom MLP widths.")
flags.DEFINE_list("top_mlp", ["256", "128", "1"], "Top MLP widths.")
flags.DEFINE_enum(
    "optimizer", "sgd", ["sgd", "adagrad"],
    "sgd: the paper's. adagrad: Keras' Adagrad, to see its per-step cost on big tables.",
)
flags.DEFINE_float("learning_rate", 0.1, "Learning rate.")
flags.DEFINE_integer("steps", 200, "Timed training steps per configuration.")
flags.DEFINE_integer("warmup_steps", 20, "Untimed steps first (tracing, XLA compilation).")
flags.DEFINE_integer("pool_batches", 16, "Distinct in-memory batches cycled with --data=memory.")
flags.DEFINE_list(
    "steps_per_execution", ["1", "32"],
    "Keras steps_per_execution settings to measure: training steps per call into "
    "TensorFlow (1 is Keras' default; scripts/train.py uses 32).",
)
flags.DEFINE_integer(
    "repeats", 1, "Measure every configuration this many times, interleaved, and report the "
    "median: on a shared machine other load moves single runs a lot."
)
flags.DEFINE_integer("intra_op_threads", 0, "Intra-op threads (0: all cores).")
flags.DEFINE_integer("inter_op_threads", 1, "Inter-op threads.")
flags.DEFINE_integer("seed", 0, "Seed of the data and the model.")
flags.DEFINE_string("output_json", None, "Write the results here as JSON.")


def _bool(text):
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"`--jit_compile` entries must be true/false. Received: {text!r}")


def _ints(name, values):
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValueError(f"`--{name}` must be integers. Received: --{name}={','.join(values)}")


def _peak_rss_mb():
    """Peak resident set size of this process so far, in MiB."""
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def _rss_mb():
    """Current resident set size in MiB (Linux), else the peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _peak_rss_mb()


def _memory_dataset(tf, np, vocab_sizes, batch_size):
    """Pre-built whole batches, cycled: the pipeline does no per-row work."""
    from agp_tf.data.features import DENSE_KEY, NUM_DENSE, SPARSE_KEY

    rng = np.random.default_rng(FLAGS.seed)
    n = FLAGS.pool_batches
    dense = rng.random((n, batch_size, NUM_DENSE), dtype=np.float32)
    # (pool, batch, tables), column j uniform in [0, vocab_sizes[j])
    sparse = (rng.random((n, batch_size, len(vocab_sizes))) * np.asarray(vocab_sizes)).astype(
        np.int32
    )
    labels = (rng.random((n, batch_size)) < 0.25).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(({DENSE_KEY: dense, SPARSE_KEY: sparse}, labels))
    return ds.repeat().prefetch(2)


def _shards_in_memory_dataset(tf, batch_size):
    """The shard rows, read once into memory and cycled as whole batches."""
    from agp_tf.data import shards

    features, labels = shards.read_split(FLAGS.shards_dir, FLAGS.shards_split)
    rows = (len(labels) // batch_size) * batch_size
    if rows == 0:
        raise app.UsageError(f"Split {FLAGS.shards_split!r} has fewer rows than one batch.")
    batched = lambda a: a[:rows].reshape((rows // batch_size, batch_size) + a.shape[1:])  # noqa: E731
    data = ({k: batched(v) for k, v in features.items()}, batched(labels))
    return tf.data.Dataset.from_tensor_slices(data).repeat().prefetch(2)


def _shards_dataset(batch_size):
    from agp_tf.data import shards

    splits = shards.load_metadata(FLAGS.shards_dir)["splits"]
    if FLAGS.shards_split not in splits:
        raise app.UsageError(
            f"--shards_split must be one of {sorted(splits)}. Received: {FLAGS.shards_split!r}"
        )
    rows = splits[FLAGS.shards_split]["rows"]
    if rows < batch_size:
        # Full batches only (static shapes for XLA): fewer rows give no batch.
        raise app.UsageError(
            f"Split {FLAGS.shards_split!r} of {FLAGS.shards_dir} has {rows} rows, fewer than "
            f"one batch of {batch_size}."
        )
    ds = shards.shard_dataset(FLAGS.shards_dir, FLAGS.shards_split, batch_size, drop_remainder=True)
    return ds.repeat()


def _vocab_sizes():
    from agp_tf.data.features import CRITEO_KAGGLE_VOCAB_SIZES

    if FLAGS.data in ("shards", "shards_in_memory"):
        from agp_tf.data import shards

        return [int(n) for n in shards.load_metadata(FLAGS.shards_dir)["table_sizes"]]
    if FLAGS.full_vocab:
        return list(CRITEO_KAGGLE_VOCAB_SIZES)
    if FLAGS.vocab_divisor < 1:
        raise ValueError(f"`--vocab_divisor` must be >= 1. Received: {FLAGS.vocab_divisor}")
    return [max(1, math.ceil(n / FLAGS.vocab_divisor)) for n in CRITEO_KAGGLE_VOCAB_SIZES]


def _measure(tf, np, keras, vocab_sizes, embedding, interaction, mlp_path, batch_size,
             jit_compile, per_call):
    from agp_tf import topology
    from agp_tf.models import dlrm

    model = dlrm.build_dlrm(
        vocab_sizes,
        embedding_dim=FLAGS.embedding_dim,
        bottom_mlp=_ints("bottom_mlp", FLAGS.bottom_mlp),
        top_mlp=_ints("top_mlp", FLAGS.top_mlp),
        embedding=embedding,
        seed=FLAGS.seed,
        interaction=interaction,
    )
    if mlp_path == "plain":
        topology.set_compact_plans(model)
    optimizers = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad}
    rss_after_build = _rss_mb()
    model.compile(
        optimizer=optimizers[FLAGS.optimizer](FLAGS.learning_rate),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
        steps_per_execution=per_call,
    )
    if FLAGS.data == "memory":
        dataset = _memory_dataset(tf, np, vocab_sizes, batch_size)
    elif FLAGS.data == "shards_in_memory":
        dataset = _shards_in_memory_dataset(tf, batch_size)
    else:
        dataset = _shards_dataset(batch_size)

    ends, cpu_ends = [], []

    class _StepTimes(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.perf_counter())
            cpu_ends.append(time.process_time())

    executions = math.ceil((FLAGS.warmup_steps + FLAGS.steps) / per_call)
    warmup_executions = max(1, math.ceil(FLAGS.warmup_steps / per_call))
    model.fit(
        dataset,
        steps_per_epoch=executions * per_call,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[_StepTimes()],
    )
    timed = ends[warmup_executions - 1 :]
    steps = (len(timed) - 1) * per_call
    seconds = timed[-1] - timed[0]
    cpu_seconds = cpu_ends[-1] - cpu_ends[warmup_executions - 1]
    per_execution = np.diff(np.asarray(timed))
    return {
        "embedding": embedding,
        "interaction": interaction,
        "mlp_path": mlp_path,
        "batch_size": batch_size,
        "jit_compile": jit_compile,
        "steps_per_execution": per_call,
        "steps": steps,
        "seconds": seconds,
        "samples_per_s": steps * batch_size / seconds,
        "median_step_ms": float(np.median(per_execution)) * 1e3 / per_call,
        # CPU time of all this process's threads (spinning included): less
        # sensitive than wall time to other processes on a shared machine.
        "cpu_ms_per_step": cpu_seconds * 1e3 / steps,
        "rss_after_build_mb": rss_after_build,
        "rss_mb": _rss_mb(),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _markdown(results):
    lines = [
        "| embedding | interaction | MLP path | batch | jit_compile | steps/execution "
        "| samples/s (median) | samples/s (best) | median ms/step | CPU ms/step |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['embedding']} | {r['interaction']} | {r['mlp_path']} | {r['batch_size']} | "
            f"{r['jit_compile']} | "
            f"{r['steps_per_execution']} | "
            f"{r['samples_per_s']:,.0f} | {r['best_samples_per_s']:,.0f} | "
            f"{r['median_step_ms']:.2f} | {r['cpu_ms_per_step']:.2f} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    if FLAGS.data in ("shards", "shards_in_memory"):
        if not FLAGS.shards_dir:
            raise app.UsageError(
                f"--data={FLAGS.data} needs --shards_dir (a preprocessed directory)."
            )
        try:
            from agp_tf.data import shards  # noqa: F401
        except ImportError as e:
            raise app.UsageError(f"--data=shards needs agp_tf.data.shards: {e}")
    per_call_settings = _ints("steps_per_execution", FLAGS.steps_per_execution)
    if min([FLAGS.steps, FLAGS.warmup_steps, FLAGS.repeats] + per_call_settings) < 1:
        raise app.UsageError(
            "--steps, --warmup_steps, --steps_per_execution and --repeats must be >= 1."
        )
    for mlp_path in FLAGS.mlp_paths:
        if mlp_path not in MLP_PATHS:
            raise app.UsageError(
                f"--mlp_paths entries must be in {MLP_PATHS}. Received: {mlp_path!r}"
            )
    batch_sizes = _ints("batch_sizes", FLAGS.batch_sizes)
    jit_settings = [_bool(v) for v in FLAGS.jit_compile]
    from agp_tf.models import dlrm

    for embedding in FLAGS.embeddings:
        if embedding not in dlrm.EMBEDDING_KINDS:
            raise app.UsageError(
                f"--embeddings entries must be in {dlrm.EMBEDDING_KINDS}. Received: {embedding!r}"
            )
    for interaction in FLAGS.interactions:
        if interaction not in dlrm.INTERACTION_KINDS:
            raise app.UsageError(
                f"--interactions entries must be in {dlrm.INTERACTION_KINDS}. "
                f"Received: {interaction!r}"
            )

    import numpy as np
    import tensorflow as tf

    cores = os.cpu_count() or 1
    intra = FLAGS.intra_op_threads or cores
    # Must run before TensorFlow creates its thread pools (before any op).
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    import keras

    vocab_sizes = _vocab_sizes()
    configs = [
        (embedding, interaction, mlp_path, batch_size, jit_compile, per_call)
        for embedding in FLAGS.embeddings
        for interaction in FLAGS.interactions
        for mlp_path in FLAGS.mlp_paths
        for batch_size in batch_sizes
        for jit_compile in jit_settings
        for per_call in per_call_settings
    ]
    runs = {config: [] for config in configs}
    for repeat in range(FLAGS.repeats):
        for config in configs:
            keras.backend.clear_session()
            r = _measure(tf, np, keras, vocab_sizes, *config)
            print(
                f"[{repeat + 1}/{FLAGS.repeats}] {config[0]:8s} {config[1]:8s} {config[2]:6s} "
                f"batch={config[3]:5d} jit={config[4]!s:5s} steps/execution={config[5]:3d} "
                f"{r['samples_per_s']:10,.0f} samples/s  "
                f"{r['median_step_ms']:7.2f} ms/step",
                flush=True,
            )
            runs[config].append(r)
    results = []
    for config in configs:
        summary = dict(runs[config][-1])
        summary["samples_per_s"] = float(np.median([r["samples_per_s"] for r in runs[config]]))
        summary["best_samples_per_s"] = float(max(r["samples_per_s"] for r in runs[config]))
        summary["median_step_ms"] = float(np.median([r["median_step_ms"] for r in runs[config]]))
        summary["cpu_ms_per_step"] = float(np.median([r["cpu_ms_per_step"] for r in runs[config]]))
        summary["runs"] = runs[config]
        results.append(summary)

    print()
    print(
        f"DLRM {FLAGS.embedding_dim}-dim, bottom 13-{'-'.join(FLAGS.bottom_mlp)}, top "
        f"{'-'.join(FLAGS.top_mlp)}, {FLAGS.optimizer} {FLAGS.learning_rate}; "
        f"{sum(vocab_sizes):,} embedding "
        f"rows; data={FLAGS.data}; {cores} cores, intra-op {intra}, inter-op "
        f"{FLAGS.inter_op_threads}; TF {tf.__version__}, Keras {keras.__version__}"
    )
    print()
    print(_markdown(results))
    if FLAGS.output_json:
        report = {
            "config": {
                "embedding_dim": FLAGS.embedding_dim,
                "bottom_mlp": _ints("bottom_mlp", FLAGS.bottom_mlp),
                "top_mlp": _ints("top_mlp", FLAGS.top_mlp),
                "optimizer": FLAGS.optimizer,
                "learning_rate": FLAGS.learning_rate,
                "vocab_sizes": vocab_sizes,
                "data": FLAGS.data,
                "shards_dir": FLAGS.shards_dir,
                "shards_split": FLAGS.shards_split if FLAGS.data != "memory" else None,
                "steps": FLAGS.steps,
                "warmup_steps": FLAGS.warmup_steps,
                "steps_per_execution": per_call_settings,
                "mlp_paths": FLAGS.mlp_paths,
                "intra_op_threads": intra,
                "inter_op_threads": FLAGS.inter_op_threads,
                "cpu_count": cores,
                "platform": platform.platform(),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
            "results": results,
        }
        with open(FLAGS.output_json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nWrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
