"""What one definition's analysis read of each file, finely enough that an edit elsewhere in
the file leaves its verdicts standing.

Building a definition (a module class, a factory, a registry: bnlint.static.roots) reads
files through a few doors: the names a file binds at its top level (its imports, classes,
functions, assignments), the top-level statements that define what a name resolved to, and
sometimes a file's whole text (decorators run as importing it would, a text search). A
`FileRead` records which of these one analysis went through, and `still_holds` tells whether
they read the same today: the same bytes, or the same bindings and the same statements at the
same lines. A comment added below a class, or a factory edited after the one analysed, then
changes nothing it read.

Statements are named by their lines and the digest of those lines (`StatementKey`), computed
from CPython's own parse of the bytes, so that the run that checks a kept footprint need not
parse the file with libcst to know whether it still holds.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bnlint.static.textscan import content_digest

# "first:last:digest" of a top-level statement, its decorators included
StatementKey = str


@dataclass(frozen=True)
class FileRead:
    """How one analysis read one file: `digest` of the bytes it read; `whole` when their text
    decided something (valid for those bytes only); `bindings`, the digest of the top-level
    bindings when it looked a name up there ("" if it did not); `statements`, the top-level
    statements it read; `searched`, what a search of its text found."""

    digest: str
    whole: bool = False
    bindings: str = ""
    statements: tuple[StatementKey, ...] = ()
    # words searched for in its text, each with whether it was there
    searched: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True)
class Footprint:
    """What one definition read that the definitions built before it in the same process
    had not (their reads reach it through the process's caches: records.Chain)."""

    files: tuple[tuple[str, FileRead], ...] = ()
    lookups: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Layout:
    """A file's top-level layout as CPython parses it: the digest of its bindings, the key
    of each top-level statement (in order), and of each class statement's header (its lines
    up to its body: decorators, bases), by the statement's place."""

    bindings: str
    statements: tuple[StatementKey, ...] = ()
    headers: Mapping[int, StatementKey] = field(default_factory=dict)
    text: str = field(default="", repr=False)  # decoded as for a search of it

    def keys(self) -> frozenset[StatementKey]:
        return frozenset([*self.statements, *self.headers.values()])


def layout_of(data: bytes, tree: ast.Module | None = None) -> Layout | None:
    """The file's layout (from `tree`, CPython's parse of `data`, when at hand); None when
    CPython cannot parse it (nothing kept for it holds)."""
    if tree is None:
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            return None
    lines = data.splitlines(keepends=True)

    def key(first: int, last: int, kind: str = "") -> StatementKey:
        digest = hashlib.blake2b(b"".join(lines[first - 1 : last]), digest_size=12)
        return f"{kind}{first}:{last}:{digest.hexdigest()}"

    statements: list[StatementKey] = []
    headers: dict[int, StatementKey] = {}
    for place, statement in enumerate(tree.body):
        first = min([statement.lineno, *(d.lineno for d in _decorators(statement))])
        statements.append(key(first, statement.end_lineno or statement.lineno))
        if isinstance(statement, ast.ClassDef):
            last = max(statement.lineno, statement.body[0].lineno - 1)
            headers[place] = key(first, last, "class ")
    bindings = hashlib.blake2b(digest_size=16)
    for entry in _bindings(tree.body):
        bindings.update(entry.encode())
        bindings.update(b"\0")
    text = data.decode("utf-8", errors="replace")
    return Layout(bindings.hexdigest(), tuple(statements), headers, text)


def places(
    body: Iterable[object], simple: Callable[[object], int | None], total: int
) -> dict[int, range]:
    """Where each top-level statement of a libcst tree is among CPython's: a line of simple
    statements (`a = 1; b = 2`, `simple` gives how many) is one statement to libcst and one
    per statement to CPython; every other statement is one to both. By the id of the node;
    `total`: how many CPython counts."""
    found: dict[int, range] = {}
    at = 0
    for statement in body:
        count = simple(statement) or 1
        found[id(statement)] = range(at, at + count)
        at += count
    # parsers that disagree on the count place nothing: every read is of the whole text
    return found if at == total else {}


def _decorators(statement: ast.stmt) -> list[ast.expr]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return statement.decorator_list
    return []


def _bindings(body: Iterable[ast.stmt]) -> Iterator[str]:
    """Everything that decides what a top-level name is bound to, in source order: the
    imports in full, the names defined, the names assigned (what is assigned, and where, is
    the statement's, read when the name is resolved)."""
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield ast.dump(statement)
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield f"{type(statement).__name__} {statement.name}"
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            yield " ".join(ast.dump(t) for t in targets)
        elif isinstance(statement, (ast.If, ast.Try, ast.TryStar, ast.With, ast.For, ast.While)):
            yield f"{type(statement).__name__} {{"
            for block in ("body", "orelse", "finalbody"):
                yield from _bindings(getattr(statement, block, ()))
            for handler in getattr(statement, "handlers", ()):
                yield from _bindings(handler.body)
            yield "}"


def holding_prefix(
    footprints: Iterable[Footprint],
    digest_of: Callable[[str], str | None],
    layout: Callable[[str], Layout | None],
    lookups_hold: Callable[[Iterable[tuple[str, str | None]]], bool],
) -> int:
    """How many links of a chain still hold. What a process built before a definition may
    have reached it through the process's caches, so the first link that no longer holds
    ends what can be kept."""
    held = 0
    for footprint in footprints:
        if not still_holds(footprint, digest_of, layout, lookups_hold):
            break
        held += 1
    return held


def still_holds(
    footprint: Footprint,
    digest_of: Callable[[str], str | None],
    layout: Callable[[str], Layout | None],
    lookups_hold: Callable[[Iterable[tuple[str, str | None]]], bool],
) -> bool:
    if not lookups_hold(footprint.lookups):
        return False
    for path, read in footprint.files:
        if digest_of(path) == read.digest:
            continue
        if read.whole:
            return False
        now = layout(path)
        if now is None:
            return False
        if read.bindings and read.bindings != now.bindings:
            return False
        if not now.keys().issuperset(read.statements):
            return False
        if any((word in now.text) != found for word, found in read.searched):
            return False
    return True


class CurrentFiles:
    """The files as they are now, each read at most once: their digests (those the run
    already knows, first) and layouts."""

    def __init__(self, digests: Mapping[str, str]) -> None:
        self.digests = digests
        self._data: dict[str, bytes | None] = {}
        self._layouts: dict[str, Layout | None] = {}

    def digest_of(self, path: str) -> str | None:
        if path in self.digests:
            return self.digests[path]
        data = self._read(path)
        return content_digest(data) if data is not None else None

    def layout(self, path: str) -> Layout | None:
        if path not in self._layouts:
            data = self._read(path)
            self._layouts[path] = layout_of(data) if data is not None else None
        return self._layouts[path]

    def _read(self, path: str) -> bytes | None:
        if path not in self._data:
            try:
                self._data[path] = Path(path).read_bytes()
            except OSError:
                self._data[path] = None
        return self._data[path]
