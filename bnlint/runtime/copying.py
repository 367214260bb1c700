"""A deep copy of a model, as `copy.deepcopy` makes it, without most of its bookkeeping.

`copy.deepcopy` copies every module through the generic pickle protocol: a dozen hook tables
per module, nearly all of them empty, each reconstructed through `__reduce_ex__`. For a model
of a few hundred modules that costs more than copying its weights. A module whose class leaves
copying to nn.Module is copied here attribute by attribute with the same memo, exactly as
`Module.__getstate__`/`__setstate__` would hand them over (shared tensors and modules stay
shared, tied weights stay tied); its empty hook tables are made fresh. A module whose class
copies or pickles itself in its own way, and everything that is not a module, goes through
`copy.deepcopy` itself.

Values `copy.deepcopy` would hand back unchanged (numbers, strings, tuples of them) are taken as
they are, a Parameter or a set of names is copied by what `copy.deepcopy` would call for it,
and a plain tensor that owns its whole storage (a BatchNorm's statistics, most buffers) is
cloned directly: its storage is entered in the memo exactly where `copy.deepcopy` looks for
it, so a view of it met later still shares the new storage.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
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


def _copy(module: nn.Module, memo: dict[Any, Any]) -> nn.Module:
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
            state[key] = _copy_value(value, memo)
    return new


def _copy_value(value: Any, memo: dict[Any, Any]) -> Any:
    """`copy.deepcopy(value, memo)`, spared its generic protocol in the common cases."""
    cls = type(value)
    if cls in _ATOMIC or (cls is tuple and all(type(item) in _ATOMIC for item in value)):
        return value  # what copy.deepcopy returns for these too
    if cls is nn.Parameter or (cls is set and all(type(item) in _ATOMIC for item in value)):
        # What copy.deepcopy would call, without its dispatch: Parameter.__deepcopy__ (which
        # enters the copy in the memo), or for a set of names (every module's
        # `_non_persistent_buffers_set`) a new set of the same items.
        found = memo.get(id(value))
        if found is not None:
            return found
        if cls is nn.Parameter:
            return value.__deepcopy__(memo)
        memo[id(value)] = new = set(value)
        return new
    if isinstance(value, nn.Module):  # a module kept in a plain attribute or container
        return _copy(value, memo)
    if cls is list:  # as copy.deepcopy copies a list (entered in the memo before its items)
        found = memo.get(id(value))
        if found is not None:
            return found
        items: list[Any] = []
        memo[id(value)] = items
        items.extend(_copy_value(item, memo) for item in value)
        return items
    if cls is dict and all(type(key) in _ATOMIC for key in value):
        found = memo.get(id(value))
        if found is not None:
            return found
        table: dict[Any, Any] = {}
        memo[id(value)] = table
        for key, item in value.items():
            is_tensor = type(item) is torch.Tensor
            table[key] = _copy_tensor(item, memo) if is_tensor else _copy_value(item, memo)
        return table
    if cls is torch.Tensor and value.grad_fn is not None:
        return _copy_computed(value, memo)
    return copy.deepcopy(value, memo)


def _copy_computed(tensor: torch.Tensor, memo: dict[Any, Any]) -> torch.Tensor:
    """A tensor an earlier forward computed and a module kept as a plain attribute (the
    weight `torch.nn.utils.weight_norm` recomputes from `weight_g` and `weight_v` before
    every call), which copy.deepcopy refuses: its value, without the graph that made it."""
    found: torch.Tensor | None = memo.get(id(tensor))
    if found is None:
        found = memo[id(tensor)] = tensor.detach().clone()
    return found


_ATOMIC = frozenset({int, float, bool, complex, str, bytes, type(None)})


def _copy_tensor(tensor: torch.Tensor, memo: dict[Any, Any]) -> torch.Tensor:
    """`copy.deepcopy(tensor, memo)` for a plain tensor; a clone when it is the only view of
    its whole storage."""
    found = memo.get(id(tensor))
    if found is not None:
        return found  # type: ignore[no-any-return]
    if not _owns_its_storage(tensor, memo):
        return copy.deepcopy(tensor, memo)
    # No autograd state to drop (see `_owns_its_storage`): a plain clone, without the cost of
    # entering no_grad once per buffer.
    new = tensor.clone(memory_format=torch.preserve_format)
    # Where Tensor.__deepcopy__ records a copied storage (UntypedStorage.__deepcopy__).
    storages = memo.setdefault("torch", {})
    storages[tensor.untyped_storage()._cdata] = new.untyped_storage()
    memo[id(tensor)] = new
    return new


def _owns_its_storage(tensor: torch.Tensor, memo: dict[Any, Any]) -> bool:
    """A dense, contiguous tensor without autograd state, extra attributes or special bits,
    laid over the whole of a storage not copied before: its clone is its deep copy."""
    if (
        tensor.requires_grad
        or not tensor.is_leaf
        or tensor.layout is not torch.strided
        or tensor.device.type not in ("cpu", "cuda")
        or tensor.is_quantized
        or tensor.is_conj()
        or tensor.is_neg()
        or tensor.storage_offset() != 0
        or not tensor.is_contiguous()
        or tensor.__dict__
    ):
        return False
    storage = tensor.untyped_storage()
    return (
        storage.nbytes() == tensor.numel() * tensor.element_size()
        and storage._cdata not in memo.get("torch", {})
    )


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
