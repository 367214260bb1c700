"""A well-formed model file whose verdicts are known, and ways to check a tree with it.

Every robustness test puts a hostile file next to `good.py` and asserts two things: the
hostile file gets its one-line error (or nothing, where nothing is right), and `good.py`
gets exactly the verdicts it gets in a tree without the hostile file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import bnlint
from bnlint.ftypes import CheckResult

REPO_ROOT = Path(__file__).resolve().parents[2]

GOOD = textwrap.dedent("""\
    from torch import nn


    class SentinelBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.act = nn.ReLU()
            self.bn_act = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn_act(self.act(self.bn(self.conv(x))))
    """)
# What bnlint says about GOOD, written out so that a run that breaks both the clean and the
# hostile check alike still fails.
GOOD_DIAGNOSTICS = (("XBN101", "good.py", 13),)
GOOD_FOLDS = (("good.SentinelBlock", (("conv", "bn", "foldable"), (None, "bn_act", "unfoldable"))),)


@dataclass(frozen=True)
class Verdicts:
    """A check's outcome for one file: (code, path, line) findings and per-class folds."""

    diagnostics: tuple[tuple[str, str, int], ...]
    folds: tuple[tuple[str, tuple[tuple[str | None, str, str], ...]], ...]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """A project folder (pyproject.toml marks it) holding `files`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def check(root: Path, paths: Sequence[str] = (".",)) -> CheckResult:
    """`bnlint check PATHS` run from `root`, in-process, as values."""
    previous = os.getcwd()
    os.chdir(root)
    try:
        return bnlint.check(list(paths))
    finally:
        os.chdir(previous)


def verdicts(result: CheckResult, path: str) -> Verdicts:
    diagnostics = tuple(
        sorted((d.code, d.path, d.line) for d in result.diagnostics if d.path == path)
    )
    folds = tuple(
        sorted(
            (
                m.class_name,
                tuple(sorted(((f.conv, f.bn, f.status.value) for f in m.folds), key=repr)),
            )
            for m in result.modules
            if m.path == path
        )
    )
    return Verdicts(diagnostics, folds)


def good_verdicts_unchanged(result: CheckResult) -> None:
    """`good.py` got exactly what it gets alone."""
    assert verdicts(result, "good.py") == Verdicts(GOOD_DIAGNOSTICS, GOOD_FOLDS)


def run_cli(
    args: Sequence[str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m bnlint ARGS` in a child process: a crash there cannot take pytest down."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-m", "bnlint", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
