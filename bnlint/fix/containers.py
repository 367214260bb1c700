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

import libcst as cst
from libcst.helpers import get_full_name_for_node

from bnlint.fix.imports import spell_torch_nn
from bnlint.fix.source import FixSource
from bnlint.ftypes import Applicability, Diagnostic, Fix

# Methods of list / dict that ModuleList / ModuleDict do not have (torch 2.x).
_LIST_ONLY = frozenset({"clear", "copy", "count", "index", "remove", "reverse", "sort"})
_DICT_ONLY = frozenset({"copy", "fromkeys", "get", "popitem", "setdefault"})
# Public attributes of nn.ModuleDict: a key with one of these names raises KeyError.
MODULEDICT_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "clear", "compile", "cpu", "cuda", "double", "dump_patches", "eval",
    "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter",
    "get_submodule", "half", "ipu", "items", "keys", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "pop", "register_backward_hook", "register_buffer", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty",
    "train", "training", "type", "update", "values", "xpu", "zero_grad",
})
_NOT_MODULES = (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString,
                cst.ConcatenatedString, cst.FormattedString, cst.Tuple, cst.List, cst.Dict,
                cst.Set, cst.Lambda, cst.ListComp, cst.DictComp, cst.SetComp,
                cst.GeneratorExp, cst.Comparison, cst.BinaryOperation, cst.UnaryOperation)


def container_fix(source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    """XBN303, reported on the assignment of the plain container."""
    statement = next((node for kind in (cst.Assign, cst.AnnAssign)
                      for node in source.nodes_at(diagnostic.line, diagnostic.column, kind)),
                     None)
    return _wrap(source, statement) if statement is not None else None


def batchnorm_in_container_fix(source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    """XBN205, reported on a BatchNorm built inside the plain container: the same edit as
    the container's XBN303, when the BatchNorm is built within the assigned literal."""
    call = next(source.nodes_at(diagnostic.line, diagnostic.column, cst.Call), None)
    if call is None:
        return None
    for node in source.ancestors(call):
        if isinstance(node, (cst.Assign, cst.AnnAssign)):
            return _wrap(source, node)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda,
                             cst.BaseSmallStatement)):
            return None
    return None


def _wrap(source: FixSource, statement: cst.Assign | cst.AnnAssign) -> Fix | None:
    if statement.value is None:
        return None
    target = statement.targets[0].target if isinstance(statement, cst.Assign) \
        else statement.target
    if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
            and target.value.value == "self"):
        return None
    kind = _container_kind(source, statement, statement.value)
    if kind is None or not _uses_fit(source, statement, target.attr.value, kind):
        return None
    wrapper = "ModuleList" if kind == "list" else "ModuleDict"
    spelling = spell_torch_nn(source, wrapper)
    if spelling is None:
        return None
    edits = (*spelling.edits,
             source.insert_before(statement.value, f"{spelling.expression}("),
             source.insert_after(statement.value, ")"))
    return Fix(Applicability.SAFE, f"Wrap in {spelling.expression}", edits)


def _container_kind(source: FixSource, statement: cst.CSTNode,
                    value: cst.BaseExpression) -> str | None:
    """"list" or "dict" when `value` is evidently a container of modules, else None."""
    if isinstance(value, cst.List):
        return "list" if all(isinstance(e, cst.StarredElement) or _may_be_module(e.value)
                             for e in value.elements) else None
    if isinstance(value, cst.ListComp):
        return "list" if _may_be_module(value.elt) else None
    if isinstance(value, cst.Dict):
        return "dict" if all(_dict_entry_fits(e) for e in value.elements) else None
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and \
            value.func.value in ("list", "dict") and len(value.args) <= 1 and \
            all(a.keyword is None and not a.star for a in value.args):
        return value.func.value if value.func.value == "list" or not value.args else None
    if isinstance(value, cst.Name):
        bound = _local_binding(source, statement, value.value)
        return _container_kind(source, statement, bound) if bound is not None else None
    return None


def _may_be_module(expression: cst.BaseExpression) -> bool:
    if isinstance(expression, cst.Name):
        return expression.value not in ("None", "True", "False")
    return not isinstance(expression, _NOT_MODULES)


def _dict_entry_fits(element: cst.BaseDictElement) -> bool:
    if not isinstance(element, cst.DictElement):
        return False  # **spread: keys unknown
    key = element.key
    if not isinstance(key, cst.SimpleString):
        return False
    text = key.evaluated_value
    return (isinstance(text, str) and bool(text) and "." not in text
            and not text.startswith("_") and text not in MODULEDICT_ATTRIBUTES
            and _may_be_module(element.value))


def _local_binding(source: FixSource, statement: cst.CSTNode,
                   name: str) -> cst.BaseExpression | None:
    """The value `name` was last bound to by a plain assignment in the function holding
    `statement`, when that is the only binding of `name` there."""
    function = next((n for n in source.ancestors(statement) if isinstance(n, cst.FunctionDef)),
                    None)
    if function is None:
        return None
    found: list[cst.BaseExpression | None] = []

    class Bindings(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            for target in node.targets:
                if isinstance(target.target, cst.Name) and target.target.value == name:
                    found.append(node.value)
                elif _binds(target.target, name):
                    found.append(None)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            if isinstance(node.target, cst.Name) and node.target.value == name:
                found.append(node.value)

        def visit_For(self, node: cst.For) -> None:
            if _binds(node.target, name):
                found.append(None)

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            if _binds(node.target, name):
                found.append(None)

    function.body.visit(Bindings())
    return found[0] if len(found) == 1 else None


def _binds(target: cst.BaseExpression, name: str) -> bool:
    if isinstance(target, cst.Name):
        return target.value == name
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_binds(e.value, name) for e in target.elements)
    if isinstance(target, cst.StarredElement):
        return _binds(target.value, name)
    return False


def _uses_fit(source: FixSource, statement: cst.CSTNode, attribute: str, kind: str) -> bool:
    """Whether every use of `self.<attribute>` in the class works on the nn wrapper too."""
    cls = next((n for n in source.ancestors(statement) if isinstance(n, cst.ClassDef)), None)
    if cls is None:
        return False
    missing = _LIST_ONLY if kind == "list" else _DICT_ONLY
    fits = True

    def is_it(node: cst.BaseExpression) -> bool:
        return (isinstance(node, cst.Attribute) and node.attr.value == attribute
                and isinstance(node.value, cst.Name) and node.value.value == "self")

    class Uses(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal fits
            if is_it(node.value) and node.attr.value in missing:
                fits = False

        def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
            nonlocal fits
            # list * n and dict | dict have no ModuleList / ModuleDict counterpart.
            if (is_it(node.left) or is_it(node.right)) and isinstance(
                    node.operator, (cst.Multiply, cst.BitOr)):
                fits = False

        def visit_Call(self, node: cst.Call) -> None:
            nonlocal fits
            name = get_full_name_for_node(node.func)
            if name in ("isinstance", "type") and any(is_it(a.value) for a in node.args):
                fits = False

    cls.body.visit(Uses())
    return fits
