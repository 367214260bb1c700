"""The example zoo, confirmed: on every model it declares, the static verdicts and the
runtime checker agree, and examples/README.md shows the table of every one of them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

pytestmark = pytest.mark.runtime
pytest.importorskip("torch")

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def declared_models() -> list[str]:
    with (EXAMPLES / "pyproject.toml").open("rb") as handle:
        return list(tomllib.load(handle)["tool"]["bnlint"]["models"])


def test_every_example_model_is_confirmed_without_a_disagreement():
    # One thread: the zoo is CIFAR-sized, and threads only contend on a busy CI machine.
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "bnlint", "check", "examples/", "--confirm", "--format", "json"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr  # the zoo's unfoldable models have findings
    confirm = json.loads(run.stdout)["confirm"]
    assert [model["name"] for model in confirm["models"]] == declared_models()
    problems = [
        (model["name"], row["key"], row["detail"])
        for model in confirm["models"]
        for row in model["rows"]
        if row["agreement"] == "disagreement"
    ]
    assert problems == []
    assert all(model["error"] is None and model["verified"] for model in confirm["models"])
    assert confirm["summary"]["confirmed_foldable"] > 30
    assert confirm["summary"]["confirmed_unfoldable"] > 10


def test_the_examples_readme_shows_the_table_of_every_declared_model():
    readme = (EXAMPLES / "README.md").read_text()
    assert "$ bnlint check src/ --confirm" in readme
    shown = re.findall(
        r"^(\w+) \([\w.]+:\w+\): \d+ fold keys?, folded model verified$", readme, flags=re.MULTILINE
    )
    assert shown == declared_models()
    assert re.search(
        r"^Confirmed 18 models against the static analysis: .*, "
        r"0 disagreements\.$",
        readme,
        flags=re.MULTILINE,
    )
