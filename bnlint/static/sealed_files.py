"""Which files of a project are sealed (bnlint.static.sealed), following what they import
from the project: a file is sealed when its own syntax lets no caller in and every project
file defining a name it imports is sealed too (what those define runs nothing of a
caller's either). The engine then merges the report on a sealed file from its own analysis
alone, unless a class of its context derives from one of its classes."""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Mapping, Sequence

from bnlint.static.caller_flow import Imported, ProjectModules, Provenance
from bnlint.static.callers import CallerGraph
from bnlint.static.scan import ProjectScan
from bnlint.static.sealed import (
    Closure,
    KeptClosure,
    class_names,
    closure_of,
    derived_classes,
    parsed,
    tree_digest,
)

log = logging.getLogger("bnlint.static")


class SealedFiles:
    def __init__(
        self,
        scan: ProjectScan,
        graph: CallerGraph,
        kept: Mapping[str, KeptClosure] | None = None,
    ) -> None:
        """`kept`: closures an earlier run computed, by file, taken again where what they
        were computed from is unchanged."""
        self._scan = scan
        self._graph = graph
        self._kept = kept or {}
        self._closures: dict[str, Closure] = {}
        self._uses: dict[str, frozenset[str]] = {}  # the project files each decision read
        self.computed: dict[str, KeptClosure] = {}  # this run's closures, for the next

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
        return self._closure(path).sealed

    def _closure(self, path: str) -> Closure:
        """The names `path` defines as an importer gets them."""
        known = self._closures.get(path)
        if known is not None:
            return known
        # An import cycle back to this file: nothing closed, the file not sealed.
        self._closures[path] = Closure()
        used: set[str] = set()
        imported = self._imports_of(path, used)
        digest = self._scan.facts[path].digest
        kept = self._kept.get(path)
        tree: ast.Module | None = None
        code = kept.tree if kept is not None and kept.digest == digest else ""
        if kept is not None and not code:  # other bytes: the same code, perhaps
            tree = parsed(self._scan.data[path])
            code = tree_digest(tree)
        if (
            kept is not None
            and code
            and code == kept.tree
            and all(imported(name) == answer for name, answer in kept.answers)
        ):
            found, answers = kept.closure, dict(kept.answers)
        else:
            answers = {}

            def answering(name: str) -> Imported:
                if name not in answers:
                    answers[name] = imported(name)
                return answers[name]

            if tree is None:
                tree = parsed(self._scan.data[path])
            found = closure_of(tree, answering)
            code = tree_digest(tree)
        self._closures[path] = found
        self._uses[path] = frozenset(used)
        self.computed[path] = KeptClosure(digest, code, tuple(sorted(answers.items())), found)
        return found

    def _imports_of(self, path: str, used: set[str]) -> ProjectModules:
        """What `path` gets under an imported name from the project files that may define
        it (the least safe of them); OUTSIDE for a name from outside the project. Each file
        read is added to `used`."""

        def imported(name: str) -> Imported:
            definitions = sorted(self._graph.definitions(path, name))
            used.update(file for file, _ in definitions)
            if not definitions:
                return Imported(Provenance.OUTSIDE)
            found = [self._imported(path, file, defined) for file, defined in definitions]
            return Imported(
                min((f.provenance for f in found), key=_RISK.index), any(f.layer for f in found)
            )

        return imported

    def _imported(self, importer: str, file: str, defined: str) -> Imported:
        if file == importer:
            return Imported(Provenance.OPEN)
        found = self._closure(file)
        if defined:
            return found.imported(defined)
        # the module itself: any of its names may be read through it
        handled = found.hands_back or found.caller_state or found.layers
        sealed_module = self._sealed(file) and not handled
        return Imported(Provenance.CLOSED if sealed_module else Provenance.OPEN)

    def _read_for(self, path: str) -> set[str]:
        seen = {path}
        pending = [path]
        while pending:
            for used in self._uses.get(pending.pop(), ()):
                if used not in seen:
                    seen.add(used)
                    pending.append(used)
        return seen


# The provenances from the least safe on: a name several files may define is as safe as
# the least safe of them.
_RISK = [Provenance.OPEN, Provenance.CALLER_STATE, Provenance.HANDS_BACK, Provenance.CLOSED]
