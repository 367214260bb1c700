"""Helpers for the autofix tests: write a one-file project, find and apply its fixes."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint import api
from bnlint.fix import attach_fixes, fix_files
from bnlint.fix.run import FixOutcome
from bnlint.ftypes import CheckResult, Diagnostic

PYPROJECT = "[project]\nname = 'models'\n"


def project(tmp_path: Path, source: str, name: str = "models.py") -> Path:
    """A project folder holding `source` (dedented) as `name`; returns the file."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    path = tmp_path / name
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def checked(path: Path) -> CheckResult:
    """`bnlint check` of the file's folder (the working directory), with fixes attached."""
    return attach_fixes(api.check([path.parent], config=path.parent / "pyproject.toml"))


def fixes(path: Path, code: str) -> list[Diagnostic]:
    return [d for d in checked(path).diagnostics if d.code == code]


def fixed_text(path: Path, *, unsafe: bool = False) -> str | None:
    """The file's text after `--fix` (None when nothing would change), without writing."""
    outcome = fix(path, unsafe=unsafe)
    return outcome.changes[0].after if outcome.changes else None


def fix(path: Path, *, unsafe: bool = False) -> FixOutcome:
    return fix_files(checked(path), unsafe=unsafe, search_roots=(path.parent,))
