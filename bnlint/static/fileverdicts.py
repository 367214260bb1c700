"""One file's contribution to the verdicts: every root it defines, analysed.

A file contributes what its own code builds: each module class on its own and each factory's
model (bnlint.static.roots). Each contribution is computed once, in any process, from the file
and what it imports, and kept as a `FileVerdicts` value; bnlint.static.verdicts combines the
contributions of a file's context into what `bnlint check` reports on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import libcst as cst

from bnlint import rules
from bnlint.ftypes import Diagnostic
from bnlint.static.analysis import analyse_root
from bnlint.static.interp import Interpreter
from bnlint.static.project import Project
from bnlint.static.records import FileVerdicts, Observation
from bnlint.static.roots import file_roots
from bnlint.static.source import ParseFailure, module_name_for
from bnlint.static.values import node_text
from bnlint.static.verdicts import diagnostic

log = logging.getLogger("bnlint.static")

_ROOTS_TIMED = 5  # the slowest roots of a file that --timing can name


def analyse_file(project: Project, path: Path) -> FileVerdicts:
    """Build and run everything `path` defines, recording every file the work read. The
    result names the file by `path` as given; what it read, by resolved paths."""
    started = time.perf_counter()
    given, path = str(path), path.resolve()
    project.fresh_models()
    with project.tracking() as reads:
        file = project.load(path, explicit=True)
        # Its own name: whether a lookup finds this file decides how others see it.
        project.loader.module(file.module_name if file else module_name_for(path)[0])
        if file is None:
            failure = project.failures[path]
            return FileVerdicts(
                given,
                failure.display_path,
                project.digests.get(path, ""),
                failure=failure_diagnostic(failure),
                lookups=_lookups(reads.lookups),
            )
        interp = Interpreter(project.resolver, project.classes)
        observations: list[Observation] = []
        findings: dict[tuple[str, int, int, str], Diagnostic] = {}
        timings: list[tuple[str, float]] = []
        began = time.perf_counter()
        for root in file_roots(project, file, interp):
            analysed = analyse_root(interp, root)
            timings.append((root.origin, time.perf_counter() - began))
            began = time.perf_counter()
            observations.extend(analysed.observations)
            for finding in analysed.findings:
                findings.setdefault(
                    (finding.path, finding.line, finding.column, finding.code), finding
                )
        for finding in unread_library_findings(interp):
            findings.setdefault((finding.path, finding.line, finding.column, finding.code), finding)
        classes = tuple(
            (cls.qualname, file.location(cls.node).line) for cls in project.module_classes(file)
        )
    reads.files.pop(path, None)
    contribution = FileVerdicts(
        path=given,
        display=file.display_path,
        digest=project.digests[path],
        module_classes=classes,
        observations=tuple(observations),
        findings=tuple(findings.values()),
        reads=tuple(sorted((str(p), d) for p, d in reads.files.items())),
        lookups=_lookups(reads.lookups),
        seconds=time.perf_counter() - started,
        roots=tuple(sorted(timings, key=lambda t: -t[1])[:_ROOTS_TIMED]),
    )
    project.retire()
    return contribution


def unread_library_findings(interp: Interpreter) -> Iterator[Diagnostic]:
    """XBN402 for each module built by a library the analysis cannot read, where the
    project's code builds it: nothing inside it is checked, and the user should know."""
    rule = rules.UNREAD_LIBRARY_MODULE
    for built, target, owner in interp.unread.values():
        assert isinstance(built.node, cst.Call)
        message = rule.format(
            target=target, call=node_text(built.node.func), package=built.qualname.split(".")[0]
        )
        yield diagnostic(rule.code, message, built.file.location(built.node), owner)


def _lookups(found: dict[str, Path | None]) -> tuple[tuple[str, str | None], ...]:
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
