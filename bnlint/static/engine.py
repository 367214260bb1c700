"""`bnlint check`'s engine: files in, CheckResult out. Never imports or runs the files.

The work is split by file. Every project file's text is read and hashed; from the text alone
(no parsing) the engine decides which files can change the verdicts on each checked file: its
*context* (bnlint.static.callers). Each file of a context is then analysed on its own — built,
its models run — giving a FileVerdicts value that depends only on that file and what it
imports (bnlint.static.fileverdicts). Those values are computed once, in this process or in
worker processes (`jobs`), or taken from the cache when nothing they read has changed; the
report on a file merges the values of its context. A file checked alone therefore gets
exactly the verdicts it gets when the whole tree is checked, in parallel or not.

This module imports nothing heavy at the top: a run answered by the cache never loads the
parser.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bnlint import progress
from bnlint.ftypes import CheckResult, Diagnostic, FileTiming, ModuleReport
from bnlint.static.callers import CallerGraph
from bnlint.static.footprint import CurrentFiles
from bnlint.static.libraries import LibraryRoot
from bnlint.static.records import FileReport, FileVerdicts, Kept
from bnlint.static.scan import ProjectScan, display, scan_project

if TYPE_CHECKING:
    from bnlint.static.memo import Memo
    from bnlint.static.project import Project  # noqa: F401  (re-exported, see __getattr__)
    from bnlint.static.sealed import KeptClosure

log = logging.getLogger("bnlint.static")


@dataclass(frozen=True)
class EngineOptions:
    """How analyze() runs when its caller does not say: the command line sets these for
    the analyses it starts through bnlint.api, which does not know about them."""

    jobs: int = 1
    cache_dir: Path | None = None
    # installed model libraries whose sources lookups read (bnlint.static.libraries)
    libraries: tuple[LibraryRoot, ...] = ()


# EngineOptions is a frozen dataclass: one shared default is safe
_options: ContextVar[EngineOptions] = ContextVar("bnlint_engine_options", default=EngineOptions())  # noqa: B039


@contextmanager
def engine_options(jobs: int = 1, cache_dir: Path | None = None) -> Iterator[None]:
    token = _options.set(EngineOptions(jobs, cache_dir))
    try:
        yield
    finally:
        _options.reset(token)


@contextmanager
def reading_libraries(libraries: Sequence[LibraryRoot]) -> Iterator[None]:
    """The analyses started inside read these installed libraries (the other options
    unchanged)."""
    token = _options.set(replace(_options.get(), libraries=tuple(libraries)))
    try:
        yield
    finally:
        _options.reset(token)


def analyze(
    files: Sequence[Path],
    *,
    search_roots: Sequence[Path] = (),
    jobs: int | None = None,
    cache_dir: Path | None = None,
    sources: Mapping[Path, bytes] | None = None,
    libraries: Sequence[LibraryRoot] | None = None,
) -> CheckResult:
    """Analyse `files` (reading other files under `search_roots` where the verdicts need
    them) and report on `files` only.

    `jobs` processes share the work. With `cache_dir`, results whose inputs did not change
    are taken from there and new ones stored (only with `search_roots`: the cache must know
    every file that could answer an import). `sources` (path -> bytes) is analysed instead of
    what is on disk; the cache is then not used. `libraries`: installed libraries lookups
    read when the project does not answer them. Unset options come from engine_options().
    """
    started = time.perf_counter()
    defaults = _options.get()
    jobs = jobs or defaults.jobs
    cache_dir = cache_dir if cache_dir is not None else defaults.cache_dir
    libraries = tuple(libraries if libraries is not None else defaults.libraries)
    overrides = {os.path.realpath(p): data for p, data in (sources or {}).items()}
    roots = [os.path.realpath(r) for r in search_roots]
    memo = None
    if cache_dir is not None and roots and not overrides:
        from bnlint.static.memo import Memo

        memo = Memo.open(cache_dir, roots, os.getcwd())
    scan = scan_project(
        [os.path.abspath(p) for p in files],
        roots,
        overrides,
        memo.facts if memo else {},
        memo.refusals if memo else {},
        libraries,
    )
    checked = list(dict.fromkeys(scan.key(p) for p in files))
    digests = scan.digests()
    table = scan.module_table()
    graph = CallerGraph(
        scan.project_facts(),
        scan.words,
        scan.attributes,
        previous=memo.previous_edges(table) if memo else None,
        changed=memo.changed(digests) if memo else frozenset(),
    )
    contexts = {
        path: graph.context(path) if path in scan.project else [path]
        for path in checked
        if path in scan.facts and scan.facts[path].may_build
    }
    reports: dict[str, FileReport] = {}
    if memo is not None:
        hold = memo.lookups_hold(scan.resolve)
        reports = {
            p: r for p, c in contexts.items() if (r := memo.report(p, c, digests, hold)) is not None
        }
    pending = {p: c for p, c in contexts.items() if p not in reports}
    merged: dict[str, list[str]] = {}
    consulted: dict[str, list[str]] = {}
    computed: dict[str, FileVerdicts] = {}
    contents: dict[str, str | None] = {}
    closures: Mapping[str, KeptClosure] = {}
    if pending:
        from bnlint.static.sealed_files import SealedFiles

        sealing = SealedFiles(scan, graph, memo.closures() if memo is not None else None)
        for path, context in pending.items():
            merged[path], consulted[path] = sealing.merged(path, context)
        closures = sealing.computed
        fresh, computed, contents = _report(merged, scan, graph, roots, jobs, memo, overrides)
        reports.update(fresh)
    if memo is not None:
        memo.save(
            digests,
            scan.facts,
            table,
            graph.edges,
            contexts,
            merged,
            consulted,
            reports,
            computed,
            scan.resolve,
            scan.refusals,
            closures,
            contents,
        )
    diagnostics: list[Diagnostic] = [scan.unreadable[p] for p in checked if p in scan.unreadable]
    modules: list[ModuleReport] = []
    for path in checked:
        if path in reports:
            diagnostics.extend(reports[path].diagnostics)
            modules.extend(reports[path].modules)
    diagnostics.sort(key=lambda d: (d.path, d.line, d.column, d.code))
    timings = sorted(
        (FileTiming(c.display, c.seconds, c.roots) for c in computed.values() if c.seconds),
        key=lambda t: -t.seconds,
    )
    log.info(
        "%d files reported, %d from the cache, in %.2f s",
        len(contexts),
        len(contexts) - len(pending),
        time.perf_counter() - started,
    )
    return CheckResult(
        files=tuple(display(str(p)) for p in files),
        diagnostics=tuple(diagnostics),
        modules=tuple(modules),
        timings=tuple(timings),
    )


def _report(
    pending: Mapping[str, list[str]],
    scan: ProjectScan,
    graph: CallerGraph,
    roots: Sequence[str],
    jobs: int,
    memo: Memo | None,
    overrides: Mapping[str, bytes],
) -> tuple[dict[str, FileReport], dict[str, FileVerdicts], dict[str, str | None]]:
    """Reports on the `pending` files (path -> the members of its context it merges), the
    contributions computed for them, and what each member's contribution says (with a
    cache: Memo.content_of): every contribution is taken from the cache or computed, and a
    report whose members say what they said when it was kept is kept."""
    from bnlint.parallel import analyse_files
    from bnlint.static.relevance import ContextIndex
    from bnlint.static.verdicts import report_on

    members = sorted({m for context in pending.values() for m in context})
    digests = scan.digests()
    holding = {
        m for m in members if memo is not None and memo.contribution_holds(m, digests, scan.resolve)
    }
    missing = [m for m in members if m not in holding]
    # A file with no function and no class builds nothing (package __init__ files that only
    # re-export, configs): its contribution is empty, and it is not parsed for it.
    computed: dict[str, FileVerdicts] = {
        m: FileVerdicts(m, display(m), scan.facts[m].digest)
        for m in missing
        if m not in pending and not scan.facts[m].text.defines
    }
    inert = len(computed)
    missing = [m for m in missing if m not in computed]
    kept: dict[str, Kept] = {}
    if memo is not None and missing:
        now = CurrentFiles(digests)
        kept = {m: k for m in missing if (k := memo.kept(m, now, scan.resolve)) is not None}
        # a file unchanged whose every definition holds: what it contributed holds
        again = {m for m, k in kept.items() if memo.holds_again(m, k, now)}
        holding |= again
        missing = [m for m in missing if m not in again]
        kept = {m: k for m, k in kept.items() if m not in again}
    log.info(
        "%d files to analyse (%d definitions of them from the cache), %d contributions from "
        "the cache, %d build nothing",
        len(missing),
        sum(len(chain.links) for k in kept.values() for chain in k.chains),
        len(holding),
        inert,
    )
    # what a file costs is what is left to build of it: workers are started for work only
    sizes = scan.sizes()
    weights = {p: int(size * kept[p].rebuilt) if p in kept else size for p, size in sizes.items()}
    analyse = partial(
        analyse_files,
        search_roots=roots,
        source_roots=scan.source_roots,
        sources=overrides,
        weights=weights,
        allowed=sorted(scan.project) if roots else None,
        libraries=scan.libraries,
    )
    computed.update(
        analyse(graph.locality_order(missing), jobs=jobs, done=_Progress(len(missing)), kept=kept)
    )
    contents: dict[str, str | None] = {}
    if memo is not None:
        contents.update((m, memo.content_of(v)) for m, v in computed.items())
        contents.update((m, memo.contents.get(m)) for m in holding)
    contributions: dict[str, FileVerdicts] = dict(computed)

    def contribution(member: str) -> FileVerdicts:
        """A kept contribution is decoded only for a report that merges it afresh."""
        if member not in contributions:
            found = memo.contribution(member) if memo else None
            if found is None:  # held, but did not decode: analysed after all
                found = computed[member] = analyse([member], jobs=1)[member]
            contributions[member] = found
        return contributions[member]

    index = ContextIndex()
    reports: dict[str, FileReport] = {}
    unchanged = 0
    for path, context in pending.items():
        same = memo.same_report(path, context, [contents[m] for m in context]) if memo else None
        unchanged += same is not None
        reports[path] = same or report_on(
            contribution(path), [contribution(m) for m in context], index
        )
    log.info("%d reports kept: what they merge says what it said", unchanged)
    return reports, computed, contents


class _Progress:
    """Announces the files analysed so far (bnlint.progress shows it on a terminal, and
    only once the run has taken a second)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.perf_counter()

    def __call__(self, path: str) -> None:
        self.done += 1
        if time.perf_counter() - self.started > 1.0:
            progress.step("analysing", f"{self.done}/{self.total} files, {display(path)}")


def __getattr__(name: str) -> Any:
    if name == "Project":  # lives in bnlint.static.project, which imports the parser
        from bnlint.static.project import Project

        return Project
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
