"""The module index: which names each file binds, and what a dotted name resolves to.

Name resolution is done here, on the tree already parsed, instead of through libcst's scope
metadata: bnlint only needs top-level bindings (imports, classes, functions, assignments),
and computing full scopes costs several times the parse.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import libcst as cst

from bnlint.static.libraries import LibraryRoot, find_module
from bnlint.static.source import SourceFile
from bnlint.static.textscan import content_digest
from bnlint.static.torch_api import canonical, is_modelled

log = logging.getLogger("bnlint.static.index")


@dataclass(frozen=True)
class ProjectClass:
    file: SourceFile
    node: cst.ClassDef
    qualname: str

    @property
    def name(self) -> str:
        return self.node.name.value


@dataclass(frozen=True)
class ProjectFunction:
    file: SourceFile
    node: cst.FunctionDef | cst.Lambda
    qualname: str


@dataclass(frozen=True)
class ProjectValue:
    """A top-level assignment `NAME = expr` in an analysed file."""

    file: SourceFile
    expr: cst.BaseExpression
    qualname: str


@dataclass(frozen=True)
class ProjectModule:
    file: SourceFile


@dataclass(frozen=True)
class TorchName:
    """Anything under torch (torch, torch.nn, torch.nn.Conv2d, torch.nn.functional.relu...)
    or another package the analysis models (einops)."""

    qualname: str


@dataclass(frozen=True)
class External:
    """A name bound outside the analysed files and outside torch: never guessed."""

    qualname: str


Symbol: TypeAlias = (
    ProjectClass | ProjectFunction | ProjectValue | ProjectModule | TorchName | External
)


@dataclass
class ModuleSymbols:
    """Top-level bindings of one file, in source order (later bindings win)."""

    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted target
    # `from pkg import name`: local name -> (pkg, name). Python binds what pkg's namespace
    # holds under `name` (a re-exported function, say) before a submodule pkg.name.
    from_imports: dict[str, tuple[str, str]] = field(default_factory=dict)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    values: dict[str, cst.BaseExpression] = field(default_factory=dict)
    star_imports: list[str] = field(default_factory=list)
    # the top-level statement each class, function and value above is part of, by the id
    # of its node: what an analysis that resolves the name reads (bnlint.static.footprint)
    tops: dict[int, cst.CSTNode] = field(default_factory=dict)


def _dotted(node: cst.BaseExpression | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _absolute(file: SourceFile, module: str, level: int) -> str:
    if level == 0:
        return module
    package = file.module_name.split(".")
    if not file.is_package:
        package = package[:-1]
    if level > 1:
        package = package[: len(package) - (level - 1)]
    return ".".join(part for part in [*package, module] if part)


def collect_symbols(file: SourceFile) -> ModuleSymbols:
    symbols = ModuleSymbols()
    for statement in file.tree.body:
        _collect_block(file, [statement], symbols, statement)
    return symbols


def _collect_block(
    file: SourceFile,
    body: Sequence[cst.BaseStatement | cst.BaseSmallStatement],
    symbols: ModuleSymbols,
    top: cst.CSTNode,
) -> None:
    for statement in body:
        if isinstance(statement, cst.ClassDef):
            symbols.classes[statement.name.value] = statement
            symbols.tops[id(statement)] = top
            _forget(symbols, statement.name.value, keep="classes")
        elif isinstance(statement, cst.FunctionDef):
            symbols.functions[statement.name.value] = statement
            symbols.tops[id(statement)] = top
            _forget(symbols, statement.name.value, keep="functions")
        elif isinstance(statement, cst.SimpleStatementLine):
            _collect_block(file, statement.body, symbols, top)
        elif isinstance(statement, cst.BaseSmallStatement):
            _collect_small(file, statement, symbols, top)
        elif isinstance(statement, cst.If):
            _collect_block(file, statement.body.body, symbols, top)
            if isinstance(statement.orelse, cst.Else):
                _collect_block(file, statement.orelse.body.body, symbols, top)
            elif isinstance(statement.orelse, cst.If):  # `elif`
                _collect_block(file, [statement.orelse], symbols, top)
        elif isinstance(statement, cst.Try):
            # `try: from x import y` / `except ImportError:` fallbacks: the try body wins.
            for handler in statement.handlers:
                _collect_block(file, handler.body.body, symbols, top)
            _collect_block(file, statement.body.body, symbols, top)
            if statement.orelse is not None:
                _collect_block(file, statement.orelse.body.body, symbols, top)


def _forget(symbols: ModuleSymbols, name: str, keep: str) -> None:
    symbols.from_imports.pop(name, None)
    for table in ("imports", "classes", "functions", "values"):
        if table != keep:
            getattr(symbols, table).pop(name, None)


def _collect_small(
    file: SourceFile, small: cst.BaseSmallStatement, symbols: ModuleSymbols, top: cst.CSTNode
) -> None:
    if isinstance(small, cst.Import):
        for alias in small.names:
            target = _dotted(alias.name)
            if alias.asname is not None:
                local = _dotted(alias.asname.name)
                symbols.imports[local] = target
            else:
                local = target.split(".")[0]
                symbols.imports[local] = local
            _forget(symbols, local, keep="imports")
    elif isinstance(small, cst.ImportFrom):
        base = _absolute(file, _dotted(small.module), len(small.relative))
        if isinstance(small.names, cst.ImportStar):
            symbols.star_imports.append(base)
            return
        for alias in small.names:
            name = _dotted(alias.name)
            local = _dotted(alias.asname.name) if alias.asname else name
            symbols.imports[local] = f"{base}.{name}" if base else name
            _forget(symbols, local, keep="imports")
            if base and "." not in name:
                symbols.from_imports[local] = (base, name)
    elif isinstance(small, (cst.Assign, cst.AnnAssign)):
        value = small.value
        targets = (
            [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
        )
        for assigned in targets:
            if isinstance(assigned, cst.Name) and value is not None:
                symbols.values[assigned.value] = value
                symbols.tops[id(value)] = top
                _forget(symbols, assigned.value, keep="values")


@dataclass(frozen=True)
class DecoratingUsers:
    """The files of a registry's package whose text decorates with one of its functions,
    with that text (`found`), and the digest of every file searched for it (`searched`)."""

    found: list[tuple[Path, bytes]]
    searched: list[tuple[Path, str]]


_STAR_IMPORT = re.compile(rb"\bimport\s*\*")


class ModuleLoader:
    """Finds and parses project modules by dotted name, lazily, under known source roots."""

    def __init__(
        self,
        load_file: Callable[[Path], SourceFile | None],
        search_roots: list[Path],
        libraries: Sequence[LibraryRoot] = (),
        load_library: Callable[[Path], SourceFile | None] | None = None,
        read_text: Callable[[Path], bytes | None] | None = None,
    ) -> None:
        self._load_file = load_file
        self._read_text = read_text  # a project file's bytes, without parsing them
        # (module, word) -> whether it may bind it, and the file and digest that decided
        self._may_bind: dict[tuple[str, str], tuple[bool, Path | None, str]] = {}
        self._roots: list[Path] = []
        for root in search_roots:
            self.add_root(root)
            self.add_root(root / "src")
        # searched after every project root (bnlint.static.libraries)
        self._libraries = tuple(libraries)
        self._load_library = load_library or load_file
        self._by_name: dict[str, SourceFile | None] = {}
        self._namespaces: dict[str, bool] = {}  # is_namespace_package, by name
        self._symbols: dict[str, ModuleSymbols] = {}
        # per registry module: the files of its package that decorate with its functions,
        # with their text (bnlint.static.objects.fill_from_package), found once per run
        self.decorating_users: dict[Path, DecoratingUsers] = {}

    def add_root(self, root: Path) -> None:
        root = root.resolve()
        if root.is_dir() and root not in self._roots:
            self._roots.append(root)

    def register(self, file: SourceFile) -> None:
        self._by_name[file.module_name] = file
        self.add_root(file.source_root)

    def module(self, name: str) -> SourceFile | None:
        if name in self._by_name:
            return self._by_name[name]
        self._by_name[name] = None  # guards import cycles while loading
        for candidate in self._candidates(name):
            loaded = self._load_file(candidate)
            if loaded is not None and _may_be_named(loaded, name):
                self._by_name[name] = loaded
                return loaded
        found = find_module(self._libraries, name) if self._libraries else None
        if found is not None:
            loaded = self._load_library(Path(found))
            if loaded is not None and loaded.module_name == name:
                self._by_name[name] = loaded
                return loaded
        return None

    def may_bind(self, name: str, word: str) -> bool:
        """Whether module `name` may bind `word`, from its text alone: one that never writes
        the word and star-imports nothing cannot, and is not parsed to find out. A package
        star-importing hundreds of others (transformers' `from .models import *`) is then
        searched for a name through their text, not by parsing every one."""
        if self._by_name.get(name) is not None or self._read_text is None:
            return True
        key = (name, word)
        known = self._may_bind.get(key)
        if known is None:
            path = self._path_of(name)
            data = self._read_text(path) if path is not None else None
            if data is None or path is None:
                known = (True, None, "")
            else:
                may = word.encode() in data or _STAR_IMPORT.search(data) is not None
                known = (may, path, content_digest(data))
            self._may_bind[key] = known
        may, path, digest = known
        if path is not None:
            self._text_read(name, path, digest)
        return may

    def has(self, name: str) -> bool:
        """Whether a project module `name` exists (without parsing it)."""
        return self._by_name.get(name) is not None or self._path_of(name) is not None

    def is_namespace_package(self, name: str) -> bool:
        """Whether `name` is a folder without __init__.py under a search root (PEP 420):
        importing it gives a module whose submodules are its files."""
        found = self._namespaces.get(name)
        if found is None:
            relative = Path(*name.split("."))
            found = self._namespaces[name] = any(
                os.path.isdir(root / relative)
                and not os.path.isfile(root / relative / "__init__.py")
                for root in self._roots
            )
        return found

    @staticmethod
    def is_package(file: SourceFile) -> bool:
        return file.path.name == "__init__.py"

    def _path_of(self, name: str) -> Path | None:
        return next(self._candidates(name), None)

    def _candidates(self, name: str) -> Iterator[Path]:
        """The files under the search roots that may be module `name`, in lookup order."""
        relative = Path(*name.split("."))
        for root in self._roots:
            for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
                if candidate.is_file():
                    yield candidate

    def _text_read(self, name: str, path: Path, digest: str) -> None:
        """A module's text decided a lookup in place of the module (what a cache records)."""

    # What an analysis read of a file, for a cache to record (bnlint.static.footprint): its
    # top-level bindings, one of its top-level statements, or its whole text.

    def bindings_read(self, file: SourceFile) -> None:
        """Its top-level bindings were looked at."""

    def statement_read(self, file: SourceFile, statement: cst.CSTNode) -> None:
        """A top-level statement of it was read."""

    def header_read(self, file: SourceFile, statement: cst.CSTNode) -> None:
        """The header of a class statement (decorators, bases) was read, not its body."""

    def text_search(self, file: SourceFile, word: str) -> bool:
        """Whether the file's text has `word` (a search whose answer a cache records)."""
        return word in file.text

    def text_read(self, path: Path, digest: str) -> None:
        """A file's bytes were searched without parsing them."""

    def whole_read(self, file: SourceFile) -> None:
        """Its whole text decided something (decorators run as an import runs them)."""

    def symbols(self, file: SourceFile) -> ModuleSymbols:
        self.bindings_read(file)
        found = self._symbols.get(file.module_name)
        if found is None:
            found = collect_symbols(file)
            self._symbols[file.module_name] = found
        return found


def _may_be_named(file: SourceFile, name: str) -> bool:
    """Whether importing `name` from a search root gives `file`: its own name, or its name
    inside directories without __init__.py (namespace packages, PEP 420: `models/net.py` is
    `net` to the analysis and `models.net` to a script run beside `models/`)."""
    return file.module_name == name or name.endswith(f".{file.module_name}")


class Resolver:
    """Turns names in a file into Symbols, following imports and re-exports across files."""

    def __init__(self, loader: ModuleLoader) -> None:
        self.loader = loader
        self._active: set[str] = set()
        # What a search of a star-imported module for a name found: modules that star-import
        # each other in a lattice (fastai's `from .imports import *` chains) are searched
        # once per name, not once per path through the lattice. A search a cycle guard cut
        # short found what that context let it find: it is not kept.
        self._star_found: dict[tuple[str, str], Symbol | None] = {}
        self._cuts = 0

    def resolve_name(self, file: SourceFile, name: str) -> Symbol | None:
        """What a bare name at the top level of `file` is bound to; None if unbound."""
        symbols = self.loader.symbols(file)
        if name in symbols.classes:
            self.loader.statement_read(file, symbols.tops[id(symbols.classes[name])])
            return ProjectClass(file, symbols.classes[name], f"{file.module_name}.{name}")
        if name in symbols.functions:
            self.loader.statement_read(file, symbols.tops[id(symbols.functions[name])])
            return ProjectFunction(file, symbols.functions[name], f"{file.module_name}.{name}")
        if name in symbols.values:
            self.loader.statement_read(file, symbols.tops[id(symbols.values[name])])
            return ProjectValue(file, symbols.values[name], f"{file.module_name}.{name}")
        if name in symbols.from_imports:
            package, attribute = symbols.from_imports[name]
            found = self._from_package(package, attribute)
            if found is not None:
                return found
        if name in symbols.imports:
            return self.resolve_qualified(symbols.imports[name])
        submodule = f"{file.module_name}.{name}"
        if symbols.star_imports and self.loader.is_package(file) and self.loader.has(submodule):
            # `pkg.utils` where pkg has a submodule utils: that module, as importing it
            # makes it (not a search of everything pkg star-imports for the name)
            return self.resolve_qualified(submodule)
        for star in symbols.star_imports:
            if not is_modelled(star) and not self.loader.may_bind(star, name):
                continue
            module = self.loader.module(star)
            if module is not None and star not in self._active:
                found = self._search_star(star, module, name)
                if found is not None:
                    return found
            elif is_modelled(star):
                return TorchName(canonical(f"{star}.{name}"))
            elif module is not None:
                self._cuts += 1
        return None

    def from_outside_star(self, file: SourceFile, name: str) -> External | None:
        """A name `file` does not bind, when it star-imports a module outside the analysed
        files (`from fastai.basics import *` with fastai not installed): the name may come
        from there."""
        for star in self.loader.symbols(file).star_imports:
            if not is_modelled(star) and self.loader.module(star) is None:
                return External(f"{star}.{name}")
        return None

    def _search_star(self, star: str, module: SourceFile, name: str) -> Symbol | None:
        key = (star, name)
        if key in self._star_found:
            return self._star_found[key]
        cuts = self._cuts
        self._active.add(star)
        try:
            found = self.resolve_name(module, name)
        finally:
            self._active.discard(star)
        if found is not None or self._cuts == cuts:
            self._star_found[key] = found
        return found

    def _from_package(self, package: str, name: str) -> Symbol | None:
        """`from package import name` when `package` is a project module that binds `name`
        itself; None to resolve the dotted name as usual (a submodule, torch, outside)."""
        if is_modelled(package):
            return None
        if package in self._active:
            self._cuts += 1
            return None
        module = self.loader.module(package)
        if module is None:
            return None
        self._active.add(package)
        try:
            return self.resolve_name(module, name)
        finally:
            self._active.discard(package)

    def resolve_qualified(self, qualname: str) -> Symbol:
        if is_modelled(qualname):
            return TorchName(canonical(qualname))
        if qualname in self._active:
            self._cuts += 1
            return External(qualname)  # a cycle of re-exports binds nothing real
        self._active.add(qualname)
        try:
            return self._resolve_project(qualname)
        finally:
            self._active.discard(qualname)

    def _resolve_project(self, qualname: str) -> Symbol:
        parts = qualname.split(".")
        for cut in range(len(parts), 0, -1):
            module = self.loader.module(".".join(parts[:cut]))
            if module is None:
                continue
            symbol: Symbol = ProjectModule(module)
            for attribute in parts[cut:]:
                symbol = self.attribute(symbol, attribute)
            return symbol
        return External(qualname)

    def attribute(self, symbol: Symbol, name: str) -> Symbol:
        if isinstance(symbol, ProjectModule):
            found = self.resolve_name(symbol.file, name)
            if found is not None:
                return found
            submodule = self.loader.module(f"{symbol.file.module_name}.{name}")
            if submodule is not None:
                return ProjectModule(submodule)
            return External(f"{symbol.file.module_name}.{name}")
        if isinstance(symbol, TorchName):
            return TorchName(canonical(f"{symbol.qualname}.{name}"))
        return External(f"{getattr(symbol, 'qualname', '?')}.{name}")
