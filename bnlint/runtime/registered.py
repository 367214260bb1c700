"""Replacing a module's registered parameter or buffer, as `module.name = value` does, without
`nn.Module.__setattr__`'s overhead.

A fold replaces four to six registered tensors per BatchNorm (its layers' weight and bias, the
BatchNorm's statistics and affine parameters); `nn.Module.__setattr__` looks each name up in
every table first, a few microseconds a call, thousands of calls on a large model. When the
name is already registered in the table the value goes to, the class keeps nn.Module's
`__setattr__`, `register_parameter` and `register_buffer`, and no global registration hook is
installed, that path ends by writing the value into the table: it is written there directly.
Anything else goes through setattr.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules import module as torch_module


def replace_parameter(module: nn.Module, name: str, value: nn.Parameter | None) -> None:
    """`setattr(module, name, value)` for a registered parameter `name`."""
    if (
        _plain_setattr(type(module))
        and name in module._parameters
        and not torch_module._global_parameter_registration_hooks
    ):
        module._parameters[name] = value
    else:
        setattr(module, name, value)


def replace_buffer(module: nn.Module, name: str, value: torch.Tensor) -> None:
    """`setattr(module, name, value)` for a registered buffer `name` (a plain tensor)."""
    if (
        _plain_setattr(type(module))
        and name in module._buffers
        and type(value) is torch.Tensor
        and not torch_module._global_buffer_registration_hooks
    ):
        module._buffers[name] = value
    else:
        setattr(module, name, value)


_ASSIGNMENT = ("__setattr__", "register_parameter", "register_buffer")
_known: dict[type, bool] = {}


def _plain_setattr(cls: type) -> bool:
    """Whether `cls` assigns and registers attributes with nn.Module's own methods."""
    found = _known.get(cls)
    if found is None:
        found = _known[cls] = all(
            getattr(cls, method) is getattr(nn.Module, method) for method in _ASSIGNMENT
        )
    return found
