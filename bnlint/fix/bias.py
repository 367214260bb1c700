"""The fix for XBN401 redundant-bias-before-bn: build the Conv/Linear with `bias=False`.

Unsafe: the layer loses its `bias` parameter, so state_dict keys change and a checkpoint saved
before the fix no longer loads with strict=True (and a trained bias that the BatchNorm's
running mean absorbed would be dropped). It is applied only with `--unsafe-fixes`.

Offered only where one construction site builds one layer, so that the edit cannot reach a
layer the finding is not about: the call sits directly in `__init__` (not in a loop, a
comprehension or a helper function that may build other layers too), is a torch Conv/Linear
class whose bias argument bnlint knows, and passes its bias as nothing, `True` or
`bias=True` (a variable stays as it is).
"""

from __future__ import annotations

import ast

from bnlint.fix.source import FixSource, dotted_name
from bnlint.ftypes import Applicability, Diagnostic, Edit, Fix

MESSAGE = "Pass bias=False (unsafe: the bias parameter leaves the checkpoint keys)"
_CONVOLUTIONS = frozenset(
    {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}
)
_LOOPS = (
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Lambda,
)


def bias_fix(source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    call = next(source.nodes_at(diagnostic.line, diagnostic.column, ast.Call), None)
    if call is None or not _built_once(source, call):
        return None
    position = _bias_position(dotted_name(call.func) or "")
    if (
        position is None
        or any(isinstance(a, ast.Starred) for a in call.args)
        or any(k.arg is None for k in call.keywords)
    ):
        return None
    edit = _edit(source, call, position)
    return Fix(Applicability.UNSAFE, MESSAGE, (edit,)) if edit is not None else None


def _edit(source: FixSource, call: ast.Call, position: int) -> Edit | None:
    keyword = next((k for k in call.keywords if k.arg == "bias"), None)
    given = (
        keyword.value
        if keyword is not None
        else call.args[position]
        if len(call.args) > position
        else None
    )
    if given is not None:
        if isinstance(given, ast.Constant) and given.value is True:
            return source.replace(given, "False")
        return None
    arguments: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    if not arguments:
        return None
    last = max(arguments, key=source.end)
    return source.insert_after(last, ", bias=False")


def _bias_position(name: str) -> int | None:
    """Where `bias` stands among the positional parameters of the torch layer `name`:
    (in, out, bias) for Linear; (in, out, kernel_size, stride, padding, dilation or
    output_padding, groups, bias) for the convolutions; the Lazy forms lack `in`."""
    base = name.rsplit(".", 1)[-1]
    lazy = 1 if base.startswith("Lazy") else 0
    layer = base.removeprefix("Lazy")
    if layer == "Linear":
        return 2 - lazy
    if layer in _CONVOLUTIONS:
        return 7 - lazy
    return None


def _built_once(source: FixSource, call: ast.Call) -> bool:
    for node in source.ancestors(call):
        if isinstance(node, _LOOPS):
            return False
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name == "__init__" and isinstance(source.parents.get(node), ast.ClassDef)
    return False
