"""Spelling a torch.nn class the way the file already does: `nn.ModuleList` after
`import torch.nn as nn` or `from torch import nn`, `torch.nn.ModuleList` after `import torch`,
`ModuleList` after `from torch.nn import ModuleList`. Only when the file imports none of these
does a fix add an import (to an existing `from torch.nn import ...`, else `from torch import
nn` after the file's opening imports)."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from bnlint.fix.source import FixSource
from bnlint.ftypes import Edit


@dataclass(frozen=True)
class Spelling:
    expression: str  # how the class is named at the edit: "nn.ModuleList"
    edits: tuple[Edit, ...] = ()  # the import it needs, when the file lacks one


def spell_torch_nn(source: FixSource, name: str) -> Spelling | None:
    """How to name `torch.nn.<name>` at module level of `source`; None when every spelling
    would clash with a name the file binds to something else."""
    imports = [s for s in source.module.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    direct = nn_alias = torch_alias = None
    nn_from: ast.ImportFrom | None = None
    for statement in imports:
        if isinstance(statement, ast.ImportFrom):
            if statement.level:
                continue
            star = any(alias.name == "*" for alias in statement.names)
            if statement.module == "torch.nn":
                direct = direct or (name if star else _bound(statement.names, name))
                nn_from = nn_from or (None if star else statement)
            elif statement.module == "torch" and not star:
                nn_alias = nn_alias or _bound(statement.names, "nn")
            continue
        for alias in statement.names:
            if alias.name == "torch.nn" and alias.asname:
                nn_alias = nn_alias or alias.asname
            elif alias.name in ("torch", "torch.nn") and not alias.asname:
                torch_alias = torch_alias or "torch"
            elif alias.name == "torch" and alias.asname:
                torch_alias = torch_alias or alias.asname
    if direct:
        return Spelling(direct)
    if nn_alias:
        return Spelling(f"{nn_alias}.{name}")
    if torch_alias:
        return Spelling(f"{torch_alias}.nn.{name}")
    taken = _module_level_names(source.module)
    if nn_from is not None and name not in taken:
        return Spelling(name, (source.insert_after(nn_from.names[-1], f", {name}"),))
    if "nn" in taken:
        return None
    return Spelling(f"nn.{name}", (_new_import(source, imports),))


def _bound(names: list[ast.alias], wanted: str) -> str | None:
    for alias in names:
        if alias.name == wanted:
            return alias.asname or wanted
    return None


def _module_level_names(module: ast.Module) -> set[str]:
    """Names the module binds at top level (imports, assignments, defs, classes)."""
    names: set[str] = set()
    for statement in module.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            names.update(a.asname or a.name for a in statement.names)
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _new_import(source: FixSource, imports: list[ast.Import | ast.ImportFrom]) -> Edit:
    """`from torch import nn` on its own line after the file's opening block of docstring and
    imports, or before its first statement (and its decorators) when it opens with neither."""
    anchor = None
    for index, statement in enumerate(source.module.body):
        opening = statement in imports or (index == 0 and _is_docstring(statement))
        if not opening:
            break
        anchor = statement
    if anchor is not None:
        line = (anchor.end_lineno or anchor.lineno) + 1
    elif source.module.body:
        first = source.module.body[0]
        line = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
    else:
        line = len(source.lines) + 1
    return Edit(f"from torch import nn{source.newline}", line, 1, line, 1)


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
