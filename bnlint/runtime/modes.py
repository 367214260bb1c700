"""Putting a model in eval mode, as `model.eval()` does, without its per-module overhead.

`Module.eval()` walks the tree and sets each module's `training` through `nn.Module.__setattr__`,
which looks the name up in the parameter, buffer and module tables first: a few microseconds a
module, twice per fold on a model of thousands of modules. When no class of the model changes
how it is put in eval mode (`train`, `eval`, `__setattr__` or `training` of its own), the flag
is written where that path writes it. Any other model is put in eval mode by `eval()` itself.
"""

from __future__ import annotations

from torch import nn

# What a class may define to change what `eval()` does to it.
_EVAL_PROTOCOL = ("train", "eval", "__setattr__", "training")


def to_eval(model: nn.Module) -> nn.Module:
    """`model.eval()`: every module of `model` in eval mode; returns `model`."""
    modules = list(model.modules())
    if any(_own_eval(cls) for cls in {type(module) for module in modules}):
        # not `return model.eval()`: a train() of the model's own need not return self
        # (OpenMMLab backbones override it to re-freeze stages and return None)
        model.eval()
        return model
    for module in modules:
        module.__dict__["training"] = False
    return model


_known: dict[type, bool] = {}


def _own_eval(cls: type) -> bool:
    """Whether `cls` or a base other than nn.Module defines any part of the eval protocol."""
    found = _known.get(cls)
    if found is None:
        found = _known[cls] = any(
            name in klass.__dict__
            for klass in cls.__mro__
            if klass not in (nn.Module, object)
            for name in _EVAL_PROTOCOL
        )
    return found
