"""The tables of a reproduction, as markdown and as JSON, from run records.

Every figure is a mean over seeds with its standard deviation; every
relative figure is the paired change against the baseline run of the same
seed (`stats.paired_relative_change`), marked `*` when significant
(`stats.is_significant`). Nothing here is typed in: a table is a pure
function of the records.
"""

import dataclasses
import math

from . import experiments, stats


@dataclasses.dataclass(frozen=True)
class Metric:
    """A per-run figure: its column title, how to read it off a record, and
    how to print it (`scale` times the value, `digits` after the point)."""

    title: str
    read: object
    scale: float = 1.0
    digits: int = 4
    unit: str = ""


TRAIN_ACCURACY = Metric("training accuracy", lambda r: r["lookahead_accuracy"], 100, 2, "%")
TEST_ACCURACY = Metric("test accuracy", lambda r: r["test"]["accuracy"], 100, 2, "%")
TEST_NE = Metric("test NE", lambda r: r["test"]["ne"])
LOOKAHEAD_NE = Metric("look-ahead NE", lambda r: r["lookahead_ne"])
FLOPS = Metric("training GFLOPs", lambda r: r["train_flops"], 1e-9, 0)
WALL = Metric("training wall-clock", lambda r: r["train_seconds"], 1, 1, " s")
# All threads of the training process: on a shared machine it moves less with
# other processes' load than wall-clock does. Records made before train.py
# measured it have none (`available`).
CPU = Metric("training CPU time", lambda r: r["train_cpu_seconds"], 1, 1, " s")


def group(records):
    """Records by configuration name, then by seed."""
    groups = {}
    for record in records:
        groups.setdefault(record["configuration"], {})[record["seed"]] = record
    return groups


def available(metrics, groups):
    """The metrics every record in `groups` has (older records lack newer ones)."""
    def has(metric, record):
        try:
            return metric.read(record) is not None
        except KeyError:
            return False

    records = [r for runs in groups.values() for r in runs.values()]
    return [metric for metric in metrics if all(has(metric, r) for r in records)]


def _values(runs, metric):
    return {seed: metric.read(record) for seed, record in runs.items()}


def paired_change(runs, baseline_runs, metric):
    """Paired relative change of `metric` between two configurations' runs
    (dicts seed -> record)."""
    return stats.paired_relative_change(_values(runs, metric), _values(baseline_runs, metric))


def format_estimate(estimate, metric):
    mean = estimate.mean * metric.scale
    if math.isnan(estimate.std):
        return f"{mean:.{metric.digits}f}{metric.unit}"
    return f"{mean:.{metric.digits}f} ± {estimate.std * metric.scale:.{metric.digits}f}{metric.unit}"


def format_change(change):
    """`+0.12% ± 0.05% *`: mean paired change ± its spread over seeds, `*` if significant."""
    text = f"{change.mean:+.2%}"
    if not math.isnan(change.std):
        text += f" ± {change.std:.2%}"
    return text + (" *" if stats.is_significant(change) else "")


def _estimate_json(estimate):
    return {"mean": estimate.mean, "std": None if math.isnan(estimate.std) else estimate.std,
            "seeds": estimate.count}


def _change_json(change):
    error = change.standard_error
    return {**_estimate_json(change), "standard_error": None if math.isnan(error) else error,
            "significant": stats.is_significant(change)}


def metric_table(title, configurations, groups, metrics, relative=True,
                 against=experiments.BASELINE):
    """A table: a row per configuration present in `groups`, for each metric
    its estimate and (with `relative`) its paired change against the
    configuration `against` (the baseline unless given).

    Returns:
        `(markdown, rows)`: the table as markdown lines, and its figures as
        JSON-able dicts (one per row).
    """
    baseline = groups.get(against.name, {})
    metrics = available(metrics, groups)
    header = ["configuration", "seeds"]
    for metric in metrics:
        header.append(metric.title)
        if relative:
            header.append("relative" if against == experiments.BASELINE
                          else f"vs {against.label}")
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    rows = []
    for configuration in configurations:
        runs = groups.get(configuration.name)
        if not runs:
            continue
        cells = [configuration.label, str(len(runs))]
        row = {"configuration": configuration.name, "label": configuration.label,
               "meta": configuration.meta, "seeds": sorted(runs)}
        for metric in metrics:
            values = _values(runs, metric)
            value = stats.estimate(list(values.values()))
            cells.append(format_estimate(value, metric))
            row[metric.title] = _estimate_json(value)
            if relative:
                if configuration.name == against.name or not baseline:
                    cells.append("")
                else:
                    change = paired_change(runs, baseline, metric)
                    cells.append(format_change(change))
                    row[metric.title + " relative"] = _change_json(change)
        lines.append("| " + " | ".join(cells) + " |")
        rows.append(row)
    return lines, rows


def flops_check(records):
    """Largest gap between a run's FLOPs counter and its schedule's prediction."""
    return max(abs(r["train_flops_change"] - r["predicted_train_flops_change"]) for r in records)


def baseline_noise(groups, metric=TEST_NE):
    """How much dense runs differ by seed alone: the spread of `metric`
    relative to its mean, or None with fewer than two seeds."""
    runs = groups.get(experiments.BASELINE.name, {})
    if len(runs) < 2:
        return None
    value = stats.estimate(list(_values(runs, metric).values()))
    return value.std / value.mean


FINAL_TRAIN_ACCURACY = Metric(
    "final training accuracy", lambda r: r["curve"][-1]["lookahead_accuracy"], 100, 2, "%")
