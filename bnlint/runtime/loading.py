"""Building the user's model and its example inputs from `pkg.module:callable` specs."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bnlint.runtime.checkpoint import CheckpointError, load_checkpoint
from bnlint.runtime.tensors import map_tensors

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


class SetupError(Exception):
    """The model or its inputs could not be built (the message names the cause)."""


def load_callable(spec: str) -> Callable[..., Any]:
    """`pkg.module:name` (name may be dotted: `pkg.module:Class.build`), importable from the
    current directory as `python -c` would."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SetupError(f"'{spec}' is not of the form pkg.module:callable")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except SystemExit as error:
        raise SetupError(f"importing '{module_name}' exited ({_exit_call(error)})") from error
    except Exception as error:  # the user's module may fail to import in any way
        raise SetupError(
            f"cannot import '{module_name}': {type(error).__name__}: {error}"
        ) from error
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise SetupError(f"'{module_name}' has no attribute '{attribute}'")
        target = getattr(target, part)
    if not callable(target):
        raise SetupError(f"'{spec}' is not callable")
    found: Callable[..., Any] = target
    return found


def build_model(
    spec: str, kwargs: dict[str, Any], dtype: torch.dtype | None, checkpoint: Path | None = None
) -> nn.Module:
    """`factory(**kwargs)`, with the checkpoint's weights loaded, converted to `dtype`."""
    factory = load_callable(spec)
    torch.manual_seed(0)  # a factory that initialises randomly builds the same model each run
    try:
        model = factory(**kwargs)
    except SystemExit as error:
        raise SetupError(
            f"the factory '{spec}' exited ({_exit_call(error)}) instead of returning a model"
        ) from error
    except Exception as error:
        raise SetupError(f"'{spec}' raised {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise SetupError(f"'{spec}' returned {type(model).__name__}, not a torch.nn.Module")
    if checkpoint is not None:
        try:
            load_checkpoint(model, checkpoint)
        except CheckpointError as error:
            raise SetupError(str(error)) from error
    return model.to(dtype) if dtype is not None else model


def build_inputs(
    shapes: list[tuple[int, ...]] | None, inputs_spec: str | None, dtype: torch.dtype | None
) -> tuple[Any, ...]:
    if inputs_spec is not None:
        make = load_callable(inputs_spec)
        try:
            made = make()
        except SystemExit as error:
            raise SetupError(
                f"'{inputs_spec}' exited ({_exit_call(error)}) instead of returning the inputs"
            ) from error
        except Exception as error:
            raise SetupError(f"'{inputs_spec}' raised {type(error).__name__}: {error}") from error
        inputs = made if isinstance(made, tuple) else (made,)
    else:
        assert shapes
        generator = torch.Generator().manual_seed(0)
        inputs = tuple(torch.randn(shape, generator=generator) for shape in shapes)
    if dtype is None:
        return inputs
    converted: tuple[Any, ...] = map_tensors(
        inputs, lambda t: t.to(dtype) if t.is_floating_point() else t
    )
    return converted


def untrained_statistics(model: nn.Module) -> bool:
    """Whether every BatchNorm with running statistics still has the ones it was built with
    (mean 0, variance 1): a fold of such a BatchNorm is a near-identity, so its error says
    nothing about the trained model."""
    found = False
    for module in model.modules():
        if (
            isinstance(module, nn.modules.batchnorm._BatchNorm)
            and module.running_mean is not None
            and module.running_var is not None
        ):
            if module.running_mean.is_meta or module.running_var.is_meta:
                return False
            if not (
                bool(torch.all(module.running_mean == 0))
                and bool(torch.all(module.running_var == 1))
            ):
                return False
            found = True
    return found


def _exit_call(error: SystemExit) -> str:
    return f"sys.exit({error.code!r})" if error.code is not None else "sys.exit()"
