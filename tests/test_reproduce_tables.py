"""reproduce.tables: markdown and JSON tables from run records."""

import pytest

from reproduce import experiments, tables
from tests.reproduce_helpers import baseline_and, fake_record

ALTERNATE = experiments.alternate(0.7)


def test_table_shows_mean_std_and_marks_only_significant_changes():
    records = baseline_and(ALTERNATE, [0.004, 0.005, 0.006])
    groups = tables.group(records)
    lines, rows = tables.metric_table("T", [experiments.BASELINE, ALTERNATE], groups,
                                      [tables.TEST_NE, tables.TEST_ACCURACY])
    assert lines[0] == "### T"
    assert lines[2] == "| configuration | seeds | test NE | relative | test accuracy | relative |"
    baseline_row, alternate_row = lines[4], lines[5]
    assert baseline_row == "| baseline (dense) | 3 | 0.9100 ± 0.0100 |  | 75.00 ± 0.00% |  |"
    assert "| alternate(0.7) | 3 | " in alternate_row
    assert "+0.50% ± 0.10% *" in alternate_row  # NE: 0.4, 0.5, 0.6%
    assert alternate_row.endswith("| +0.00% ± 0.00% |")  # accuracy unchanged: no mark
    change = rows[1]["test NE relative"]
    assert change["mean"] == pytest.approx(0.005) and change["significant"] is True
    assert change["standard_error"] == pytest.approx(0.001 / 3 ** 0.5)
    assert rows[1]["seeds"] == [0, 1, 2] and rows[1]["meta"]["sparsity"] == 0.7


def test_noisy_change_is_not_marked_and_missing_configurations_are_left_out():
    records = baseline_and(ALTERNATE, [0.01, -0.008, 0.004])
    lines, rows = tables.metric_table(
        "T", [experiments.BASELINE, experiments.alternate(0.5), ALTERNATE],
        tables.group(records), [tables.TEST_NE])
    assert len(rows) == 2 and "*" not in lines[-1]


def test_flops_check_and_baseline_noise():
    records = baseline_and(ALTERNATE, [0.0, 0.0])
    records[1]["train_flops_change"] = -0.301
    assert tables.flops_check(records) == pytest.approx(0.001)
    noise = tables.baseline_noise(tables.group(records))
    assert noise == pytest.approx((0.01 / 2 ** 0.5) / 0.905)
    assert tables.baseline_noise(tables.group([fake_record(experiments.BASELINE, 0)])) is None


def test_a_metric_older_records_lack_is_left_out():
    records = baseline_and(ALTERNATE, [0.004, 0.005])
    lines, _ = tables.metric_table("T", [experiments.BASELINE, ALTERNATE], tables.group(records),
                                   [tables.TEST_NE, tables.CPU])
    assert "| training CPU time | relative |" in lines[2]
    records[0]["train_cpu_seconds"] = None  # a record made before train.py measured it
    del records[1]["train_cpu_seconds"]
    lines, _ = tables.metric_table("T", [experiments.BASELINE, ALTERNATE], tables.group(records),
                                   [tables.TEST_NE, tables.CPU])
    assert lines[2] == "| configuration | seeds | test NE | relative |"
