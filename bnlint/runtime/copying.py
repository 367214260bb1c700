"""A deep copy of a model, as `copy.deepcopy` makes it, without most of its bookkeeping.

`copy.deepcopy` copies every module through the generic pickle protocol: a dozen hook tables
per module, nearly all of them empty, each reconstructed through `__reduce_ex__`. For a model
of a few hundred modules that costs more than copying its weights. A module whose class leaves
copying to nn.Module is copied here attribute by attribute with the same memo, exactly as
`Module.__getstate__`/`__setstate__` would hand them over (shared tensors and modules stay
shared, tied weights stay tied); its empty hook tables are made fresh. A module whose class
copies or pickles itself in its own way, and everything that is not a module, goes through
`copy.deepcopy` itself.
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn
from torch.nn.modules.conv import _ConvNd

_HOOK_TABLES = frozenset(
    key
    for key, value in vars(nn.Module()).items()
    if isinstance(value, dict) and key not in ("_parameters", "_buffers", "_modules")
)
_COPY_PROTOCOL = (
    "__deepcopy__",
    "__copy__",
    "__reduce__",
    "__reduce_ex__",
    "__getstate__",
    "__setstate__",
)
# Classes whose copy protocol is nn.Module's (conv layers only add a default on unpickling).
_MODULE_PROTOCOL = (nn.Module, _ConvNd, object)


def copy_model(model: nn.Module) -> nn.Module:
    return _copy(model, {})


def _copy(module: nn.Module, memo: dict[int, Any]) -> nn.Module:
    found = memo.get(id(module))
    if isinstance(found, nn.Module):
        return found
    cls = type(module)
    if _copies_itself(cls):
        return copy.deepcopy(module, memo)
    new = object.__new__(cls)
    memo[id(module)] = new
    state = new.__dict__
    for key, value in module.__dict__.items():
        if key == "_compiled_call_impl":
            continue  # dropped by Module.__getstate__ too
        if key in _HOOK_TABLES and not value:
            state[key] = type(value)()
        elif key == "_modules":
            state[key] = type(value)(
                (name, None if child is None else _copy(child, memo))
                for name, child in value.items()
            )
        else:
            state[key] = copy.deepcopy(value, memo)
    return new


_protocols: dict[type, bool] = {}


def _copies_itself(cls: type) -> bool:
    known = _protocols.get(cls)
    if known is None:
        known = any(
            name in klass.__dict__
            for klass in cls.__mro__
            if klass not in _MODULE_PROTOCOL
            for name in _COPY_PROTOCOL
        )
        _protocols[cls] = known
    return known
