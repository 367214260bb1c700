"""Reading and parsing one source file, and naming it the way Python would import it.

A file reaches libcst only after CPython's own parser has accepted it and its nesting has
been measured. libcst's native parser recurses without a guard: nesting a few thousand
levels deep (an attribute chain, a chain of `and`, a dotted import) overflows its stack and
kills the whole process, and far below that its parse time grows steeply (a chain of 1000
subscripts takes seconds). CPython refuses such input with a catchable error, so `ast.parse`
goes first; its tree is kept, because positions are read from it (bnlint.static.positions).
"""

from __future__ import annotations

import ast
import io
import os
import re
import stat
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from bnlint import rules
from bnlint.ftypes import SourceLocation
from bnlint.static.positions import Span, compute_spans
from bnlint.static.readable import MAX_BYTES, Refused, decode_source, python_parse

# Deepest nesting, counted as libcst nests (see _levels), that bnlint hands to libcst.
# Measured with libcst 1.9 on an 8 MB stack: the native parser crashes at about 5900 levels
# of a dotted import, 7000 of an `and` chain, 8100 of an elif chain; a chain of 1000
# subscripts takes 6 s to parse and one of 3000 takes 100 s. Hand-written code stays below
# 50; the limit leaves a tenfold margin to the crash and keeps every parse under a second.
MAX_NESTING = 500

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(eq=False)
class SourceFile:
    """A parsed file. Positions are computed lazily: most files never need one."""

    path: Path
    display_path: str  # how reports name it (relative to the working directory)
    module_name: str
    source_root: Path  # the directory Python would need on sys.path to import it
    tree: cst.Module
    data: bytes = field(repr=False, default=b"")
    text: str = field(repr=False, default="")  # `data` decoded as Python decodes it
    syntax: ast.Module | None = field(repr=False, default=None)  # CPython's tree of `text`
    _spans: dict[cst.CSTNode, Span] | None = field(default=None, repr=False)
    library: bool = False  # found by a lookup in an installed model library

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    def location(self, node: cst.CSTNode) -> SourceLocation:
        """Where `node` (a call, class, function or statement) is, 1-based."""
        if self._spans is None:
            text = self.text or self.data.decode("utf-8", errors="replace")
            self._spans = compute_spans(self.tree, self.syntax, text)
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


def read_source(path: Path) -> bytes | ParseFailure:
    """The file's bytes; a FIFO or device is refused, not read (that would block or never
    end), which is why the file is opened without blocking and checked before reading."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return ParseFailure(
                    path, display_path(path), rules.UNREADABLE_FILE.code, "not a regular file"
                )
            return stream.read()
    except OSError as error:
        return ParseFailure(
            path, display_path(path), rules.UNREADABLE_FILE.code, error.strerror or str(error)
        )


def parse_source(path: Path, data: bytes) -> SourceFile | ParseFailure:
    shown = display_path(path)
    try:
        if len(data) > MAX_BYTES:
            raise Refused(
                rules.TOO_COMPLEX.code,
                f"file too large ({len(data):,} bytes; bnlint analyses files of up "
                f"to {MAX_BYTES:,} bytes)",
            )
        text = decode_source(data)
        syntax = python_parse(text)
        _check_nesting(syntax, text)
        tree = _libcst_parse(text)
    except Refused as refused:
        why = refused.refusal
        return ParseFailure(path, shown, why.code, why.detail, why.line, why.column)
    module_name, root = module_name_for(path)
    return SourceFile(path, shown, module_name, root, tree, data, text, syntax)


def _libcst_parse(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as error:
        message = str(error.message).splitlines()[0] if error.message else "invalid syntax"
        raise Refused(
            rules.SYNTAX_ERROR.code,
            f"syntax error: {message} (libcst)",
            error.raw_line,
            error.raw_column + 1,
        ) from None
    except RecursionError:
        raise Refused(rules.TOO_COMPLEX.code, "nested too deeply for the parser") from None
    except Exception as error:  # libcst raises a few bare exception types on odd input
        raise Refused(rules.SYNTAX_ERROR.code, f"cannot parse: {error}") from None


# ---- nesting, measured on CPython's tree as libcst will nest it ------------------------------


def _check_nesting(tree: ast.Module, text: str) -> None:
    """Refuse a file nested deeper than MAX_NESTING, naming the statement where the limit is
    crossed. The walk itself never recurses."""
    strings = _StringParts(text)
    node_type, statement_type = ast.AST, ast.stmt
    stack: list[tuple[ast.AST, int, ast.AST]] = [(tree, 0, tree)]
    push = stack.append
    while stack:
        node, depth, statement = stack.pop()
        if type(node) in _NESTING_KINDS:
            depth += _levels(node, strings, MAX_NESTING - depth)
        else:
            depth += 1
        if isinstance(node, statement_type):
            statement = node
        if depth > MAX_NESTING:
            line = getattr(statement, "lineno", 1)
            raise Refused(
                rules.TOO_COMPLEX.code,
                f"code nested more than {MAX_NESTING} levels deep (a chain of that "
                f"many operators, calls, attributes or elif branches)",
                line,
                strings.column(line, getattr(statement, "col_offset", 0)) + 1,
            )
        if type(node) is ast.JoinedStr:
            # Its constant parts repeat the whole string's position; only its fields nest.
            stack.extend(
                (value, depth, statement)
                for value in node.values
                if type(value) is not ast.Constant
            )
            continue
        # ast.iter_child_nodes, unrolled: this walk visits every node of every parsed file.
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for child in value:
                    if isinstance(child, node_type):
                        push((child, depth, statement))
            elif isinstance(value, node_type):
                push((value, depth, statement))


def _levels(node: ast.AST, strings: _StringParts, budget: int) -> int:
    """How many levels `node` adds in libcst's tree, where a few flat `ast` nodes nest."""
    if isinstance(node, ast.BoolOp):  # `a and b and c`: one BooleanOperation per operator
        return len(node.values) - 1
    if isinstance(node, ast.Import):  # `import a.b.c`: one Attribute per dot
        return 1 + max((alias.name.count(".") for alias in node.names), default=0)
    if isinstance(node, ast.ImportFrom):
        return 1 + (node.module or "").count(".")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)):
        return 1
    assert isinstance(node, (ast.Constant, ast.JoinedStr))  # the rest of _NESTING_KINDS
    return strings.count(node, budget)  # `"a" "b" "c"`: one ConcatenatedString each


_NESTING_KINDS = frozenset({ast.BoolOp, ast.Import, ast.ImportFrom, ast.JoinedStr, ast.Constant})


class _StringParts:
    """Counts the literals of an implicitly concatenated string, tokenizing only strings
    long enough to hold more parts than the nesting budget left."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = _LINE_BREAK.split(self.text)
        return self._lines

    def column(self, line: int, byte_column: int) -> int:
        """ast's UTF-8 byte column as a character column (0-based)."""
        if not 1 <= line <= len(self.lines) or self.lines[line - 1].isascii():
            return byte_column
        encoded = self.lines[line - 1].encode("utf-8", errors="surrogatepass")
        return len(encoded[:byte_column].decode("utf-8", errors="replace"))

    def count(self, node: ast.expr, budget: int) -> int:
        line, end_line = getattr(node, "lineno", 0), getattr(node, "end_lineno", None)
        if not line or end_line is None:
            return 1
        if end_line == line:
            length = (node.end_col_offset or 0) - node.col_offset
        else:
            length = sum(len(text) + 1 for text in self.lines[line - 1 : end_line])
        if length < 2 * budget:  # every literal takes at least two characters: ''
            return 1
        segment = self._segment(node)
        try:
            tokens = tokenize.generate_tokens(io.StringIO(segment).readline)
            return max(
                1,
                sum(
                    1
                    for token in tokens
                    if token.type == tokenize.STRING
                    or token.type == getattr(tokenize, "FSTRING_START", -1)
                ),
            )
        except (tokenize.TokenError, SyntaxError):
            return 1

    def _segment(self, node: ast.expr) -> str:
        # count() reads the text of a node only when ast gave it an end (it gives both or none)
        assert node.end_lineno is not None and node.end_col_offset is not None
        first, last = node.lineno - 1, node.end_lineno - 1
        start = self.column(first + 1, node.col_offset)
        end = self.column(last + 1, node.end_col_offset)
        if first == last:
            return self.lines[first][start:end]
        return "\n".join(
            [self.lines[first][start:], *self.lines[first + 1 : last], self.lines[last][:end]]
        )
