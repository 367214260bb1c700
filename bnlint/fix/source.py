"""One file as the fixers see it: its text, its libcst tree with positions and parents, and
helpers that turn nodes into Edits (1-based, like every position bnlint reports)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, TypeVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, ParentNodeProvider, PositionProvider

from bnlint.ftypes import Edit

NodeT = TypeVar("NodeT", bound=cst.CSTNode)


@dataclass(frozen=True)
class FixSource:
    text: str
    encoding: str
    module: cst.Module
    positions: Mapping[cst.CSTNode, CodeRange]
    parents: Mapping[cst.CSTNode, cst.CSTNode]

    def start(self, node: cst.CSTNode) -> tuple[int, int]:
        """(line, column) where `node` starts, 1-based."""
        where = self.positions[node].start
        return where.line, where.column + 1

    def end(self, node: cst.CSTNode) -> tuple[int, int]:
        """(line, column) just after `node`, 1-based."""
        where = self.positions[node].end
        return where.line, where.column + 1

    def nodes_at(self, line: int, column: int, kind: type[NodeT]) -> Iterator[NodeT]:
        """Every node of `kind` that starts at the 1-based (line, column)."""
        for node, where in self.positions.items():
            if isinstance(node, kind) and (where.start.line, where.start.column + 1) == (
                    line, column):
                yield node

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        while node in self.parents:
            node = self.parents[node]
            yield node

    def replace(self, node: cst.CSTNode, content: str) -> Edit:
        return Edit(content, *self.start(node), *self.end(node))

    def insert_before(self, node: cst.CSTNode, content: str) -> Edit:
        return Edit(content, *self.start(node), *self.start(node))

    def insert_after(self, node: cst.CSTNode, content: str) -> Edit:
        return Edit(content, *self.end(node), *self.end(node))


def parse_fix_source(data: bytes) -> FixSource | None:
    """The file parsed for fixing, or None when it cannot be fixed safely (does not parse,
    starts with a byte-order mark, which would shift every column of its first line)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        encoding = cst.parse_module(data).encoding
        text = data.decode(encoding)
        # Positions must be of the tree of this very text, so it is parsed again as text.
        module = cst.parse_module(text)
    except (cst.ParserSyntaxError, UnicodeDecodeError, LookupError):
        return None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    metadata = wrapper.resolve_many([PositionProvider, ParentNodeProvider])
    return FixSource(text, encoding, module, metadata[PositionProvider],
                     metadata[ParentNodeProvider])


def read_fix_source(path: Path) -> FixSource | None:
    try:
        return parse_fix_source(path.read_bytes())
    except OSError:
        return None
