"""The text formats of a picture are a contract: a golden file each, and the picture in the
docs is the one bnlint draws today.

Regenerate after an intended change with `BNLINT_UPDATE_GOLDEN=1 python -m pytest
tests/picture` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bnlint import cli

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GOLDEN = HERE / "golden"
STAGES = "tests/picture/fixtures/stages.py::Net"
DOC = REPO / "docs" / "picture-example.md"
DOC_TARGET = "examples/src/zoo/unfoldable.py::preact_resnet_tiny"
_MERMAID_BLOCK = re.compile(r"```mermaid\n(.*?)```\n", re.DOTALL)


def draw(capsys, monkeypatch, *args: str) -> str:
    monkeypatch.chdir(REPO)
    assert cli.main(["graph", *args]) == 0
    return capsys.readouterr().out


def _compare(golden: Path, text: str) -> None:
    if os.environ.get("BNLINT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), (
        f"{golden.name} changed; if intended, regenerate with BNLINT_UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize(
    "golden, args",
    [
        ("stages.dot", ("--format", "dot")),
        ("stages.mmd", ("--format", "mermaid")),
        ("stages-expanded.mmd", ("--format", "mermaid", "--no-collapse")),
    ],
)
def test_picture_matches_the_golden_file(capsys, monkeypatch, golden, args):
    _compare(GOLDEN / golden, draw(capsys, monkeypatch, STAGES, *args))


def test_the_docs_picture_is_what_bnlint_draws(capsys, monkeypatch):
    drawn = draw(capsys, monkeypatch, DOC_TARGET, "--format", "mermaid")
    text = DOC.read_text()
    if os.environ.get("BNLINT_UPDATE_GOLDEN"):
        text = _MERMAID_BLOCK.sub(lambda _: f"```mermaid\n{drawn}```\n", text, count=1)
        DOC.write_text(text)
    [shown] = _MERMAID_BLOCK.findall(text)
    assert shown == drawn, (
        "docs/picture-example.md is stale; regenerate with BNLINT_UPDATE_GOLDEN=1"
    )
    assert f"bnlint graph {DOC_TARGET} --format mermaid" in text
