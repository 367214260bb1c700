"""One file's contribution to the verdicts: every root it defines, analysed.

A file contributes what its own code builds: each module class on its own and each factory's
model (bnlint.static.roots). Each contribution is computed once, in any process, from the file
and what it imports, and kept as a `FileVerdicts` value; bnlint.static.verdicts combines the
contributions of a file's context into what `bnlint check` reports on it. A large file's
definitions may be built in shares by several processes (`analyse_share`): no root's verdicts
depend on the roots built before it, so `merge_shares` gives what one process gives.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import libcst as cst

from bnlint import rules
from bnlint.ftypes import Diagnostic
from bnlint.static.analysis import analyse_root
from bnlint.static.footprint import FileRead, Footprint, Layout, layout_of, places
from bnlint.static.interp import Interpreter
from bnlint.static.project import Project, Reads
from bnlint.static.records import (
    Chain,
    DefinitionVerdicts,
    FileVerdicts,
    Kept,
    Link,
    Observation,
)
from bnlint.static.roots import WHOLE, Root, Share, definitions
from bnlint.static.source import ParseFailure, SourceFile, module_name_for
from bnlint.static.values import OutsideBuilt, node_text
from bnlint.static.verdicts import diagnostic

log = logging.getLogger("bnlint.static")

_ROOTS_TIMED = 5  # the slowest roots of a file that --timing can name


def analyse_file(project: Project, path: Path, kept: Kept | None = None) -> FileVerdicts:
    """Build and run everything `path` defines, recording every file the work read. The
    result names the file by `path` as given; what it read, by resolved paths. What `kept`
    holds of an earlier run is taken from there."""
    return merge_shares([analyse_share(project, path, WHOLE, kept)])


@dataclass(frozen=True)
class FileShare:
    """What one process found of a file: the definitions of one share (all of them, for a
    file one process analyses). `merge_shares` makes the file's contribution of them."""

    path: str
    display: str
    digest: str
    module_classes: tuple[tuple[str, int], ...] = ()
    definitions: tuple[DefinitionVerdicts, ...] = ()
    reads: tuple[tuple[str, str], ...] = ()
    lookups: tuple[tuple[str, str | None], ...] = ()
    seconds: float = 0.0
    failure: Diagnostic | None = None
    chains: tuple[Chain, ...] = ()


def analyse_share(
    project: Project, path: Path, share: Share, kept: Kept | None = None
) -> FileShare:
    """Build and run the definitions of `share` in `path`, recording every file the work
    read; a definition `kept` holds is taken from there."""
    kept = kept or Kept()
    started = time.perf_counter()
    given, path = str(path), path.resolve()
    project.fresh_models()
    with project.tracking() as reads:
        file = project.load(path, explicit=True)
        # Its own name: whether a lookup finds this file decides how others see it.
        project.loader.module(file.module_name if file else module_name_for(path)[0])
        if file is None:
            failure = project.failures[path]
            return FileShare(
                given,
                failure.display_path,
                project.digests.get(path, ""),
                lookups=_lookups(reads.lookups),
                failure=failure_diagnostic(failure),
            )
        interp = Interpreter(project.resolver, project.classes)
        reusable = {link.identity: link for chain in kept.chains for link in chain.links}
        footprints = _Footprints(project)
        done: list[DefinitionVerdicts] = []
        links: list[Link] = []
        identities: list[str] = []
        for number, (identity, roots) in enumerate(definitions(project, file, interp)):
            identities.append(identity)
            if not share.takes(number):
                continue
            if identity in reusable:
                done.append(replace(reusable[identity].built, number=number, timings=()))
                continue
            built = _built(interp, number, roots)
            done.append(built)
            links.append(Link(identity, footprints.since_last(reads), built))
        classes = tuple(
            (cls.qualname, file.location(cls.node).line) for cls in project.module_classes(file)
        )
    reads.files.pop(path, None)
    # the chains kept travel with the first share only: one copy of each in the merge
    chains = _present(kept.chains, set(identities)) if share.index == 0 else ()
    if links:
        chains = (*chains, Chain(tuple(links)))
    looked_up = {**dict(kept.lookups), **dict(_lookups(reads.lookups))}
    found = FileShare(
        path=given,
        display=file.display_path,
        digest=project.digests[path],
        module_classes=classes,
        definitions=tuple(done),
        reads=tuple(
            sorted({*((str(p), d) for p, d in reads.files.items()), *_others(kept.reads, path)})
        ),
        lookups=tuple(sorted(looked_up.items())),
        seconds=time.perf_counter() - started,
        chains=chains,
    )
    project.retire()
    return found


def _others(reads: Iterable[tuple[str, str]], path: Path) -> Iterator[tuple[str, str]]:
    return (read for read in reads if read[0] != str(path))


def _present(chains: Iterable[Chain], identities: set[str]) -> tuple[Chain, ...]:
    """The chains cut before the first definition the file no longer has."""
    cut = []
    for chain in chains:
        links = list(itertools.takewhile(lambda link: link.identity in identities, chain.links))
        if links:
            cut.append(Chain(tuple(links)))
    return tuple(cut)


class _Footprints:
    """What each definition a process builds read beyond the ones it built before
    (bnlint.static.footprint), from the process's record of everything it read."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.layouts: dict[Path, tuple[Layout | None, dict[int, range]]] = {}
        self.seen: dict[str, FileRead] = {}
        self.looked_up: set[str] = set()

    def since_last(self, reads: Reads) -> Footprint:
        files = []
        paths = {
            *reads.files,
            *reads.bound,
            *reads.statements,
            *reads.headers,
            *reads.whole,
            *reads.searched,
        }
        for path in sorted(paths, key=str):
            read = self._read(path, reads)
            before = self.seen.get(str(path))
            if before == read:
                continue
            self.seen[str(path)] = read
            if before is not None:  # only what is new
                read = replace(
                    read,
                    statements=tuple(k for k in read.statements if k not in before.statements),
                )
            files.append((str(path), read))
        lookups = tuple(
            (name, str(found) if found is not None else None)
            for name, found in sorted(reads.lookups.items())
            if name not in self.looked_up
        )
        self.looked_up.update(reads.lookups)
        return Footprint(tuple(files), lookups)

    def _read(self, path: Path, reads: Reads) -> FileRead:
        digest = reads.files.get(path) or self.project.digests.get(path, "")
        file = self.project.files.get(path)
        if path in reads.whole or file is None:
            return FileRead(digest, whole=True)
        layout, places = self._layout(file)
        if layout is None:
            return FileRead(digest, whole=True)
        keys: set[str] = set()
        statements = dict(enumerate(layout.statements))
        for found, table in ((reads.statements, statements), (reads.headers, layout.headers)):
            for node in found.get(path, {}).values():
                # (a statement the two parsers do not place alike is read as the whole text)
                where = [table.get(place) for place in places.get(id(node), ())]
                if not where or None in where:
                    return FileRead(digest, whole=True)
                keys.update(k for k in where if k is not None)
        bindings = layout.bindings if path in reads.bound else ""
        searched = tuple(sorted(reads.searched.get(path, {}).items()))
        return FileRead(digest, False, bindings, tuple(sorted(keys)), searched)

    def _layout(self, file: SourceFile) -> tuple[Layout | None, dict[int, range]]:
        found = self.layouts.get(file.path)
        if found is None:
            layout = layout_of(file.data, file.syntax)
            total = len(layout.statements) if layout is not None else -1
            found = self.layouts[file.path] = (layout, places(file.tree.body, _small_count, total))
        return found


def _small_count(statement: object) -> int | None:
    return len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else None


def _built(
    interp: Interpreter, number: int, roots: Callable[[], Iterator[Root]]
) -> DefinitionVerdicts:
    """One definition's roots, built and analysed."""
    unread_before = len(interp.unread)
    observations: list[Observation] = []
    findings: list[Diagnostic] = []
    timings: list[tuple[str, float]] = []
    began = time.perf_counter()
    for root in roots():
        analysed = analyse_root(interp, root)
        timings.append((root.origin, time.perf_counter() - began))
        began = time.perf_counter()
        observations.extend(analysed.observations)
        findings.extend(analysed.findings)
    # interp.unread only grows, in the order calls are met: what this definition met first
    unread = list(interp.unread.values())[unread_before:]
    return DefinitionVerdicts(
        number,
        tuple(observations),
        tuple(findings),
        tuple(unread_library_findings(unread)),
        tuple(timings),
    )


def merge_shares(shares: Sequence[FileShare]) -> FileVerdicts:
    """A file's contribution from the shares of its definitions, exactly as one process
    analysing them all in order makes it: observations in the definitions' order, each
    finding once (the first met), the unread-library notes after the other findings."""
    first = shares[0]
    if first.failure is not None:
        return FileVerdicts(
            first.path, first.display, first.digest, failure=first.failure, lookups=first.lookups
        )
    done = sorted((d for s in shares for d in s.definitions), key=lambda d: d.number)
    findings: dict[tuple[str, int, int, str], Diagnostic] = {}
    for finding in [f for d in done for f in d.findings] + [f for d in done for f in d.unread]:
        findings.setdefault((finding.path, finding.line, finding.column, finding.code), finding)
    timings = [t for d in done for t in d.timings]
    return FileVerdicts(
        chains=tuple(c for s in shares for c in s.chains),
        path=first.path,
        display=first.display,
        digest=first.digest,
        module_classes=first.module_classes,
        observations=tuple(o for d in done for o in d.observations),
        findings=tuple(findings.values()),
        reads=tuple(sorted({r for s in shares for r in s.reads})),
        lookups=_lookups({name: found for s in shares for name, found in s.lookups}),
        seconds=sum(s.seconds for s in shares),
        roots=tuple(sorted(timings, key=lambda t: -t[1])[:_ROOTS_TIMED]),
    )


def unread_library_findings(
    unread: Iterable[tuple[OutsideBuilt, str, str | None]],
) -> Iterator[Diagnostic]:
    """XBN402 for each module built by a library the analysis cannot read, where the
    project's code builds it: nothing inside it is checked, and the user should know."""
    rule = rules.UNREAD_LIBRARY_MODULE
    for built, target, owner in unread:
        assert isinstance(built.node, cst.Call)
        message = rule.format(
            target=target, call=node_text(built.node.func), package=built.qualname.split(".")[0]
        )
        yield diagnostic(rule.code, message, built.file.location(built.node), owner)


def _lookups(found: Mapping[str, Path | str | None]) -> tuple[tuple[str, str | None], ...]:
    return tuple(sorted((name, str(p) if p is not None else None) for name, p in found.items()))


def failure_diagnostic(failure: ParseFailure) -> Diagnostic:
    rule = rules.get_rule(failure.code)
    return Diagnostic(
        code=rule.code,
        name=rule.name,
        severity=rule.severity,
        message=rule.format(detail=failure.detail),
        path=failure.display_path,
        line=failure.line,
        column=failure.column,
        end_line=failure.line,
        end_column=failure.column,
        help=rule.fix,
    )
