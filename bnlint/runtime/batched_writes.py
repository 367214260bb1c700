"""Folds after a layer written for many layers at once, when a fold writes into the layers' own
tensors (a private copy, see apply.apply_folds).

A fold after a layer multiplies each output channel's weights by the BatchNorm's scale and sets
the bias to bias * scale + shift, in float64. Layer by layer that is half a dozen small tensor
operations per layer, hundreds of layers on a large model. Here the scales of every layer of a
dtype and device are converted in one operation, the weights multiplied in one
`torch._foreach_mul_` and the biases worked out in one float64 vector: the same elementwise
operations on the same values, so the same results bit for bit. A group of fewer than five
layers is written layer by layer, with the same operations: joining it would cost more than it
saves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from bnlint.runtime.registered import replace_parameter

# A Conv/Linear whose weight is laid out output channel first (no transposed convolution).
Layer = _ConvNd | nn.Linear


@dataclass(frozen=True)
class _Scaling:
    layer: Layer
    scale: torch.Tensor  # float64, one per output channel
    shift: torch.Tensor | None  # float64; None: no shift, and a layer without bias keeps none


class PendingScalings:
    """Output-side folds waiting to be written, at most one per layer (a second fold of the
    same layer writes the first one before it waits: folds are written in their order)."""

    def __init__(self) -> None:
        self._waiting: dict[int, _Scaling] = {}

    def holds(self, layer: nn.Module) -> bool:
        return id(layer) in self._waiting

    def add(self, layer: Layer, scale: torch.Tensor, shift: torch.Tensor | None) -> None:
        if self.holds(layer):
            self.write()
        self._waiting[id(layer)] = _Scaling(layer, scale, shift)

    def write(self) -> None:
        """Write every waiting fold into its layer."""
        waiting, self._waiting = list(self._waiting.values()), {}
        groups: dict[tuple[torch.dtype, torch.device], list[_Scaling]] = {}
        for scaling in waiting:
            weight = scaling.layer.weight
            groups.setdefault((weight.dtype, weight.device), []).append(scaling)
        with torch.no_grad():
            for (dtype, _), group in groups.items():
                if len(group) < _TOGETHER_FROM:
                    for scaling in group:
                        _write_alone(scaling, dtype)
                    continue
                _write_weights(group, dtype)
                _write_biases([s for s in group if s.layer.bias is not None or s.shift is not None])


# Joining and splitting a group costs a dozen tensor operations of its own, three of kinds the
# fold makes nowhere else (each costly the first time in a call: see fold_errors.py), a layer
# written alone eight: together pays from about this many layers on.
_TOGETHER_FROM = 5


def _write_alone(scaling: _Scaling, dtype: torch.dtype) -> None:
    """`_write_weights` and `_write_biases` for one layer: the same operations on its values."""
    layer, scale, shift = scaling.layer, scaling.scale, scaling.shift
    weight = layer.weight.detach()
    weight.mul_(scale.to(dtype).view(-1, *([1] * (weight.dim() - 1))))
    if layer.bias is None and shift is None:
        return
    old = torch.zeros_like(scale) if layer.bias is None else layer.bias.detach().to(torch.float64)
    _set_bias(layer, old * scale + (torch.zeros_like(scale) if shift is None else shift))


def _write_weights(group: list[_Scaling], dtype: torch.dtype) -> None:
    """weight *= scale per output channel (the scale rounded to the weight's dtype once)."""
    factors = torch.split(
        torch.cat([s.scale for s in group]).to(dtype), [s.scale.numel() for s in group]
    )
    weights = [s.layer.weight.detach() for s in group]
    torch._foreach_mul_(
        weights,
        [f.view(-1, *([1] * (w.dim() - 1))) for f, w in zip(factors, weights, strict=True)],
    )


def _write_biases(group: list[_Scaling]) -> None:
    """bias = bias * scale + shift in float64, a missing bias or shift taken as zeros; written
    into the bias, or into a new bias Parameter for a layer built without one."""
    if not group:
        return
    sizes = [s.scale.numel() for s in group]
    zeros = torch.zeros(max(sizes), dtype=torch.float64, device=group[0].scale.device)
    old = torch.cat(
        [
            zeros[:n] if s.layer.bias is None else s.layer.bias.detach()
            for s, n in zip(group, sizes, strict=True)
        ]
    ).to(torch.float64)
    scale = torch.cat([s.scale for s in group])
    shift = torch.cat(
        [zeros[:n] if s.shift is None else s.shift for s, n in zip(group, sizes, strict=True)]
    )
    for scaling, bias in zip(group, torch.split(old * scale + shift, sizes), strict=True):
        _set_bias(scaling.layer, bias)


def _set_bias(layer: Layer, bias: torch.Tensor) -> None:
    """The new float64 bias written into the layer's bias, or into a new bias Parameter for a
    layer built without one."""
    if layer.bias is not None:
        layer.bias.detach().copy_(bias)
    else:
        weight = layer.weight
        replace_parameter(
            layer,
            "bias",
            nn.Parameter(bias.to(weight.dtype, copy=True), requires_grad=weight.requires_grad),
        )
