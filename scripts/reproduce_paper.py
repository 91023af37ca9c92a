"""Reproduces the paper's experiments with seeds: tables, JSON and plots in results/.

Runs `scripts/train.py` once per configuration and seed (each its own
process and run directory under `<output_dir>/runs/`), then writes from the
runs' records:

    README.md     the paper's claims with a verdict each, Table I (sparsity
                  sweep), Table II (schemes), the Fig. 5 data and the
                  capacity premise, as mean ± std over seeds and paired
                  relative changes against the dense baseline
    results.json  every figure of those tables, with its spread
    capacity.png  Fig. 5: relative final accuracy against initial capacity
    curves.png    Fig. 6: training accuracy, its change against the
                  baseline, and the active FC parameters over training

The default data is the synthetic drifting stream with its `rich` teacher
(the default teacher gives a statically 70%-smaller model nothing to lose;
the premise table says whether the rich one does at the size run), 600k
training rows per run, 3 seeds: 69 runs, 27 minutes on 2 cores (the 30
`variants` runs add 11). `--data=shards` runs the same
on Criteo Kaggle shards (`scripts/preprocess.py`). `--quick` runs every
table and plot from 16 small runs in about 5 minutes.

An interrupted reproduction continues with `--resume`: finished runs (those
with a `record.json`) are kept, an interrupted one resumes after its last
finished window. `--report_only` writes the tables and plots from the runs
finished so far and runs nothing.

Examples:

    python scripts/reproduce_paper.py
    python scripts/reproduce_paper.py --quick --output_dir=/tmp/quick
    python scripts/reproduce_paper.py --resume
    python scripts/reproduce_paper.py --report_only
    python scripts/reproduce_paper.py --experiments=schemes,premise --seeds=5
    python scripts/reproduce_paper.py --experiments=curves,premise \
        --synthetic_rows_per_day=150000 --output_dir=results/rows_150k
    python scripts/reproduce_paper.py --data=shards --data_path=/data/kaggle_shards \\
        --output_dir=results/kaggle
"""

import dataclasses
import os
import shutil
import sys
import time

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # reproduce/ (checkout only) and agp_tf from this checkout

from reproduce import experiments  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", os.path.join(REPO, "results"),
                    "Where the tables, plots and runs go.")
flags.DEFINE_list("experiments", list(experiments.PAPER_EXPERIMENTS),
                  f"Any of {', '.join(experiments.EXPERIMENTS)}; variants (alternate(0.7) with "
                  "other rules, 30 more runs) is not in the default.")
flags.DEFINE_boolean("quick", False, "Small runs and fewer configurations: a few minutes.")
flags.DEFINE_integer("seeds", None, "Seeds per configuration (default: 3, or 2 with --quick).")
flags.DEFINE_boolean("resume", False,
                     "Continue the reproduction in --output_dir: keep its finished runs.")
flags.DEFINE_boolean("report_only", False,
                     "Write the tables and plots from the finished runs in --output_dir, "
                     "running nothing (a reproduction still under way, or cut short).")
flags.DEFINE_enum("data", "synthetic", ["synthetic", "shards"],
                  "The synthetic stream, or Criteo shards from scripts/preprocess.py.")
flags.DEFINE_string("data_path", "", "--data=shards: the shards directory.")
flags.DEFINE_enum("synthetic_teacher", "rich", ["default", "rich"],
                  "The synthetic stream's teacher (train.py --synthetic_teacher).")
flags.DEFINE_integer("synthetic_rows_per_day", None,
                     "Synthetic rows per day instead of the size's (default 100,000; --quick "
                     "4,000): more rows, longer runs.")
flags.DEFINE_integer("threads", 0, "Intra-op threads of each run (0: all cores).")


CACHE = "cache"  # in --output_dir while runs are left: generated rows, compiled XLA steps


class SettingsError(ValueError):
    """A flag or the output directory is not usable; says which and why."""


def check(data_flags):
    """Everything that can be checked before the first run."""
    if FLAGS.seeds is not None and FLAGS.seeds < 1:
        raise SettingsError(f"--seeds must be at least 1. Received: {FLAGS.seeds}")
    if FLAGS.data == "shards" and not os.path.isdir(FLAGS.data_path):
        raise SettingsError(f"--data_path={FLAGS.data_path!r} is not a directory "
                            "(scripts/preprocess.py writes one)")
    runs_dir = os.path.join(FLAGS.output_dir, "runs")
    finished = []
    for root, _, files in os.walk(runs_dir):
        if "record.json" in files:
            finished.append(root)
    if FLAGS.report_only and not finished:
        raise SettingsError(f"--report_only: {FLAGS.output_dir} holds no finished runs")
    if finished and not (FLAGS.resume or FLAGS.report_only):
        raise SettingsError(f"{FLAGS.output_dir} holds {len(finished)} finished runs: pass "
                            "--resume to continue that reproduction, or another --output_dir")
    from reproduce import runs  # loads no TensorFlow

    for directory in finished:
        record = runs.load_record(directory)
        if record["data_flags"] != list(data_flags):
            raise SettingsError(
                f"{directory} ran with other data ({' '.join(record['data_flags'])}); this "
                f"reproduction uses {' '.join(data_flags)}: use another --output_dir")


def _remove_bulky_files(directory):
    """What the tables do not need: the checkpoints (final.keras stays)."""
    for name in os.listdir(directory):
        if name.startswith("checkpoint-") and name.endswith(".keras"):
            os.remove(os.path.join(directory, name))


def reproduce():
    size = experiments.SIZES["quick" if FLAGS.quick else "default"]
    if FLAGS.synthetic_rows_per_day is not None:
        if FLAGS.synthetic_rows_per_day < 1 or FLAGS.data != "synthetic":
            raise SettingsError("--synthetic_rows_per_day must be at least 1, with "
                                f"--data=synthetic. Received: {FLAGS.synthetic_rows_per_day}")
        size = dataclasses.replace(size, rows_per_day=FLAGS.synthetic_rows_per_day)
    try:
        experiments.check_experiments(FLAGS.experiments)
        data_flags = experiments.data_flags(size, FLAGS.data, FLAGS.data_path,
                                            FLAGS.synthetic_teacher)
    except ValueError as error:
        raise SettingsError(str(error)) from None
    check(data_flags)
    from quiet_startup import import_tensorflow  # scripts/, beside this file

    import_tensorflow()  # the records read agp_tf.flops; without start-up noise
    from reproduce import report, runs

    configurations = experiments.configurations(FLAGS.experiments, size)
    seeds = FLAGS.seeds or size.seeds
    # No SavedModel export (the tables read the summary). The synthetic rows of
    # a seed are generated once and read back by the seed's other runs; each
    # XLA step shape is compiled by its first run and loaded by the others.
    cache_dir = os.path.join(FLAGS.output_dir, CACHE)
    extra = [f"--threads={FLAGS.threads}",
             "--jit_compile" if size.jit_compile else "--nojit_compile", "--noexport"]
    if FLAGS.data == "synthetic":
        extra.append(f"--synthetic_cache_dir={os.path.join(cache_dir, 'rows')}")
    if size.jit_compile:
        extra.append(f"--xla_cache_dir={os.path.join(cache_dir, 'xla')}")
    planned = experiments.plan(configurations, seeds)
    revision = runs.git_revision()
    print(f"Reproducing {', '.join(FLAGS.experiments)}: {len(configurations)} configurations x "
          f"{seeds} seeds = {len(planned)} runs into {FLAGS.output_dir} (code {revision})",
          flush=True)
    records, spent, executed = [], 0.0, 0
    for number, (configuration, seed) in enumerate(planned, 1):
        directory = runs.run_dir(FLAGS.output_dir, configuration, seed)
        record = runs.load_record(directory)
        if FLAGS.report_only:
            if record is None:
                print(f"[{number}/{len(planned)}] {configuration.label} seed {seed}: not run",
                      flush=True)
                continue
        elif record is not None:
            print(f"[{number}/{len(planned)}] {configuration.label} seed {seed}: done earlier",
                  flush=True)
        else:
            started = time.perf_counter()
            record = runs.execute(configuration, seed, data_flags, FLAGS.output_dir, extra,
                                  revision)
            _remove_bulky_files(directory)
            spent += time.perf_counter() - started
            executed += 1
            left = sum(1 for c, s in planned[number:]
                       if runs.load_record(runs.run_dir(FLAGS.output_dir, c, s)) is None)
            print(f"[{number}/{len(planned)}] {configuration.label} seed {seed}: "
                  f"{record['process_seconds']:.0f} s, test NE {record['test']['ne']:.5f}, "
                  f"FLOPs {record['train_flops_change']:+.1%}; about "
                  f"{left * spent / executed / 60:.0f} min left", flush=True)
        records.append(record)
    if not FLAGS.report_only and len(records) == len(planned) and os.path.isdir(cache_dir):
        shutil.rmtree(cache_dir)  # every run is done; a later --resume generates again
        print(f"Removed the rows and XLA caches in {cache_dir}", flush=True)
    settings = {"experiments": list(FLAGS.experiments), "seeds": seeds, "planned_runs": len(planned),
                "size": "quick" if FLAGS.quick else "default",
                "size_values": dataclasses.asdict(size), "data_flags": list(data_flags),
                "run_flags": extra, "machine": _machine()}
    markdown = report.write(FLAGS.output_dir, records, size, settings)
    print(markdown.split("## Tables")[0])
    print(f"Tables, plots and JSON: {FLAGS.output_dir}")


def _machine():
    import platform

    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        reproduce()
    except SettingsError as error:
        print(f"reproduce_paper.py: error: {error}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as error:  # runs.RunError: a train.py run failed
        print(f"reproduce_paper.py: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
