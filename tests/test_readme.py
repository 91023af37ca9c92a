"""The README's two set-up commands are the ones CI and the docs use."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands():
    with open(os.path.join(ROOT, "README.md")) as handle:
        text = handle.read()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_the_train_and_test_commands_in_a_venv():
    train, test = _readme_commands()[:2]
    for command in (train, test):
        assert command.startswith("python3 -m venv .venv && .venv/bin/python -m pip install")
    assert train.endswith(".venv/bin/python scripts/train.py")
    assert test.endswith(".venv/bin/python -m pytest -q")


def test_ci_runs_the_readme_test_command():
    test = _readme_commands()[1]
    with open(os.path.join(ROOT, ".ci", "run")) as handle:
        lines = [line.strip() for line in handle]
    assert test in lines
