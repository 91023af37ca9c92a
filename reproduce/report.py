"""`results/README.md` and `results/results.json` from the run records.

The verdicts on the paper's claims are rules over the seeded estimates
(`claim_verdict`), so they change with the numbers, never by hand.
"""

import json
import math
import os

from . import experiments, plots, stats, tables

TABLE_ONE_METRICS = (tables.TRAIN_ACCURACY, tables.TEST_ACCURACY, tables.FLOPS, tables.WALL,
                     tables.CPU)
TABLE_TWO_METRICS = (tables.TEST_ACCURACY, tables.TEST_NE, tables.LOOKAHEAD_NE, tables.FLOPS,
                     tables.WALL, tables.CPU)
PREMISE_METRICS = (tables.TEST_NE, tables.LOOKAHEAD_NE, tables.TEST_ACCURACY)
VARIANT_METRICS = (tables.TEST_NE, tables.LOOKAHEAD_NE, tables.FLOPS, tables.WALL, tables.CPU)


def neutrality_verdict(change, worse_when_positive):
    """Whether a paired change is neutral in the paper's sense (|change| < 0.1%).

    `holds`: its mean and two standard errors lie inside ±0.1%; `fails`:
    it is significantly worse (beyond 0.1% and two standard errors);
    otherwise `undecided` at this data size (or better beyond the bar).
    """
    error = change.standard_error
    if math.isnan(error):
        return "undecided (one seed)"
    if abs(change.mean) + 2.0 * error < experiments.NEUTRAL:
        return "holds"
    worse = change.mean > 0 if worse_when_positive else change.mean < 0
    if stats.is_significant(change):
        return "fails (significantly worse)" if worse else "better beyond the bar"
    return "undecided: the noise is larger than the bar"


def _change(groups, name, metric, against=experiments.BASELINE.name):
    runs, base = groups.get(name), groups.get(against)
    if not runs or not base:
        return None
    return tables.paired_change(runs, base, metric)


def claims(groups):
    """The claims this reproduction can test, each with the figures behind it."""
    found = []
    headline = experiments.alternate(experiments.SCHEME_SPARSITY).name
    for metric, positive_worse in ((tables.TEST_NE, True), (tables.TEST_ACCURACY, False),
                                   (tables.LOOKAHEAD_NE, True)):
        change = _change(groups, headline, metric)
        if change:
            found.append({"claim": f"alternate(0.7) is neutral in {metric.title} "
                                   "(change within ±0.1%)",
                          "figure": tables.format_change(change),
                          "verdict": neutrality_verdict(change, positive_worse)})
    if headline in groups:
        measured = stats.estimate([r["train_flops_change"] for r in groups[headline].values()])
        paper = experiments.PAPER_FLOPS_CHANGE[experiments.SCHEME_SPARSITY]
        found.append({"claim": f"alternate(0.7) cuts training FLOPs by {-paper:.1%} (paper, "
                               "Criteo Kaggle)",
                      "figure": f"{measured.mean:+.1%} here (counter; schedule prediction equal)",
                      "verdict": "holds" if abs(measured.mean - paper) < 0.01 else
                      f"differs: {measured.mean:+.1%}"})
        for metric in tables.available((tables.WALL, tables.CPU), groups):
            change = _change(groups, headline, metric)
            if change:
                found.append({"claim": f"the FLOPs saving shows on the clock ({metric.title})",
                              "figure": tables.format_change(change),
                              "verdict": "holds" if change.mean < 0 and stats.is_significant(change)
                              else "undecided" if not stats.is_significant(change) else "fails"})
    for scheme in experiments.schemes()[:-1]:
        change = _change(groups, headline, tables.TEST_NE, against=scheme.name)
        if change:
            verdict = ("holds" if change.mean < 0 and stats.is_significant(change) else
                       "fails (alternate significantly worse)" if stats.is_significant(change)
                       else "undecided: within the noise")
            found.append({"claim": f"alternate(0.7) reaches a lower test NE than {scheme.label}",
                          "figure": tables.format_change(change) + " (alternate vs it)",
                          "verdict": verdict})
    static = experiments.static_smaller()
    change = _change(groups, static.name, tables.TEST_NE)
    if change:
        found.append({"claim": "premise: a statically 70%-smaller model is clearly worse "
                               "(test NE beyond 0.1%)",
                      "figure": tables.format_change(change),
                      "verdict": "holds" if change.mean > 0 and stats.is_significant(change)
                      else "fails: capacity does not matter enough on this data"})
    return found


def build(records, size, settings):
    """`(markdown, json)` of a reproduction from its records."""
    groups = tables.group(records)
    sweep = [experiments.BASELINE] + [experiments.alternate(s) for s in size.sweep]
    schemes = [experiments.BASELINE] + experiments.schemes()
    capacity = [experiments.BASELINE] + [experiments.initial_capacity(c) for c in size.capacities]
    premise = [experiments.BASELINE, experiments.static_smaller()]
    sections, data = [], {"settings": settings, "claims": claims(groups)}
    for key, title, configurations, metrics in (
        ("table_1", "Table I: sparsity sweep, alternate with 20% phases", sweep,
         TABLE_ONE_METRICS),
        ("table_2", "Table II: schemes at sparsity 0.7, 40% of the samples sparse", schemes,
         TABLE_TWO_METRICS),
        ("capacity", "Fig. 5 data: initial capacity for the first 10% of the samples", capacity,
         (tables.FINAL_TRAIN_ACCURACY, tables.TEST_ACCURACY)),
        ("premise", "Premise: does capacity matter on this data?", premise, PREMISE_METRICS),
    ):
        lines, rows = tables.metric_table(title, configurations, groups, metrics)
        if len(rows) > 1:
            sections += lines + [""]
            data[key] = rows
    headline = experiments.alternate(experiments.SCHEME_SPARSITY)
    lines, rows = tables.metric_table(
        "Variants of alternate(0.7), each against it (paired by seed)",
        [headline] + experiments.variants(), groups, VARIANT_METRICS, against=headline)
    if len(rows) > 1:
        _, against_baseline = tables.metric_table("", [headline] + experiments.variants(), groups,
                                                  VARIANT_METRICS)
        sections += lines + [""]
        data["variants"] = rows
        data["variants_against_baseline"] = against_baseline
    noise = tables.baseline_noise(groups)
    data["baseline_test_ne_relative_std"] = noise
    data["max_flops_counter_minus_prediction"] = tables.flops_check(records)
    data["revisions"] = sorted({r["revision"] for r in records})
    lines = ["# Reproduction of the paper's experiments", "",
             "Written by `scripts/reproduce_paper.py` from the run records under `runs/`; "
             "do not edit by hand.", ""]
    planned = settings.get("planned_runs", len(records))
    lines += [f"- Runs: {len(records)}"
              + (f" of the {planned} planned (a reproduction cut short)" if planned > len(records)
                 else "")
              + "; seeds per configuration: "
              f"{', '.join(sorted({str(len(g)) for g in groups.values()}))}; training rows per run: "
              f"{', '.join(f'{rows:,}' for rows in sorted({r['train_rows'] for r in records}))}.",
              f"- Data: `{' '.join(settings['data_flags'])}`.",
              f"- Code revision(s): {', '.join(data['revisions'])}."]
    if noise is not None:
        lines.append(f"- Two dense runs that differ only by seed: test NE spread (std / mean) "
                     f"{noise:.2%}.")
    lines.append(f"- FLOPs: every run's counter equals its schedule's prediction within "
                 f"{data['max_flops_counter_minus_prediction']:.1e} (relative change).")
    lines += ["- Relative figures: paired change against the baseline run of the same seed, "
              "mean ± std over seeds; `*` marks a change beyond both 0.1% and two standard "
              "errors. Training accuracy: each window scored before training on it "
              "(progressive), averaged over windows. Wall-clock: `train.py`'s training time "
              "(windows' `fit` calls, flips included), measured on the machine named in "
              "`results.json`; CPU time: the same process's CPU seconds (all threads) over "
              "the same calls, which other processes' load moves less than wall-clock. The "
              "runs follow one another, so both carry the machine's drift between runs."]
    if any(flag.startswith("--xla_cache_dir=") for flag in settings.get("run_flags", ())):
        lines.append("- Compilation: the runs share one persistent XLA cache (`train.py "
                     "--xla_cache_dir`). The first run of each compiled step shape compiles it "
                     "(seed 0's dense baseline, the first run at each sparsity), and every "
                     "later run loads it, as a recurring job would.")
    lines += ["", "## The paper's claims here", "",
              "| claim | figure | verdict |", "|---|---|---|"]
    lines += [f"| {c['claim']} | {c['figure']} | {c['verdict']} |" for c in data["claims"]]
    lines += ["", "## Tables", ""] + sections
    lines += ["## Plots", "", "![Fig. 5](capacity.png)", "", "![Fig. 6](curves.png)", ""]
    return "\n".join(lines), data


def write(output_dir, records, size, settings):
    """Writes README.md, results.json and the two PNG plots into `output_dir`."""
    markdown, data = build(records, size, settings)
    groups = tables.group(records)
    points = plots.capacity_points(groups, size.capacities)
    if points:
        plots.plot_capacity(points, os.path.join(output_dir, "capacity.png"))
    headline = experiments.alternate(experiments.SCHEME_SPARSITY)
    curves = {c.label: plots.curve_points(groups, c) for c in (experiments.BASELINE, headline)}
    curves = {label: points for label, points in curves.items() if points}
    if curves:
        plots.plot_curves(curves, os.path.join(output_dir, "curves.png"))
    with open(os.path.join(output_dir, "README.md"), "w") as handle:
        handle.write(markdown)
    with open(os.path.join(output_dir, "results.json"), "w") as handle:
        json.dump(data, handle, indent=1)
    return markdown
