"""Lazy layers (`nn.LazyConv2d`, `nn.LazyBatchNorm2d`, `nn.LazyLinear`) have no parameters
until the model first runs: there is nothing to copy or fold before that.

`fold()` refuses such a model with what to do about it (running the user's model is the
user's call: it creates the parameters). The command line builds the model itself, so it
runs it once on the example inputs first, as the model's own training loop would.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from bnlint.runtime.loading import SetupError
from bnlint.runtime.tensors import call


def uninitialized(model: nn.Module) -> list[str]:
    """The paths of the modules whose parameters or buffers are not created yet."""
    return [
        path or type(module).__name__
        for path, module in model.named_modules()
        if any(
            is_lazy(t) for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)]
        )
    ]


def materialize(model: nn.Module, inputs: tuple[Any, ...]) -> None:
    """Create a lazy model's parameters by running it once in eval mode (no statistics
    change), leaving its mode as it was."""
    if not uninitialized(model):
        return
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            call(model, inputs)
    except Exception as error:
        raise SetupError(
            f"running the model once to create its lazy layers' parameters raised "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        model.train(was_training)
