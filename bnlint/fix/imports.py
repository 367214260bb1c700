"""Spelling a torch.nn class the way the file already does: `nn.ModuleList` after
`import torch.nn as nn` or `from torch import nn`, `torch.nn.ModuleList` after `import torch`,
`ModuleList` after `from torch.nn import ModuleList`. Only when the file imports none of these
does a fix add an import (to an existing `from torch.nn import ...`, else `from torch import
nn` after the last top-level import)."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from libcst.helpers import get_full_name_for_node

from bnlint.fix.source import FixSource
from bnlint.ftypes import Edit


@dataclass(frozen=True)
class Spelling:
    expression: str  # how the class is named at the edit: "nn.ModuleList"
    edits: tuple[Edit, ...] = ()  # the import it needs, when the file lacks one


def spell_torch_nn(source: FixSource, name: str) -> Spelling | None:
    """How to name `torch.nn.<name>` at module level of `source`; None when every spelling
    would clash with a name the file binds to something else."""
    imports = [s for s in _top_level_statements(source.module)
               if isinstance(s, (cst.Import, cst.ImportFrom))]
    direct = nn_alias = torch_alias = None
    nn_from: cst.ImportFrom | None = None
    for statement in imports:
        if isinstance(statement, cst.ImportFrom):
            module = get_full_name_for_node(statement.module) if statement.module else None
            if statement.relative:
                continue
            if module == "torch.nn" and isinstance(statement.names, cst.ImportStar):
                direct = direct or name
            elif module == "torch.nn" and not isinstance(statement.names, cst.ImportStar):
                nn_from = nn_from or statement
                direct = direct or _bound(statement.names, name)
            elif module == "torch" and not isinstance(statement.names, cst.ImportStar):
                nn_alias = nn_alias or _bound(statement.names, "nn")
        else:
            for alias in statement.names:
                full = get_full_name_for_node(alias.name)
                if full == "torch.nn" and alias.asname is not None:
                    nn_alias = nn_alias or _asname(alias)
                elif full in ("torch", "torch.nn") and alias.asname is None:
                    torch_alias = torch_alias or "torch"
                elif full == "torch" and alias.asname is not None:
                    torch_alias = torch_alias or _asname(alias)
    if direct:
        return Spelling(direct)
    if nn_alias:
        return Spelling(f"{nn_alias}.{name}")
    if torch_alias:
        return Spelling(f"{torch_alias}.nn.{name}")
    taken = _module_level_names(source.module)
    if nn_from is not None and name not in taken:
        assert not isinstance(nn_from.names, cst.ImportStar)
        last = nn_from.names[-1]
        return Spelling(name, (source.insert_after(last.asname or last.name, f", {name}"),))
    if "nn" in taken:
        return None
    return Spelling(f"nn.{name}", (_new_import(source, imports),))


def _bound(names: tuple[cst.ImportAlias, ...] | list[cst.ImportAlias] | object,
           wanted: str) -> str | None:
    for alias in names:  # type: ignore[attr-defined]
        if get_full_name_for_node(alias.name) == wanted:
            return _asname(alias) if alias.asname is not None else wanted
    return None


def _asname(alias: cst.ImportAlias) -> str:
    assert alias.asname is not None and isinstance(alias.asname.name, cst.Name)
    return alias.asname.name.value


def _top_level_statements(module: cst.Module) -> list[cst.BaseSmallStatement]:
    found = []
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            found.extend(statement.body)
    return found


def _module_level_names(module: cst.Module) -> set[str]:
    """Names the module binds at top level (imports, assignments, defs, classes)."""
    names: set[str] = set()
    for statement in module.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            names.add(statement.name.value)
    for small in _top_level_statements(module):
        if isinstance(small, cst.Import):
            for alias in small.names:
                names.add(_asname(alias) if alias.asname else
                          (get_full_name_for_node(alias.name) or "").split(".")[0])
        elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            for alias in small.names:
                names.add(_asname(alias) if alias.asname else
                          get_full_name_for_node(alias.name) or "")
        elif isinstance(small, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) \
                else [small.target]
            names.update(t.value for t in targets if isinstance(t, cst.Name))
    return names


def _new_import(source: FixSource, imports: list[cst.BaseSmallStatement]) -> Edit:
    """`from torch import nn` on its own line after the file's opening block of docstring and
    imports, or before its first statement when it opens with neither."""
    anchor = None
    for index, statement in enumerate(source.module.body):
        opening = isinstance(statement, cst.SimpleStatementLine) and (
            any(small in imports for small in statement.body)
            or (index == 0 and _is_docstring(statement)))
        if not opening:
            break
        anchor = statement
    if anchor is not None:
        line = source.end(anchor)[0] + 1
    elif source.module.body:
        line = source.start(source.module.body[0])[0]
    else:
        line = len(source.text.splitlines()) + 1
    return Edit(f"from torch import nn{source.module.default_newline}", line, 1, line, 1)


def _is_docstring(statement: cst.SimpleStatementLine) -> bool:
    return (len(statement.body) == 1 and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString,
                                                     cst.ConcatenatedString)))
