"""Source positions for libcst nodes at a fraction of PositionProvider's cost.

libcst's PositionProvider regenerates the whole file's code to learn where each node is,
which costs several times the parse. Python's own `ast` knows positions for free, so bnlint
pairs the nodes it needs positions for (calls, classes, functions, statements) with their
`ast` twins: both trees are walked in source order and the k-th node of each kind matches
the k-th twin. Every pair is checked (same name, same kind); on any mismatch the file falls
back to PositionProvider, so a position is never guessed. Where PositionProvider cannot run
(it recurses, and code nested a few hundred levels deep exhausts the stack), the kinds of
node that paired keep their spans and the others get none.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import warnings

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

Span = tuple[int, int, int, int]  # 1-based line, 0-based char column, end line, end column

_ANCHORS: dict[type, tuple[type, ...]] = {
    cst.Call: (ast.Call,),
    cst.ClassDef: (ast.ClassDef,),
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef),
    cst.For: (ast.For, ast.AsyncFor),
    cst.While: (ast.While,),
    cst.If: (ast.If,),
    cst.Assign: (ast.Assign,),
    cst.AnnAssign: (ast.AnnAssign,),
    cst.AugAssign: (ast.AugAssign,),
    cst.Return: (ast.Return,),
    cst.BinaryOperation: (ast.BinOp,),
    cst.UnaryOperation: (ast.UnaryOp,),
    cst.Subscript: (ast.Subscript,),
}
_SKIPPED_PREFIXES = (
    "whitespace",
    "lpar",
    "rpar",
    "leading",
    "trailing",
    "comma",
    "semicolon",
    "header",
    "footer",
    "lines_after",
    "empty_lines",
    "indent",
    "newline",
    "equal",
    "lbracket",
    "rbracket",
    "lbrace",
    "rbrace",
    "dot",
    "first_colon",
    "second_colon",
    "colon",
    "operator",
    "asynchronous",
    "encoding",
    "default_indent",
    "default_newline",
    "has_trailing_newline",
)
_FIELDS: dict[type, tuple[str, ...]] = {
    # libcst keeps some children in an order other than the source's.
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
}


def _cst_fields(kind: type) -> tuple[str, ...]:
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = tuple(
            f.name for f in dataclasses.fields(kind) if not f.name.startswith(_SKIPPED_PREFIXES)
        )
        _FIELDS[kind] = fields
    return fields


def _cst_anchors(root: cst.CSTNode) -> dict[type, list[cst.CSTNode]]:
    found: dict[type, list[cst.CSTNode]] = {kind: [] for kind in _ANCHORS}
    stack: list[cst.CSTNode] = [root]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind in found:
            found[kind].append(node)
        children: list[cst.CSTNode] = []
        for name in _cst_fields(kind):
            value = getattr(node, name, None)
            if isinstance(value, cst.CSTNode):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(v for v in value if isinstance(v, cst.CSTNode))
        stack.extend(reversed(children))
    return found


def _position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _ast_children(node: ast.AST) -> list[ast.AST]:
    """Children in source order; `ast` keeps a few of them in another order."""
    if isinstance(node, ast.Call):
        return [node.func, *sorted([*node.args, *node.keywords], key=_position)]
    if isinstance(node, ast.Dict):
        pairs: list[ast.AST] = []
        for key, value in zip(node.keys, node.values, strict=True):
            pairs.extend([key, value] if key is not None else [value])
        return pairs
    if isinstance(node, ast.ClassDef):
        return [
            *node.decorator_list,
            *sorted([*node.bases, *node.keywords], key=_position),
            *node.body,
        ]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        returns = [node.returns] if node.returns is not None else []
        return [*node.decorator_list, node.args, *returns, *node.body]
    if isinstance(node, ast.IfExp):
        return [node.body, node.test, node.orelse]
    if isinstance(node, ast.arguments):
        return sorted(ast.iter_child_nodes(node), key=_position)
    return list(ast.iter_child_nodes(node))


def _ast_anchors(tree: ast.AST) -> dict[type, list[ast.expr | ast.stmt]]:
    kinds = {
        ast_kind: cst_kind for cst_kind, ast_kinds in _ANCHORS.items() for ast_kind in ast_kinds
    }
    found: dict[type, list[ast.expr | ast.stmt]] = {kind: [] for kind in _ANCHORS}
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        kind = kinds.get(type(node))
        # every anchor is a statement or an expression: both carry their positions
        if kind is not None and isinstance(node, (ast.expr, ast.stmt)):
            found[kind].append(node)
        stack.extend(reversed(_ast_children(node)))
    return found


def _same(cst_node: cst.CSTNode, ast_node: ast.AST) -> bool:
    """Two anchors of one kind (see _ANCHORS) are the same node of the source."""
    if isinstance(cst_node, cst.Call):
        assert isinstance(ast_node, ast.Call)
        return _callee(cst_node.func) == _ast_callee(ast_node.func)
    if isinstance(cst_node, (cst.ClassDef, cst.FunctionDef)):
        assert isinstance(ast_node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        return cst_node.name.value == ast_node.name
    return True


def _callee(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return type(node).__name__


def _ast_callee(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return {
        ast.Call: "Call",
        ast.Subscript: "Subscript",
        ast.Lambda: "Lambda",
        ast.BinOp: "BinaryOperation",
        ast.IfExp: "IfExp",
        ast.BoolOp: "BooleanOperation",
    }.get(type(node), "?")


def _char_column(lines: list[str], line: int, byte_column: int) -> int:
    """`ast` counts columns in UTF-8 bytes; bnlint in characters."""
    if not 1 <= line <= len(lines):
        return byte_column
    text = lines[line - 1]
    if text.isascii():
        return byte_column
    encoded = text.encode("utf-8", errors="surrogatepass")
    return len(encoded[:byte_column].decode("utf-8", errors="replace"))


def compute_spans(
    tree: cst.Module, syntax: ast.Module | None, text: str
) -> dict[cst.CSTNode, Span]:
    """Spans of the anchor nodes: paired with `syntax` (CPython's tree of `text`, parsed
    here if not given) where the pairing holds, from libcst's PositionProvider otherwise.

    Never raises: PositionProvider recurses once per level of nesting and fails on deep
    code; then the nodes no pairing vouches for have no span (and callers say line 1).
    """
    if syntax is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                syntax = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            syntax = None
    spans, complete = _paired_spans(tree, syntax, text) if syntax is not None else ({}, False)
    if complete:
        return spans
    try:
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        provided = wrapper.resolve(PositionProvider)
    except (RecursionError, KeyError, MemoryError):
        # libcst's provider leaves KeyErrors behind when a RecursionError unwinds it.
        return spans
    return {
        node: (r.start.line, r.start.column, r.end.line, r.end.column)
        for node, r in provided.items()
    }


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what `ast` counts as a line break


def _paired_spans(
    tree: cst.Module, syntax: ast.Module, text: str
) -> tuple[dict[cst.CSTNode, Span], bool]:
    """The spans of every kind of anchor whose nodes all pair up, and whether all did."""
    ours = _cst_anchors(tree)
    theirs = _ast_anchors(syntax)
    lines = _LINE_BREAK.split(text)
    spans: dict[cst.CSTNode, Span] = {}
    complete = True
    for kind, nodes in ours.items():
        twins = theirs[kind]
        if len(nodes) != len(twins) or not all(map(_same, nodes, twins)):
            complete = False
            continue
        for node, twin in zip(nodes, twins, strict=True):
            line, column = twin.lineno, twin.col_offset
            end_line = twin.end_lineno or line
            end_column = twin.end_col_offset or column
            spans[node] = (
                line,
                _char_column(lines, line, column),
                end_line,
                _char_column(lines, end_line, end_column),
            )
    return spans, complete
