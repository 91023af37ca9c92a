"""results/: the committed reproduction is what the committed code makes of its records,
and the README quotes it."""

import glob
import json
import os

import pytest

from reproduce import experiments, report, runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")
# results/ and any reproduction beside it (results/<name>/).
REPRODUCTIONS = [os.path.dirname(path) for path in sorted(
    glob.glob(os.path.join(RESULTS, "results.json"))
    + glob.glob(os.path.join(RESULTS, "*", "results.json")))]
pytestmark = pytest.mark.skipif(not REPRODUCTIONS, reason="no reproduction committed in results/")


def _committed(directory):
    with open(os.path.join(directory, "results.json")) as handle:
        settings = json.load(handle)["settings"]
    size = experiments.Size(**settings["size_values"])
    planned = experiments.plan(experiments.configurations(settings["experiments"], size),
                               settings["seeds"])
    records = [runs.load_record(runs.run_dir(directory, c, s)) for c, s in planned]
    return [r for r in records if r is not None], size, settings


@pytest.mark.parametrize("directory", REPRODUCTIONS)
def test_results_readme_is_what_the_code_makes_of_the_records(directory):
    records, size, settings = _committed(directory)
    assert len(records) == settings["planned_runs"]
    markdown, data = report.build(records, size, settings)
    with open(os.path.join(directory, "README.md")) as handle:
        assert handle.read() == markdown
    for record in records:
        assert record["train_flops_change"] == pytest.approx(record["predicted_train_flops_change"])


def test_readme_quotes_the_results_verbatim():
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    section = readme.split("## Results", 1)[1].split("\n## ", 1)[0]
    quoted = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert quoted, "the README's Results section quotes no table row"
    results = set()
    for directory in REPRODUCTIONS:
        with open(os.path.join(directory, "README.md")) as handle:
            results.update(handle.read().splitlines())
    for line in quoted:
        assert line in results, line
