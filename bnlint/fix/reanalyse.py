"""Analysing fixed text before it is written: the static engine run on in-memory sources.

The engine reads files from disk; until it takes a `sources=` override (requested in
/work/notes/requests.md), this module runs the engine's own steps on a Project whose fixed
files are pre-loaded from memory. It never consults a cache: the text it checks exists nowhere
else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from bnlint.ftypes import CheckResult


def analyze_sources(sources: Mapping[Path, bytes], *,
                    search_roots: Sequence[Path] = ()) -> CheckResult:
    """What `bnlint check` would find in `sources` (path -> the bytes it would hold), with
    the other files of the project read from disk as usual."""
    from bnlint.static import engine
    from bnlint.static.build import RootVerdicts, analyse_root, build_candidates
    from bnlint.static.interp import Interpreter

    project = engine.Project([Path(r) for r in search_roots])
    reported = []
    diagnostics = []
    for path, data in sources.items():
        resolved = Path(path).resolve()
        loaded = project.load(resolved, data)
        if loaded is None:
            diagnostics.append(engine._failure_diagnostic(project.failures[resolved]))
        else:
            reported.append(loaded)
    engine._load_callers(project, reported)
    candidates = build_candidates(project, list(project.files.values()))
    verdicts = RootVerdicts()
    interp = Interpreter(project.resolver, project.classes)
    for root in candidates.roots:
        analyse_root(interp, root, verdicts)
    for inst in candidates.all_instances:
        verdicts.add_plain_containers(inst)
    shown = {file.display_path for file in reported}
    diagnostics.extend(d for d in verdicts.diagnostics() if d.path in shown)
    modules = [engine._module_report(project, cls, verdicts) for file in reported
               for cls in project.module_classes(file)]
    diagnostics.sort(key=lambda d: (d.path, d.line, d.column, d.code))
    return CheckResult(files=tuple(engine._display(p) for p in sources),
                       diagnostics=tuple(diagnostics), modules=tuple(modules))
