"""Helpers for the command-line tests.

`FakeEngine` stands in for the static engine where a test is about the policy around it
(configuration, discovery, suppression, baselines, formats): it flags every line that calls
`self.bn_act` (XBN101), `self.conv_bias` (XBN401) or builds `nn.BatchNorm1d` (XBN302), so a
test controls findings by writing plain source lines. Tests through the real engine live in
test_engine_end_to_end.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bnlint.ftypes import CheckResult, Diagnostic, FoldEntry, ModuleReport, Severity, Status
from bnlint.rules import RULES

REPO_ROOT = Path(__file__).resolve().parents[2]

_MARKERS = (
    (
        "self.bn_act",
        "XBN101",
        "BatchNorm 'self.bn_act' cannot be folded: its input "
        "comes from 'self.act', not a Conv/Linear",
    ),
    (
        "self.conv_bias",
        "XBN401",
        "'self.conv_bias' has bias=True but feeds BatchNorm "
        "'self.bn', which makes the bias redundant",
    ),
    (
        "nn.BatchNorm1d",
        "XBN302",
        "BatchNorm 'self.bn1d' is BatchNorm1d but 'self.conv' is Conv2d; it expects BatchNorm2d",
    ),
)


@dataclass
class FakeEngine:
    calls: list[tuple[list[Path], tuple[Path, ...]]] = field(default_factory=list)

    def __call__(self, files: Sequence[Path], *, search_roots: Sequence[Path] = ()) -> CheckResult:
        self.calls.append((list(files), tuple(search_roots)))
        diagnostics, modules, shown = [], [], []
        for file in files:
            path = os.path.relpath(file)
            shown.append(path)
            owner = Path(path).stem + ".Net"
            for number, line in enumerate(file.read_text().splitlines(), start=1):
                for marker, code, message in _MARKERS:
                    column = line.find(marker)
                    if column >= 0:
                        rule = RULES[code]
                        diagnostics.append(
                            Diagnostic(
                                code,
                                rule.name,
                                rule.severity,
                                message,
                                path,
                                number,
                                column + 1,
                                number,
                                column + 1 + len(marker),
                                owner=owner,
                            )
                        )
            modules.append(
                ModuleReport(
                    owner, path, 1, (FoldEntry("conv", "bn", None, Status.FOLDABLE, None),)
                )
            )
        return CheckResult(tuple(shown), tuple(diagnostics), tuple(modules))

    @property
    def checked(self) -> list[str]:
        """The files of the last call, relative to the working directory, sorted."""
        return sorted(os.path.relpath(f) for f in self.calls[-1][0])


def write(root: Path, files: dict[str, str]) -> Path:
    """Write dedented files under `root` (leading blank lines dropped)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_subprocess(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it: `python -m bnlint ARGS`."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [environment.get("PYTHONPATH")])]
    )
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bnlint", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def diagnostic(
    code: str,
    path: str,
    line: int,
    column: int = 1,
    *,
    end_column: int | None = None,
    message: str = "a message",
    owner: str | None = "pkg.m.Net",
    severity: Severity | None = None,
    help: str | None = None,
) -> Diagnostic:
    rule = RULES[code]
    return Diagnostic(
        code,
        rule.name,
        severity or rule.severity,
        message,
        path,
        line,
        column,
        line,
        end_column or column + 1,
        owner=owner,
        help=help,
    )
