"""The `--fix` / `--diff` / `--add-noqa` half of `bnlint check`: apply the fixes (or the noqa
comments), write (or show) what passed re-analysis, and say so on standard error so that
standard output stays the report."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bnlint.fix.edits import unified_diff
from bnlint.fix.noqa import NoqaChange, add_noqa
from bnlint.fix.run import FileChange, FixOutcome, fix_files
from bnlint.ftypes import CheckResult
from bnlint.reporters.base import plural

EXIT_CLEAN, EXIT_CHANGES = 0, 1


def show_diff(
    result: CheckResult, *, unsafe: bool, search_roots: Sequence[Path], emit: Callable[[str], None]
) -> int:
    """Print what --fix would change as a unified diff; 1 when there is something to change
    (as `ruff check --diff`), else 0. Writes nothing."""
    outcome = _outcome(result, unsafe, search_roots)
    emit("".join(unified_diff(c.path, c.before, c.after) for c in outcome.changes))
    if outcome.changes:
        _note(
            f"would fix {plural(outcome.fixed, 'finding')} in "
            f"{plural(len(outcome.changes), 'file')}"
        )
        return EXIT_CHANGES
    _note("nothing to fix")
    return EXIT_CLEAN


def apply(result: CheckResult, *, unsafe: bool, search_roots: Sequence[Path]) -> None:
    """Write every file whose fixes passed re-analysis."""
    outcome = _outcome(result, unsafe, search_roots)
    written = [change for change in outcome.changes if _write(change)]
    if outcome.changes:
        _note(
            f"fixed {plural(sum(len(c.fixed) for c in written), 'finding')} in "
            f"{plural(len(written), 'file')}"
        )


def add_noqa_comments(result: CheckResult) -> None:
    """Write a noqa comment for every finding of `result` into its file."""
    outcome = add_noqa(result.diagnostics, Path.cwd())
    for path, why in outcome.left_alone:
        _note(f"{path}: {why}")
    written = [change for change in outcome.changes if _write(change)]
    _note(
        f"added {plural(sum(c.added for c in written), 'noqa comment')} in "
        f"{plural(len(written), 'file')}"
    )


def _outcome(result: CheckResult, unsafe: bool, search_roots: Sequence[Path]) -> FixOutcome:
    outcome = fix_files(result, unsafe=unsafe, search_roots=search_roots)
    for rejected in outcome.rejected:
        _note(f"{rejected.path}: left unchanged: {rejected.reason}")
    return outcome


def _write(change: FileChange | NoqaChange) -> bool:
    """Replace the file atomically, keeping its mode; not if it changed since it was read."""
    path = Path(change.path)
    try:
        if path.read_bytes() != change.before.encode(change.encoding):
            _note(f"{change.path}: left unchanged: it changed while bnlint was fixing it")
            return False
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(change.data)
            shutil.copymode(path, temporary)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        _note(f"{change.path}: cannot write the fix: {error}")
        return False
    return True


def _note(message: str) -> None:
    print(f"bnlint: {message}", file=sys.stderr)
