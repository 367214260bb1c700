"""The static half imports without cycles: interp uses evaluate, calls, objects, forward
and facts, and none of them reaches back into it at run time (what they share lives in
bnlint.static.frames). Imports under `if TYPE_CHECKING:` are annotations, not cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import bnlint

_PACKAGE = Path(bnlint.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in (_PACKAGE / "static").rglob("*.py"):
        name = ".".join(path.relative_to(_PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        for alias in node.names:
            name = f"{node.module}.{alias.name}"
            target = name if name in modules else node.module
            if target in modules:
                found.add(target)
    return found


def test_the_static_modules_import_without_cycles() -> None:
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in _imports(path, modules))
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles[:5]
