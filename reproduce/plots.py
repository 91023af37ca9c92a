"""Fig. 5 (initial capacity) and Fig. 6 (training curves) as PNG files.

matplotlib is imported inside the functions (the `reproduce` extra), with
the non-interactive Agg backend. Each plot shows means over seeds, error
bars of one standard deviation, and the paper's bar for a neutral change
(±0.1%) as a grey band.
"""

from . import experiments, stats, tables


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def _neutral_band(axis):
    axis.axhspan(-100 * experiments.NEUTRAL, 100 * experiments.NEUTRAL, color="0.85",
                 label="paper's bar for neutral (±0.1%)")
    axis.axhline(0.0, color="0.4", linewidth=0.8)


def capacity_points(groups, capacities):
    """Fig. 5's data: per capacity with runs, the paired relative change of
    the final training accuracy and of the test accuracy."""
    baseline = groups.get(experiments.BASELINE.name, {})
    points = []
    for capacity in capacities:
        runs = groups.get(experiments.initial_capacity(capacity).name)
        if not runs or not baseline:
            continue
        point = {"capacity": capacity}
        for metric in (tables.FINAL_TRAIN_ACCURACY, tables.TEST_ACCURACY):
            point[metric.title] = tables.paired_change(runs, baseline, metric)
        points.append(point)
    return points


def plot_capacity(points, path):
    """Relative final accuracies against the initial capacity."""
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(6.4, 4.2))
    _neutral_band(axis)
    x = [100 * p["capacity"] for p in points]
    for metric, marker in ((tables.FINAL_TRAIN_ACCURACY, "o"), (tables.TEST_ACCURACY, "s")):
        changes = [p[metric.title] for p in points]
        axis.errorbar(x, [100 * c.mean for c in changes],
                      yerr=[0.0 if c.std != c.std else 100 * c.std for c in changes],
                      marker=marker, capsize=3, label=metric.title)
    axis.set_xlabel("initial capacity for the first 10% of the samples (% of neurons)")
    axis.set_ylabel("accuracy relative to the dense baseline (%)")
    axis.set_title("Fig. 5: initial capacity (mean ± std over seeds)")
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def curve_points(groups, configuration):
    """Fig. 6's data for one configuration: per window, the mean over seeds
    of the look-ahead accuracy, its paired change against the baseline, and
    the active FC parameters after the window."""
    runs = groups.get(configuration.name, {})
    baseline = groups.get(experiments.BASELINE.name, {})
    if not runs:
        return []
    lengths = {len(r["curve"]) for r in runs.values()}
    if len(lengths) != 1:
        raise ValueError(f"{configuration.name}: runs with different windows {sorted(lengths)}")
    points = []
    for index in range(lengths.pop()):
        at = {seed: run["curve"][index] for seed, run in runs.items()}
        first = next(iter(at.values()))
        accuracy = stats.estimate([p["lookahead_accuracy"] for p in at.values()])
        point = {"rows_seen": first["rows_seen"], "rows_end": first["rows_seen"] + first["rows"],
                 "accuracy": accuracy,
                 "active_fc_parameters": stats.estimate(
                     [p["active_fc_parameters_after"] for p in at.values()])}
        if baseline:
            point["relative"] = stats.paired_relative_change(
                {seed: p["lookahead_accuracy"] for seed, p in at.items()},
                {seed: run["curve"][index]["lookahead_accuracy"]
                 for seed, run in baseline.items()})
        points.append(point)
    return points


def plot_curves(curves, path):
    """Training accuracy, its change against the baseline and the active FC
    parameters over training; `curves` maps a label to `curve_points`."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(3, 1, figsize=(6.4, 8.4), sharex=True)
    _neutral_band(axes[1])
    for label, points in curves.items():
        x = [p["rows_seen"] / 1000 for p in points]
        axes[0].plot(x, [100 * p["accuracy"].mean for p in points], marker=".", label=label)
        if all("relative" in p for p in points):
            axes[1].plot(x, [100 * p["relative"].mean for p in points], marker=".", label=label)
        # The parameters after window i held over window i: a step ending there.
        ends = [p["rows_end"] / 1000 for p in points]
        axes[2].plot(ends, [p["active_fc_parameters"].mean for p in points], marker=".",
                     drawstyle="steps-pre", label=label)
    axes[0].set_ylabel("training accuracy (%)\n(each window before training on it)")
    axes[1].set_ylabel("relative to baseline (%)")
    axes[2].set_ylabel("active FC parameters\n(at each window's end)")
    axes[2].set_xlabel("training samples seen (thousands)")
    axes[0].set_title("Fig. 6: training curves (mean over seeds)")
    for axis in axes:
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
