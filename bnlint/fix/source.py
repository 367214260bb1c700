"""One file as the fixers see it: its text, its syntax tree with parents, and helpers that turn
nodes into Edits (1-based line and character column, like every position bnlint reports).

The fixers edit the text itself, never a regenerated tree, so everything they do not touch
(comments, layout, quotes) stays byte for byte. They read the tree from Python's `ast`, which
knows every node's span for free: libcst's position and parent metadata would cost several
times the static analysis of the file, and every `bnlint check` looks for fixes (the same
trade-off as bnlint/static/positions.py).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from bnlint.ftypes import Edit

NodeT = TypeVar("NodeT", bound="ast.stmt | ast.expr")


class Positioned(Protocol):
    """What a fix edits: an ast node with a position (statements, expressions, keywords)."""

    lineno: int
    col_offset: int
    end_lineno: int | None
    end_col_offset: int | None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass(frozen=True)
class FixSource:
    text: str
    encoding: str
    module: ast.Module
    lines: tuple[str, ...]  # the text's lines, with their line ends
    # Parent links and nodes by the line they start on, filled for the lines asked about
    # (most files with a finding get one or two fixes: indexing every node costs more than
    # the rest of a cached run).
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    _by_line: dict[int, list[ast.AST]] = field(default_factory=dict)

    @property
    def newline(self) -> str:
        """The file's own line end, for lines a fix adds."""
        first = self.lines[0] if self.lines else "\n"
        return "\r\n" if first.endswith("\r\n") else "\r" if first.endswith("\r") else "\n"

    def start(self, node: Positioned) -> tuple[int, int]:
        """(line, column) where `node` starts, 1-based, the column in characters."""
        return node.lineno, self._column(node.lineno, node.col_offset)

    def end(self, node: Positioned) -> tuple[int, int]:
        """(line, column) just after `node`."""
        # The parser sets both ends on every node that has a start.
        assert node.end_lineno is not None and node.end_col_offset is not None
        return node.end_lineno, self._column(node.end_lineno, node.end_col_offset)

    def nodes_at(self, line: int, column: int, kind: type[NodeT]) -> Iterator[NodeT]:
        """Every node of `kind` that starts at the 1-based (line, column), outermost first;
        the ancestors of each are known (`ancestors`, `parents`)."""
        for node in self._starting_on(line):
            if isinstance(node, kind) and self.start(node) == (line, column):
                yield node

    def _starting_on(self, line: int) -> list[ast.AST]:
        """The nodes starting on `line`, in breadth-first order: found by descending only
        into the nodes whose lines include it, recording each one's parent on the way."""
        if line not in self._by_line:
            found = self._by_line[line] = []
            pending: deque[ast.AST] = deque([self.module])
            while pending:
                node = pending.popleft()
                for child in ast.iter_child_nodes(node):
                    if _spans(child, line):
                        self.parents[child] = node
                        pending.append(child)
                        if getattr(child, "lineno", None) == line:
                            found.append(child)
        return self._by_line[line]

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def replace(self, node: Positioned, content: str) -> Edit:
        return Edit(content, *self.start(node), *self.end(node))

    def insert_before(self, node: Positioned, content: str) -> Edit:
        return Edit(content, *self.start(node), *self.start(node))

    def insert_after(self, node: Positioned, content: str) -> Edit:
        return Edit(content, *self.end(node), *self.end(node))

    def _column(self, line: int, byte_offset: int) -> int:
        # ast counts columns in UTF-8 bytes; bnlint counts characters.
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        if text.isascii():
            return byte_offset + 1
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", "replace")) + 1


def parse_fix_source(data: bytes) -> FixSource | None:
    """The file parsed for fixing, or None when it cannot be fixed safely: it does not parse,
    or starts with a byte-order mark, which would shift every column of its first line."""
    if data.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
        with warnings.catch_warnings():
            # `"\d"` and the like warn on every parse: the code's business, not bnlint's output.
            warnings.simplefilter("ignore")
            module = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, LookupError, ValueError):
        return None
    return FixSource(text, encoding, module, tuple(_LINE.findall(text)))


def _spans(node: ast.AST, line: int) -> bool:
    """Whether `node`, or something inside it, may start on `line`: its lines include it
    (a decorated definition's start at its first decorator); a node without a position
    (arguments, a comprehension, a match case) is descended into."""
    start: int | None = getattr(node, "lineno", None)
    if start is None:
        return not isinstance(node, (ast.expr_context, ast.boolop, ast.operator))
    for decorator in getattr(node, "decorator_list", ()):
        start = min(start, decorator.lineno)
    end: int = getattr(node, "end_lineno", None) or start
    return start <= line <= end


def read_fix_source(path: Path) -> FixSource | None:
    try:
        return parse_fix_source(path.read_bytes())
    except OSError:
        return None


def dotted_name(node: ast.AST) -> str | None:
    """`nn.Conv2d` for the expression nn.Conv2d; None for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None
