"""Which files of a project are sealed (bnlint.static.sealed), following what they import
from the project: a file is sealed when its own syntax lets no caller in and every project
file defining a name it imports is sealed too (what those define runs nothing of a
caller's either). The engine then merges the report on a sealed file from its own analysis
alone, unless a class of its context derives from one of its classes."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from bnlint.static.callers import CallerGraph
from bnlint.static.scan import ProjectScan
from bnlint.static.sealed import class_names, derived_classes, sealed

log = logging.getLogger("bnlint.static")


class SealedFiles:
    def __init__(self, scan: ProjectScan, graph: CallerGraph) -> None:
        self._scan = scan
        self._graph = graph
        self._known: dict[str, bool] = {}
        self._uses: dict[str, frozenset[str]] = {}  # the project files each decision read

    def merged(self, path: str, context: Sequence[str]) -> tuple[list[str], list[str]]:
        """The members of the context whose contributions the report on `path` merges, and
        the other files whose texts decided it (a change to one decides again)."""
        if len(context) == 1 or path not in self._scan.project or not self._safely_sealed(path):
            return list(context), []
        # A subclass could override what the classes' methods call; one in another file
        # is in the context (it names the class it derives from).
        classes = class_names(self._scan.data[path])
        others = [m for m in context if m != path]
        if classes and any(derived_classes(self._scan.data[m], classes) for m in others):
            return list(context), []
        log.info(
            "%s is sealed: its report is its own analysis (%d files of context not needed)",
            os.path.relpath(path),
            len(others),
        )
        return [path], sorted(self._read_for(path) - {path})

    def _safely_sealed(self, path: str) -> bool:
        try:
            return self._sealed(path)
        except Exception:  # a bug here must cost the shortcut, never the run
            log.warning("could not decide whether %s is sealed", path, exc_info=True)
            return False

    def _sealed(self, path: str) -> bool:
        known = self._known.get(path)
        if known is not None:
            return known
        self._known[path] = False  # an import cycle back to this file is not followed
        used: set[str] = set()

        def imported_sealed(name: str) -> bool | None:
            definers = self._graph.definers(path, name)
            used.update(definers)
            if not definers:
                return None  # not the project's
            return path not in definers and all(self._sealed(d) for d in sorted(definers))

        found = sealed(self._scan.data[path], imported_sealed)
        self._known[path] = found
        self._uses[path] = frozenset(used)
        return found

    def _read_for(self, path: str) -> set[str]:
        seen = {path}
        pending = [path]
        while pending:
            for used in self._uses.get(pending.pop(), ()):
                if used not in seen:
                    seen.add(used)
                    pending.append(used)
        return seen
