"""benchmarks.settings: the benchmark's flags checked and parsed, without absl's parser."""

import re
import types

import pytest
from absl import app

from benchmarks import settings

# The script's defaults, as absl hands them over (list flags as strings).
DEFAULTS = dict(
    embedding_dim=4, bottom_mlp=["256", "128", "64", "4"], top_mlp=["256", "128", "1"],
    learning_rate=0.1, sparsity=0.7, max_vocab_size=100_000, pool_rows=65_536, seed=0,
    batch_sizes=["128", "2048"], jit_compile=["true", "false"], variants=list(settings.VARIANTS),
    steps=100, warmup_steps=20, rewarm_steps=5, repeats=5, flip_criterion="magnitude",
    steps_per_execution=32, e2e_samples=2_000_000, e2e_batch_size=2048, e2e_jit_compile=True, phase_fraction=0.2,
    importance_batches=16, taylor_source="training", e2e_pool_rows=262_144, test_rows=65_536,
    e2e_repeats=2, e2e_chunks=40, intra_op_threads=0, inter_op_threads=1, output_json=None,
)


def _flags(**changes):
    return types.SimpleNamespace(**{**DEFAULTS, **changes})


def test_defaults_parse_into_tuples():
    parsed = settings.from_flags(_flags())
    assert parsed.bottom_mlp == (256, 128, 64, 4) and parsed.top_mlp == (256, 128, 1)
    assert parsed.batch_sizes == (128, 2048)
    assert parsed.jit_compile == (True, False)
    assert parsed.variants == settings.VARIANTS
    assert parsed.e2e_samples == 2_000_000


@pytest.mark.parametrize(
    "text, value", [("True", True), (" on", True), ("0", False), ("no", False)]
)
def test_parse_bool(text, value):
    assert settings.parse_bool(text) is value


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"rewarm_steps": 0}, "--rewarm_steps must be >= 1"),
        ({"e2e_samples": -1}, "--e2e_samples must be >= 0"),
        ({"sparsity": 1.0}, "--sparsity must lie in (0, 1)"),
        ({"variants": ["dense", "sparse"]}, "Received: ['sparse']"),
        ({"batch_sizes": ["32", "x"]}, "--batch_sizes must be integers. Received: "
                                       "--batch_sizes=32,x"),
        ({"top_mlp": ["8", "0"]}, "--top_mlp must be positive integers. Received: [8, 0]"),
        ({"pool_rows": 100, "batch_sizes": ["128"]}, "must hold a whole batch of 128"),
        ({"e2e_pool_rows": 1000}, "--e2e_pool_rows must hold at least one"),
        ({"e2e_samples": 1000}, "--e2e_samples must be 0 or at least one"),
        ({"e2e_samples": 4000, "e2e_batch_size": 128},
         "(--e2e_batch_size x --steps_per_execution = 4096). Received: 4000"),
        ({"steps_per_execution": 0}, "--steps_per_execution must be >= 1"),
        ({"jit_compile": ["maybe"]}, "--jit_compile entries must be true or false"),
    ],
)
def test_bad_flags_are_usage_errors(changes, message):
    with pytest.raises(app.UsageError, match=re.escape(message)):
        settings.from_flags(_flags(**changes))


def test_end_to_end_pool_checks_only_apply_with_an_end_to_end_part():
    assert settings.from_flags(_flags(e2e_samples=0, e2e_pool_rows=1)).e2e_samples == 0
