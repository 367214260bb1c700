"""The parsed files of one analysis process, and a record of what each file's analysis read.

Every process (the main one or a worker) resolves imports the same way whatever it parsed
before: the module search roots are fixed up front, and a file loaded directly is registered
under its module name only when it is the file a lookup of that name would find. That is what
lets files be analysed in any order, in any process, with identical results.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from bnlint.static.classes import ClassModel
from bnlint.static.index import (
    ModuleLoader,
    ModuleSymbols,
    ProjectClass,
    Resolver,
    collect_symbols,
)
from bnlint.static.libraries import LibraryRoot
from bnlint.static.source import (
    ParseFailure,
    SourceFile,
    module_name_for,
    parse_source,
    read_source,
)
from bnlint.static.textscan import content_digest

log = logging.getLogger("bnlint.static")


@dataclass
class Reads:
    """The files (with the digest of the bytes parsed) and module names one analysis used,
    and, finer, what it read of each file (bnlint.static.footprint): the files whose
    top-level bindings it looked at, the top-level statements it read, by file, and the
    files whose whole text decided something."""

    files: dict[Path, str] = field(default_factory=dict)
    lookups: dict[str, Path | None] = field(default_factory=dict)
    bound: set[Path] = field(default_factory=set)
    statements: dict[Path, dict[int, cst.CSTNode]] = field(default_factory=dict)
    headers: dict[Path, dict[int, cst.CSTNode]] = field(default_factory=dict)  # class lines
    searched: dict[Path, dict[str, bool]] = field(default_factory=dict)  # words: found?
    whole: set[Path] = field(default_factory=set)


class _TrackingLoader(ModuleLoader):
    def __init__(
        self,
        load_file: Callable[[Path], SourceFile | None],
        search_roots: list[Path],
        digests: Mapping[Path, str],
        on_use: Callable[[Path], None],
        libraries: Sequence[LibraryRoot] = (),
        load_library: Callable[[Path], SourceFile | None] | None = None,
        read_text: Callable[[Path], bytes | None] | None = None,
    ) -> None:
        super().__init__(load_file, search_roots, libraries, load_library, read_text)
        self.digests = digests
        self.on_use = on_use  # every file handed out: the Project evicts the least recent
        self.reads: Reads | None = None
        self._file_symbols: dict[Path, ModuleSymbols] = {}

    @property
    def roots(self) -> list[Path]:
        return list(self._roots)

    def forget(self, file: SourceFile) -> None:
        for name in [n for n, known in self._by_name.items() if known is file]:
            del self._by_name[name]
        self._file_symbols.pop(file.path, None)

    def bindings_read(self, file: SourceFile) -> None:
        if self.reads is not None:
            self.reads.bound.add(file.path)

    def statement_read(self, file: SourceFile, statement: cst.CSTNode) -> None:
        if self.reads is not None:
            self.reads.statements.setdefault(file.path, {})[id(statement)] = statement

    def header_read(self, file: SourceFile, statement: cst.CSTNode) -> None:
        if self.reads is not None:
            self.reads.headers.setdefault(file.path, {})[id(statement)] = statement

    def whole_read(self, file: SourceFile) -> None:
        if self.reads is not None:
            self.reads.whole.add(file.path)

    def text_search(self, file: SourceFile, word: str) -> bool:
        found = word in file.text
        if self.reads is not None:
            self.reads.searched.setdefault(file.path, {})[word] = found
        return found

    def text_read(self, path: Path, digest: str) -> None:
        if self.reads is not None:
            self.reads.files.setdefault(path, digest)
            self.reads.whole.add(path)

    def symbols(self, file: SourceFile) -> ModuleSymbols:
        self.bindings_read(file)
        # Keyed by path, not module name: two files may share a module name.
        found = self._file_symbols.get(file.path)
        if found is None:
            found = self._file_symbols[file.path] = collect_symbols(file)
        return found

    def _text_read(self, name: str, path: Path, digest: str) -> None:
        # what the analysis decided from the text depends on these bytes, as on a parse
        if self.reads is not None:
            self.reads.lookups.setdefault(name, path)
        self.text_read(path, digest)

    def module(self, name: str) -> SourceFile | None:
        found = super().module(name)
        if found is not None:
            self.on_use(found.path)
        if self.reads is not None:
            self.reads.lookups[name] = found.path if found is not None else None
            if found is not None:
                self.reads.files[found.path] = self.digests[found.path]
        return found


class Project:
    """Every file this process has read, parsed at most once."""

    def __init__(
        self,
        search_roots: Sequence[Path | str],
        source_roots: Sequence[Path | str] = (),
        sources: Mapping[Path, bytes] | Mapping[str, bytes] | None = None,
        allowed: Collection[Path | str] | None = None,
        max_files: int | None = None,
        libraries: Sequence[LibraryRoot] = (),
    ) -> None:
        """`source_roots`: where module lookups search after the search roots, in this
        order; `sources`: bytes to use instead of the files on disk; `allowed`: the only
        project files imports may resolve to, so that what the cache records about lookups
        covers every file that could answer them; `libraries`: where lookups the project
        does not answer search last (installed model libraries, read but never reported on)."""
        self.search_roots = [Path(r) for r in search_roots]
        self.allowed = (
            frozenset(Path(p).resolve() for p in allowed) if allowed is not None else None
        )
        self.max_files = max_files
        self.files: dict[Path, SourceFile] = {}
        self.failures: dict[Path, ParseFailure] = {}
        self.digests: dict[Path, str] = {}
        self.sources = {Path(p): data for p, data in (sources or {}).items()}
        self._recent: OrderedDict[Path, None] = OrderedDict()
        self.loader = _TrackingLoader(
            self.load,
            self.search_roots,
            self.digests,
            self._used,
            libraries,
            self._load_library,
            self._text,
        )
        for root in source_roots:
            self.loader.add_root(Path(root))
        self._canonical: dict[str, Path | None] = {}
        self.fresh_models()

    def fresh_models(self) -> None:
        """Forget what was derived from the files (class hierarchies), so that the next
        analysis reads — and records — everything it uses."""
        self.resolver = Resolver(self.loader)
        self.classes = ClassModel(self.resolver)

    @contextmanager
    def tracking(self) -> Iterator[Reads]:
        reads = Reads()
        self.loader.reads = reads
        try:
            yield reads
        finally:
            self.loader.reads = None

    def _used(self, path: Path) -> None:
        self._recent[path] = None
        self._recent.move_to_end(path)

    def retire(self) -> None:
        """Drop the trees of all but the `max_files` most recently used files (call between
        two analyses: nothing derived from a tree outlives the analysis that made it). A
        dropped file is parsed again when needed, to an identical tree, so results do not
        change; memory stays bounded however large the project."""
        while self.max_files is not None and len(self.files) > self.max_files and self._recent:
            path, _ = self._recent.popitem(last=False)
            file = self.files.pop(path, None)
            if file is not None:
                self.loader.forget(file)
                self.digests.pop(path, None)

    def _inside(self, path: Path) -> bool:
        """Whether a lookup may find the (resolved) file: the project files given, if any."""
        return self.allowed is None or path in self.allowed or path in self.sources

    def _text(self, path: Path) -> bytes | None:
        """A project file's bytes as a lookup would read them (None outside `allowed`)."""
        path = path.resolve()
        if not self._inside(path):
            return None
        if path in self.sources:
            return self.sources[path]
        read = read_source(path)
        return None if isinstance(read, ParseFailure) else read

    def _load_library(self, path: Path) -> SourceFile | None:
        return self.load(path, library=True)

    def load(
        self,
        path: Path,
        data: bytes | None = None,
        *,
        explicit: bool = False,
        library: bool = False,
    ) -> SourceFile | None:
        """The parsed file; None if it cannot be read or parsed. Only an `explicit` load (the
        file an analysis is about) reads a file outside `allowed`, and such a file never
        answers a module lookup: what a lookup finds must not depend on what this process
        analysed before. A `library` file is one a lookup found in an installed library."""
        path = path.resolve()
        inside = self._inside(path)
        if not inside and not explicit and not library:
            return None
        if path in self.files:
            self._used(path)
            return self.files[path]
        if path in self.failures:
            return None
        if data is None:
            data = self.sources.get(path)
        if data is None:
            read = read_source(path)
            if isinstance(read, ParseFailure):
                self.failures[path] = read
                return None
            data = read
        self.digests[path] = content_digest(data)
        parsed = parse_source(path, data)
        if isinstance(parsed, ParseFailure):
            self.failures[path] = parsed
            return None
        parsed.library = library
        self.files[path] = parsed
        self._used(path)
        if inside and self._is_canonical(parsed):
            self.loader.register(parsed)
        log.debug("parsed %s as %s", parsed.display_path, parsed.module_name)
        return parsed

    def _is_canonical(self, file: SourceFile) -> bool:
        """Whether a lookup of the file's module name finds this file first (two files can
        share a name: scripts in different folders)."""
        name = file.module_name
        if name not in self._canonical:
            relative = Path(*name.split("."))
            self._canonical[name] = next(
                (
                    candidate.resolve()
                    for root in self.loader.roots
                    for candidate in (
                        root / relative.with_suffix(".py"),
                        root / relative / "__init__.py",
                    )
                    if candidate.is_file() and module_name_for(candidate)[0] == name
                ),
                None,
            )
        return self._canonical[name] in (None, file.path)

    def module_classes(self, file: SourceFile) -> list[ProjectClass]:
        symbols = self.loader.symbols(file)
        found = []
        for name, node in symbols.classes.items():
            cls = ProjectClass(file, node, f"{file.module_name}.{name}")
            # whether it is a module is decided by its header: its bases
            self.loader.header_read(file, symbols.tops[id(node)])
            if self.classes.is_module(cls):
                found.append(cls)
        return found
