"""Wall-clock cost of growth and pruning on DLRM: train-step times and a full run.

Two parts, one process:

1. Step times. For every batch size and `jit_compile` setting, the median
   train-step time (after warm-up, over `--repeats` interleaved rounds) of
   - `dense`: `build_dlrm` with its default prunable layers, all kept;
   - `masked`: the same model in a sparse phase at `--sparsity`, masks only
     (`GrowPruneController(..., compact=False)`, `flip_to`);
   - `compact`: the same sparse phase with compact execution
     (`compact=True`; the train function is rebuilt after the flip);
   - `static`: a DLRM built with the kept widths
     (`importance.num_kept(units, sparsity)` per prunable layer), the
     physical limit of that sparsity;
   - `floor`: the smallest MLPs DLRM allows (bottom 13-4, top 355-1): the
     cost of embeddings, interaction, loss and the training loop, which no
     pruning of the MLPs removes;
   - `tfmot`: the peer, the same DLRM built with `tf_keras` (Keras 2) with
     the same Dense layers wrapped by TFMOT `prune_low_magnitude`
     (`ConstantSparsity(sparsity, begin_step=0, frequency=100)`), trained
     with `tf_keras` `fit` and `UpdatePruningStep`. Needs the `peers` extra
     (`pip install .[peers]`); skipped with a note without it.
   Batches come from a pool of pre-generated synthetic rows held in memory
   (`--pool_rows`) and cycled, so the input pipeline is not measured.

2. End to end. `alternate(--sparsity)` through `model.fit` with
   `GrowPruneCallback` (compact execution, Taylor importance on
   `--importance_batches` held-out batches) against a dense run over the
   same batches and number of samples (`--e2e_samples`). The dense run uses
   the same callback with `schedules.dense()`, so both run the identical
   dense step and callback; only the sparse phases and the flips differ.
   The two runs of a pair take turns in `--e2e_chunks` chunks of steps (one
   `fit` call each, continuing where the last stopped), so that load from
   other processes falls on both alike; the savings are compared within
   pairs.
   Wall-clock includes scoring, applying the flips and the recompilation of
   the train function. Reported next to it: the ideal saving
   `sparse_fraction * (1 - t_static / t_dense)` from part 1, the achieved
   fraction of that ideal, the flip overhead (scoring and applying from
   `FlipEvent.seconds`, recompilation as the extra time of the first step
   after each flip), the analytic FLOPs saving, the same savings in CPU
   time, and the run length at which the flips' one-off costs would fall
   within the targets on this machine.

The defaults took about 6.5 minutes on 2 cores (longer under load).

Examples:

    python scripts/benchmark.py --output_json=/tmp/benchmark.json
    python scripts/benchmark.py --batch_sizes=2048 --jit_compile=true \\
        --variants=dense,compact,static --e2e_samples=0
    python scripts/benchmark.py --e2e_samples=4000000 --e2e_repeats=3

Threads: the step is mostly a chain of ops (one XLA cluster with
`jit_compile`), so intra-op parallelism is what uses the cores: intra-op =
all cores, inter-op = 1 by default; more inter-op threads on a small machine
only compete for the same cores.

Timing: per-step wall time is the gap between the ends of consecutive
steps as `fit` runs them (callbacks and iterator included); samples/s is
`batch_size / median step time`. CPU time is this process's, all threads
(spinning included), over the timed steps. Configurations are measured in
rounds, alternating the order between rounds, and the median over rounds is
reported; the load average at each point is recorded, since other processes
on a shared machine move the numbers. No target is asserted: they are
reported.
"""

import gc
import json
import logging
import math
import os
import platform
import sys
import time

from absl import app
from absl import flags

FLAGS = flags.FLAGS

VARIANTS = ("dense", "masked", "compact", "static", "floor", "tfmot")

# Model and data.
flags.DEFINE_integer("embedding_dim", 4, "Embedding width.")
flags.DEFINE_list("bottom_mlp", ["256", "128", "64", "4"], "Bottom MLP widths (13 inputs).")
flags.DEFINE_list("top_mlp", ["256", "128", "1"], "Top MLP widths.")
flags.DEFINE_float("learning_rate", 0.1, "SGD learning rate.")
flags.DEFINE_float("sparsity", 0.7, "Fraction of each prunable layer's neurons pruned.")
flags.DEFINE_integer(
    "max_vocab_size", 100_000,
    "Cap on each synthetic vocabulary (Criteo Kaggle sizes scaled down; 0: full sizes).",
)
flags.DEFINE_integer(
    "pool_rows", 65_536,
    "Synthetic rows pre-generated for the step-time part, cut into batches and cycled.",
)
flags.DEFINE_integer("seed", 0, "Seed of the data, the models and the choices.")
# Step times.
flags.DEFINE_list("batch_sizes", ["128", "2048"], "Batch sizes of the step-time part.")
flags.DEFINE_list("jit_compile", ["true", "false"], "jit_compile (XLA) settings to measure.")
flags.DEFINE_list(
    "variants", list(VARIANTS),
    f"Configurations of the step-time part, any of {', '.join(VARIANTS)}.",
)
flags.DEFINE_integer("steps", 100, "Timed train steps per configuration and round.")
flags.DEFINE_integer(
    "warmup_steps", 20,
    "Untimed steps before the first round of a configuration (tracing, XLA compilation).",
)
flags.DEFINE_integer("rewarm_steps", 5, "Untimed steps before each later round.")
flags.DEFINE_integer(
    "repeats", 5,
    "Rounds over all configurations, interleaved; the median over rounds is reported.",
)
flags.DEFINE_enum(
    "flip_criterion", "magnitude", ["magnitude", "random"],
    "How the step-time part picks the kept neurons (the step time depends only on "
    "their number).",
)
# End to end.
flags.DEFINE_integer(
    "e2e_samples", 2_000_000,
    "Training samples of each end-to-end run (rounded down to whole batches; 0 skips "
    "the end-to-end part).",
)
flags.DEFINE_integer("e2e_batch_size", 2048, "Batch size of the end-to-end runs.")
flags.DEFINE_bool("e2e_jit_compile", True, "jit_compile of the end-to-end runs.")
flags.DEFINE_float("phase_fraction", 0.2, "Phase length of the alternate schedule.")
flags.DEFINE_integer("importance_batches", 16, "Mini-batches of Taylor scoring per prune.")
flags.DEFINE_enum(
    "taylor_source", "training", ["training", "data"],
    "Taylor scores of the end-to-end runs: from the training steps before each prune, or "
    "from extra passes over held-out importance batches.",
)
flags.DEFINE_integer(
    "e2e_pool_rows", 262_144,
    "Synthetic rows (day 0) cycled as the end-to-end training data; the same batches in "
    "the same order for both runs.",
)
flags.DEFINE_integer(
    "test_rows", 65_536,
    "Held-out synthetic rows (day 1) to score the finished end-to-end models on; the "
    "importance batches come from the same day, after them.",
)
flags.DEFINE_integer(
    "e2e_repeats", 2, "Dense/alternate pairs; the median over pairs is reported."
)
flags.DEFINE_integer(
    "e2e_chunks", 40,
    "The two runs of a pair take turns in this many chunks of steps each, so that load "
    "from other processes hits both alike.",
)
# Machine.
flags.DEFINE_integer("intra_op_threads", 0, "Intra-op threads (0: all cores).")
flags.DEFINE_integer("inter_op_threads", 1, "Inter-op threads.")
flags.DEFINE_string("output_json", None, "Write every number reported here as JSON.")


# ---------------------------------------------------------------------------
# Flags and small helpers.
# ---------------------------------------------------------------------------


def _bool(text):
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise app.UsageError(f"--jit_compile entries must be true or false. Received: {text!r}")


def _ints(name):
    values = getattr(FLAGS, name)
    try:
        parsed = [int(v) for v in values]
    except ValueError:
        raise app.UsageError(f"--{name} must be integers. Received: --{name}={','.join(values)}")
    if not parsed or min(parsed) < 1:
        raise app.UsageError(f"--{name} must be positive integers. Received: {parsed}")
    return parsed


def _check_flags():
    for name in ("steps", "warmup_steps", "repeats", "e2e_batch_size", "importance_batches",
                 "e2e_repeats", "e2e_chunks", "pool_rows", "e2e_pool_rows", "test_rows"):
        if getattr(FLAGS, name) < 1:
            raise app.UsageError(f"--{name} must be >= 1. Received: {getattr(FLAGS, name)}")
    if FLAGS.rewarm_steps < 1:
        raise app.UsageError(f"--rewarm_steps must be >= 1. Received: {FLAGS.rewarm_steps}")
    if FLAGS.e2e_samples < 0:
        raise app.UsageError(f"--e2e_samples must be >= 0. Received: {FLAGS.e2e_samples}")
    if not 0.0 < FLAGS.sparsity < 1.0:
        raise app.UsageError(f"--sparsity must lie in (0, 1). Received: {FLAGS.sparsity}")
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants must be among {VARIANTS}. Received: {unknown}")
    for batch_size in _ints("batch_sizes"):
        if batch_size > FLAGS.pool_rows:
            raise app.UsageError(
                f"--pool_rows ({FLAGS.pool_rows}) must hold a whole batch of {batch_size}."
            )
    if FLAGS.e2e_samples:
        if FLAGS.e2e_batch_size > FLAGS.e2e_pool_rows:
            raise app.UsageError("--e2e_pool_rows must hold at least one --e2e_batch_size batch.")
        if FLAGS.e2e_samples < FLAGS.e2e_batch_size:
            raise app.UsageError("--e2e_samples must be 0 or at least one --e2e_batch_size batch.")


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def _median(values):
    values = sorted(values)
    n = len(values)
    if not n:
        return None
    return values[n // 2] if n % 2 else 0.5 * (values[n // 2 - 1] + values[n // 2])


def _work_units(samples):
    """Rough cost of training on `samples` samples plus a fixed cost per `fit`, for the ETA."""
    return samples / 1e5 + 0.5


class _Progress:
    """Prints what is running, elapsed time and a rough time left."""

    def __init__(self, total_units):
        self.started = time.perf_counter()
        self.total = total_units
        self.done = 0.0

    def advance(self, units, message=None):
        self.done += units
        if message is None:
            return
        elapsed = time.perf_counter() - self.started
        # Never below zero: the units are estimates.
        left = max(elapsed / self.done * (self.total - self.done), 0.0) if self.done else 0.0
        print(
            f"[{elapsed:6.0f}s, ~{left:4.0f}s left, load {_load()[0]:.2f}] {message}", flush=True
        )

    def say(self, message):
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:6.0f}s] {message}", flush=True)


# ---------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------


def _stream():
    from agp_tf.data.synthetic import SyntheticCriteo

    rows = max(FLAGS.pool_rows, FLAGS.e2e_pool_rows if FLAGS.e2e_samples else 1)
    held_out = FLAGS.test_rows + FLAGS.importance_batches * FLAGS.e2e_batch_size
    return SyntheticCriteo(
        seed=FLAGS.seed,
        num_days=2,
        rows_per_day=max(rows, held_out),
        max_vocab_size=FLAGS.max_vocab_size or None,
    )


def _batched_dataset(tf, batch, batch_size, repeat=True, skip=0):
    """Whole batches cut from in-memory rows; the pipeline does no per-row work.

    With `repeat`, the batches cycle forever, starting at batch `skip`.
    """
    from agp_tf.data.features import DENSE_KEY, SPARSE_KEY

    count = batch.num_rows // batch_size
    rows = count * batch_size

    def cut(array):  # (rows, ...) -> (count, batch_size, ...)
        return array[:rows].reshape((count, batch_size) + array.shape[1:])

    dataset = tf.data.Dataset.from_tensor_slices(
        ({DENSE_KEY: cut(batch.dense), SPARSE_KEY: cut(batch.sparse)}, cut(batch.labels))
    )
    if repeat:
        dataset = dataset.repeat().skip(skip)
    return dataset.prefetch(2)


# ---------------------------------------------------------------------------
# Models.
# ---------------------------------------------------------------------------


def _kept_widths(bottom_mlp, top_mlp, sparsity):
    """Widths of the MLPs once every default-prunable layer is at `sparsity`."""
    from agp_tf import importance
    from agp_tf.models import dlrm

    prunable = set(dlrm.default_prunable_layers(bottom_mlp, top_mlp))

    def kept(prefix, widths):
        return tuple(
            importance.num_kept(units, sparsity) if f"{prefix}_{i}" in prunable else units
            for i, units in enumerate(widths)
        )

    return kept("bottom_mlp", bottom_mlp), kept("top_mlp", top_mlp)


def _compile(keras, model, jit_compile):
    model.compile(
        optimizer=keras.optimizers.SGD(FLAGS.learning_rate),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
    )


def _build_agp_variant(keras, variant, vocab_sizes, jit_compile, mlps):
    """A compiled Keras 3 model for `variant`, flipped to its phase."""
    from agp_tf import schedules
    from agp_tf.controller import GrowPruneController
    from agp_tf.models import dlrm

    bottom_mlp, top_mlp = mlps[variant if variant in ("static", "floor") else "dense"]
    model = dlrm.build_dlrm(
        vocab_sizes,
        embedding_dim=FLAGS.embedding_dim,
        bottom_mlp=bottom_mlp,
        top_mlp=top_mlp,
        seed=FLAGS.seed,
    )
    _compile(keras, model, jit_compile)
    if variant in ("masked", "compact"):
        controller = GrowPruneController(
            model,
            schedules.pruning_only(FLAGS.sparsity),
            total_steps=1_000_000,
            criterion=FLAGS.flip_criterion,
            seed=FLAGS.seed,
            compact=variant == "compact",
        )
        controller.flip_to(FLAGS.sparsity, step=0)
        # Compact plans are static state of the traced step: trace anew.
        model.make_train_function(force=True)
    return model


def _peer_modules():
    """`(tf_keras, tensorflow_model_optimization)`, or raises ImportError."""
    saved = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tf_keras
        import tensorflow_model_optimization as tfmot
    finally:
        # TFMOT sets TF_USE_LEGACY_KERAS=1 for the whole process on import;
        # the rest of this process keeps using Keras 3.
        if saved is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = saved
    return tf_keras, tfmot


_PEER_LAYERS = {}


def _peer_layers(tf_keras, tf):
    """tf_keras layers for the peer DLRM: a fused embedding and the dot interaction."""
    if _PEER_LAYERS:
        return _PEER_LAYERS["embedding"], _PEER_LAYERS["interaction"]
    import numpy as np

    class FusedEmbedding(tf_keras.layers.Layer):
        """All tables stacked in one variable; column j reads rows offset_j + id."""

        def __init__(self, vocab_sizes, embedding_dim, seed, **kwargs):
            super().__init__(**kwargs)
            self.vocab_sizes = list(vocab_sizes)
            self.embedding_dim = embedding_dim
            self.seed = seed
            self.offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype("int32")

        def build(self, input_shape):
            limit = math.sqrt(1.0 / max(self.vocab_sizes))
            self.embeddings = self.add_weight(
                name="embeddings",
                shape=(sum(self.vocab_sizes), self.embedding_dim),
                initializer=tf_keras.initializers.RandomUniform(-limit, limit, seed=self.seed),
            )

        def call(self, ids):
            # Gather from the variable: reads only the looked-up rows.
            return tf.gather(self.embeddings, ids + self.offsets)  # (batch, tables, dim)

    class DotInteraction(tf_keras.layers.Layer):
        """Pairwise dots of [bottom output, embeddings], strict lower triangle, row-major."""

        def call(self, inputs):
            bottom, embedded = inputs  # (batch, dim), (batch, tables, dim)
            stacked = tf.concat([bottom[:, None, :], embedded], axis=1)  # (batch, n, dim)
            n = stacked.shape[1]
            dots = tf.matmul(stacked, stacked, transpose_b=True)  # (batch, n, n)
            flat = tf.reshape(dots, (-1, n * n))
            rows, cols = np.tril_indices(n, k=-1)
            return tf.gather(flat, (rows * n + cols).astype("int32"), axis=1)

    _PEER_LAYERS["embedding"] = FusedEmbedding
    _PEER_LAYERS["interaction"] = DotInteraction
    return FusedEmbedding, DotInteraction


def _build_peer(tf, vocab_sizes, jit_compile, mlps):
    """The DLRM in tf_keras with TFMOT magnitude pruning on the same Dense layers."""
    from agp_tf.data.features import DENSE_KEY, NUM_DENSE, SPARSE_KEY
    from agp_tf.models import dlrm

    tf_keras, tfmot = _peer_modules()
    sparsity_api = tfmot.sparsity.keras
    FusedEmbedding, DotInteraction = _peer_layers(tf_keras, tf)
    bottom_mlp, top_mlp = mlps["dense"]
    prunable = set(dlrm.default_prunable_layers(bottom_mlp, top_mlp))
    schedule = sparsity_api.ConstantSparsity(FLAGS.sparsity, begin_step=0, frequency=100)

    def dense(name, units, activation, fan_in):
        layer = tf_keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=tf_keras.initializers.RandomNormal(
                stddev=math.sqrt(2.0 / (fan_in + units)), seed=FLAGS.seed
            ),
            bias_initializer=tf_keras.initializers.RandomNormal(
                stddev=math.sqrt(1.0 / units), seed=FLAGS.seed
            ),
            name=name,
        )
        if name in prunable:
            return sparsity_api.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    dense_in = tf_keras.Input(shape=(NUM_DENSE,), dtype="float32", name=DENSE_KEY)
    sparse_in = tf_keras.Input(shape=(len(vocab_sizes),), dtype="int32", name=SPARSE_KEY)
    x, fan_in = dense_in, NUM_DENSE
    for i, units in enumerate(bottom_mlp):
        x = dense(f"bottom_mlp_{i}", units, "relu", fan_in)(x)
        fan_in = units
    embedded = FusedEmbedding(vocab_sizes, FLAGS.embedding_dim, FLAGS.seed, name="embedding")(
        sparse_in
    )
    interactions = DotInteraction(name="interaction")([x, embedded])
    z = tf_keras.layers.Concatenate(name="top_mlp_input")([x, interactions])
    fan_in = FLAGS.embedding_dim + (len(vocab_sizes) + 1) * len(vocab_sizes) // 2
    for i, units in enumerate(top_mlp):
        last = i == len(top_mlp) - 1
        z = dense(f"top_mlp_{i}", units, "sigmoid" if last else "relu", fan_in)(z)
        fan_in = units
    model = tf_keras.Model({DENSE_KEY: dense_in, SPARSE_KEY: sparse_in}, z, name="dlrm_tfmot")
    model.compile(
        optimizer=tf_keras.optimizers.SGD(FLAGS.learning_rate),
        loss="binary_crossentropy",
        jit_compile=jit_compile,
    )
    return model, tf_keras, sparsity_api


def _peer_mask_sparsity(model):
    """Fraction of masked-out kernel entries over the layers TFMOT prunes."""
    import numpy as np

    zeros = total = 0
    for layer in model.layers:
        # The wrapper class is not part of TFMOT's public API.
        for _, mask, _ in getattr(layer, "pruning_vars", ()):
            mask = mask.numpy()
            zeros += int(np.sum(mask == 0.0))
            total += mask.size
    return zeros / total if total else None


# ---------------------------------------------------------------------------
# Timing.
# ---------------------------------------------------------------------------


def _timer_class(base):
    class StepTimer(base):
        """Wall and CPU time at the begin and end of every step."""

        def __init__(self):
            super().__init__()
            self.begins, self.ends, self.cpu_begins, self.cpu_ends = [], [], [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.begins.append(time.perf_counter())
            self.cpu_begins.append(time.process_time())

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())
            self.cpu_ends.append(time.process_time())

    return StepTimer


def _timed_fit(np, model, dataset, warmup, steps, timer_cls, callbacks=()):
    """Runs `warmup + steps` steps with `fit`; times the last `steps`."""
    timer = timer_cls()
    model.fit(
        dataset,
        steps_per_epoch=warmup + steps,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=list(callbacks) + [timer],
    )
    ends = np.asarray(timer.ends)
    per_step = np.diff(ends[warmup - 1:])
    return {
        "median_ms": float(np.median(per_step)) * 1e3,
        "mean_ms": float(np.mean(per_step)) * 1e3,
        "cpu_ms_per_step": (timer.cpu_ends[-1] - timer.cpu_ends[warmup - 1]) * 1e3 / steps,
        "first_step_s": timer.ends[0] - timer.begins[0],
        "load": _load()[0],
    }


# ---------------------------------------------------------------------------
# Part 1: step times.
# ---------------------------------------------------------------------------


def _step_times(tf, np, keras, vocab_sizes, pool, mlps, progress):
    batch_sizes = _ints("batch_sizes")
    jit_settings = [_bool(v) for v in FLAGS.jit_compile]
    configs = [
        (batch_size, jit_compile, variant)
        for batch_size in batch_sizes
        for jit_compile in jit_settings
        for variant in FLAGS.variants
    ]
    datasets = {b: _batched_dataset(tf, pool, b) for b in batch_sizes}
    # One flip per sparse configuration: its log line would only interrupt
    # the progress lines.
    agp_logger = logging.getLogger("agp_tf")
    agp_level = agp_logger.level
    agp_logger.setLevel(logging.WARNING)
    keras_timer = _timer_class(keras.callbacks.Callback)
    models, rounds, notes = {}, {c: [] for c in configs}, {}
    skipped = {}
    for repeat in range(FLAGS.repeats):
        # Alternate the order so slow drift in the machine's load evens out.
        order = configs if repeat % 2 == 0 else configs[::-1]
        for config in order:
            batch_size, jit_compile, variant = config
            units = _work_units(FLAGS.steps * batch_size)
            if config in skipped:
                progress.advance(units, f"round {repeat + 1}: skip {variant} ({skipped[config]})")
                continue
            first = config not in models
            try:
                if first:
                    models[config] = _build_variant(tf, keras, config, vocab_sizes, mlps, notes)
                model, timer_cls, callbacks = models[config]
                if timer_cls is None:
                    timer_cls = keras_timer
                warmup = FLAGS.warmup_steps if first else FLAGS.rewarm_steps
                result = _timed_fit(
                    np, model, datasets[batch_size], warmup, FLAGS.steps, timer_cls,
                    callbacks() if callbacks else (),
                )
            except ImportError as error:
                if variant != "tfmot":
                    raise
                skipped[config] = (
                    f"peers extra not installed ({error}); pip install .[peers] to include it"
                )
                notes.setdefault(config, []).append(skipped[config])
                progress.advance(units, f"round {repeat + 1}: skip {variant}: {skipped[config]}")
                continue
            except Exception as error:  # noqa: BLE001  (a peer setting may not compile)
                if variant != "tfmot":
                    raise
                reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                skipped[config] = f"not supported with jit_compile={jit_compile}: {reason}"
                notes.setdefault(config, []).append(skipped[config])
                models.pop(config, None)
                progress.advance(units, f"round {repeat + 1}: {variant} failed: {reason}")
                continue
            rounds[config].append(result)
            progress.advance(
                units,
                f"round {repeat + 1}/{FLAGS.repeats} batch={batch_size:5d} xla={jit_compile!s:5s} "
                f"{variant:8s} {result['median_ms']:8.2f} ms/step  "
                f"{result['cpu_ms_per_step']:8.2f} CPU ms/step",
            )
    agp_logger.setLevel(agp_level)
    results = []
    for config in configs:
        batch_size, jit_compile, variant = config
        runs = rounds[config]
        entry = {
            "batch_size": batch_size,
            "jit_compile": jit_compile,
            "variant": variant,
            "notes": notes.get(config, []),
            "rounds": runs,
        }
        if runs:
            median_ms = _median([r["median_ms"] for r in runs])
            entry.update(
                median_ms=median_ms,
                samples_per_s=batch_size * 1e3 / median_ms,
                cpu_ms_per_step=_median([r["cpu_ms_per_step"] for r in runs]),
                compile_first_step_s=runs[0]["first_step_s"],
            )
            if variant == "tfmot" and config in models:
                model = models[config][0]
                entry["peer_mask_sparsity"] = _peer_mask_sparsity(model)
        results.append(entry)
    models.clear()
    gc.collect()
    return results


def _build_variant(tf, keras, config, vocab_sizes, mlps, notes):
    """`(model, timer class or None, callbacks factory or None)` of a configuration."""
    _, jit_compile, variant = config
    if variant != "tfmot":
        return _build_agp_variant(keras, variant, vocab_sizes, jit_compile, mlps), None, None
    model, tf_keras, sparsity_api = _build_peer(tf, vocab_sizes, jit_compile, mlps)
    notes.setdefault(config, []).append(
        f"tf_keras {tf_keras.__version__} compile(jit_compile={jit_compile}); "
        "unstructured magnitude masks on the same Dense layers; mask multiplies, no smaller matmul"
    )
    return (
        model,
        _timer_class(tf_keras.callbacks.Callback),
        lambda: [sparsity_api.UpdatePruningStep()],
    )


# ---------------------------------------------------------------------------
# Part 2: end to end.
# ---------------------------------------------------------------------------


class _EndToEndRun:
    """One training run (dense or alternate), advanced chunk by chunk.

    The two runs of a pair take turns chunk by chunk, so both see the same
    load from other processes; only the time inside the chunks counts, from
    the begin of a chunk's first step (before any flip) to the end of its
    last. `GrowPruneCallback` follows the optimizer's step, so the phases
    and flips are those of one uninterrupted `fit`.
    """

    def __init__(self, keras, kind, vocab_sizes, train_rows, importance_ds, steps):
        from agp_tf import schedules
        from agp_tf.callbacks import GrowPruneCallback
        from agp_tf.models import dlrm

        self.kind, self.steps = kind, steps
        self.model = dlrm.build_dlrm(
            vocab_sizes, embedding_dim=FLAGS.embedding_dim, bottom_mlp=_ints("bottom_mlp"),
            top_mlp=_ints("top_mlp"), seed=FLAGS.seed,
        )
        _compile(keras, self.model, FLAGS.e2e_jit_compile)
        self.schedule = (
            schedules.alternate(FLAGS.sparsity, FLAGS.phase_fraction)
            if kind == "alternate"
            else schedules.dense()  # same callback and dense step, never a flip
        )
        self.callback = GrowPruneCallback(
            self.schedule,
            importance_data=importance_ds if FLAGS.taylor_source == "data" else None,
            taylor_source=FLAGS.taylor_source,
            total_steps=steps,
            importance_batches=FLAGS.importance_batches,
            criterion="taylor",
            batch_size=FLAGS.e2e_batch_size,
            seed=FLAGS.seed,
            compact=True,
        )
        timer_cls = _timer_class(keras.callbacks.Callback)
        # Before the callback: a step's start; after it: the flip (scoring,
        # applying, swapping functions) is done and the step itself starts.
        self.before, self.after = timer_cls(), timer_cls()
        self.train_rows = train_rows
        self.wall_s = self.cpu_s = 0.0
        self.loads = []

    def train(self, tf, start, count):
        """Runs steps `[start, start + count)` on the batches a single `fit` would see."""
        pool_batches = self.train_rows.num_rows // FLAGS.e2e_batch_size
        dataset = _batched_dataset(
            tf, self.train_rows, FLAGS.e2e_batch_size, repeat=True, skip=start % pool_batches
        )
        first = len(self.before.begins)
        self.model.fit(
            dataset,
            steps_per_epoch=count,
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=[self.before, self.callback, self.after],
        )
        self.wall_s += self.after.ends[-1] - self.before.begins[first]
        self.cpu_s += self.after.cpu_ends[-1] - self.before.cpu_begins[first]
        self.loads.append(_load()[0])

    def result(self, np, keras, test_batch):
        from agp_tf.metrics import ctr_metrics

        steps, callback = self.steps, self.callback
        begins, after_begins, ends = (
            np.asarray(t) for t in (self.before.begins, self.after.begins, self.after.ends)
        )
        durations = ends - after_begins  # (steps,) each step itself, flips excluded
        flips = []
        for index, event in enumerate(callback.flips):
            k = event.step
            nxt = callback.flips[index + 1].step if index + 1 < len(callback.flips) else steps
            steady = durations[k + 1: min(nxt, k + 51)]
            reference = float(np.median(steady if steady.size else durations))
            flips.append(
                {
                    "step": k,
                    "to_sparsity": event.to_sparsity,
                    "scoring_and_applying_s": event.seconds,
                    "callback_s": float(after_begins[k] - begins[k]),
                    "first_step_s": float(durations[k]),
                    "recompile_s": max(0.0, float(durations[k]) - reference),
                    "recompiled": bool(event.recompile),
                }
            )
        # Steady step time of each phase; its first step (compilation or a
        # flip's recompilation) is left out.
        phase_ms = {"dense": [], "sparse": []}
        segments = [(0, float(self.schedule(0.0)))] + [
            (f["step"], f["to_sparsity"]) for f in flips
        ]
        for (start, sparsity), (stop, _) in zip(segments, segments[1:] + [(steps, None)]):
            inner = durations[start + 1: stop]
            if inner.size:
                phase_ms["sparse" if sparsity > 0 else "dense"].append(
                    float(np.median(inner)) * 1e3
                )
        # Quality on held-out rows, outside the timed chunks.
        probabilities = self.model.predict(
            test_batch.features(), batch_size=FLAGS.e2e_batch_size, verbose=0
        )
        quality = {}
        for metric in ctr_metrics():
            metric.update_state(test_batch.labels, probabilities)
            quality[metric.name] = float(keras.ops.convert_to_numpy(metric.result()))
        return {
            "kind": self.kind,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "steps": steps,
            "first_step_s": float(durations[0]),
            "steady_ms_per_step": float(np.median(durations[1:])) * 1e3 if steps > 1 else None,
            "phase_ms_per_step": phase_ms,
            "flips": flips,
            "measured_relative_train_flops": float(callback.counter.relative_change),
            "load_median": _median(self.loads),
            "test": quality,
        }


def _end_to_end(tf, np, keras, vocab_sizes, stream, progress):
    from agp_tf import flops, schedules
    from agp_tf.models import dlrm

    batch_size = FLAGS.e2e_batch_size
    steps = FLAGS.e2e_samples // batch_size
    chunk = max(1, math.ceil(steps / FLAGS.e2e_chunks))
    train_rows = stream.day(0, FLAGS.e2e_pool_rows)
    held_out = stream.day(1, FLAGS.test_rows + FLAGS.importance_batches * batch_size)
    test_batch = held_out.slice(0, FLAGS.test_rows)
    importance_rows = held_out.slice(FLAGS.test_rows, held_out.num_rows)
    importance_ds = _batched_dataset(tf, importance_rows, batch_size, repeat=False)
    runs = {"dense": [], "alternate": []}
    schedule = schedules.alternate(FLAGS.sparsity, FLAGS.phase_fraction)
    for repeat in range(FLAGS.e2e_repeats):
        progress.say(
            f"end to end {repeat + 1}/{FLAGS.e2e_repeats}: dense and alternate, {steps} steps "
            f"of {batch_size} ({steps * batch_size:,} samples) each, in turns of {chunk} steps"
        )
        pair = {
            kind: _EndToEndRun(keras, kind, vocab_sizes, train_rows, importance_ds, steps)
            for kind in ("dense", "alternate")
        }
        for index, start in enumerate(range(0, steps, chunk)):
            count = min(chunk, steps - start)
            # Who goes first alternates, so neither always follows the other.
            order = ("dense", "alternate") if (index + repeat) % 2 == 0 else ("alternate", "dense")
            report = index % max(1, FLAGS.e2e_chunks // 8) == 0 or start + count == steps
            for kind in order:
                pair[kind].train(tf, start, count)
                progress.advance(
                    _work_units(count * batch_size),
                    f"end to end {repeat + 1}/{FLAGS.e2e_repeats} {kind:9s} steps "
                    f"{start + count:5d}/{steps}: {pair[kind].wall_s:6.1f}s so far"
                    if report else None,
                )
        for kind, run in pair.items():
            result = run.result(np, keras, test_batch)
            runs[kind].append(result)
            progress.say(
                f"end to end {kind}: {result['wall_s']:.1f}s wall, {result['cpu_s']:.1f}s CPU, "
                f"{result['steady_ms_per_step']:.2f} ms/step steady, "
                f"test NE {result['test']['ne']:.4f}"
            )
        del pair
        gc.collect()
    model = dlrm.build_dlrm(
        vocab_sizes, embedding_dim=FLAGS.embedding_dim, bottom_mlp=_ints("bottom_mlp"),
        top_mlp=_ints("top_mlp"), seed=FLAGS.seed,
    )
    predicted = flops.predict_relative_training_flops(flops.layer_specs(model), schedule, steps)
    del model

    def median_of(kind, key):
        return _median([r[key] for r in runs[kind]])

    overheads = []
    for run in runs["alternate"]:
        seconds = sum(f["callback_s"] + f["recompile_s"] for f in run["flips"])
        overheads.append(
            {
                "scoring_and_applying_s": sum(f["scoring_and_applying_s"] for f in run["flips"]),
                "callback_s": sum(f["callback_s"] for f in run["flips"]),
                "recompile_s": sum(f["recompile_s"] for f in run["flips"]),
                "total_s": seconds,
                "fraction_of_wall": seconds / run["wall_s"],
            }
        )
    overhead = {key: _median([o[key] for o in overheads]) for key in overheads[0]}
    dense_wall, alt_wall = median_of("dense", "wall_s"), median_of("alternate", "wall_s")
    dense_cpu, alt_cpu = median_of("dense", "cpu_s"), median_of("alternate", "cpu_s")
    pairs = list(zip(runs["dense"], runs["alternate"]))
    return {
        "batch_size": batch_size,
        "jit_compile": FLAGS.e2e_jit_compile,
        "steps": steps,
        "samples": steps * batch_size,
        "train_pool_rows": train_rows.num_rows,
        "importance_batches": FLAGS.importance_batches,
        "schedule": schedule.get_config(),
        "sparse_fraction": schedule.sparse_fraction(),
        "dense_wall_s": dense_wall,
        "alternate_wall_s": alt_wall,
        # The runs of a pair ran interleaved: compare within pairs.
        "saving": _median([1 - a["wall_s"] / d["wall_s"] for d, a in pairs]),
        "saving_per_pair": [1 - a["wall_s"] / d["wall_s"] for d, a in pairs],
        "dense_cpu_s": dense_cpu,
        "alternate_cpu_s": alt_cpu,
        "cpu_saving": _median([1 - a["cpu_s"] / d["cpu_s"] for d, a in pairs]),
        # Without the flips' one-off costs: what a longer run tends to.
        "saving_without_flips": _median(
            [1 - (a["wall_s"] - o["total_s"]) / d["wall_s"] for (d, a), o in zip(pairs, overheads)]
        ),
        "chunk_steps": chunk,
        "taylor_source": FLAGS.taylor_source,
        "flip_overhead": overhead,
        "predicted_flops_saving": 1 - predicted,
        "measured_flops_saving": -_median(
            [r["measured_relative_train_flops"] for r in runs["alternate"]]
        ),
        "runs": runs,
    }


def _add_ideal(e2e, step_times):
    """Adds the ideal saving from the step times and what the run achieved of it."""
    key = (e2e["batch_size"], e2e["jit_compile"])
    fraction = e2e["sparse_fraction"]
    for suffix, field in (("", "median_ms"), ("_cpu", "cpu_ms_per_step")):
        t_dense = _lookup(step_times, *key, "dense", field)
        t_static = _lookup(step_times, *key, "static", field)
        ideal = fraction * (1 - t_static / t_dense) if t_dense and t_static else None
        e2e[f"ideal_saving{suffix}"] = ideal
        saving = e2e["saving" if not suffix else "cpu_saving"]
        e2e[f"fraction_of_ideal{suffix}"] = saving / ideal if ideal and ideal > 0 else None
    if e2e["ideal_saving"] is None:
        e2e["note"] = (
            "the ideal saving needs the dense and static step times at the end-to-end batch "
            "size and XLA setting: add them to --batch_sizes, --jit_compile and --variants"
        )
        return
    # Run length (samples) at which the targets would be met on this machine,
    # if step times stay as measured and the flips cost the same seconds.
    flips_s = e2e["flip_overhead"]["total_s"]
    dense_s, alt_s = e2e["dense_wall_s"], e2e["alternate_wall_s"]
    steady = e2e["saving_without_flips"]
    needed = {}
    margin = steady - 0.85 * e2e["ideal_saving"]
    needed["samples_for_85pct_of_ideal"] = (
        math.ceil(e2e["samples"] * flips_s / (dense_s * margin))
        if margin > 0 and e2e["ideal_saving"] > 0 else None
    )
    needed["samples_for_3pct_flip_overhead"] = (
        math.ceil(e2e["samples"] * flips_s * (1 / 0.03 - 1) / (alt_s - flips_s))
        if alt_s > flips_s else None
    )
    e2e["extrapolation"] = needed


# ---------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------

LABELS = {
    "dense": "dense (build_dlrm)",
    "masked": "sparse, masks only",
    "compact": "sparse, compact",
    "static": "static kept widths",
    "floor": "floor: MLPs 13-4 / 355-1",
    "tfmot": "peer: tf_keras + TFMOT",
}


def _lookup(results, batch_size, jit_compile, variant, field="median_ms"):
    for r in results:
        if (r["batch_size"], r["jit_compile"], r["variant"]) == (batch_size, jit_compile, variant):
            return r.get(field)
    return None


def _ratios(results):
    rows = []
    for batch_size in _ints("batch_sizes"):
        for jit_compile in [_bool(v) for v in FLAGS.jit_compile]:
            wall = {v: _lookup(results, batch_size, jit_compile, v) for v in VARIANTS}
            cpu = {
                v: _lookup(results, batch_size, jit_compile, v, "cpu_ms_per_step")
                for v in VARIANTS
            }

            def ratio(times, a, b):
                return times[a] / times[b] if times[a] and times[b] else None

            rows.append(
                {
                    "batch_size": batch_size,
                    "jit_compile": jit_compile,
                    "compact_over_static": ratio(wall, "compact", "static"),
                    "compact_over_static_cpu": ratio(cpu, "compact", "static"),
                    "compact_over_dense": ratio(wall, "compact", "dense"),
                    "masked_over_dense": ratio(wall, "masked", "dense"),
                    "static_over_dense": ratio(wall, "static", "dense"),
                    "tfmot_over_dense": ratio(wall, "tfmot", "dense"),
                    # Embeddings, interaction, loss and loop: the part pruning
                    # the MLPs cannot remove.
                    "floor_over_dense": ratio(wall, "floor", "dense"),
                }
            )
    return rows


def _fmt(value, pattern="{:.2f}", missing="n/a"):
    return missing if value is None else pattern.format(value)


def _markdown(report):
    step_times = report["step_times"]
    lines = [
        "| batch | XLA | configuration | median ms/step | samples/s | CPU ms/step | vs dense |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in step_times:
        xla = "on" if r["jit_compile"] else "off"
        if r.get("median_ms") is None:
            lines.append(f"| {r['batch_size']} | {xla} | {LABELS[r['variant']]} | skipped | | | |")
            continue
        dense_ms = _lookup(step_times, r["batch_size"], r["jit_compile"], "dense")
        vs = r["median_ms"] / dense_ms if dense_ms else None
        lines.append(
            f"| {r['batch_size']} | {xla} | {LABELS[r['variant']]} | {r['median_ms']:.2f} | "
            f"{r['samples_per_s']:,.0f} | {r['cpu_ms_per_step']:.2f} | {_fmt(vs, '{:.3f}')} |"
        )
    keys = ("compact_over_static", "compact_over_static_cpu", "compact_over_dense",
            "masked_over_dense", "static_over_dense", "tfmot_over_dense", "floor_over_dense")
    lines += ["", "| batch | XLA | compact / static | compact / static (CPU) | compact / dense | "
              "masked / dense | static / dense | TFMOT / dense | floor / dense |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["ratios"]:
        lines.append(
            f"| {r['batch_size']} | {'on' if r['jit_compile'] else 'off'} | "
            + " | ".join(_fmt(r[k], "{:.3f}") for k in keys) + " |"
        )
    e2e = report.get("end_to_end")
    if e2e:
        overhead = e2e["flip_overhead"]
        dense_runs, alt_runs = e2e["runs"]["dense"], e2e["runs"]["alternate"]

        def run_median(runs, pick):
            return _median([v for v in (pick(r) for r in runs) if v is not None])

        alt_dense_ms = run_median(alt_runs, lambda r: _median(r["phase_ms_per_step"]["dense"]))
        alt_sparse_ms = run_median(alt_runs, lambda r: _median(r["phase_ms_per_step"]["sparse"]))
        extrapolation = e2e.get("extrapolation", {})
        lines += [
            "",
            f"End to end: {e2e['samples']:,} samples ({e2e['steps']} steps of "
            f"{e2e['batch_size']}, XLA {'on' if e2e['jit_compile'] else 'off'}; a cycled pool "
            f"of {e2e['train_pool_rows']:,} synthetic rows), alternate({FLAGS.sparsity}) with "
            f"Taylor on {e2e['importance_batches']} batches vs dense; median of "
            f"{len(dense_runs)} pair(s), the two runs of a pair taking turns every "
            f"{e2e['chunk_steps']} steps",
            "",
            "| quantity | wall-clock | CPU time |",
            "|---|---:|---:|",
            f"| dense run | {e2e['dense_wall_s']:.1f} s | {e2e['dense_cpu_s']:.1f} s |",
            f"| alternate run | {e2e['alternate_wall_s']:.1f} s | {e2e['alternate_cpu_s']:.1f} s |",
            f"| saving | {e2e['saving']:.1%} | {e2e['cpu_saving']:.1%} |",
            f"| ideal saving: sparse fraction {e2e['sparse_fraction']:.2f} x (1 - t_static / "
            f"t_dense) | {_fmt(e2e.get('ideal_saving'), '{:.1%}')} | "
            f"{_fmt(e2e.get('ideal_saving_cpu'), '{:.1%}')} |",
            f"| achieved fraction of ideal | {_fmt(e2e.get('fraction_of_ideal'), '{:.1%}')} | "
            f"{_fmt(e2e.get('fraction_of_ideal_cpu'), '{:.1%}')} |",
            f"| saving without the flips' one-off costs | {e2e['saving_without_flips']:.1%} | |",
            f"| analytic training FLOPs saving (predicted / counted) | "
            f"{e2e['predicted_flops_saving']:.1%} / {e2e['measured_flops_saving']:.1%} | |",
            f"| flips: scoring + applying (FlipEvent.seconds) | "
            f"{overhead['scoring_and_applying_s']:.2f} s | |",
            f"| flips: whole callback at flip steps (+ function swap) | "
            f"{overhead['callback_s']:.2f} s | |",
            f"| flips: recompilation (extra time of each phase's first step) | "
            f"{overhead['recompile_s']:.2f} s | |",
            f"| flip overhead / alternate wall-clock | {overhead['fraction_of_wall']:.2%} | |",
            f"| steady ms/step: dense run / alternate dense phases / alternate sparse phases | "
            f"{_fmt(run_median(dense_runs, lambda r: r['steady_ms_per_step']))} / "
            f"{_fmt(alt_dense_ms)} / {_fmt(alt_sparse_ms)} | |",
            f"| test NE on held-out rows: dense / alternate | "
            f"{run_median(dense_runs, lambda r: r['test']['ne']):.4f} / "
            f"{run_median(alt_runs, lambda r: r['test']['ne']):.4f} | |",
            f"| samples for >= 85% of ideal / for < 3% flip overhead (extrapolated) | "
            f"{_fmt(extrapolation.get('samples_for_85pct_of_ideal'), '{:,}', 'never')} / "
            f"{_fmt(extrapolation.get('samples_for_3pct_flip_overhead'), '{:,}', 'n/a')} | |",
        ]
        if e2e.get("note"):
            lines += ["", f"Note: {e2e['note']}"]
    lines += ["", "Targets (reported, not asserted):", ""]
    for name, target in report["targets"].items():
        lines.append(f"- {name}: {target['value']} (target {target['target']}): {target['status']}")
    return "\n".join(lines)


def _targets(report):
    def status(ok):
        return "not measured" if ok is None else ("met" if ok else "not met")

    targets = {}
    row = next(
        (r for r in report["ratios"] if r["batch_size"] == 2048 and r["jit_compile"]), {}
    )
    ratio, ratio_cpu = row.get("compact_over_static"), row.get("compact_over_static_cpu")
    targets["compact / static at batch 2048, XLA"] = {
        "value": f"{_fmt(ratio, '{:.3f}')} wall, {_fmt(ratio_cpu, '{:.3f}')} CPU",
        "target": "<= 1.15",
        "status": status(None if ratio is None else ratio <= 1.15),
    }
    e2e = report.get("end_to_end") or {}
    fraction, fraction_cpu = e2e.get("fraction_of_ideal"), e2e.get("fraction_of_ideal_cpu")
    targets["achieved fraction of the ideal saving"] = {
        "value": f"{_fmt(fraction, '{:.1%}')} wall, {_fmt(fraction_cpu, '{:.1%}')} CPU",
        "target": ">= 85%",
        "status": status(None if fraction is None else fraction >= 0.85),
    }
    overhead = (e2e.get("flip_overhead") or {}).get("fraction_of_wall")
    targets["flip overhead / alternate wall-clock"] = {
        "value": _fmt(overhead, "{:.2%}"),
        "target": f"< 3% of a 2M-sample run; this run: {e2e.get('samples', 0):,} samples",
        "status": status(None if overhead is None else overhead < 0.03),
    }
    return targets


def main(argv):
    del argv
    _check_flags()
    cores = os.cpu_count() or 1
    intra = FLAGS.intra_op_threads or cores
    import numpy as np
    import tensorflow as tf

    # Must run before TensorFlow creates its thread pools (before any op).
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    import keras

    load_start = _load()
    bottom_mlp, top_mlp = tuple(_ints("bottom_mlp")), tuple(_ints("top_mlp"))
    mlps = {
        "dense": (bottom_mlp, top_mlp),
        "static": _kept_widths(bottom_mlp, top_mlp, FLAGS.sparsity),
        "floor": ((FLAGS.embedding_dim,), (1,)),
    }
    stream = _stream()
    vocab_sizes = list(stream.vocab_sizes)
    configs = len(_ints("batch_sizes")) * len(FLAGS.jit_compile) * len(FLAGS.variants)
    units = FLAGS.repeats * sum(
        _work_units(FLAGS.steps * b) for b in _ints("batch_sizes")
    ) * len(FLAGS.jit_compile) * len(FLAGS.variants)
    if FLAGS.e2e_samples:
        e2e_samples = FLAGS.e2e_samples // FLAGS.e2e_batch_size * FLAGS.e2e_batch_size
        units += 2 * FLAGS.e2e_repeats * _work_units(e2e_samples)
    progress = _Progress(units)
    progress.say(
        f"{configs} configurations x {FLAGS.repeats} rounds, then end to end; "
        f"static widths bottom {mlps['static'][0]}, top {mlps['static'][1]}; "
        f"load {load_start}"
    )
    pool = stream.day(0, FLAGS.pool_rows)
    step_times = _step_times(tf, np, keras, vocab_sizes, pool, mlps, progress)
    report = {"step_times": step_times, "ratios": _ratios(step_times)}
    load_before_e2e = _load()
    if FLAGS.e2e_samples:
        e2e = _end_to_end(tf, np, keras, vocab_sizes, stream, progress)
        _add_ideal(e2e, step_times)
        report["end_to_end"] = e2e
    report["targets"] = _targets(report)
    try:
        tf_keras, tfmot = _peer_modules()
        peer_versions = {"tf_keras": tf_keras.__version__, "tfmot": tfmot.__version__}
    except ImportError:
        peer_versions = None
    report["environment"] = {
        "cpu_count": cores,
        "intra_op_threads": intra,
        "inter_op_threads": FLAGS.inter_op_threads,
        "loadavg_start": load_start,
        "loadavg_before_e2e": load_before_e2e,
        "loadavg_end": _load(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "peers": peer_versions,
    }
    report["config"] = {
        "embedding_dim": FLAGS.embedding_dim,
        "bottom_mlp": list(bottom_mlp),
        "top_mlp": list(top_mlp),
        "static_bottom_mlp": list(mlps["static"][0]),
        "static_top_mlp": list(mlps["static"][1]),
        "sparsity": FLAGS.sparsity,
        "learning_rate": FLAGS.learning_rate,
        "optimizer": "sgd",
        "vocab_sizes": vocab_sizes,
        "embedding_rows": sum(vocab_sizes),
        "pool_rows": FLAGS.pool_rows,
        "steps": FLAGS.steps,
        "warmup_steps": FLAGS.warmup_steps,
        "rewarm_steps": FLAGS.rewarm_steps,
        "repeats": FLAGS.repeats,
        "flip_criterion": FLAGS.flip_criterion,
        "importance_batches": FLAGS.importance_batches,
        "e2e_repeats": FLAGS.e2e_repeats,
    }

    tables = len(vocab_sizes)
    top_inputs = FLAGS.embedding_dim + (tables + 1) * tables // 2
    print()
    print(
        f"DLRM dim {FLAGS.embedding_dim}, bottom 13-{'-'.join(map(str, bottom_mlp))}, top "
        f"{top_inputs}-{'-'.join(map(str, top_mlp))}; sparsity {FLAGS.sparsity}: static bottom "
        f"13-{'-'.join(map(str, mlps['static'][0]))}, top "
        f"{top_inputs}-{'-'.join(map(str, mlps['static'][1]))}; SGD {FLAGS.learning_rate}; "
        f"{sum(vocab_sizes):,} embedding rows; {cores} cores, intra-op {intra}, inter-op "
        f"{FLAGS.inter_op_threads}; TF {tf.__version__}, Keras {keras.__version__}"
        + (f", tf_keras {peer_versions['tf_keras']}, TFMOT {peer_versions['tfmot']}"
           if peer_versions else "")
    )
    print(
        f"Load average (1/5/15 min): start {load_start}, before end to end {load_before_e2e}, "
        f"end {report['environment']['loadavg_end']}"
    )
    print()
    print(_markdown(report))
    for r in step_times:
        for note in r["notes"]:
            print(f"note ({r['batch_size']}, XLA {r['jit_compile']}, {r['variant']}): {note}")
        if r.get("peer_mask_sparsity") is not None:
            print(
                f"note ({r['batch_size']}, XLA {r['jit_compile']}, tfmot): masks at sparsity "
                f"{r['peer_mask_sparsity']:.3f} after the last round (ConstantSparsity updates "
                "them at pruning steps 100, 200, ...)"
            )
    if FLAGS.output_json:
        with open(FLAGS.output_json, "w") as handle:
            json.dump(report, handle, indent=2)
        print(f"\nWrote {FLAGS.output_json}")


if __name__ == "__main__":
    app.run(main)
