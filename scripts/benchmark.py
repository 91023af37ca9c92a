"""Wall-clock cost of growth and pruning on DLRM: train-step times and a full run.

Two parts, one process:

1. Step times. For every batch size and `jit_compile` setting, the median
   train-step time (after warm-up, over `--repeats` interleaved rounds) of
   - `dense`: `build_dlrm` with its default prunable layers, all kept;
   - `probed`: the same with the Taylor probes a controller scoring from
     the training steps installs, switched off (the steps outside the
     scoring windows of such a run);
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
   fraction of that ideal (target 90%), the flip overhead (target under 1%
   of the run), the analytic FLOPs saving, the same savings in CPU time,
   and the run length at which the flips' one-off costs would fall within
   the targets on this machine.
   The flip overhead is measured per call of the train function (one step,
   or `--steps_per_execution` of them): the calls that hold a flip or a
   prune's scoring steps (Taylor from training steps) take longer than
   their steps take in the steady state of their phases (the median per
   step of the other calls), and that excess is the flips' cost: scoring
   and applying (`FlipEvent.seconds`, shown apart), tracing and compiling a
   new plan's function, the probed steps' extra work, split calls.

Both parts run `--steps_per_execution` steps per call of the train function
(32 by default, as `scripts/train.py`): step counts are rounded up to whole
calls, and each end-to-end run's steps down.

One batch size with XLA only (`--batch_sizes=128 --jit_compile=true
--variants=dense,compact,static,floor --repeats=3 --e2e_batch_size=128`) took
about 4.5 minutes on 2 cores, batch 2048 about 3.5; the defaults measure
more configurations and take longer.

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
calls as `fit` runs them (callbacks and iterator included), divided by the
steps per call; samples/s is
`batch_size / median step time`. CPU time is this process's, all threads
(spinning included), over the timed steps. Configurations are measured in
rounds, alternating the order between rounds, and the median over rounds is
reported; the load average at each point is recorded, since other processes
on a shared machine move the numbers. No target is asserted: they are
reported.
"""

import os
import platform
import sys

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # benchmarks/ (checkout only) and agp_tf from this checkout

from benchmarks import settings as settings_lib  # noqa: E402
from benchmarks.settings import VARIANTS  # noqa: E402

FLAGS = flags.FLAGS

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
flags.DEFINE_integer(
    "steps_per_execution", 32,
    "Train steps per call of the train function, in both parts (as `scripts/train.py` "
    "runs); step counts are rounded up to whole calls, the end-to-end steps down.",
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


def main(argv):
    del argv
    settings = settings_lib.from_flags(FLAGS)
    cores = os.cpu_count() or 1
    intra = settings.intra_op_threads or cores
    import tensorflow as tf

    # Must run before TensorFlow creates its thread pools (before any op), so
    # the modules that import Keras and build models are imported after it.
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(settings.inter_op_threads)
    import keras

    from benchmarks import end_to_end, report as report_lib, step_times as step_times_lib
    from benchmarks.data import synthetic_stream
    from benchmarks.models import variant_mlps
    from benchmarks.progress import Progress, total_units
    from benchmarks.tfmot_peer import peer_versions
    from benchmarks.timing import load_average

    load_start = load_average()
    mlps = variant_mlps(settings)
    stream = synthetic_stream(settings)
    vocab_sizes = list(stream.vocab_sizes)
    configs = len(settings.batch_sizes) * len(settings.jit_compile) * len(settings.variants)
    progress = Progress(total_units(settings))
    progress.say(
        f"{configs} configurations x {settings.repeats} rounds, then end to end; "
        f"static widths bottom {mlps['static'][0]}, top {mlps['static'][1]}; "
        f"load {load_start}"
    )
    pool = stream.day(0, settings.pool_rows)
    step_times = step_times_lib.measure(settings, vocab_sizes, pool, mlps, progress)
    report = {
        "step_times": step_times,
        "ratios": step_times_lib.ratios(step_times, settings.batch_sizes, settings.jit_compile),
    }
    load_before_e2e = load_average()
    if settings.e2e_samples:
        e2e = end_to_end.run(settings, vocab_sizes, stream, progress)
        end_to_end.add_ideal(e2e, step_times)
        report["end_to_end"] = e2e
    report["targets"] = report_lib.targets(report)
    peers = peer_versions()
    report["environment"] = {
        "cpu_count": cores,
        "intra_op_threads": intra,
        "inter_op_threads": settings.inter_op_threads,
        "loadavg_start": load_start,
        "loadavg_before_e2e": load_before_e2e,
        "loadavg_end": load_average(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "peers": peers,
    }
    report["config"] = report_lib.config_section(settings, mlps, vocab_sizes)

    print()
    print("\n".join(report_lib.summary_lines(report)))
    print()
    print(report_lib.markdown(report))
    for line in report_lib.note_lines(step_times):
        print(line)
    if settings.output_json:
        report_lib.write_json(report, settings.output_json)
        print(f"\nWrote {settings.output_json}")


if __name__ == "__main__":
    app.run(main)
