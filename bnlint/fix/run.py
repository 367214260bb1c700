"""`bnlint check --fix`: apply the fixes of a CheckResult to its files, in memory, and keep a
file's new text only when the analysis of that text shows the fixed findings gone.

Nothing here writes: `FixOutcome` carries each accepted file's old and new text, and the CLI
writes them (or shows them with --diff). A file whose fixed text does not parse, or still
raises a finding that was fixed, is left as it is and reported in `rejected`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bnlint.fix.edits import apply_edits, compatible, moved, unique_edits
from bnlint.fix.source import read_fix_source
from bnlint.ftypes import Applicability, CheckResult, Diagnostic, Edit, Fix

log = logging.getLogger("bnlint.fix")

Analyzer = Callable[..., CheckResult]
_FILE_FAILURES = ("XBN001", "XBN002", "XBN003", "XBN004")


@dataclass(frozen=True)
class FileChange:
    path: str  # as the diagnostics name it
    before: str
    after: str
    encoding: str
    fixed: tuple[Diagnostic, ...]
    analysis: CheckResult  # what bnlint finds in `after`

    @property
    def data(self) -> bytes:
        return self.after.encode(self.encoding)


@dataclass(frozen=True)
class Rejected:
    path: str
    reason: str


@dataclass(frozen=True)
class _Draft:
    before: str
    after: str
    encoding: str
    fixed: list[Diagnostic]
    edits: list[Edit]


@dataclass(frozen=True)
class FixOutcome:
    changes: tuple[FileChange, ...]
    rejected: tuple[Rejected, ...]

    @property
    def fixed(self) -> int:
        return sum(len(change.fixed) for change in self.changes)


def applicable(diagnostic: Diagnostic, unsafe: bool) -> bool:
    fix = diagnostic.fix
    return fix is not None and (unsafe or fix.applicability is Applicability.SAFE)


def fix_files(
    result: CheckResult,
    *,
    unsafe: bool = False,
    cwd: Path | None = None,
    search_roots: Sequence[Path] = (),
    analyzer: Analyzer | None = None,
) -> FixOutcome:
    """Apply every applicable fix of `result` (safe ones; unsafe ones too when `unsafe`) to a
    copy of its file, re-analyse the copies, and keep those that pass."""
    cwd = cwd or Path.cwd()
    by_file: dict[str, list[Diagnostic]] = defaultdict(list)
    for diagnostic in result.diagnostics:
        if applicable(diagnostic, unsafe):
            by_file[diagnostic.path].append(diagnostic)
    drafts: dict[str, _Draft] = {}
    rejected: list[Rejected] = []
    for path, diagnostics in by_file.items():
        source = read_fix_source(cwd / path)
        if source is None:
            rejected.append(Rejected(path, "the file can no longer be read or parsed"))
            continue
        fixes: list[Fix] = compatible(d.fix for d in diagnostics if d.fix is not None)
        chosen = [d for d in diagnostics if d.fix in fixes]
        edits = unique_edits(fixes)
        drafts[path] = _Draft(
            source.text, apply_edits(source.text, edits), source.encoding, chosen, edits
        )
    if not drafts:
        return FixOutcome((), tuple(rejected))
    analyse = analyzer or _engine()
    sources = {
        (cwd / path).resolve(): draft.after.encode(draft.encoding) for path, draft in drafts.items()
    }
    analysis = analyse(sources, search_roots=search_roots)
    changes = []
    for path, draft in drafts.items():
        problem = _problem(path, draft, analysis)
        if problem is not None:
            log.warning("%s: not fixed: %s", path, problem)
            rejected.append(Rejected(path, problem))
            continue
        mine = CheckResult(
            (path,),
            tuple(d for d in analysis.diagnostics if d.path == path),
            tuple(m for m in analysis.modules if m.path == path),
        )
        changes.append(
            FileChange(path, draft.before, draft.after, draft.encoding, tuple(draft.fixed), mine)
        )
    return FixOutcome(tuple(changes), tuple(rejected))


def _problem(path: str, draft: _Draft, analysis: CheckResult) -> str | None:
    found = [d for d in analysis.diagnostics if d.path == path]
    failure = next((d for d in found if d.code in _FILE_FAILURES), None)
    if failure is not None:
        return f"the fixed text would not be analysable ({failure.code}: {failure.message})"
    still = {(d.code, d.line, d.column) for d in found}
    for diagnostic in draft.fixed:
        line, column = moved(draft.before, draft.edits, diagnostic.line, diagnostic.column)
        if (diagnostic.code, line, column) in still:
            return f"{diagnostic.code} at line {diagnostic.line} is still reported after its fix"
    return None


def _engine() -> Analyzer:
    from bnlint.static.engine import analyze

    def analyze_sources(
        sources: Mapping[Path, bytes], *, search_roots: Sequence[Path] = ()
    ) -> CheckResult:
        # The fixed text exists only in memory: the engine reads it from `sources` and
        # bypasses its cache for it.
        return analyze(list(sources), search_roots=search_roots, sources=sources)

    return analyze_sources
