"""The README's examples are what bnlint prints today: the quick start's summary and the
fold-plan picture are regenerated here and compared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bnlint.cli import main

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_picture_is_what_bnlint_graph_draws(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["graph", "examples/src/zoo/unfoldable.py::multiscale_shared_conv",
                 "--format", "mermaid"])
    drawn = capsys.readouterr().out
    assert code == 0
    shown = re.search(r"```mermaid\n(.*?)```", README, re.S)
    assert shown is not None
    assert shown.group(1).strip() == drawn.strip()


def test_the_quick_start_summary_is_what_bnlint_check_prints(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    main(["check", "examples/src", "--format", "concise", "--no-cache"])
    printed = capsys.readouterr().out
    summary = next(line for line in printed.splitlines() if line.startswith("Found "))
    assert summary in README
    for line in README.splitlines():
        if line.startswith("examples/src/zoo/") and ": XBN" in line:
            assert line in printed
