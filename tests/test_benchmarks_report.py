"""benchmarks.report: the tables, targets and lines printed, on a hand-made report."""

import json

from benchmarks import report


def _step_row(variant, median_ms, **extra):
    return {"batch_size": 2048, "jit_compile": True, "variant": variant, "median_ms": median_ms,
            "samples_per_s": 2048e3 / median_ms, "cpu_ms_per_step": 2 * median_ms, "notes": [],
            **extra}


def _report():
    ratios = {"batch_size": 2048, "jit_compile": True, "compact_over_static": 1.1,
              "compact_over_static_cpu": 1.2, "compact_over_dense": 0.5,
              "masked_over_dense": 1.0, "static_over_dense": 0.45, "probed_over_dense": 1.01,
              "tfmot_over_dense": None,
              "floor_over_dense": 0.2}
    data = {
        "step_times": [
            _step_row("dense", 10.0),
            _step_row("compact", 5.0),
            {"batch_size": 2048, "jit_compile": True, "variant": "tfmot",
             "notes": ["peers extra not installed"]},
        ],
        "ratios": [ratios],
        "config": {"sparsity": 0.7, "embedding_dim": 4, "bottom_mlp": [16, 4],
                   "top_mlp": [8, 1], "static_bottom_mlp": [4, 4], "static_top_mlp": [2, 1],
                   "learning_rate": 0.1, "vocab_sizes": [10, 20], "embedding_rows": 30},
        "environment": {"cpu_count": 2, "intra_op_threads": 2, "inter_op_threads": 1,
                        "tensorflow": "2.21.0", "keras": "3.15.0", "peers": None,
                        "loadavg_start": [1.0, 1.0, 1.0], "loadavg_before_e2e": [2.0, 2.0, 2.0],
                        "loadavg_end": [3.0, 3.0, 3.0]},
    }
    data["targets"] = report.targets(data)
    return data


def test_fmt():
    assert report.fmt(None) == "n/a"
    assert report.fmt(None, missing="never") == "never"
    assert report.fmt(0.1234, "{:.1%}") == "12.3%"


def test_targets_without_an_end_to_end_part():
    targets = _report()["targets"]
    assert targets["compact / static at batch 2048, XLA"] == {
        "value": "1.100 wall, 1.200 CPU", "target": "<= 1.15", "status": "met",
    }
    assert targets["achieved fraction of the ideal saving"]["status"] == "not measured"
    assert targets["flip overhead / alternate wall-clock"]["target"].endswith("0 samples")


def test_markdown_rows():
    lines = report.markdown(_report()).splitlines()
    assert "| 2048 | on | sparse, compact | 5.00 | 409,600 | 10.00 | 0.500 |" in lines
    assert "| 2048 | on | peer: tf_keras + TFMOT | skipped | | | |" in lines
    assert "| 2048 | on | 1.100 | 1.200 | 0.500 | 1.000 | 0.450 | 1.010 | n/a | 0.200 |" in lines
    assert "- compact / static at batch 2048, XLA: 1.100 wall, 1.200 CPU (target <= 1.15): met" \
        in lines
    assert not [line for line in lines if line.startswith("End to end")]


def test_summary_and_note_lines():
    data = _report()
    model, load = report.summary_lines(data)
    # Two tables and the bottom output: 4 + 3 dots.
    assert model.startswith("DLRM dim 4, bottom 13-16-4, top 7-8-1; sparsity 0.7: static bottom "
                            "13-4-4, top 7-2-1; SGD 0.1; 30 embedding rows; 2 cores")
    assert model.endswith("TF 2.21.0, Keras 3.15.0")
    assert load == ("Load average (1/5/15 min): start [1.0, 1.0, 1.0], before end to end "
                    "[2.0, 2.0, 2.0], end [3.0, 3.0, 3.0]")
    assert report.note_lines(data["step_times"]) == [
        "note (2048, XLA True, tfmot): peers extra not installed"
    ]


def test_write_json(tmp_path):
    path = tmp_path / "report.json"
    report.write_json(_report(), path)
    assert json.loads(path.read_text())["config"]["sparsity"] == 0.7
