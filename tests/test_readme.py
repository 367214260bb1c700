"""The README's fold-plan picture is what `bnlint graph` draws today (its console transcripts
are replayed by test_docs_output.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bnlint.cli import main

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_picture_is_what_bnlint_graph_draws(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(
        ["graph", "examples/src/zoo/unfoldable.py::multiscale_shared_conv", "--format", "mermaid"]
    )
    drawn = capsys.readouterr().out
    assert code == 0
    shown = re.search(r"```mermaid\n(.*?)```", README, re.S)
    assert shown is not None
    assert shown.group(1).strip() == drawn.strip()
