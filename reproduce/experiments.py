"""The paper's experiments as `train.py` configurations, and how large they run.

Pure data: a `Configuration` is a name, a label for the tables, the
`train.py` flags that make it and what it varies (`meta`). `plan` lists
every (configuration, seed) an experiment set needs, each once: the dense
baseline and `alternate(0.7)` serve Table I, Table II and Fig. 6 alike.

    sweep     Table I: alternate at sparsity 0.9 ... 0.1, 20% phases
    schemes   Table II: pruning-only, growth-only, DSD and alternate at 0.7,
              each with 40% of the samples sparse
    capacity  Fig. 5: the first 10% of the samples at 10% ... 90% capacity
              (growth-only ending at 0.1), then full size
    curves    Fig. 6: training curves of the baseline and alternate(0.7)
    premise   a statically 70%-smaller dense model: does capacity matter on
              this data at all?
    variants  (not in the default set) alternate(0.7) with another regrowth
              rule, criterion, scoring window or phase length: where an
              accuracy gap comes from
"""

import dataclasses

PAPER_EXPERIMENTS = ("sweep", "schemes", "capacity", "curves", "premise")
EXPERIMENTS = PAPER_EXPERIMENTS + ("variants",)
SCHEME_SPARSITY = 0.7  # Table II and Fig. 6
NEUTRAL = 0.001  # the paper's bar for neutral accuracy: |relative change| < 0.1%
PAPER_FLOPS_CHANGE = {0.7: -0.318}  # the paper's headline: alternate(0.7) on Criteo Kaggle
# The paper's DLRM MLPs (train.py's defaults); the last layer of each is not prunable.
BOTTOM_MLP = (256, 128, 64, 4)
TOP_MLP = (256, 128, 1)


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One training configuration.

    Attributes:
        name: Directory name, unique (`alternate-0.7`).
        label: How tables and plots name it (`alternate(0.7)`).
        flags: `train.py` flags beyond data, size and seed.
        meta: What it varies: `scheme`, and `sparsity` or `capacity`.
    """

    name: str
    label: str
    flags: tuple
    meta: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)


@dataclasses.dataclass(frozen=True)
class Size:
    """How large the runs are.

    Attributes:
        seeds: Seeds per configuration (data order and model init).
        rows_per_day: Synthetic rows per day.
        train_days: Synthetic days trained on, in order.
        test_day: Synthetic day held out for the test.
        window_rows: Rows per look-ahead window (points on the curves).
        sweep: Sparsities of Table I.
        capacities: Initial capacities of Fig. 5.
        jit_compile: XLA for the training steps.
    """

    seeds: int
    rows_per_day: int
    train_days: tuple
    test_day: int
    window_rows: int
    sweep: tuple
    capacities: tuple
    jit_compile: bool

    @property
    def train_rows(self):
        return self.rows_per_day * len(self.train_days)


TENTHS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)
SIZES = {
    # 69 runs of 600k rows (at 360k a statically 70%-smaller model is not
    # worse: capacity needs data to matter); 50k-row windows like train.py's.
    "default": Size(seeds=3, rows_per_day=100_000, train_days=(0, 1, 2, 3, 4, 5), test_day=6,
                    window_rows=50_000, sweep=TENTHS, capacities=TENTHS[::-1], jit_compile=True),
    # Every table and plot from 16 small runs: about 5 minutes.
    "quick": Size(seeds=2, rows_per_day=4_000, train_days=(0, 1, 2), test_day=3,
                  window_rows=2_000, sweep=(0.7, 0.3), capacities=(0.3,), jit_compile=False),
}


def _number(value):
    return f"{value:g}"


BASELINE = Configuration("dense", "baseline (dense)", ("--schedule=dense",), {"scheme": "dense"})


def alternate(sparsity):
    """Table I's rows: 20% phases, dense, sparse, dense, sparse, dense."""
    s = _number(sparsity)
    return Configuration(
        f"alternate-{s}", f"alternate({s})",
        ("--schedule=alternate", f"--sparsity={s}", "--phase_fraction=0.2"),
        {"scheme": "alternate", "sparsity": sparsity},
    )


def schemes(sparsity=SCHEME_SPARSITY):
    """Table II's rows after the baseline: 40% of the samples sparse each."""
    s = _number(sparsity)
    meta = {"sparsity": sparsity}
    return [
        Configuration(f"pruning_only-{s}", f"pruning-only({s})",
                      ("--schedule=pruning_only", f"--sparsity={s}", "--prune_start=0.6"),
                      {"scheme": "pruning_only", **meta}),
        Configuration(f"growth_only-{s}", f"growth-only({s})",
                      ("--schedule=growth_only", f"--sparsity={s}", "--prune_end=0.4"),
                      {"scheme": "growth_only", **meta}),
        Configuration(f"dsd-{s}", f"DSD({s})",
                      ("--schedule=dsd", f"--sparsity={s}", "--prune_start=0.3", "--prune_end=0.7"),
                      {"scheme": "dsd", **meta}),
        alternate(sparsity),
    ]


def initial_capacity(capacity):
    """Fig. 5: `capacity` of the neurons for the first 10% of the samples."""
    c = _number(capacity)
    return Configuration(
        f"capacity-{c}", f"initial capacity {capacity:.0%}",
        ("--schedule=growth_only", f"--sparsity={_number(round(1.0 - capacity, 6))}",
         "--prune_end=0.1"),
        {"scheme": "growth_only", "capacity": capacity},
    )


def variants(sparsity=SCHEME_SPARSITY):
    """alternate(`sparsity`) with one train.py setting changed each."""
    base = alternate(sparsity)
    changes = [
        ("growth-zero", "regrowth from zero weights (the paper's literal rule)",
         {"growth": "zero"}),
        ("growth-scale-0.3", "regrown incoming weights at 0.3x the initializer's",
         {"growth_scale": "0.3"}),
        ("growth-scale-0.1", "regrown incoming weights at 0.1x the initializer's",
         {"growth_scale": "0.1"}),
        ("magnitude", "magnitude scores", {"criterion": "magnitude"}),
        ("random", "random scores (control)", {"criterion": "random"}),
        ("importance-64", "Taylor scores over 64 batches", {"importance_batches": "64"}),
        ("extra-pass", "Taylor scores from extra passes", {"taylor_source": "data"}),
        ("phases-7", "7 phases of 1/7 (3 sparse, 43% of the samples)",
         {"phase_fraction": repr(1 / 7)}),
        ("top-only", "only the top MLP pruned (top_mlp_0, top_mlp_1)",
         {"prunable_layers": "top_mlp_0,top_mlp_1"}),
        ("bottom-only", "only the bottom MLP pruned (bottom_mlp_0 to _2)",
         {"prunable_layers": "bottom_mlp_0,bottom_mlp_1,bottom_mlp_2"}),
    ]
    base_flags = dict(flag[2:].split("=", 1) for flag in base.flags)
    return [
        Configuration(f"{base.name}-{suffix}", f"{base.label}: {label}",
                      tuple(f"--{k}={v}" for k, v in {**base_flags, **change}.items()),
                      {**base.meta, "variant": suffix})
        for suffix, label, change in changes
    ]


def static_smaller(sparsity=SCHEME_SPARSITY):
    """A dense model with the neurons a sparse phase at `sparsity` keeps."""
    from agp_tf.importance import num_kept  # Keras: imported when needed

    bottom = [num_kept(units, sparsity) for units in BOTTOM_MLP[:-1]] + [BOTTOM_MLP[-1]]
    top = [num_kept(units, sparsity) for units in TOP_MLP[:-1]] + [TOP_MLP[-1]]
    s = _number(sparsity)
    return Configuration(
        f"static-{s}", f"static {1 - sparsity:.0%} width",
        ("--schedule=dense", "--bottom_mlp=" + ",".join(map(str, bottom)),
         "--top_mlp=" + ",".join(map(str, top))),
        {"scheme": "static", "sparsity": sparsity},
    )


def check_experiments(experiments):
    """Raises ValueError unless `experiments` is a non-empty list of known ones."""
    unknown = sorted(set(experiments) - set(EXPERIMENTS))
    if unknown or not experiments:
        raise ValueError(f"experiments must be some of {', '.join(EXPERIMENTS)}. "
                         f"Received: {', '.join(experiments) or 'none'}")


def configurations(experiments, size):
    """The configurations `experiments` need, each once, the baseline first."""
    check_experiments(experiments)
    wanted = [BASELINE]
    if "sweep" in experiments:
        wanted += [alternate(s) for s in size.sweep]
    if "schemes" in experiments:
        wanted += schemes()
    if "curves" in experiments:
        wanted.append(alternate(SCHEME_SPARSITY))
    if "capacity" in experiments:
        wanted += [initial_capacity(c) for c in size.capacities]
    if "premise" in experiments:
        wanted.append(static_smaller())
    if "variants" in experiments:
        wanted += [alternate(SCHEME_SPARSITY)] + variants()
    unique = {}
    for configuration in wanted:
        unique.setdefault(configuration.name, configuration)
    return list(unique.values())


def plan(configurations, seeds):
    """Every (configuration, seed), seed by seed: an interrupted
    reproduction has whole seeds done, and slow and fast runs alternate."""
    return [(configuration, seed) for seed in range(seeds) for configuration in configurations]


def data_flags(size, data="synthetic", data_path="", synthetic_teacher="rich"):
    """`train.py` flags for the data of every run of a reproduction."""
    if data == "synthetic":
        return (
            "--data=synthetic", f"--synthetic_teacher={synthetic_teacher}",
            f"--synthetic_rows_per_day={size.rows_per_day}",
            "--synthetic_train_days=" + ",".join(map(str, size.train_days)),
            f"--synthetic_test_day={size.test_day}", f"--window_rows={size.window_rows}",
        )
    if data == "shards":
        if not data_path:
            raise ValueError("--data=shards needs --data_path: a scripts/preprocess.py output folder")
        return ("--data=shards", f"--data_path={data_path}")
    raise ValueError(f"data must be synthetic or shards. Received: {data!r}")
