"""Reading and parsing one source file, and naming it the way Python would import it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from bnlint import rules
from bnlint.ftypes import SourceLocation
from bnlint.static.positions import Span, compute_spans

# A file that never says `class` cannot define an nn.Module; it is parsed only if another
# file imports something from it.
_MAY_DEFINE_MODULE = re.compile(rb"^\s*class\s", re.MULTILINE)


@dataclass(eq=False)
class SourceFile:
    """A parsed file. Positions are computed lazily: most files never need one."""

    path: Path
    display_path: str  # how reports name it (relative to the working directory)
    module_name: str
    source_root: Path  # the directory Python would need on sys.path to import it
    tree: cst.Module
    data: bytes = field(repr=False, default=b"")
    _spans: dict[cst.CSTNode, Span] | None = field(default=None, repr=False)

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    def location(self, node: cst.CSTNode) -> SourceLocation:
        """Where `node` (a call, class, function or statement) is, 1-based."""
        if self._spans is None:
            self._spans = compute_spans(self.tree, self.data)
        span = self._spans.get(node)
        if span is None:
            return SourceLocation(self.display_path, 1, 1, 1, 1)
        line, column, end_line, end_column = span
        # Columns are 0-based up to here; every consumer of bnlint expects 1-based.
        return SourceLocation(self.display_path, line, column + 1, end_line, end_column + 1)


@dataclass(frozen=True)
class ParseFailure:
    path: Path
    display_path: str
    code: str
    detail: str
    line: int = 1
    column: int = 1


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def module_name_for(path: Path) -> tuple[str, Path]:
    """Dotted module name and source root: packages are directories with __init__.py."""
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts) or path.parent.name, directory


def may_define_module(data: bytes) -> bool:
    return _MAY_DEFINE_MODULE.search(data) is not None


def read_source(path: Path) -> bytes | ParseFailure:
    try:
        return path.read_bytes()
    except OSError as error:
        return ParseFailure(path, display_path(path), rules.UNREADABLE_FILE.code,
                            error.strerror or str(error))


def parse_source(path: Path, data: bytes) -> SourceFile | ParseFailure:
    shown = display_path(path)
    if b"\x00" in data:
        return ParseFailure(path, shown, rules.DECODE_ERROR.code, "binary file (NUL bytes)")
    try:
        tree = cst.parse_module(data)
    except cst.ParserSyntaxError as error:
        message = str(error.message).splitlines()[0] if error.message else "invalid syntax"
        return ParseFailure(path, shown, rules.SYNTAX_ERROR.code,
                            f"syntax error: {message}", error.raw_line, error.raw_column + 1)
    except (UnicodeDecodeError, LookupError, SyntaxError) as error:
        return ParseFailure(path, shown, rules.DECODE_ERROR.code, f"cannot decode: {error}")
    except RecursionError:
        return ParseFailure(path, shown, rules.TOO_COMPLEX.code,
                            "nesting too deep for the parser")
    except Exception as error:  # libcst raises a few bare exception types on odd input
        return ParseFailure(path, shown, rules.SYNTAX_ERROR.code, f"cannot parse: {error}")
    module_name, root = module_name_for(path)
    return SourceFile(path, shown, module_name, root, tree, data)
