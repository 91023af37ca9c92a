"""reproduce.report and reproduce.plots: verdicts, README and plots from records."""

import json
import math

import pytest

from reproduce import experiments, plots, report, tables
from reproduce.experiments import SIZES
from reproduce.stats import Estimate
from tests.reproduce_helpers import baseline_and, fake_record

ALTERNATE = experiments.alternate(0.7)


@pytest.mark.parametrize("change, verdict", [
    (Estimate(0.0002, 0.0001, 3), "holds"),
    (Estimate(0.004, 0.0005, 3), "fails (significantly worse)"),
    (Estimate(-0.004, 0.0005, 3), "better beyond the bar"),
    (Estimate(0.0009, 0.001, 3), "undecided: the noise is larger than the bar"),
    (Estimate(0.0, math.nan, 1), "undecided (one seed)"),
])
def test_neutrality_verdicts(change, verdict):
    assert report.neutrality_verdict(change, worse_when_positive=True) == verdict


def test_claims_follow_the_numbers():
    records = baseline_and(ALTERNATE, [0.004, 0.005, 0.006], flops_change=-0.314, seconds=8.0)
    records += [fake_record(experiments.static_smaller(), r["seed"], ne=r["test"]["ne"] * 1.003)
                for r in records if r["configuration"] == "dense"]
    claims = {c["claim"]: c for c in report.claims(tables.group(records))}
    assert claims["alternate(0.7) is neutral in test NE (change within ±0.1%)"]["verdict"] == (
        "fails (significantly worse)")
    flops_claim = claims["alternate(0.7) cuts training FLOPs by 31.8% (paper, Criteo Kaggle)"]
    assert flops_claim["verdict"] == "holds" and flops_claim["figure"].startswith("-31.4%")
    assert claims["the FLOPs saving shows on the clock (training wall-clock)"]["verdict"] == "holds"
    premise = [c for name, c in claims.items() if name.startswith("premise")]
    assert premise[0]["verdict"] == "holds"
    for claim in claims.values():  # a bare | would split a markdown cell
        assert "|" not in "".join(claim.values()), claim


def test_readme_json_and_plots_are_written(tmp_path):
    capacity = experiments.initial_capacity(0.3)
    records = baseline_and(ALTERNATE, [0.001, 0.002])
    records += [fake_record(capacity, seed, accuracy=0.74) for seed in (0, 1)]
    settings = {"data_flags": ["--data=synthetic"], "seeds": 2}
    markdown = report.write(str(tmp_path), records, SIZES["quick"], settings)
    assert (tmp_path / "README.md").read_text() == markdown
    assert "| alternate(0.7) | 2 |" in markdown and "## The paper's claims here" in markdown
    assert "initial capacity 30%" in markdown
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["revisions"] == ["abc"] and data["max_flops_counter_minus_prediction"] == 0.0
    assert [row["configuration"] for row in data["table_2"]] == ["dense", "alternate-0.7"]
    for name in ("capacity.png", "curves.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_data():
    capacity = experiments.initial_capacity(0.3)
    records = baseline_and(ALTERNATE, [0.0, 0.0])
    records += [fake_record(capacity, seed, accuracy=0.7425) for seed in (0, 1)]
    groups = tables.group(records)
    (point,) = plots.capacity_points(groups, [0.3, 0.5])  # 0.5 has no runs
    assert point["capacity"] == 0.3
    assert point["test accuracy"].mean == pytest.approx(-0.01)
    curve = plots.curve_points(groups, ALTERNATE)
    assert [p["rows_seen"] for p in curve] == [0, 100, 200]
    assert [p["rows_end"] for p in curve] == [100, 200, 300]
    assert curve[0]["active_fc_parameters"].mean == 21
    assert curve[0]["relative"].mean == 0.0


def test_variants_table_compares_with_alternate_seed_by_seed():
    variant = experiments.variants()[0]
    records = baseline_and(ALTERNATE, [0.002, 0.002, 0.002])
    for record in [r for r in records if r["configuration"] == ALTERNATE.name]:
        records.append({**fake_record(variant, record["seed"], ne=record["test"]["ne"] * 1.01)})
    markdown, data = report.build(records, SIZES["quick"], {"data_flags": []})
    assert "### Variants of alternate(0.7), each against it (paired by seed)" in markdown
    assert "| test NE | vs alternate(0.7) |" in markdown
    (row,) = [r for r in data["variants"] if r["configuration"] == variant.name]
    assert row["test NE relative"]["mean"] == pytest.approx(0.01)
    (against_baseline,) = [r for r in data["variants_against_baseline"]
                           if r["configuration"] == variant.name]
    assert against_baseline["test NE relative"]["mean"] == pytest.approx(1.002 * 1.01 - 1)


def test_a_shared_xla_cache_is_said_with_the_wall_clock():
    records = baseline_and(ALTERNATE, [0.001, 0.002])
    shared = {"data_flags": [], "run_flags": ["--jit_compile", "--xla_cache_dir=/r/cache/xla"]}
    markdown, _ = report.build(records, SIZES["quick"], shared)
    assert "- Compilation: the runs share one persistent XLA cache" in markdown
    markdown, _ = report.build(records, SIZES["quick"], {"data_flags": [], "run_flags": []})
    assert "persistent XLA cache" not in markdown
