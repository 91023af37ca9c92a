"""Smoke test of scripts/benchmark.py: tiny sizes, few steps, in subprocesses."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "benchmark.py")
TINY = [
    "--bottom_mlp=16,8,4", "--top_mlp=16,8,1", "--max_vocab_size=100", "--pool_rows=512",
    "--batch_sizes=32", "--jit_compile=false", "--steps=3", "--warmup_steps=2",
    "--rewarm_steps=1", "--intra_op_threads=1",
    # Calls of 5 steps: the end-to-end scoring windows (steps 8-9, 28-29) split calls.
    "--steps_per_execution=5",
]


def _run(tmp_path, *flags, env=None):
    output = tmp_path / "benchmark.json"
    result = subprocess.run(
        [sys.executable, SCRIPT, f"--output_json={output}", *TINY, *flags],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(output) as handle:
        return json.load(handle), result.stdout


E2E = ["--e2e_samples=1600", "--e2e_batch_size=32", "--e2e_jit_compile=false",
       "--e2e_pool_rows=512", "--test_rows=256", "--importance_batches=2", "--e2e_repeats=1"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("bench"), "--repeats=2", *E2E)


@pytest.mark.slow  # the shared report fixture runs the script: about 15 s
def test_step_times_are_positive_for_every_configuration(report):
    data, _ = report
    variants = {r["variant"] for r in data["step_times"]}
    assert variants == {"dense", "probed", "masked", "compact", "static", "floor", "tfmot"}
    for row in data["step_times"]:
        if row["variant"] == "tfmot" and row.get("median_ms") is None:
            continue  # the peers extra is optional; its note says why
        assert row["batch_size"] == 32 and row["jit_compile"] is False
        for field in ("median_ms", "samples_per_s", "cpu_ms_per_step"):
            assert row[field] > 0, (row["variant"], field)
        assert len(row["rounds"]) == 2
    assert data["config"]["static_bottom_mlp"] == [4, 2, 4]  # floor(0.3 * width), last kept
    assert data["config"]["static_top_mlp"] == [4, 2, 1]
    ratios = data["ratios"][0]
    for field in ("compact_over_static", "compact_over_static_cpu", "masked_over_dense",
                  "static_over_dense", "probed_over_dense", "floor_over_dense"):
        assert ratios[field] > 0, field


@pytest.mark.slow  # the shared report fixture runs the script: about 15 s
def test_end_to_end_fields(report):
    data, _ = report
    e2e = data["end_to_end"]
    assert e2e["steps"] == 50 and e2e["samples"] == 1600 and e2e["steps_per_execution"] == 5
    for field in ("dense_wall_s", "alternate_wall_s", "dense_cpu_s", "alternate_cpu_s",
                  "sparse_fraction", "predicted_flops_saving", "measured_flops_saving"):
        assert e2e[field] > 0, field
    for field in ("saving", "cpu_saving", "ideal_saving", "saving_without_flips"):
        assert isinstance(e2e[field], float), field
    # None when the tiny models' ideal saving is not positive.
    assert "fraction_of_ideal" in e2e and "extrapolation" in e2e
    assert e2e["predicted_flops_saving"] == pytest.approx(e2e["measured_flops_saving"])
    overhead = e2e["flip_overhead"]
    assert overhead["scoring_and_applying_s"] > 0 and overhead["total_s"] > 0
    assert 0 < overhead["fraction_of_wall"] < 1
    (run,) = e2e["runs"]["alternate"]
    assert [flip["step"] for flip in run["flips"]] == [10, 20, 30, 40]
    assert run["phase_ms_per_step"]["sparse"] and run["phase_ms_per_step"]["dense"]
    assert run["steady_ms_per_step"]["sparse"] > 0 and run["steady_ms_per_step"]["dense"] > 0
    assert e2e["runs"]["dense"][0]["flips"] == []
    assert e2e["taylor_source"] == "training"  # the default


@pytest.mark.slow  # the shared report fixture runs the script: about 15 s
def test_report_states_load_and_prints_the_table(report):
    data, stdout = report
    assert len(data["environment"]["loadavg_start"]) == 3
    assert data["environment"]["intra_op_threads"] == 1
    assert "| batch | XLA | configuration | median ms/step | samples/s | CPU ms/step" in stdout
    assert "Load average" in stdout
    assert "Targets (reported, not asserted)" in stdout
    assert set(data["targets"]) == {
        "compact / static at batch 2048, XLA",
        "achieved fraction of the ideal saving",
        "flip overhead / alternate wall-clock",
    }


@pytest.mark.slow
def test_peer_row_is_skipped_with_a_note_without_the_peers_extra(tmp_path):
    blocker = tmp_path / "no_peers"
    blocker.mkdir()
    # A module that fails to import hides the installed tf_keras.
    (blocker / "tf_keras.py").write_text("raise ImportError('tf_keras hidden for the test')\n")
    pythonpath = os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))
    data, stdout = _run(
        tmp_path, "--variants=dense,tfmot", "--repeats=1", "--e2e_samples=0",
        env={"PYTHONPATH": pythonpath},
    )
    dense, peer = data["step_times"]
    assert dense["median_ms"] > 0
    assert peer.get("median_ms") is None
    assert any("peers extra not installed" in note for note in peer["notes"])
    assert data["environment"]["peers"] is None
    assert "end_to_end" not in data
    assert "skipped" in stdout


@pytest.mark.slow
def test_end_to_end_with_extra_pass_scores(tmp_path):
    data, _ = _run(
        tmp_path, "--variants=dense,static", "--repeats=1", *E2E, "--taylor_source=data",
        "--steps_per_execution=1",
    )
    e2e = data["end_to_end"]
    assert e2e["taylor_source"] == "data" and e2e["steps_per_execution"] == 1
    assert e2e["ideal_saving"] is not None
    (run,) = e2e["runs"]["alternate"]
    assert [flip["step"] for flip in run["flips"]] == [10, 20, 30, 40]
    assert e2e["predicted_flops_saving"] == pytest.approx(e2e["measured_flops_saving"])
