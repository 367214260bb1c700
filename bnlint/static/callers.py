"""Which project files can change the verdicts on a file, decided from text alone.

A file's verdicts come from the models that build its classes. A model elsewhere can build
them only through names the resolver follows: the other file must import this file's module
(directly, through a package above it, or through a module that re-exports it) and mention a
name this file binds. That relation — G *calls into* X — is computed from each file's
TextFacts, without parsing; the files one analysis needs are the ones that call into it,
transitively: its *context*. A verdict on a file depends on nothing outside its context and
the modules the context imports, which is what makes single-file runs, parallel runs and the
cache agree with a whole-tree run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bnlint.static.textscan import TextFacts, import_targets, star_imports


class FileFacts:
    """What the engine knows about a project file before parsing it. The text facts may be
    given as a function that produces them: a cached run seldom needs them."""

    __slots__ = ("path", "digest", "module", "is_package", "has_class", "_text")

    def __init__(
        self,
        path: str,
        digest: str,
        module: str,
        is_package: bool,
        has_class: bool,
        text: TextFacts | Callable[[], TextFacts],
    ) -> None:
        self.path = path
        self.digest = digest
        self.module = module
        self.is_package = is_package
        self.has_class = has_class
        self._text = text

    @property
    def text(self) -> TextFacts:
        if not isinstance(self._text, TextFacts):
            self._text = self._text()
        return self._text


@dataclass
class Edges:
    """The graph as computed for one module table: per file, the project modules its
    imports reach and the files it calls into."""

    reached: dict[str, frozenset[str]] = field(default_factory=dict)
    callees: dict[str, frozenset[str]] = field(default_factory=dict)


class CallerGraph:
    """`callers(X)`: the files that call into X.

    `mentions(G)` gives the words of G's text; it is asked only for files that import a
    project module. `previous` holds the edges of an earlier run under the same module
    table; they are kept for every file that did not change (`changed`) and imports no
    module whose exported names may have changed.
    """

    def __init__(
        self,
        files: Mapping[str, FileFacts],
        mentions: Callable[[str], frozenset[str]],
        previous: Edges | None = None,
        changed: frozenset[str] = frozenset(),
    ) -> None:
        self.files = files
        self._mentions = mentions
        self._by_module: dict[str, list[str]] = defaultdict(list)
        self._below: dict[str, list[str]] = defaultdict(list)
        for facts in files.values():
            if facts.module not in self._by_module:
                parts = facts.module.split(".")
                for cut in range(1, len(parts)):
                    self._below[".".join(parts[:cut])].append(facts.module)
            self._by_module[facts.module].append(facts.path)
        self._export_cache: dict[str, frozenset[str]] = {}
        previous = previous or Edges()
        self.edges = Edges()
        for path in files:
            known = previous.reached.get(path)
            self.edges.reached[path] = (
                known if known is not None and path not in changed else frozenset(self._reach(path))
            )
        touched = self._export_changes(changed) if changed else set()
        for path, reached in self.edges.reached.items():
            known = previous.callees.get(path)
            if known is not None and path not in changed and reached.isdisjoint(touched):
                self.edges.callees[path] = known
            else:
                self.edges.callees[path] = frozenset(self._calls(path, reached))
        self._callers: dict[str, list[str]] = defaultdict(list)
        for caller, callees in self.edges.callees.items():
            for callee in callees:
                self._callers[callee].append(caller)

    def context(self, path: str) -> list[str]:
        """`path` and every file that calls into it, transitively, sorted."""
        seen = {path}
        pending = [path]
        while pending:
            for caller in self._callers.get(pending.pop(), ()):
                if caller not in seen:
                    seen.add(caller)
                    pending.append(caller)
        return sorted(seen)

    def locality_order(self, paths: Iterable[str]) -> list[str]:
        """`paths` in an order that analyses each file soon after the files it imports: a
        depth-first walk from the files that import nothing of the set to the files that
        call into them. A model family then comes with the scripts and tests that build it,
        so the trees they share are still parsed when needed (in one process, and within one
        parallel task)."""
        wanted = set(paths)
        order: list[str] = []
        seen: set[str] = set()
        # Start from the files that import nothing of the set (the shared layers).
        starts = sorted(
            wanted, key=lambda p: (len(self.edges.callees.get(p, frozenset()) & wanted), p)
        )
        for start in starts:
            pending = [start]
            while pending:
                path = pending.pop()
                if path in seen:
                    continue
                seen.add(path)
                order.append(path)
                pending.extend(
                    sorted(
                        (c for c in self._callers.get(path, ()) if c in wanted and c not in seen),
                        reverse=True,
                    )
                )
        return order

    # ---- the relation ------------------------------------------------------------------

    def _reach(self, path: str) -> set[str]:
        """Project modules the file's imports can resolve. A name imported as `a.b.c` is
        found, as bnlint.static.index.Resolver finds it, in the longest prefix that is a
        module (a package above it is not read); attribute access on an imported module
        can reach every module below it."""
        facts = self.files[path]
        _, targets = import_targets(facts.text, facts.module, facts.is_package)
        reached: set[str] = set()
        for target in targets:
            parts = target.split(".")
            for cut in range(len(parts), 0, -1):
                prefix = ".".join(parts[:cut])
                if prefix in self._by_module:
                    reached.add(prefix)
                    break
            reached.update(self._below.get(target, ()))
        return reached

    def _calls(self, caller: str, reached: frozenset[str]) -> set[str]:
        facts = self.files[caller]
        stars = star_imports(facts.text, facts.module, facts.is_package)
        found: set[str] = set()
        words: frozenset[str] | None = None
        for module in sorted(reached):
            for callee in self._by_module[module]:
                if callee == caller:
                    continue
                if module in stars:
                    found.add(callee)
                    continue
                if words is None:
                    words = self._mentions(caller)
                if not words.isdisjoint(self._exports(callee)):
                    found.add(callee)
        return found

    def _export_changes(self, changed: frozenset[str]) -> set[str]:
        """Modules whose exported names may differ from the last run: those of the changed
        files and of the files that star-import from them."""
        touched = {self.files[p].module for p in changed if p in self.files}
        touched |= {
            facts.module
            for facts in self.files.values()
            if facts.text.imports and self._star_sources(facts.path) & changed
        }
        return touched

    def _star_sources(self, path: str) -> frozenset[str]:
        """The project files whose names `path` re-exports through star imports, transitively
        (order-independent, so cycles give one answer however they are entered)."""
        seen: set[str] = set()
        pending = [path]
        while pending:
            facts = self.files[pending.pop()]
            for module in star_imports(facts.text, facts.module, facts.is_package):
                for source in self._by_module.get(module, ()):
                    if source not in seen and source != path:
                        seen.add(source)
                        pending.append(source)
        return frozenset(seen)

    def _exports(self, path: str) -> frozenset[str]:
        """The names another file can import from `path`: what it defines, what it imports,
        and what it star-imports from other project modules."""
        found = self._export_cache.get(path)
        if found is None:
            text = self.files[path].text
            names = set(text.names) | set(text.bound)
            for source in self._star_sources(path):
                names |= self.files[source].text.names | self.files[source].text.bound
            found = self._export_cache[path] = frozenset(names)
        return found
