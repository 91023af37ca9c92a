"""scripts/benchmark_dlrm.py end to end at a tiny size: every configuration is measured and reported."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # a TensorFlow process and eight fits: default-suite time
def test_measures_every_configuration_and_writes_json(tmp_path):
    output = tmp_path / "dlrm.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "benchmark_dlrm.py"),
         "--batch_sizes=64", "--jit_compile=false", "--embeddings=fused",
         "--interactions=agp_tf,keras_rs", "--mlp_paths=plain,masked", "--steps_per_execution=1,4", "--steps=8", "--warmup_steps=4", "--vocab_divisor=10000",
         "--bottom_mlp=16,4", "--top_mlp=16,1", f"--output_json={output}"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    rows = [
        (r["interaction"], r["mlp_path"], r["batch_size"], r["jit_compile"],
         r["steps_per_execution"])
        for r in report["results"]
    ]
    assert rows == [
        (interaction, path, 64, False, per_call)
        for interaction in ("agp_tf", "keras_rs")
        for path in ("plain", "masked")
        for per_call in (1, 4)
    ]
    assert all(r["steps"] == 8 and r["samples_per_s"] > 0 for r in report["results"])
    assert report["config"]["steps_per_execution"] == [1, 4]
    assert report["config"]["mlp_paths"] == ["plain", "masked"]
    assert "| fused | keras_rs | masked | 64 | False | 4 |" in result.stdout


@pytest.mark.parametrize("flag", [
    "--steps_per_execution=0",
    "--mlp_paths=unmasked",
    pytest.param("--interactions=dot", marks=pytest.mark.slow),  # checked after TensorFlow loads: 5 s
])
def test_bad_flags_are_refused(flag):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "benchmark_dlrm.py"), flag],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode != 0
    assert flag.split("=")[0] in result.stderr
