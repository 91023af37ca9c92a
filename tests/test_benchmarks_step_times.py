"""benchmarks.step_times: finding a configuration's numbers and the ratios between them."""

import pytest

from benchmarks import step_times


def _row(batch_size, jit_compile, variant, median_ms, cpu_ms):
    return {"batch_size": batch_size, "jit_compile": jit_compile, "variant": variant,
            "median_ms": median_ms, "cpu_ms_per_step": cpu_ms}


RESULTS = [
    _row(128, True, "dense", 10.0, 20.0),
    _row(128, True, "compact", 6.0, 9.0),
    _row(128, True, "static", 5.0, 6.0),
    _row(128, False, "dense", 30.0, 40.0),
    {"batch_size": 128, "jit_compile": False, "variant": "tfmot", "notes": ["skipped"]},
]


def test_lookup():
    assert step_times.lookup(RESULTS, 128, True, "static") == 5.0
    assert step_times.lookup(RESULTS, 128, True, "static", "cpu_ms_per_step") == 6.0
    assert step_times.lookup(RESULTS, 128, False, "tfmot") is None  # skipped: no time
    assert step_times.lookup(RESULTS, 2048, True, "dense") is None  # not measured


def test_ratios_per_batch_size_and_xla_setting():
    on, off = step_times.ratios(RESULTS, batch_sizes=(128,), jit_settings=(True, False))
    assert (on["batch_size"], on["jit_compile"]) == (128, True)
    assert on["compact_over_static"] == pytest.approx(1.2)
    assert on["compact_over_static_cpu"] == pytest.approx(1.5)
    assert on["compact_over_dense"] == pytest.approx(0.6)
    assert on["static_over_dense"] == pytest.approx(0.5)
    assert on["masked_over_dense"] is None and on["floor_over_dense"] is None
    assert off["jit_compile"] is False
    assert set(v for k, v in off.items() if k.endswith(("_dense", "_static", "_cpu"))) == {None}
