"""The bundled example zoo's whole JSON report (every diagnostic and every BatchNorm's
verdict) is a golden file: any change in what bnlint says about it shows up here.

Regenerate after an intended change: BNLINT_UPDATE_GOLDEN=1 python -m pytest tests/static
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bnlint.cli import main

ROOT = Path(__file__).parent.parent.parent
GOLDEN = Path(__file__).parent / "golden" / "examples.json"


def test_the_example_zoo_report_is_exactly_the_golden_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["check", "examples/src", "--format", "json", "--no-cache", "--jobs", "1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # the zoo has unfoldable BatchNorms on purpose
    if os.environ.get("BNLINT_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    assert report == json.loads(GOLDEN.read_text())
    statuses = {entry["status"] for module in report["modules"] for entry in module["folds"]}
    assert statuses == {"foldable", "unfoldable", "unknown"}
