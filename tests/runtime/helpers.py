"""Shared helpers for the runtime tests: realistic BatchNorm statistics and result views."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import bnlint
from bnlint.runtime.fold import FoldResult
from bnlint.runtime.tensors import tensors


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights plus non-trivial BatchNorm statistics, so that a fold that forgot the
    mean, the variance, gamma or beta changes the output visibly."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for param in module.parameters(recurse=False):
                param.copy_(torch.randn(param.shape, generator=generator).to(param.dtype) * 0.3)
            if isinstance(module, _BatchNorm):
                # by the tensors' own shapes: a subclass may keep more statistics
                if module.running_mean is not None:
                    mean, var = module.running_mean, module.running_var
                    mean.copy_(torch.randn(mean.shape, generator=generator))
                    var.copy_(torch.rand(var.shape, generator=generator) * 2 + 0.2)
                if module.weight is not None:
                    weight = module.weight
                    weight.copy_(torch.rand(weight.shape, generator=generator) + 0.5)
    return model


def fold(model: nn.Module, inputs: Any, **options: Any) -> FoldResult:
    """bnlint.fold with its FoldWarnings recorded instead of printed."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        return bnlint.fold(model, inputs, **options)


def folded(result: FoldResult) -> set[tuple[str, str]]:
    return {(f.conv, f.bn) for f in result.folds}


def skipped(result: FoldResult) -> dict[str, str]:
    return {s.bn: s.code for s in result.skipped}


def assert_same_outputs(
    original: nn.Module, result: FoldResult, *inputs: Any, rtol: float = 1e-4
) -> None:
    """The folded model, on fresh inputs, computes what the original computes."""
    assert result.verified, result.verification.failures
    assert result.model is not None
    original.eval()
    with torch.no_grad():
        want, got = original(*inputs), result.model(*inputs)
    for a, b in zip(tensors(want), tensors(got), strict=True):
        scale = float(a.abs().max())
        assert float((a.double() - b.double()).abs().max()) <= rtol * scale + 1e-6
