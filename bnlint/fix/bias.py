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

import libcst as cst
from libcst.helpers import get_full_name_for_node

from bnlint.fix.source import FixSource
from bnlint.ftypes import Applicability, Diagnostic, Edit, Fix

MESSAGE = "Pass bias=False (unsafe: the bias parameter leaves the checkpoint keys)"
_CONVOLUTIONS = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                          "ConvTranspose3d"})
_LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp,
          cst.Lambda)


def bias_fix(source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    call = next(source.nodes_at(diagnostic.line, diagnostic.column, cst.Call), None)
    if call is None or not _built_once(source, call):
        return None
    position = _bias_position(get_full_name_for_node(call.func) or "")
    if position is None or any(arg.star for arg in call.args):
        return None
    edit = _edit(source, call, position)
    return Fix(Applicability.UNSAFE, MESSAGE, (edit,)) if edit is not None else None


def _edit(source: FixSource, call: cst.Call, position: int) -> Edit | None:
    keyword = next((arg for arg in call.args if arg.keyword and arg.keyword.value == "bias"),
                   None)
    positional = [arg for arg in call.args if arg.keyword is None]
    given = keyword or (positional[position] if len(positional) > position else None)
    if given is not None:
        if isinstance(given.value, cst.Name) and given.value.value == "True":
            return source.replace(given.value, "False")
        return None
    if not call.args:
        return None
    return source.insert_after(call.args[-1].value, ", bias=False")


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


def _built_once(source: FixSource, call: cst.Call) -> bool:
    for node in source.ancestors(call):
        if isinstance(node, _LOOPS):
            return False
        if isinstance(node, cst.FunctionDef):
            return node.name.value == "__init__" and isinstance(
                next((n for n in source.ancestors(node) if not isinstance(
                    n, (cst.IndentedBlock, cst.SimpleStatementSuite))), None), cst.ClassDef)
    return False
