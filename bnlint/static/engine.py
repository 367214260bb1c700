"""`bnlint check`'s engine: files in, CheckResult out. Never imports or runs the files."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from bnlint import rules
from bnlint.ftypes import CheckResult, Diagnostic, FoldEntry, ModuleReport, Status
from bnlint.static.build import RootVerdicts, analyse_root, build_candidates
from bnlint.static.classes import ClassModel
from bnlint.static.index import ModuleLoader, ProjectClass, Resolver
from bnlint.static.interp import Interpreter
from bnlint.static.source import (
    ParseFailure,
    SourceFile,
    may_define_module,
    parse_source,
    read_source,
)

log = logging.getLogger("bnlint.static")

_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env",
                           "build", "dist"})
_MAX_CONTEXT_ROUNDS = 6


@dataclass
class Project:
    """Every file the analysis has read, parsed at most once."""

    search_roots: list[Path]
    files: dict[Path, SourceFile] = field(default_factory=dict)
    failures: dict[Path, ParseFailure] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loader = ModuleLoader(self.load, self.search_roots)
        self.resolver = Resolver(self.loader)
        self.classes = ClassModel(self.resolver)

    def load(self, path: Path, data: bytes | None = None) -> SourceFile | None:
        path = path.resolve()
        if path in self.files:
            return self.files[path]
        if path in self.failures:
            return None
        if data is None:
            read = read_source(path)
            if isinstance(read, ParseFailure):
                self.failures[path] = read
                return None
            data = read
        parsed = parse_source(path, data)
        if isinstance(parsed, ParseFailure):
            self.failures[path] = parsed
            return None
        self.files[path] = parsed
        self.loader.register(parsed)
        log.debug("parsed %s as %s", parsed.display_path, parsed.module_name)
        return parsed

    def module_classes(self, file: SourceFile) -> list[ProjectClass]:
        symbols = self.loader.symbols(file)
        found = []
        for name, node in symbols.classes.items():
            cls = ProjectClass(file, node, f"{file.module_name}.{name}")
            if self.classes.is_module(cls):
                found.append(cls)
        return found


def analyze(files: Sequence[Path], *, search_roots: Sequence[Path] = ()) -> CheckResult:
    """Analyse `files` (reading other files under `search_roots` where the verdicts need
    them) and report on `files` only."""
    project = Project([Path(r) for r in search_roots])
    reported: list[SourceFile] = []
    reported_paths: set[Path] = set()
    diagnostics: list[Diagnostic] = []
    for path in files:
        resolved = Path(path).resolve()
        reported_paths.add(resolved)
        data = read_source(resolved)
        if isinstance(data, ParseFailure):
            diagnostics.append(_failure_diagnostic(data))
            continue
        if not may_define_module(data):
            continue
        loaded = project.load(resolved, data)
        if loaded is None:
            diagnostics.append(_failure_diagnostic(project.failures[resolved]))
        else:
            reported.append(loaded)

    _load_callers(project, reported)
    candidates = build_candidates(project, list(project.files.values()))
    verdicts = RootVerdicts()
    interp = Interpreter(project.resolver, project.classes)
    for root in candidates.roots:
        analyse_root(interp, root, verdicts)
    for inst in candidates.all_instances:
        verdicts.add_plain_containers(inst)

    shown = {file.display_path for file in reported}
    diagnostics.extend(d for d in verdicts.diagnostics() if d.path in shown)
    modules = [_module_report(project, cls, verdicts) for file in reported
               for cls in project.module_classes(file)]
    diagnostics.sort(key=lambda d: (d.path, d.line, d.column, d.code))
    return CheckResult(files=tuple(_display(p) for p in files),
                       diagnostics=tuple(diagnostics), modules=tuple(modules))


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _failure_diagnostic(failure: ParseFailure) -> Diagnostic:
    rule = rules.get_rule(failure.code)
    return Diagnostic(code=rule.code, name=rule.name, severity=rule.severity,
                      message=rule.format(detail=failure.detail), path=failure.display_path,
                      line=failure.line, column=failure.column, end_line=failure.line,
                      end_column=failure.column, help=rule.fix)


def _module_report(project: Project, cls: ProjectClass, verdicts: RootVerdicts) -> ModuleReport:
    where = cls.file.location(cls.node)
    entries = verdicts.entries_owned_by(cls.qualname)
    return ModuleReport(class_name=cls.qualname, path=cls.file.display_path, line=where.line,
                        folds=tuple(entries))


def _python_files(root: Path) -> Iterable[Path]:
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        for name in names:
            if name.endswith(".py"):
                yield Path(directory, name)


def _load_callers(project: Project, reported: list[SourceFile]) -> None:
    """Parse the project files that mention the reported classes, transitively, so a file
    checked alone gets the verdicts it gets when the whole tree is checked."""
    if not project.search_roots or not reported:
        return
    candidates: dict[Path, bytes] = {}
    for root in project.search_roots:
        for path in _python_files(root):
            resolved = path.resolve()
            if resolved in project.files or resolved in candidates:
                continue
            data = read_source(resolved)
            if isinstance(data, bytes):
                candidates[resolved] = data
    frontier = list(reported)
    for _ in range(_MAX_CONTEXT_ROUNDS):
        names = {name for file in frontier for name in project.loader.symbols(file).classes}
        names |= {name for file in frontier for name in project.loader.symbols(file).functions
                  if not name.startswith("_")}
        if not names or not candidates:
            return
        pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(names))
                             + rb")\b")
        frontier = []
        for path in [p for p, data in candidates.items() if pattern.search(data)]:
            loaded = project.load(path, candidates.pop(path))
            if loaded is not None:
                frontier.append(loaded)
        if not frontier:
            return


def check_status_counts(result: CheckResult) -> dict[Status, int]:
    return {status: result.count(status) for status in Status}


_ = FoldEntry
