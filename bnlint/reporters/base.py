"""What every reporter shares: the rendering context and the counts a summary states."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bnlint.baseline import relative_path
from bnlint.ftypes import Applicability, CheckResult, Diagnostic, Severity, Status


@dataclass(frozen=True)
class ReportContext:
    """How to render: `root` is the repository root (SARIF and GitHub paths are relative to
    it), `cwd` the folder diagnostic paths are relative to, `color` whether to use ANSI,
    `unsafe_fixes` whether unsafe fixes count as applicable (`--unsafe-fixes`)."""

    root: Path
    cwd: Path
    color: bool = False
    unsafe_fixes: bool = False

    def repo_path(self, path: str) -> str:
        return relative_path(path, self.root, self.cwd)


def severity_counts(result: CheckResult) -> dict[Severity, int]:
    counts = {severity: 0 for severity in Severity}
    for diagnostic in result.diagnostics:
        counts[diagnostic.severity] += 1
    return counts


def fold_counts(result: CheckResult) -> dict[Status, int]:
    return {status: result.count(status) for status in Status}


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def summary_line(result: CheckResult) -> str:
    """`Found 3 findings (1 error, 2 warnings, 0 info) in 4 files; folds: ...`."""
    folds = fold_counts(result)
    fold_text = (
        f"folds: {folds[Status.FOLDABLE]} foldable, "
        f"{folds[Status.UNFOLDABLE]} unfoldable, {folds[Status.UNKNOWN]} unknown"
    )
    files = plural(len(result.files), "file")
    if not result.diagnostics:
        return f"No findings in {files}; {fold_text}"
    counts = severity_counts(result)
    by_severity = (
        f"{plural(counts[Severity.ERROR], 'error')}, "
        f"{plural(counts[Severity.WARNING], 'warning')}, "
        f"{counts[Severity.INFO]} info"
    )
    return (
        f"Found {plural(len(result.diagnostics), 'finding')} ({by_severity}) "
        f"in {files}; {fold_text}"
    )


def fixable(diagnostic: Diagnostic, context: ReportContext) -> bool:
    """Whether `bnlint check --fix` (with the flags of this run) would fix the finding."""
    fix = diagnostic.fix
    return fix is not None and (context.unsafe_fixes or fix.applicability is Applicability.SAFE)


def fixable_line(result: CheckResult, context: ReportContext) -> str | None:
    """`[*] 2 fixable with `bnlint check --fix` (1 more with --unsafe-fixes)`, or None."""
    shown = sum(1 for d in result.diagnostics if fixable(d, context))
    hidden = sum(1 for d in result.diagnostics if d.fix is not None and not fixable(d, context))
    if not shown and not hidden:
        return None
    flags = "--fix --unsafe-fixes" if context.unsafe_fixes else "--fix"
    more = f" ({hidden} more with --unsafe-fixes)" if hidden else ""
    return f"[*] {shown} fixable with `bnlint check {flags}`{more}"
