"""Trains DLRM with alternate growth and pruning; exports the dense final model.

With no flags: the paper's DLRM (embedding dim 4, bottom 13-256-128-64-4,
top 355-256-128-1, SGD lr 0.1, batch 128) on the synthetic drifting
Criteo-like stream, `alternate(0.7)` (dense, sparse, dense, sparse, dense,
20% each), look-ahead evaluation per window, a summary table, TensorBoard
logs and a SavedModel export, all under `--run_dir`.

Examples:

    python scripts/train.py
    python scripts/train.py --schedule=dense --run_dir=runs/dense
    python scripts/train.py --baseline_run=runs/dense
    python scripts/train.py --data=shards --data_path=/data/criteo_shards \\
        --window_rows=1048576 --batch_size=128
    python scripts/train.py --resume_from=runs/default/final.keras \\
        --synthetic_train_days=7,8 --synthetic_test_day=9 --run_dir=runs/recurring
    python scripts/train.py --flagfile=my.flags
    python scripts/launch_local_cluster.py --workers=2 -- \
        python scripts/train.py --strategy=multi_worker --run_dir=runs/mw

Run it again with the same flags after an interruption: it resumes after
the last finished window.
"""

import dataclasses
import json
import os
import shutil
import sys
import time

from absl import app, flags
from absl import logging as absl_logging

from quiet_startup import import_tensorflow, quiet_native_stderr  # scripts/, beside this file

FLAGS = flags.FLAGS
DEFAULT_XLA_CACHE_DIR = os.path.join("~", ".cache", "agp_tf", "xla")

# Data
flags.DEFINE_enum("data", "synthetic", ["synthetic", "shards", "text"],
                  "Training data: the synthetic stream, preprocessed shards "
                  "(scripts/preprocess.py output) or raw Criteo text.")
flags.DEFINE_list("data_path", [], "Shards directory (--data=shards) or text files (--data=text).")
flags.DEFINE_string("vocabulary", None, "Saved vocabulary for --data=text (default: build one).")
flags.DEFINE_bool("skip_bad_lines", False,
                  "--data=text: skip and count malformed lines instead of stopping at the first.")
flags.DEFINE_float("max_bad_fraction", 0.001,  # agp_tf.data.criteo.DEFAULT_MAX_BAD_FRACTION
                   "--data=text with --skip_bad_lines: fail when more than this share is bad.")
flags.DEFINE_bool("pad_short_lines", False,
                  "--data=text: pad lines whose trailing empty fields were stripped.")
flags.DEFINE_integer("window_rows", None,
                     "Rows per look-ahead window (evaluate on it, then train on it). Default: "
                     "50,000 for --data=synthetic; for shards and text, which window by whole "
                     "batches, the multiple of --batch_size nearest 50,000 (50,048 at 128).")
flags.DEFINE_integer("synthetic_rows_per_day", 150_000, "Synthetic rows per day.")
flags.DEFINE_enum("synthetic_teacher", "default", ["default", "rich"],
                  "Synthetic stream's teacher: default, or rich (many nonlinear interaction "
                  "heads: a model with fewer neurons fits it clearly worse).")
flags.DEFINE_list("synthetic_train_days", ["0", "1", "2", "3", "4", "5"],
                  "Synthetic days to train on, in order.")
flags.DEFINE_integer("synthetic_test_day", 6, "Synthetic day held out for the final test.")
flags.DEFINE_string("synthetic_cache_dir", None,
                    "Folder that keeps generated synthetic rows: later runs of the same stream "
                    "(seed, size, teacher) read the same bits back instead of generating them.")
flags.DEFINE_integer("max_vocab_size", 100_000,
                     "Cap on each synthetic vocabulary (0: Criteo Kaggle's full sizes).")
# Model
flags.DEFINE_integer("embedding_dim", 4, "Embedding width.")
flags.DEFINE_list("bottom_mlp", ["256", "128", "64", "4"], "Bottom MLP widths.")
flags.DEFINE_list("top_mlp", ["256", "128", "1"], "Top MLP widths.")
flags.DEFINE_list("prunable_layers", [],
                  "MLP layers the schedule prunes and regrows, by name (bottom_mlp_<i>, "
                  "top_mlp_<i>). Default: all but the last bottom layer (it feeds the "
                  "interaction) and the last top layer (the logit).")
# Growth and pruning
flags.DEFINE_enum("schedule", "alternate", ["dense", "alternate", "pruning_only", "growth_only", "dsd"],
                  "Phase schedule (the paper's Table II).")
flags.DEFINE_float("sparsity", 0.7, "Fraction of each prunable layer's neurons pruned in sparse phases.")
flags.DEFINE_float("phase_fraction", 0.2, "Phase length for --schedule=alternate.")
flags.DEFINE_float("prune_start", None, "Start of the sparse phase (pruning_only: 0.6, dsd: 0.3).")
flags.DEFINE_float("prune_end", None, "End of the sparse phase (growth_only: 0.4, dsd: 0.7).")
flags.DEFINE_enum("criterion", "taylor", ["taylor", "magnitude", "random"], "Neuron importance.")
flags.DEFINE_integer("importance_batches", 16, "Mini-batches scored per prune.")
flags.DEFINE_enum("taylor_source", "training", ["training", "data"],
                  "Taylor scores from the last --importance_batches training steps before each "
                  "prune (no extra passes), or from extra passes over the window's first batches.")
flags.DEFINE_enum("growth", "zero_output", ["zero_output", "zero"], "How regrown neurons start.")
flags.DEFINE_float("growth_scale", 1.0,
                   "Factor in (0, 1] on regrown neurons' freshly drawn incoming weights "
                   "(--growth=zero_output).")
flags.DEFINE_bool("compact", True, "Run sparse phases on the kept neurons only.")
# Optimization
flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adagrad", "adam"], "Optimizer.")
flags.DEFINE_float("learning_rate", 0.1, "Learning rate.")
flags.DEFINE_integer("batch_size", 128, "Training batch size.")
flags.DEFINE_integer("eval_batch_size", 4096,
                     "Rows per batch of the look-ahead and test evaluations (larger is faster; "
                     "the metrics are the same up to float rounding).")
flags.DEFINE_integer("steps_per_execution", 32,
                     "Training steps per call into TensorFlow (Keras' steps_per_execution): "
                     "fewer round trips from Python, which at small batches cost as much as "
                     "the step. Flips still land on the schedule's step. 1 under "
                     "--strategy=parameter_server (steps go to the workers one at a time) and "
                     "--strategy=multi_worker (Keras' multi-step evaluation fails there).")
flags.DEFINE_bool("jit_compile", True, "Compile train steps with XLA.")
flags.DEFINE_string("xla_cache_dir", DEFAULT_XLA_CACHE_DIR,
                    "TensorFlow's persistent XLA compilation cache (with --jit_compile): a step "
                    "compiled once, by any run, is loaded by later runs (resumed, recurring, "
                    "or the same job again) instead of compiled. A folder per TensorFlow "
                    "version is made inside. '' turns it off.")
flags.DEFINE_enum("strategy", "default",
                  ["default", "mirrored", "multi_worker", "parameter_server"],
                  "tf.distribute strategy. mirrored: the local devices of this machine. "
                  "multi_worker: synchronous, every worker runs this script with its TF_CONFIG. "
                  "parameter_server: asynchronous; the chief task (the coordinator) trains, "
                  "worker and ps tasks running this script serve until killed. Both need "
                  "--nojit_compile on CPUs. See BUILD.md, and "
                  "scripts/launch_local_cluster.py for a cluster on this machine.")
flags.DEFINE_integer("threads", 0, "Intra-op threads (0: all cores).")
flags.DEFINE_integer("seed", 0, "Seed of the data stream, model initialization and choices.")
# Outputs
flags.DEFINE_string("run_dir", "runs/default", "Checkpoints, state, history and TensorBoard logs.")
flags.DEFINE_bool("export", True, "Write the SavedModel export of the final model (--noexport: "
                  "skip it, e.g. for experiments that only need the summary).")
flags.DEFINE_string("export_dir", None, "SavedModel export (default: <run_dir>/export).")
flags.DEFINE_bool("compact_export", False,
                  "Export a model that ends sparse with physically smaller kernels.")
flags.DEFINE_integer("keep_checkpoints", 1,
                     "Newest window checkpoints kept (2 or more: a corrupt newest one falls "
                     "back to the one before).")
flags.DEFINE_bool("restart", False, "Discard an existing run in --run_dir instead of resuming it.")
flags.DEFINE_string("resume_from", None,
                    "A .keras model to continue training on new data (recurring training).")
flags.DEFINE_string("baseline_run", None, "A finished run dir to compare NE against.")
flags.DEFINE_integer("verbose", 1, "Progress: 0 silent, 1 a live line per window, 2 a line per "
                     "finished window; 1 and 2 print every prune and regrowth.")


class SettingsError(ValueError):
    """An invalid flag combination, reported before any training."""


DEFAULT_WINDOW_ROWS = 50_000


def window_rows():
    """--window_rows, or its default for the data source."""
    if FLAGS.window_rows is not None:
        return FLAGS.window_rows
    if FLAGS.data == "synthetic":
        return DEFAULT_WINDOW_ROWS
    batch = max(FLAGS.batch_size, 1)
    return max(1, round(DEFAULT_WINDOW_ROWS / batch)) * batch


def _int_list(name):
    try:
        return [int(v) for v in getattr(FLAGS, name)]
    except ValueError:
        raise SettingsError(f"--{name} must be comma-separated integers, got {getattr(FLAGS, name)}")


def build_schedule():
    try:
        return _build_schedule()
    except SettingsError:
        raise
    except ValueError as error:  # the schedule's own argument check
        raise SettingsError(str(error)) from None


def _build_schedule():
    from agp_tf import schedules

    name = FLAGS.schedule
    present = lambda flag: FLAGS[flag].present  # noqa: E731
    if name == "dense":
        for flag in ("sparsity", "prune_start", "prune_end"):
            if present(flag):
                raise SettingsError(f"--{flag} has no effect with --schedule=dense")
        return schedules.dense()
    if name == "alternate":
        for flag in ("prune_start", "prune_end"):
            if present(flag):
                raise SettingsError(f"--{flag} has no effect with --schedule=alternate")
        return schedules.alternate(FLAGS.sparsity, FLAGS.phase_fraction)
    if name == "pruning_only":
        if present("prune_end"):
            raise SettingsError("--prune_end has no effect with --schedule=pruning_only")
        return schedules.pruning_only(FLAGS.sparsity, FLAGS.prune_start or 0.6)
    if name == "growth_only":
        if present("prune_start"):
            raise SettingsError("--prune_start has no effect with --schedule=growth_only")
        return schedules.growth_only(FLAGS.sparsity, FLAGS.prune_end or 0.4)
    return schedules.dsd(FLAGS.sparsity, FLAGS.prune_start or 0.3, FLAGS.prune_end or 0.7)


def check_flags():
    """Every check of the flags alone; returns the schedule. Raises SettingsError."""
    schedule = build_schedule()
    check_settings(schedule)
    return schedule


def check_settings(schedule):
    """Flag combinations that cannot work, as one clear line each."""
    if FLAGS.data != "synthetic" and not FLAGS.data_path:
        raise SettingsError(f"--data={FLAGS.data} needs --data_path")
    if FLAGS.data == "synthetic" and FLAGS.data_path:
        raise SettingsError("--data_path is only read with --data=shards or --data=text")
    if FLAGS.data != "synthetic" and FLAGS.synthetic_cache_dir:
        raise SettingsError("--synthetic_cache_dir is only read with --data=synthetic")
    for name in ("vocabulary", "skip_bad_lines", "max_bad_fraction", "pad_short_lines"):
        if FLAGS.data != "text" and FLAGS[name].present:
            raise SettingsError(f"--{name} is only read with --data=text")
    if FLAGS.batch_size < 1 or window_rows() < 1 or FLAGS.importance_batches < 1:
        raise SettingsError("--batch_size, --window_rows and --importance_batches must be >= 1")
    if FLAGS.data != "synthetic" and window_rows() % FLAGS.batch_size:
        raise SettingsError(
            f"--window_rows ({window_rows()}) must be a multiple of --batch_size "
            f"({FLAGS.batch_size}) with --data={FLAGS.data}"
        )
    if FLAGS.compact_export and schedule.ends_dense:
        raise SettingsError(
            f"--compact_export needs a schedule that ends sparse (pruning_only); "
            f"--schedule={FLAGS.schedule} ends dense"
        )
    if FLAGS.eval_batch_size < 1:
        raise SettingsError(f"--eval_batch_size must be >= 1, got {FLAGS.eval_batch_size}")
    if FLAGS.steps_per_execution < 1:
        raise SettingsError(
            f"--steps_per_execution must be >= 1, got {FLAGS.steps_per_execution}"
        )
    if FLAGS.keep_checkpoints < 1:
        raise SettingsError(f"--keep_checkpoints must be >= 1, got {FLAGS.keep_checkpoints}")
    if FLAGS.verbose not in (0, 1, 2):
        raise SettingsError(f"--verbose must be 0, 1 or 2, got {FLAGS.verbose}")
    if not 0 < FLAGS.growth_scale <= 1:
        raise SettingsError(f"--growth_scale must be in (0, 1], got {FLAGS.growth_scale}")
    if FLAGS.growth == "zero" and FLAGS.growth_scale != 1:
        raise SettingsError("--growth_scale has no effect with --growth=zero (it draws nothing)")
    if FLAGS.learning_rate <= 0:
        raise SettingsError(f"--learning_rate must be > 0, got {FLAGS.learning_rate}")
    if FLAGS.resume_from and not os.path.exists(FLAGS.resume_from):
        raise SettingsError(f"--resume_from: {FLAGS.resume_from} does not exist")
    if FLAGS.baseline_run and not os.path.exists(os.path.join(FLAGS.baseline_run, "summary.json")):
        raise SettingsError(f"--baseline_run: no summary.json in {FLAGS.baseline_run}")
    extra_pass = FLAGS.criterion == "taylor" and FLAGS.taylor_source == "data"
    if extra_pass and FLAGS.importance_batches * FLAGS.batch_size > window_rows():
        raise SettingsError(
            f"--importance_batches x --batch_size ({FLAGS.importance_batches * FLAGS.batch_size}) "
            f"exceeds --window_rows ({window_rows()}): scoring reads batches of one window"
        )
    check_strategy()
    train_days = _int_list("synthetic_train_days")
    check_prunable_layers(_int_list("bottom_mlp"), _int_list("top_mlp"))
    if FLAGS.data == "synthetic" and FLAGS.synthetic_test_day in train_days:
        raise SettingsError("--synthetic_test_day must not be one of --synthetic_train_days")


def check_prunable_layers(bottom_mlp, top_mlp):
    if not FLAGS.prunable_layers:
        return
    if FLAGS.resume_from:
        raise SettingsError("--prunable_layers has no effect with --resume_from (the saved "
                            "model's layers say which are prunable)")
    from agp_tf.models.dlrm import resolve_prunable

    try:
        resolve_prunable(FLAGS.prunable_layers, bottom_mlp, top_mlp)
    except ValueError as error:
        raise SettingsError(f"--prunable_layers: {error}") from None


def cluster_task():
    """`(cluster, Task)` from TF_CONFIG for --strategy=multi_worker|parameter_server."""
    from agp_tf.distribute import cluster as cluster_lib

    try:
        cluster, task = cluster_lib.current_task()
    except ValueError as error:
        raise SettingsError(f"--strategy={FLAGS.strategy}: {error}") from None
    if task is None:
        raise SettingsError(
            f"--strategy={FLAGS.strategy} needs TF_CONFIG (the cluster and this process's "
            "task; see BUILD.md, or start a local cluster with scripts/launch_local_cluster.py)"
        )
    return cluster, task


def cluster_inter_op_threads():
    """Inter-op threads for a cluster process: workers + 1 (fewer can hang the servers).

    Read from TF_CONFIG before TensorFlow loads (the threads are set then);
    a bad TF_CONFIG is reported by `cluster_task` right after.
    """
    try:
        return len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"]) + 1
    except (KeyError, TypeError, ValueError):
        return 0  # TensorFlow's default


def check_strategy():
    if FLAGS.strategy not in ("multi_worker", "parameter_server"):
        return
    cluster, task = cluster_task()
    if FLAGS.strategy == "multi_worker":
        from agp_tf.distribute import multi_worker

        try:
            multi_worker.check_multi_worker_config()
        except ValueError as error:
            raise SettingsError(f"--strategy=multi_worker: {error}") from None
        import tensorflow as tf

        if FLAGS.jit_compile and not tf.config.list_physical_devices("GPU"):
            raise SettingsError("--strategy=multi_worker on CPUs runs without XLA (XLA does "
                                "not compile collectives for CPU devices): add --nojit_compile")
        if FLAGS["steps_per_execution"].present and FLAGS.steps_per_execution != 1:
            raise SettingsError("--strategy=multi_worker runs one step per execution: Keras' "
                                "multi-step evaluation fails under MultiWorkerMirroredStrategy "
                                "(\"must feed a value for placeholder\")")
        return
    if "ps" not in cluster or "chief" not in cluster:
        raise SettingsError("--strategy=parameter_server: TF_CONFIG needs a chief (the "
                            f"coordinator) and a ps job; its cluster has {sorted(cluster)}")
    if FLAGS.jit_compile:
        raise SettingsError("--strategy=parameter_server runs without XLA (XLA cannot read "
                            "variables on parameter servers): add --nojit_compile")
    if FLAGS["steps_per_execution"].present and FLAGS.steps_per_execution != 1:
        raise SettingsError("--strategy=parameter_server dispatches training steps one at a "
                            "time to the workers: --steps_per_execution does not apply")


def settings_dict():
    """The flags that define a run (a run dir only resumes with equal ones)."""
    names = [
        "data", "data_path", "vocabulary", "skip_bad_lines", "max_bad_fraction",
        "pad_short_lines", "window_rows", "synthetic_rows_per_day", "synthetic_teacher",
        "synthetic_train_days", "synthetic_test_day", "max_vocab_size", "embedding_dim",
        "bottom_mlp", "top_mlp", "schedule", "sparsity", "phase_fraction", "prune_start",
        "prune_end", "criterion", "importance_batches", "taylor_source", "growth",
        "growth_scale", "compact", "prunable_layers",
        "optimizer", "learning_rate", "batch_size", "jit_compile", "strategy", "seed",
        "resume_from",
    ]
    settings = {name: FLAGS[name].value for name in names}
    settings["window_rows"] = window_rows()  # as resolved: a run resumes only with the same
    # None when not given: runs made before the flag existed still resume.
    settings["prunable_layers"] = list(FLAGS.prunable_layers) or None
    return settings


def make_source():
    from agp_tf.data import windows
    from agp_tf.data.synthetic import TEACHERS, SyntheticCriteo

    if FLAGS.data == "synthetic":
        days = _int_list("synthetic_train_days")
        stream = SyntheticCriteo(
            seed=FLAGS.seed,
            num_days=max(days + [FLAGS.synthetic_test_day]) + 1,
            rows_per_day=FLAGS.synthetic_rows_per_day,
            max_vocab_size=FLAGS.max_vocab_size or None,
            **TEACHERS[FLAGS.synthetic_teacher],
        )
        return windows.SyntheticWindows(stream, days, FLAGS.synthetic_test_day, window_rows(),
                                        cache_dir=FLAGS.synthetic_cache_dir)
    if FLAGS.data == "shards":
        return windows.ShardWindows(FLAGS.data_path[0], window_rows(), FLAGS.batch_size)
    return windows.TextWindows(
        FLAGS.data_path, window_rows(), FLAGS.batch_size, vocabulary=FLAGS.vocabulary,
        skip_bad_lines=FLAGS.skip_bad_lines, max_bad_fraction=FLAGS.max_bad_fraction,
        pad_short_lines=FLAGS.pad_short_lines,
    )


def load_source():
    """`make_source()`, with bad data as a SettingsError; says what text was read."""
    try:
        source = make_source()
    except (ValueError, OSError) as error:  # bad data, named by file and line
        raise SettingsError(f"--data={FLAGS.data}: {error}") from None
    if FLAGS.data == "text":
        stats = source.index
        print(f"Read {stats.rows:,} rows from {len(stats.rows_per_file)} file(s)"
              + (f"; skipped {stats.bad_lines:,} bad lines, first: {stats.bad_line_examples[0]}"
                 if stats.bad_lines else ""), flush=True)
    return source


def make_strategy():
    import tensorflow as tf

    if FLAGS.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if FLAGS.strategy == "multi_worker":
        from agp_tf.distribute import multi_worker

        return multi_worker.multi_worker_strategy()
    if FLAGS.strategy == "parameter_server":
        return tf.distribute.ParameterServerStrategy(
            tf.distribute.cluster_resolver.TFConfigClusterResolver()
        )
    return tf.distribute.get_strategy()


def compile_model(model, optimizer=None):
    import keras

    from agp_tf.metrics import ctr_metrics

    if optimizer is None:
        optimizer = {
            "sgd": keras.optimizers.SGD,
            "adagrad": keras.optimizers.Adagrad,
            "adam": keras.optimizers.Adam,
        }[FLAGS.optimizer](FLAGS.learning_rate)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.BinaryCrossentropy(),
        metrics=ctr_metrics(),
        jit_compile=FLAGS.jit_compile,
        steps_per_execution=steps_per_execution(),
    )
    return model


def steps_per_execution():
    """--steps_per_execution, or 1 on clusters: parameter servers take steps one
    by one, and under MultiWorkerMirroredStrategy Keras' multi-step test
    function fails (a `tf.cond` in its loop: "must feed a value for
    placeholder", the pitfall `agp_tf.multi_step` avoids for training)."""
    if FLAGS.strategy in ("parameter_server", "multi_worker"):
        return 1
    return FLAGS.steps_per_execution


def format_summary(summary):
    """The end-of-run table, one `| name | value |` row per figure."""
    rows = [
        ("schedule", summary["schedule"]),
        ("test accuracy", f"{summary['test']['accuracy']:.4f}"),
        ("test AUC", f"{summary['test']['auc']:.4f}"),
        ("test BCE (log loss)", f"{summary['test']['bce']:.5f}"),
        ("test NE", f"{summary['test']['ne']:.5f}"),
        ("look-ahead BCE (mean over windows)", f"{summary['lookahead_bce']:.5f}"),
        ("look-ahead NE (mean over windows)", f"{summary['lookahead_ne']:.5f}"),
    ]
    if summary.get("baseline_run"):
        rows.append(("look-ahead NE vs baseline", f"{summary['lookahead_ne_vs_baseline']:+.3%}"))
        rows.append(("test NE vs baseline", f"{summary['test_ne_vs_baseline']:+.3%}"))
        rows.append(("training wall-clock vs baseline",
                     f"{summary['train_seconds_vs_baseline']:+.1%}"))
        rows.append(("training CPU time vs baseline",
                     f"{summary['train_cpu_seconds_vs_baseline']:+.1%}"))
        rows.append(("total wall-clock vs baseline", f"{summary['total_seconds_vs_baseline']:+.1%}"))
    rows += [
        ("training FLOPs, actual", f"{summary['train_flops']:.4g}"),
        ("training FLOPs, dense", f"{summary['dense_train_flops']:.4g}"),
        ("training FLOPs change (measured)", f"{summary['train_flops_change']:+.2%}"),
        ("training FLOPs change (predicted)", f"{summary['predicted_train_flops_change']:+.2%}"),
        ("phase flips", str(summary["flips"])),
        ("training wall-clock", f"{summary['train_seconds']:.1f} s"),
        ("training CPU time (all threads)", f"{summary['train_cpu_seconds']:.1f} s"),
        ("look-ahead eval wall-clock", f"{summary['lookahead_seconds']:.1f} s"),
        ("checkpoint wall-clock", f"{summary['checkpoint_seconds']:.1f} s"),
        ("other wall-clock (start-up, data, test, export)", f"{summary['other_seconds']:.1f} s"),
        ("total wall-clock", f"{summary['total_seconds']:.1f} s"),
        ("TensorBoard logs", summary["tensorboard"]),
        ("SavedModel export", summary["export_dir"] or "none (--noexport)"),
        ("final .keras model", summary["final_model"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'figure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)


def _check_writable(folder, flag):
    """Raises SettingsError unless files can be written into `folder` (made if missing)."""
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, ".write_check")
        with open(probe, "w") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError as error:
        raise SettingsError(f"{flag}: cannot write into {folder} ({error.strerror})") from None


def xla_cache_path():
    """This TensorFlow version's folder in --xla_cache_dir, or None for no cache.

    Checked before TensorFlow loads (it reads the cache setting then): an
    unwritable folder given by flag is a SettingsError; the default one is
    skipped with a note, since the run does not need it.
    """
    if not FLAGS.xla_cache_dir or not FLAGS.jit_compile:
        return None
    # Executables compiled by another XLA are not to be loaded.
    path = os.path.join(os.path.abspath(os.path.expanduser(FLAGS.xla_cache_dir)),
                        f"tensorflow-{_tensorflow_version()}")
    try:
        _check_writable(path, "--xla_cache_dir")
    except SettingsError as error:
        if FLAGS["xla_cache_dir"].present:
            raise
        print(f"Note: no XLA compilation cache ({error})", flush=True)
        return None
    return path


def _tensorflow_version():
    """The installed TensorFlow's version, read without importing it."""
    from importlib import metadata

    for distribution in ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def use_xla_cache(path):
    """Points TensorFlow's persistent XLA cache at `path` (before TensorFlow loads)."""
    if path is None:
        return
    setting = f"--tf_xla_persistent_cache_directory={path}"
    flags_now = os.environ.get("TF_XLA_FLAGS", "")
    if setting not in flags_now.split():
        os.environ["TF_XLA_FLAGS"] = f"{flags_now} {setting}".strip()


def check_outputs_and_test_data(source, export_dir, writable=True):
    """What would otherwise fail only after training: outputs writable, test data readable."""
    if FLAGS.synthetic_cache_dir:  # the test split below is the first rows it keeps
        _check_writable(FLAGS.synthetic_cache_dir, "--synthetic_cache_dir")
    if writable:
        _check_writable(FLAGS.run_dir, "--run_dir")
        if FLAGS.export:
            # The export goes into a fresh folder at the end: its parent must take it.
            _check_writable(os.path.dirname(os.path.abspath(export_dir)), "--export_dir")
    try:
        next(iter(source.test(FLAGS.eval_batch_size)))
    except StopIteration:
        raise SettingsError(f"--data={FLAGS.data}: the test split is empty") from None
    except Exception as error:  # any reader's error, named before the long work
        raise SettingsError(f"--data={FLAGS.data}: cannot read the test split ({error})") from None


def run():
    started = time.perf_counter()
    use_xla_cache(xla_cache_path())
    distributed = FLAGS.strategy in ("multi_worker", "parameter_server")
    # First: everything below imports TensorFlow. A cluster strategy must be
    # made before any op runs, so no XLA warm-up then.
    import_tensorflow(xla=FLAGS.jit_compile and not distributed, intra_op_threads=FLAGS.threads,
                      inter_op_threads=cluster_inter_op_threads() if distributed else 1)
    if distributed:
        cluster, task = cluster_task()
    if not FLAGS["verbosity"].present:
        # absl's default shows every INFO record of TensorFlow's Python
        # loggers (and repeats the flip lines); this script prints its own.
        absl_logging.set_verbosity(absl_logging.WARNING)
    schedule = check_flags()
    if FLAGS.strategy == "parameter_server" and task.type in ("worker", "ps"):
        from agp_tf.distribute import server

        print(f"{task}: serving the parameter-server cluster until stopped", flush=True)
        server.serve(cluster, task)
        return None
    with quiet_native_stderr():  # a cluster strategy starts a server: more start-up noise
        strategy = make_strategy()

    import keras

    from agp_tf import flops, recurring
    from agp_tf.callbacks import GrowPruneCallback
    from agp_tf.export import compact_model, export_saved_model
    from agp_tf.metrics import ctr_metrics
    from agp_tf.models.dlrm import build_dlrm

    # Only the chief writes (checkpoints, state, TensorBoard, export); the
    # other workers of a multi-worker run read the chief's files to resume.
    chief = True
    if FLAGS.strategy == "multi_worker":
        from agp_tf.distribute import multi_worker

        chief = multi_worker.is_chief(strategy)
    if FLAGS.restart and chief and os.path.isdir(FLAGS.run_dir):
        shutil.rmtree(FLAGS.run_dir)
    keras.utils.set_random_seed(FLAGS.seed)
    source = load_source()
    log_dir = os.path.join(FLAGS.run_dir, "tensorboard")
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.run_dir, "export")
    check_outputs_and_test_data(source, export_dir, writable=chief)
    final_model_path = os.path.join(FLAGS.run_dir, "final.keras")

    def build_model():
        if FLAGS.resume_from:
            model = keras.models.load_model(FLAGS.resume_from)
            return compile_model(model, optimizer=model.optimizer)
        model = build_dlrm(
            source.vocab_sizes,
            embedding_dim=FLAGS.embedding_dim,
            bottom_mlp=_int_list("bottom_mlp"),
            top_mlp=_int_list("top_mlp"),
            prunable=FLAGS.prunable_layers or None,
            seed=FLAGS.seed,
        )
        return compile_model(model)

    tensorboard = [keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch")] if chief else []
    callback = GrowPruneCallback(
        schedule,
        importance_data=None,
        importance_batches=FLAGS.importance_batches,
        criterion=FLAGS.criterion,
        log_dir=os.path.join(log_dir, "agp"),
        batch_size=FLAGS.batch_size,
        growth=FLAGS.growth,
        growth_scale=FLAGS.growth_scale,
        seed=FLAGS.seed,
        compact=FLAGS.compact,
        verbose=FLAGS.verbose > 0,
        taylor_source=FLAGS.taylor_source,
    )
    os.makedirs(FLAGS.run_dir, exist_ok=True)
    run = recurring.WindowedRun(
        source,
        FLAGS.run_dir,
        FLAGS.batch_size,
        settings_dict(),
        callback,
        extra_callbacks=tensorboard,
        verbose=FLAGS.verbose,
        keep_checkpoints=FLAGS.keep_checkpoints,
        history_path=os.path.join(FLAGS.run_dir, "history.csv"),
        eval_batch_size=FLAGS.eval_batch_size,
        writer=chief,
    )
    with strategy.scope():
        # A worker told to --restart must not read the state the chief is removing.
        model = build_model() if FLAGS.restart and not chief else run.restore_or(build_model)
    if FLAGS.strategy == "parameter_server":
        from agp_tf.distribute import parameter_server

        trainer = parameter_server.ParameterServerTrainer(
            strategy, model, model.optimizer, model.loss
        )
        run.engine = parameter_server.ParameterServerEngine(trainer, ctr_metrics)
    if FLAGS.resume_from and run.windows_done == 0:
        callback.start_step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    resumed_at = run.windows_done
    summary_path = os.path.join(FLAGS.run_dir, "summary.json")
    if run.windows_done == len(source.window_rows) and os.path.exists(summary_path):
        with open(summary_path) as handle:
            summary = json.load(handle)
        print(f"The run in {FLAGS.run_dir} is finished (--restart trains it again):", flush=True)
        print(format_summary(summary))
        return summary
    print(
        f"{'Resuming' if resumed_at else 'Starting'} {FLAGS.schedule} run in {FLAGS.run_dir}: "
        f"{len(source.window_rows)} windows, {run.total_steps} steps"
        + (f", {resumed_at} windows already done" if resumed_at else ""),
        flush=True,
    )
    results = run.train(model)

    test = run.engine.evaluate(model, source.test(FLAGS.eval_batch_size))
    if not chief:
        print(f"{multi_worker.task_of(strategy)}: done; the chief writes the outputs", flush=True)
        return None
    model.save(final_model_path)
    if FLAGS.export:
        if os.path.isdir(export_dir):
            shutil.rmtree(export_dir)
        # Exported from a copy on this machine, outside the cluster's variables.
        local = keras.models.load_model(final_model_path) if distributed else model
        exported = compact_model(local) if FLAGS.compact_export else local
        export_saved_model(exported, export_dir)

    counter = callback.counter
    specs = flops.layer_specs(model)
    predicted = flops.predict_relative_training_flops(specs, schedule, run.total_steps) - 1.0
    summary = {
        "schedule": repr(schedule),
        "settings": settings_dict(),
        "test": test,
        "lookahead_bce": recurring.mean_lookahead(results, "bce"),
        "lookahead_ne": recurring.mean_lookahead(results, "ne"),
        "windows": [
            {"index": r.index, "data": r.description, "rows": r.rows, **r.lookahead}
            for r in results
        ],
        "train_flops": counter.actual,
        "dense_train_flops": counter.dense,
        "train_flops_change": counter.relative_change,
        "predicted_train_flops_change": predicted,
        "fc_layers": [dataclasses.asdict(spec) for spec in specs],
        "flips": len(callback.flips),
        "train_seconds": sum(r.train_seconds for r in results),
        "train_cpu_seconds": sum(r.train_cpu_seconds for r in results),
        "lookahead_seconds": sum(r.eval_seconds for r in results),
        "checkpoint_seconds": sum(r.checkpoint_seconds for r in results),
        "total_seconds": time.perf_counter() - started,
        "resumed_after_windows": resumed_at,
        "tensorboard": log_dir,
        "export_dir": export_dir if FLAGS.export else None,
        "final_model": final_model_path,
        "baseline_run": FLAGS.baseline_run,
    }
    # This process's time outside its windows (a resumed run's earlier
    # windows ran in another process).
    summary["other_seconds"] = summary["total_seconds"] - sum(
        r.train_seconds + r.eval_seconds + r.checkpoint_seconds for r in results[resumed_at:]
    )
    if FLAGS.baseline_run:
        with open(os.path.join(FLAGS.baseline_run, "summary.json")) as handle:
            baseline = json.load(handle)
        summary["lookahead_ne_vs_baseline"] = recurring.relative_change(
            summary["lookahead_ne"], baseline["lookahead_ne"]
        )
        summary["test_ne_vs_baseline"] = recurring.relative_change(
            test["ne"], baseline["test"]["ne"]
        )
        for name in ("train_seconds", "train_cpu_seconds", "total_seconds"):
            summary[f"{name}_vs_baseline"] = recurring.relative_change(
                summary[name], baseline.get(name)
            )
    with open(summary_path, "w") as handle:
        json.dump(summary, handle, indent=1)
    print()
    print(format_summary(summary))
    return summary


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        run()
    except SettingsError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
