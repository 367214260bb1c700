"""Every document that shows bnlint's output shows what bnlint prints today.

A ```console block in README.md, examples/README.md or docs/*.md is a transcript: `$ COMMAND`
lines, each followed by the output it shows. The test replays every `cd` and `bnlint` command
of a block in a scratch copy of the example project (the repository root there holds
`examples/`, as a checkout does) and compares: shown lines must appear in that order, a line
starting with `...` (indented or not) stands for any number of lines, and a command shown
without output is run but not compared. Other commands (`git`, `python -m pytest`) are
illustration and not run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    command: str
    shown: tuple[str, ...]


def transcripts() -> list[pytest.ParameterSet]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for number, block in enumerate(_BLOCK.findall(text), start=1):
            steps: list[Step] = []
            for line in block.splitlines():
                if line.startswith("$ "):
                    steps.append(Step(line[2:], ()))
                elif steps:
                    last = steps.pop()
                    steps.append(Step(last.command, (*last.shown, line)))
            if steps:
                name = f"{document.relative_to(ROOT)}#{number}"
                found.append(pytest.param(steps, id=name))
    return found


def test_every_document_with_output_has_a_transcript():
    assert {p.id.split("#")[0] for p in transcripts()} >= {
        "README.md",
        "examples/README.md",
        "docs/ci.md",
    }


@pytest.mark.parametrize("steps", transcripts())
def test_the_transcript_is_what_bnlint_prints(steps: list[Step], tmp_path: Path):
    if any(_needs_torch(step.command) for step in steps):
        pytest.importorskip("torch")
    shutil.copytree(
        ROOT / "examples",
        tmp_path / "examples",
        ignore=shutil.ignore_patterns(".bnlint_cache", "__pycache__"),
    )
    (tmp_path / ".git").mkdir()  # the copy's root is a repository root, as a checkout's is
    cwd = tmp_path
    for step in steps:
        words = shlex.split(step.command, comments=True)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        environment = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        while words and "=" in words[0] and words[0] != "bnlint":
            key, _, value = words.pop(0).partition("=")
            environment[key] = value
        if words[0] != "bnlint":
            continue
        done = subprocess.run(
            [sys.executable, "-m", "bnlint", *words[1:]],
            cwd=cwd,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        printed = (done.stdout + done.stderr).replace(str(tmp_path), "/repo").splitlines()
        if step.shown:
            problem = _mismatch(list(step.shown), printed)
            assert problem is None, f"$ {step.command}\n{problem}\n--- printed:\n" + "\n".join(
                printed
            )


def _needs_torch(command: str) -> bool:
    return (
        " fold " in f" {command} "
        or "--confirm" in command
        or re.search(r"graph \S+:\S+", command) is not None
    )


# A measured error (`max abs error 2.24e-08`) is float32 rounding: its last digits depend on
# the machine's kernels, so a transcript shows it as an example, compared by its form.
_ROUNDING_FIGURE = re.compile(r"\d\.\d\de-\d\d")


def _same_form(line: str) -> str:
    return _ROUNDING_FIGURE.sub("N.NNe-NN", line)


def _mismatch(shown: list[str], printed: list[str]) -> str | None:
    """Why `printed` does not read as `shown` (with `...` lines as gaps), or None."""
    while shown and not shown[-1].strip():
        shown.pop()
    while printed and not printed[-1].strip():
        printed.pop()
    shown_forms = {_same_form(line): line for line in shown}
    printed = [shown_forms.get(_same_form(line), line) for line in printed]
    position = 0
    gap = False
    for line in shown:
        if line.strip().startswith("..."):
            gap = True
            continue
        if gap:
            try:
                position = printed.index(line, position) + 1
            except ValueError:
                return f"shown line not printed (after a gap): {line!r}"
        else:
            if position >= len(printed) or printed[position] != line:
                got = printed[position] if position < len(printed) else "(end of output)"
                return f"shown line {line!r}\nprinted    {got!r}"
            position += 1
        gap = False
    if not gap and position != len(printed):
        return f"printed more than shown, from: {printed[position]!r}"
    return None
