"""The project as text: every file read and hashed, its facts taken from the text, and the
module table that says which file a lookup of a module name finds. Nothing is parsed with
libcst here; a checked file with no class statement, which the engine never parses, is
asked of CPython's parser whether it reads at all (its finding is cached by content).

Paths are absolute, symlink-free strings: a run answered by the cache spends its time in
this module, and pathlib objects cost more to build and hash than the work itself.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from bnlint import rules
from bnlint.ftypes import Diagnostic
from bnlint.static.callers import FileFacts
from bnlint.static.libraries import LibraryRoot, find_module
from bnlint.static.readable import MAX_BYTES, Refusal, python_refusal
from bnlint.static.textscan import (
    TextFacts,
    attribute_names,
    attribute_reads,
    content_digest,
    identifiers,
    may_build_model,
    scan_text,
)

# A file's facts kept from an earlier run: whether it may define a module class, and its
# text facts (or how to decode them when first needed).
KnownFacts: TypeAlias = tuple[bool, TextFacts | Callable[[], TextFacts]]

# Folders no project keeps its own importable code in.
_SKIPPED_DIRS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "venv", "env", "build", "dist"}
)


@dataclass
class ProjectScan:
    """Every project file's facts; the bytes stay in memory for the mention checks."""

    facts: dict[str, FileFacts]
    data: dict[str, bytes]
    # The checked files that cannot be read, or that the class pre-filter keeps from the
    # parser and Python could not read either (an analysed file reports its own refusal).
    unreadable: dict[str, Diagnostic]
    source_roots: tuple[str, ...]
    loader_roots: tuple[str, ...]  # where a module lookup searches, in its order
    keys: dict[str, str]  # how the scan names each checked file (absolute path -> key)
    # The files imports can resolve to and callers can come from: every file under the search
    # roots (or, without roots, the checked files). A checked file outside the roots (in a
    # hidden folder, say) is reported on but changes no other file's verdicts.
    project: frozenset[str]
    # Digest -> why Python could not read it (None: it could), for the checked files the
    # pre-filter keeps from the parser; the cache keeps these.
    refusals: dict[str, Refusal | None] = field(default_factory=dict)
    # Installed libraries lookups search after the project (bnlint.static.libraries).
    libraries: tuple[LibraryRoot, ...] = ()
    _by_module: dict[str, list[str]] = field(default_factory=dict)
    _in_libraries: dict[str, str | None] = field(default_factory=dict)
    # path -> the attributes read of each name in its text (see attributes)
    _attribute_reads: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path in sorted(self.project):
            self._by_module.setdefault(self.facts[path].module, []).append(path)
        self._root_rank = {root: rank for rank, root in enumerate(self.loader_roots)}

    def resolve(self, name: str) -> str | None:
        """The file a lookup of module `name` finds (bnlint.static.index.ModuleLoader: the
        first root holding `name.py`, else `name/__init__.py`), or None."""
        best: tuple[int, int, str] | None = None
        depth = name.count(".") + 1
        for path in self._by_module.get(name, ()):
            package = path.endswith(f"{os.sep}__init__.py")
            root = path
            for _ in range(depth + package):
                root = os.path.dirname(root)
            rank = self._root_rank.get(root)
            if rank is not None and (best is None or (rank, package) < best[:2]):
                best = (rank, package, path)
        if best is not None or not self.libraries:
            return best[2] if best else None
        if name not in self._in_libraries:
            self._in_libraries[name] = find_module(self.libraries, name)
        return self._in_libraries[name]

    def key(self, path: str | os.PathLike[str]) -> str:
        return self.keys[os.path.abspath(path)]

    def words(self, path: str) -> frozenset[str]:
        return identifiers(self.data[path])

    def attributes(self, path: str, bound: str) -> frozenset[str]:
        """The names read as attributes of `bound` in the file's text. A caller asks once
        per module object it binds: the file is read once for all of them."""
        if "." in bound:
            return attribute_names(self.data[path], bound)
        reads = self._attribute_reads.get(path)
        if reads is None:
            reads = self._attribute_reads[path] = attribute_reads(self.data[path])
        return reads.get(bound, frozenset())

    def digests(self) -> Mapping[str, str]:
        """Each project file's digest; a library file's, read when first asked for (what an
        analysis read of a library decides whether its cached result still holds)."""
        project = {path: facts.digest for path, facts in self.facts.items()}
        return _LibraryDigests(project) if self.libraries else project

    def sizes(self) -> dict[str, int]:
        return {path: len(data) for path, data in self.data.items()}

    def project_facts(self) -> dict[str, FileFacts]:
        return {path: self.facts[path] for path in sorted(self.project)}

    def module_table(self) -> str:
        """A digest of which file has which module name: caller edges computed under one
        table hold under the same table."""
        rows = sorted(f"{path}\0{self.facts[path].module}" for path in self.project)
        return content_digest("\n".join([*rows, *self.loader_roots]).encode())


class _LibraryDigests(Mapping[str, str]):
    """The project's digests, and any other file's computed from its bytes on demand."""

    def __init__(self, project: dict[str, str]) -> None:
        self._known = project
        self._read: dict[str, str | None] = {}

    def __getitem__(self, path: str) -> str:
        if path in self._known:
            return self._known[path]
        if path not in self._read:
            try:
                with open(path, "rb") as handle:
                    self._read[path] = content_digest(handle.read())
            except OSError:
                self._read[path] = None
        found = self._read[path]
        if found is None:
            raise KeyError(path)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


def scan_project(
    checked: Sequence[str],
    search_roots: Sequence[str],
    sources: Mapping[str, bytes],
    known: Mapping[str, KnownFacts] | None = None,
    known_refusals: Mapping[str, Refusal | None] | None = None,
    libraries: Sequence[LibraryRoot] = (),
) -> ProjectScan:
    """Read and hash the checked files and every file under the search roots; `known` maps
    digests to what identical text said before (the cache): whether it defines a class, and
    its facts (or a function that decodes them); `known_refusals`, whether Python could read
    it (ProjectScan.refusals of an earlier run)."""
    known = known or {}
    roots = [os.path.realpath(r) for r in search_roots]
    walked = {path for root in roots for path in python_files(root)}
    # A checked file is named as the walk names it; resolving every path would cost more
    # than a cached run, so only the files the walk did not find are resolved.
    keys = {path: path if path in walked else os.path.realpath(path) for path in checked}
    paths = sorted({*walked, *keys.values()})
    packages = {os.path.dirname(p) for p in paths if p.endswith(f"{os.sep}__init__.py")}
    facts: dict[str, FileFacts] = {}
    data: dict[str, bytes] = {}
    unreadable: dict[str, Diagnostic] = {}
    source_roots: set[str] = set()
    names = _ModuleNames(packages, roots)
    for path in paths:
        try:
            content = sources[path] if path in sources else _read(path)
        except OSError as error:
            unreadable[path] = _unreadable(path, error)
            continue
        if content is None:  # not a regular file: bnlint.discovery warns of a checked one
            continue
        module, is_package, source_root = names.of(path)
        source_roots.add(source_root)
        data[path] = content
        digest = content_digest(content)
        if digest in known:
            may_build, text = known[digest]
        else:
            may_build, text = may_build_model(content), scan_text(content)
        facts[path] = FileFacts(path, digest, module, is_package, may_build, text)
    refusals = _refusals(
        [facts[p] for p in keys.values() if p in facts], data, known_refusals or {}
    )
    for path in keys.values():
        refusal = refusals.get(facts[path].digest) if path in facts else None
        if refusal is not None:
            unreadable[path] = _diagnostic(path, refusal)
    ordered = tuple(sorted(source_roots))
    project = frozenset(p for p in facts if p in walked) if roots else frozenset(facts)
    return ProjectScan(
        facts,
        data,
        unreadable,
        ordered,
        loader_roots(roots, ordered),
        keys,
        project,
        refusals,
        tuple(libraries),
    )


def _refusals(
    checked: Sequence[FileFacts], data: Mapping[str, bytes], known: Mapping[str, Refusal | None]
) -> dict[str, Refusal | None]:
    """Why Python could not read each checked file the pre-filter keeps from the parser.

    Such a file can define no model, but bnlint still owes it a finding when it is a syntax
    error, binary or not text. CPython's parser says so at a tenth of libcst's cost, without
    loading libcst (measured on timm 1.0.31: its 67 class-less files, 0.35 MB, take 67 ms
    with `ast.parse` and 744 ms with libcst; all 304 files take 13 s with libcst)."""
    found: dict[str, Refusal | None] = {}
    for facts in checked:
        if facts.may_build or facts.digest in found:
            continue
        found[facts.digest] = (
            known[facts.digest]
            if facts.digest in known
            else python_refusal(data[facts.path], MAX_BYTES)
        )
    return found


def python_files(root: str) -> Iterable[str]:
    # A plain walk, not bnlint.discovery's: these files are read to resolve imports, and
    # matching every path against .gitignore costs more than the rest of a cached run.
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        for name in names:
            if name.endswith(".py") and (name.isascii() or _is_utf_8(name)):
                yield os.path.join(directory, name)


def _is_utf_8(name: str) -> bool:
    """Whether a file name is valid UTF-8 (os.walk gives undecodable bytes as surrogates):
    no module can have another name, and no report could print it."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def loader_roots(search_roots: Sequence[str], source_roots: Sequence[str]) -> tuple[str, ...]:
    """The roots a Project's module loader searches, in its order: each search root and its
    src/ folder, then every source root."""
    found: list[str] = []
    for root in [*(c for r in search_roots for c in (r, os.path.join(r, "src"))), *source_roots]:
        root = os.path.realpath(root)
        if root not in found and os.path.isdir(root):
            found.append(root)
    return tuple(found)


class _ModuleNames:
    """Dotted module names the way bnlint.static.source.module_name_for gives them, from the
    file list (a folder inside the project is a package when the list holds its
    __init__.py; outside, the file system is asked)."""

    def __init__(self, packages: set[str], roots: list[str]) -> None:
        self.packages = packages
        self.roots = tuple(r.rstrip(os.sep) + os.sep for r in roots)
        self._outside: dict[str, bool] = {}

    def is_package(self, directory: str) -> bool:
        if directory in self.packages:
            return True
        if (directory + os.sep).startswith(self.roots):
            return False
        if directory not in self._outside:
            self._outside[directory] = os.path.isfile(os.path.join(directory, "__init__.py"))
        return self._outside[directory]

    def of(self, path: str) -> tuple[str, bool, str]:
        """Module name, whether it is a package, the folder it is imported from."""
        directory, name = os.path.split(path)
        parts = [] if name == "__init__.py" else [name[:-3]]
        while self.is_package(directory) and os.path.dirname(directory) != directory:
            directory, folder = os.path.split(directory)
            parts.insert(0, folder)
        module = ".".join(parts) or os.path.basename(os.path.dirname(path))
        return module, name == "__init__.py", directory


def _read(path: str) -> bytes | None:
    """The file's bytes; None for a FIFO, socket or device, which is not read: reading one
    blocks or never ends. Opened without blocking so that the check can come first."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        return stream.read()


def _unreadable(path: str, error: OSError) -> Diagnostic:
    return _diagnostic(path, Refusal(rules.UNREADABLE_FILE.code, error.strerror or str(error)))


def _diagnostic(path: str, refusal: Refusal) -> Diagnostic:
    rule = rules.get_rule(refusal.code)
    return Diagnostic(
        code=rule.code,
        name=rule.name,
        severity=rule.severity,
        message=rule.format(detail=refusal.detail),
        path=display(path),
        line=refusal.line,
        column=refusal.column,
        end_line=refusal.line,
        end_column=refusal.column,
        help=rule.fix,
    )


def display(path: str) -> str:
    """How reports name a file: relative to the working directory."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
