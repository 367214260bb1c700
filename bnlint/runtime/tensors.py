"""Walking the nested structures models take and return (tuples, lists, dicts, dataclasses)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import torch


class Keywords(dict[str, Any]):
    """The keyword arguments of a model call. Inputs are a tuple of positional arguments,
    with this as the last element when there are keywords: every walk over the inputs
    (copies, random inputs like them, float64 copies) keeps it, and `call` spreads it."""


def call(model: Callable[..., Any], inputs: tuple[Any, ...]) -> Any:
    """`model(*inputs)`, the trailing Keywords given as keyword arguments."""
    if inputs and isinstance(inputs[-1], Keywords):
        return model(*inputs[:-1], **inputs[-1])
    return model(*inputs)


def leaves(obj: Any, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in `obj` with where it sits ("[0]['image']")."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, f"{path}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            yield from leaves(value, f"{path}[{index}]")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from leaves(getattr(obj, f.name), f"{path}.{f.name}")


def tensors(obj: Any) -> list[torch.Tensor]:
    """Every tensor in `obj`, in the order `leaves` gives (without naming where)."""
    if isinstance(obj, torch.Tensor):  # what most layers return
        return [obj]
    found: list[torch.Tensor] = []
    _collect(obj, found)
    return found


def _collect(obj: Any, found: list[torch.Tensor]) -> None:
    # `leaves` without the paths: this runs for every op the capture records, so the usual
    # cases (a tensor, a sequence of tensors, a number) cost no further call.
    if isinstance(obj, torch.Tensor):
        found.append(obj)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            if isinstance(value, torch.Tensor):
                found.append(value)
            elif not isinstance(value, _ATOMS):
                _collect(value, found)
    elif isinstance(obj, dict):
        for value in obj.values():
            _collect(value, found)
    elif (
        not isinstance(obj, _ATOMS) and dataclasses.is_dataclass(obj) and not isinstance(obj, type)
    ):
        for f in dataclasses.fields(obj):
            _collect(getattr(obj, f.name), found)


_ATOMS = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.Size)


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """A copy of the structure `obj` with every tensor replaced by `fn(tensor)`."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return type(obj)((key, map_tensors(value, fn)) for key, value in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(map_tensors(value, fn) for value in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(value, fn) for value in obj)
    return obj


def version(tensor: torch.Tensor) -> int:
    """The in-place version counter (shared by a tensor and its views); -1 when it has none."""
    try:
        return tensor._version
    except (RuntimeError, AttributeError):
        return -1


def storage_key(tensor: torch.Tensor) -> tuple[int, str] | None:
    try:
        return tensor.untyped_storage().data_ptr(), str(tensor.device)
    except (RuntimeError, NotImplementedError):
        return None
