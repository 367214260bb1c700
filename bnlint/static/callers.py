"""Which project files can change the verdicts on a file, decided from text alone.

A file's verdicts come from the models that build its classes. A model elsewhere can build
them only through names the resolver follows: the other file must import this file's module
(directly, through a package above it, or through a module that re-exports it) and mention a
name this file defines. That relation — G *calls into* X — is computed from each file's
TextFacts, without parsing; the files one analysis needs are the ones that call into it,
transitively: its *context*. A verdict on a file depends on nothing outside its context and
the modules the context imports, which is what makes single-file runs, parallel runs and the
cache agree with a whole-tree run.

A name G takes from a module that only re-exports it (a package `__init__` importing from
its submodules) leads to the file that defines it, not to the re-exporter: the re-exporter
builds nothing with it. Without that, a package's `__init__` re-exporting every model made
each model file part of every other's context (`from timm.layers import ...` in one file
and `__version__` in another were enough), and checking one file analysed the whole package.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bnlint.static.textscan import (
    ImportFacts,
    TextFacts,
    absolute_module,
    import_targets,
    star_imports,
)

# A file and the name it defines something under ("" for the module itself).
Definition = tuple[str, str]


class FileFacts:
    """What the engine knows about a project file before parsing it. The text facts may be
    given as a function that produces them: a cached run seldom needs them."""

    __slots__ = ("path", "digest", "module", "is_package", "may_build", "_text")

    def __init__(
        self,
        path: str,
        digest: str,
        module: str,
        is_package: bool,
        may_build: bool,
        text: TextFacts | Callable[[], TextFacts],
    ) -> None:
        self.path = path
        self.digest = digest
        self.module = module
        self.is_package = is_package
        self.may_build = may_build
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

    `mentions(G)` gives the words of G's text, `attributes(G, name)` the names G reads as
    attributes of `name` (`name.models.resnet50`); they are asked only for files that import
    a project module. `previous` holds the edges of an earlier run under the same module
    table; they are kept for every file that did not change (`changed`) and imports no
    module whose exported names may have changed.
    """

    def __init__(
        self,
        files: Mapping[str, FileFacts],
        mentions: Callable[[str], frozenset[str]],
        attributes: Callable[[str, str], frozenset[str]],
        previous: Edges | None = None,
        changed: frozenset[str] = frozenset(),
    ) -> None:
        self.files = files
        self._mentions = mentions
        self._attributes = attributes
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
        self._definers: dict[tuple[str, str, bool], frozenset[Definition]] = {}
        for path, reached in self.edges.reached.items():
            known = previous.callees.get(path)
            # A file's callees are found through the imports of the modules it reaches, and
            # of the modules those re-export from: after any change, all are found again.
            if known is not None and not changed:
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

    def definitions(self, path: str, name: str) -> frozenset[Definition]:
        """The project files that define what `path` binds as `name` (through re-exports),
        each with the name it defines it under (`from .m import a as b` binds as `b` what m
        defines as `a`; "" where the name is a module itself); `path` itself when it defines
        it or binds it in a way the text does not show. A project module that binds the
        name where its text does not show it (a definition inside `try:`, a tuple
        assignment) answers for it."""
        return self._defined_by(path, name, frozenset(), answering=True)

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
        return {module for target in targets for module in self._reached_from(target, True)}

    def _calls(self, caller: str, reached: frozenset[str]) -> set[str]:
        """The files defining what the caller's imports give it. A star import gives it the
        whole module; a module it holds as an object (`import pkg.models`), whatever it
        mentions there; `from m import a, b`, a and b (and the submodules m.a, m.b)."""
        facts = self.files[caller]
        found: set[str] = set()
        mentioned: frozenset[str] | None = None
        for item in facts.text.imports:
            base = absolute_module(facts.module, facts.is_package, item.module, item.level)
            for module, kind, names in self._given(item, base):
                if module not in reached:
                    continue
                for callee in self._by_module[module]:
                    if callee == caller:
                        continue
                    if kind == "object":
                        # a module held as an object gives what the caller reads of it
                        # (`pkg.models.resnet50`), not every word it shares with it
                        names = self._read_of(caller, names) & self._exports(callee)
                    elif kind == "star":
                        # a star import calls into what the caller mentions of it: a package
                        # re-exporting every model with `from .models import *` builds none
                        if mentioned is None:
                            # a name the caller binds by its own imports is that import's
                            # (`torch`, `nn`), not an attribute of this module
                            mentioned = self._mentions(caller) - facts.text.bound
                        names = mentioned & self._exports(callee)
                    if kind != "names":
                        # a name the caller defines is its own (its `logger`, not the
                        # module's); a dunder name (`__all__`) builds nothing
                        names = frozenset(
                            n for n in names if n not in facts.text.names and not _is_dunder(n)
                        )
                    for name in names:
                        found |= {f for f, _ in self._defined_by(callee, name, frozenset())}
        found.discard(caller)
        return found

    def _given(self, item: ImportFacts, base: str) -> list[tuple[str, str, frozenset[str]]]:
        """(module, how, names) for what one import statement gives: "star" (every name),
        "object" (the module as an object, under the names given: what is read of them) or
        "names" (those named)."""
        if item.names is None:  # `import a.b.c`: anything under what it binds
            bound = frozenset(item.binds)
            return [
                (m, "object", bound)
                for m in self._reached_from(_bound_module(item, base), subtree=True)
            ]
        if item.names == ("*",):
            return [(m, "star", frozenset()) for m in self._reached_from(base, subtree=True)]
        names = frozenset(item.names)
        given = [(m, "names", names) for m in self._reached_from(base, subtree=False)]
        for name, alias in zip(item.names, item.binds, strict=False):
            target = f"{base}.{name}" if base else name
            if target in self._by_module:  # `from pkg import models`: a module as an object
                given += [
                    (m, "object", frozenset({alias})) for m in self._reached_from(target, True)
                ]
        return given

    def _read_of(self, caller: str, bound: frozenset[str]) -> frozenset[str]:
        """The names the caller reads as attributes of the module objects it binds."""
        found: frozenset[str] = frozenset()
        for name in bound:
            found |= self._attributes(caller, name)
        return found

    def _reached_from(self, target: str, subtree: bool) -> list[str]:
        """The modules a dotted name reaches: the longest prefix that is a module, and, for
        a subtree target, every module below it."""
        found: list[str] = []
        parts = target.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self._by_module:
                found.append(prefix)
                break
        if subtree:
            found.extend(self._below.get(target, ()))
        return found

    def _defined_by(
        self, path: str, name: str, seen: frozenset[str], answering: bool = False
    ) -> frozenset[Definition]:
        """The files that define `name` as `path` binds it: `path` itself when it defines
        the name, else where it imports the name from (nothing, for a module outside the
        project), followed through re-exports. When the binding cannot be told apart (an
        import under a name the text scan cannot pair), `path` stands for it, as a caller."""
        key = (path, name, answering)
        found = self._definers.get(key)
        if found is not None:
            return found
        if path in seen:
            return frozenset({(path, name)})
        seen = seen | {path}
        facts = self.files[path]
        if name in facts.text.names:
            result = frozenset({(path, name)})
        else:
            result = self._imported(facts, name, seen, answering)
        self._definers[key] = result
        return result

    def _imported(
        self, facts: FileFacts, name: str, seen: frozenset[str], answering: bool
    ) -> frozenset[Definition]:
        result: set[Definition] = set()
        bound_somewhere = False
        for item in facts.text.imports:
            base = absolute_module(facts.module, facts.is_package, item.module, item.level)
            if item.names == ("*",):
                for source in self._by_module.get(base, ()):
                    if name in self._exports(source):
                        result |= self._defined_by(source, name, seen, answering)
                continue
            if name not in item.binds:
                continue
            bound_somewhere = True
            if item.names is None:  # `import pkg.sub` binds `pkg`: a module object
                result.update(
                    (f, "")
                    for m in self._reached_from(_bound_module(item, base), subtree=True)
                    for f in self._by_module[m]
                )
                continue
            original = item.names[item.binds.index(name)]
            submodule = f"{base}.{original}" if base else original
            result.update((f, "") for f in self._by_module.get(submodule, ()))
            for source in self._by_module.get(base, ()):
                found = self._defined_by(source, original, seen, answering)
                result |= found or ({(source, original)} if answering else set())
        if not result and not bound_somewhere and name in facts.text.bound:
            result.add((facts.path, name))  # bound by an import the text cannot pair
        return frozenset(result)

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


def _bound_module(item: ImportFacts, base: str) -> str:
    """The module a plain import binds: `import a.b as c` binds a.b, `import a.b` binds a."""
    return base if item.alias else base.split(".")[0]


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")
