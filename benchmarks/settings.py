"""The benchmark's settings: the script's flags, checked and parsed into one value."""

import dataclasses

from absl import app

# The end-to-end targets: the share of the ideal saving an alternate run
# reaches, and the most its flips may cost of its wall-clock.
TARGET_FRACTION_OF_IDEAL = 0.90
TARGET_FLIP_OVERHEAD = 0.01

VARIANTS = ("dense", "probed", "masked", "compact", "static", "floor", "tfmot")

# Flags that must be at least 1, in the order they are checked.
_AT_LEAST_ONE = (
    "steps", "warmup_steps", "repeats", "e2e_batch_size", "importance_batches", "e2e_repeats",
    "e2e_chunks", "pool_rows", "e2e_pool_rows", "test_rows", "rewarm_steps",
    "steps_per_execution",
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every flag of `scripts/benchmark.py`, lists parsed (see the flags for meanings)."""

    # Model and data.
    embedding_dim: int
    bottom_mlp: tuple
    top_mlp: tuple
    learning_rate: float
    sparsity: float
    max_vocab_size: int
    pool_rows: int
    seed: int
    # Step times.
    batch_sizes: tuple
    jit_compile: tuple
    variants: tuple
    steps: int
    warmup_steps: int
    rewarm_steps: int
    repeats: int
    flip_criterion: str
    steps_per_execution: int
    # End to end.
    e2e_samples: int
    e2e_batch_size: int
    e2e_jit_compile: bool
    phase_fraction: float
    importance_batches: int
    taylor_source: str
    e2e_pool_rows: int
    test_rows: int
    e2e_repeats: int
    e2e_chunks: int
    # Machine.
    intra_op_threads: int
    inter_op_threads: int
    output_json: str


def parse_bool(text):
    """A `--jit_compile` entry as a bool."""
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise app.UsageError(f"--jit_compile entries must be true or false. Received: {text!r}")


def positive_ints(name, values):
    """The entries of list flag `--name` as a tuple of positive ints."""
    try:
        parsed = tuple(int(v) for v in values)
    except ValueError:
        raise app.UsageError(f"--{name} must be integers. Received: --{name}={','.join(values)}")
    if not parsed or min(parsed) < 1:
        raise app.UsageError(f"--{name} must be positive integers. Received: {list(parsed)}")
    return parsed


def from_flags(flag_values):
    """Checks the flags and returns them as `Settings`; raises `app.UsageError`."""
    for name in _AT_LEAST_ONE:
        if getattr(flag_values, name) < 1:
            raise app.UsageError(f"--{name} must be >= 1. Received: {getattr(flag_values, name)}")
    if flag_values.e2e_samples < 0:
        raise app.UsageError(f"--e2e_samples must be >= 0. Received: {flag_values.e2e_samples}")
    if not 0.0 < flag_values.sparsity < 1.0:
        raise app.UsageError(f"--sparsity must lie in (0, 1). Received: {flag_values.sparsity}")
    unknown = [v for v in flag_values.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants must be among {VARIANTS}. Received: {unknown}")
    batch_sizes = positive_ints("batch_sizes", flag_values.batch_sizes)
    for batch_size in batch_sizes:
        if batch_size > flag_values.pool_rows:
            raise app.UsageError(
                f"--pool_rows ({flag_values.pool_rows}) must hold a whole batch of {batch_size}."
            )
    if flag_values.e2e_samples:
        if flag_values.e2e_batch_size > flag_values.e2e_pool_rows:
            raise app.UsageError("--e2e_pool_rows must hold at least one --e2e_batch_size batch.")
        per_call = flag_values.e2e_batch_size * flag_values.steps_per_execution
        if flag_values.e2e_samples < per_call:
            raise app.UsageError(
                "--e2e_samples must be 0 or at least one call's samples (--e2e_batch_size x "
                f"--steps_per_execution = {per_call}). Received: {flag_values.e2e_samples}"
            )
    values = {f.name: getattr(flag_values, f.name) for f in dataclasses.fields(Settings)}
    values.update(
        bottom_mlp=positive_ints("bottom_mlp", flag_values.bottom_mlp),
        top_mlp=positive_ints("top_mlp", flag_values.top_mlp),
        batch_sizes=batch_sizes,
        jit_compile=tuple(parse_bool(v) for v in flag_values.jit_compile),
        variants=tuple(flag_values.variants),
    )
    return Settings(**values)
