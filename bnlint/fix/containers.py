"""The fix for XBN303 modules-in-plain-container (and for XBN205, a BatchNorm inside such a
container): wrap the plain list in nn.ModuleList and the plain dict in nn.ModuleDict, where
the assignment is made (`self.heads = [...]` becomes `self.heads = nn.ModuleList([...])`),
keeping the literal, its comments and its layout.

Safe because the container then behaves as before for everything the class does with it, and
its modules become registered, which is what the rule asks for. The fix is offered only when
that is evident from the source:

- the value is a list/dict literal or comprehension, `list(...)`/`dict(...)`, or a local
  name bound to one of those in the same function;
- no element is plainly not a module (a number, a string, None, a tuple...): ModuleList
  refuses them;
- a dict's keys are string literals that ModuleDict accepts (no dots, not one of its own
  attribute names such as `keys` or `train`);
- the class never uses the attribute in a way ModuleList/ModuleDict lacks: `.sort()`,
  `.index()`, `.get()`, `* n`, `isinstance(self.x, list)` and the like.
"""

from __future__ import annotations

import ast

from bnlint.fix.imports import spell_torch_nn
from bnlint.fix.source import FixSource, dotted_name
from bnlint.ftypes import Applicability, Diagnostic, Fix

# Methods of list / dict that ModuleList / ModuleDict do not have (torch 2.x).
_LIST_ONLY = frozenset({"clear", "copy", "count", "index", "remove", "reverse", "sort"})
_DICT_ONLY = frozenset({"copy", "fromkeys", "get", "popitem", "setdefault"})
# Public attributes of nn.ModuleDict: a key with one of these names raises KeyError.
MODULEDICT_ATTRIBUTES = frozenset(
    {
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "clear",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "items",
        "keys",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "pop",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "update",
        "values",
        "xpu",
        "zero_grad",
    }
)
# Expressions that are evidently not an nn.Module.
_NOT_MODULES = (
    ast.Constant,
    ast.JoinedStr,
    ast.Tuple,
    ast.List,
    ast.Dict,
    ast.Set,
    ast.Lambda,
    ast.ListComp,
    ast.DictComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.Compare,
    ast.BinOp,
    ast.UnaryOp,
)


def container_fix(source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    """XBN303, reported on the assignment of the plain container."""
    statement = next(
        (
            node
            for kind in (ast.Assign, ast.AnnAssign)
            for node in source.nodes_at(diagnostic.line, diagnostic.column, kind)
            if isinstance(node, (ast.Assign, ast.AnnAssign))
        ),
        None,
    )
    return _wrap(source, statement) if statement is not None else None


def batchnorm_in_container_fix(source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    """XBN205, reported on a BatchNorm built inside the plain container: the same edit as
    the container's XBN303, when the BatchNorm is built within the assigned literal."""
    call = next(source.nodes_at(diagnostic.line, diagnostic.column, ast.Call), None)
    if call is None:
        return None
    for node in source.ancestors(call):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            return _wrap(source, node)
        if isinstance(node, (ast.stmt, ast.Lambda)):
            return None
    return None


def _wrap(source: FixSource, statement: ast.Assign | ast.AnnAssign) -> Fix | None:
    if statement.value is None:
        return None
    target = statement.targets[0] if isinstance(statement, ast.Assign) else statement.target
    if not _is_self_attribute(target):
        return None
    assert isinstance(target, ast.Attribute)
    kind = _container_kind(source, statement, statement.value)
    if kind is None or not _uses_fit(source, statement, target.attr, kind):
        return None
    wrapper = "ModuleList" if kind == "list" else "ModuleDict"
    spelling = spell_torch_nn(source, wrapper)
    if spelling is None:
        return None
    edits = (
        *spelling.edits,
        source.insert_before(statement.value, f"{spelling.expression}("),
        source.insert_after(statement.value, ")"),
    )
    return Fix(Applicability.SAFE, f"Wrap in {spelling.expression}", edits)


def _is_self_attribute(node: ast.AST, attribute: str | None = None) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and (attribute is None or node.attr == attribute)
    )


def _container_kind(source: FixSource, statement: ast.stmt, value: ast.expr) -> str | None:
    """ "list" or "dict" when `value` is evidently a container of modules, else None."""
    if isinstance(value, ast.List):
        return (
            "list"
            if all(isinstance(e, ast.Starred) or _may_be_module(e) for e in value.elts)
            else None
        )
    if isinstance(value, ast.ListComp):
        return "list" if _may_be_module(value.elt) else None
    if isinstance(value, ast.Dict):
        entries = zip(value.keys, value.values, strict=True)
        return "dict" if all(_dict_entry_fits(k, v) for k, v in entries) else None
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id in ("list", "dict")
        and not value.keywords
        and len(value.args) <= 1
        and not any(isinstance(a, ast.Starred) for a in value.args)
    ):
        # dict(pairs) may have any keys; an empty dict() or any list(iterable) is fine.
        return value.func.id if value.func.id == "list" or not value.args else None
    if isinstance(value, ast.Name):
        bound = _local_binding(source, statement, value.id)
        return _container_kind(source, statement, bound) if bound is not None else None
    return None


def _may_be_module(expression: ast.expr) -> bool:
    return not isinstance(expression, _NOT_MODULES)


def _dict_entry_fits(key: ast.expr | None, value: ast.expr) -> bool:
    if key is None or not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
        return False  # **spread or a computed key: ModuleDict may refuse it
    text = key.value
    return (
        bool(text)
        and "." not in text
        and not text.startswith("_")
        and text not in MODULEDICT_ATTRIBUTES
        and _may_be_module(value)
    )


def _local_binding(source: FixSource, statement: ast.stmt, name: str) -> ast.expr | None:
    """The value `name` is bound to in the function holding `statement`, when a plain
    assignment there is its only binding."""
    function = next(
        (
            n
            for n in source.ancestors(statement)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ),
        None,
    )
    if function is None:
        return None
    found: list[ast.expr | None] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name:
                    found.append(node.value)
                elif _binds(target, name):
                    found.append(None)
        elif isinstance(node, ast.AnnAssign) and _binds(node.target, name):
            found.append(node.value)
        elif isinstance(
            node, (ast.For, ast.AsyncFor, ast.comprehension, ast.NamedExpr, ast.With)
        ) and _binds_in(node, name):
            found.append(None)
    return found[0] if len(found) == 1 else None


def _binds_in(node: ast.AST, name: str) -> bool:
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension, ast.NamedExpr)):
        return _binds(node.target, name)
    if isinstance(node, ast.With):
        return any(
            item.optional_vars is not None and _binds(item.optional_vars, name)
            for item in node.items
        )
    return False


def _binds(target: ast.AST, name: str) -> bool:
    if isinstance(target, ast.Name):
        return target.id == name
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_binds(e, name) for e in target.elts)
    if isinstance(target, ast.Starred):
        return _binds(target.value, name)
    return False


def _uses_fit(source: FixSource, statement: ast.stmt, attribute: str, kind: str) -> bool:
    """Whether every use of `self.<attribute>` in the class works on the nn wrapper too."""
    cls = next((n for n in source.ancestors(statement) if isinstance(n, ast.ClassDef)), None)
    if cls is None:
        return False
    missing = _LIST_ONLY if kind == "list" else _DICT_ONLY
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in missing
            and _is_self_attribute(node.value, attribute)
        ):
            return False
        # list * n and dict | dict have no ModuleList / ModuleDict counterpart.
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, (ast.Mult, ast.BitOr))
            and (
                _is_self_attribute(node.left, attribute)
                or _is_self_attribute(node.right, attribute)
            )
        ):
            return False
        if (
            isinstance(node, ast.Call)
            and dotted_name(node.func) in ("isinstance", "type")
            and any(_is_self_attribute(a, attribute) for a in node.args)
        ):
            return False
    return True
