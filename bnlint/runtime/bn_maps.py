"""What an eval-mode BatchNorm does to each channel, x -> scale * x + shift, in float64, and
whether its statistics allow a fold at all.

A fold needs both for every BatchNorm it removes. One BatchNorm at a time that is a dozen
small tensor operations each, more than the arithmetic of the fold itself in a model of
hundreds of small BatchNorms; `BatchNormMaps` works out every BatchNorm of the same dtype,
device and form (with or without gamma and beta) in one go. The arithmetic is the same,
element by element (`bn_affine`: float64, then a square root, a division, products and
sums, each rounded once), so the maps are identical to those worked out one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.nn.modules.batchnorm import _BatchNorm


def invalid_statistics(bn: _BatchNorm) -> str | None:
    """Why the BatchNorm's statistics cannot be folded, or None."""
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        return "its running statistics are missing (running_mean/running_var is None)"
    affine = [bn.weight, bn.bias] if bn.affine else []
    # One test for the common case (every value finite, no negative variance), by the
    # largest magnitudes (the operations the site check makes: fold_errors.py); the details
    # only when it fails.
    if _finite(torch.cat([mean, var, *affine])) and not _has_negative(var):
        return None
    if not bool(torch.isfinite(mean).all()) or not bool(torch.isfinite(var).all()):
        return "its running statistics contain NaN or infinity"
    if bool((var < 0).any()):
        return "its running variance is negative"
    return "its weight or bias contains NaN or infinity"


def _finite(values: torch.Tensor) -> bool:
    """Whether every value is finite (the largest magnitude is NaN or infinite otherwise)."""
    return not values.numel() or math.isfinite(float(values.abs().amax()))


def _has_negative(values: torch.Tensor) -> bool:
    """Whether a value of these finite ones is negative (|x| - x > 0 exactly then)."""
    return bool(values.numel()) and float(values.abs().sub(values).amax()) > 0


def bn_affine(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel (scale, shift) an eval-mode BatchNorm applies, in float64."""
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None  # refused before (XBN113) when missing
    scale = torch.rsqrt(var.detach().double() + bn.eps)
    centred = mean.detach().double() * scale
    # None for a BatchNorm built with affine=False
    weight: torch.Tensor | None = bn.weight
    bias: torch.Tensor | None = bn.bias
    if weight is None or bias is None:
        return scale, -centred
    gamma, beta = weight.detach().double(), bias.detach().double()
    # beta - (mean * scale) * gamma: the bits of (-mean * scale) * gamma + beta
    return scale * gamma, beta - centred * gamma


# Working a group out together costs a fixed two dozen tensor operations (a few tenths of a
# millisecond), one at a time a dozen per BatchNorm: together pays from about this many on.
_TOGETHER_FROM = 6


class BatchNormMaps:
    """`invalid_statistics` and `bn_affine` of many BatchNorms, worked out together. A
    BatchNorm it was not given, one of a group too small to pay for it or of an unusual
    form, or one whose eps or tensors changed since (another tensor, or one written in
    place) is worked out alone, as it is now."""

    def __init__(self, batchnorms: Iterable[_BatchNorm]) -> None:
        self._invalid: dict[int, str | None] = {}
        self._maps: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._states: dict[int, tuple[object, ...]] = {}
        unique = {id(bn): bn for bn in batchnorms}
        if len(unique) < _TOGETHER_FROM:
            return  # no group could be large enough
        groups: dict[tuple[torch.device, torch.dtype, bool], list[_BatchNorm]] = {}
        for bn in unique.values():
            key = _group(bn)
            if key is not None:
                groups.setdefault(key, []).append(bn)
        with torch.no_grad():
            for (_, _, affine), members in groups.items():
                if len(members) >= _TOGETHER_FROM:
                    self._work_out(members, affine)

    def invalid(self, bn: _BatchNorm) -> str | None:
        if id(bn) in self._invalid and self._unchanged(bn):
            return self._invalid[id(bn)]
        return invalid_statistics(bn)

    def affine(self, bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
        found = self._maps.get(id(bn))
        return found if found is not None and self._unchanged(bn) else bn_affine(bn)

    def _unchanged(self, bn: _BatchNorm) -> bool:
        return self._states.get(id(bn)) == _state(bn)

    def _work_out(self, members: list[_BatchNorm], affine: bool) -> None:
        def joined(name: str) -> torch.Tensor:
            return torch.cat([getattr(bn, name).detach() for bn in members])

        sizes = [bn.running_mean.numel() for bn in members]  # type: ignore[union-attr]
        mean, var = joined("running_mean"), joined("running_var")
        device = mean.device
        counts = torch.tensor(sizes, device=device)
        owner = torch.repeat_interleave(torch.arange(len(members), device=device), counts)
        bad = ~torch.isfinite(mean) | ~torch.isfinite(var) | (var < 0)
        if affine:
            gamma, beta = joined("weight"), joined("bias")
            bad |= ~torch.isfinite(gamma) | ~torch.isfinite(beta)
        zeros = torch.zeros(len(members), dtype=torch.long, device=device)
        flawed = zeros.index_add_(0, owner, bad.long()).tolist()
        eps = torch.tensor([bn.eps for bn in members], dtype=torch.float64, device=device)
        scale = torch.rsqrt(var.double() + eps.repeat_interleave(counts))
        centred = mean.double() * scale
        shift = -centred
        if affine:  # the arithmetic of bn_affine, so the same bits
            gamma64, beta64 = gamma.double(), beta.double()
            scale, shift = scale * gamma64, beta64 - centred * gamma64
        scales, shifts = torch.split(scale, sizes), torch.split(shift, sizes)
        parts = zip(members, scales, shifts, flawed, strict=True)
        for bn, bn_scale, bn_shift, flaws in parts:
            self._states[id(bn)] = _state(bn)
            if flaws:
                self._invalid[id(bn)] = invalid_statistics(bn)  # with the details
            else:
                self._invalid[id(bn)] = None
                self._maps[id(bn)] = (bn_scale, bn_shift)


def _state(bn: _BatchNorm) -> tuple[object, ...]:
    """What a map is worked out from: eps, and each tensor's identity and in-place version."""
    # Read on every query of a map: spelled out, without a generator.
    return (
        bn.eps,
        _identity(bn.running_mean),
        _identity(bn.running_var),
        _identity(bn.weight),
        _identity(bn.bias),
    )


def _identity(tensor: torch.Tensor | None) -> tuple[int, int] | None:
    return None if tensor is None else (id(tensor), tensor._version)


def _group(bn: _BatchNorm) -> tuple[torch.device, torch.dtype, bool] | None:
    """The group a BatchNorm is worked out with, or None to work it out alone: statistics
    missing, or tensors not all one-dimensional of one length, dtype and device."""
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        return None
    affine = bn.weight is not None and bn.bias is not None
    if affine != bool(bn.affine):
        return None
    others = [var, bn.weight, bn.bias] if affine else [var]
    # The mean's shape, dtype and device read once (each read makes a new object).
    shape, dtype, device = mean.shape, mean.dtype, mean.device
    if len(shape) != 1 or any(
        t.shape != shape or t.dtype != dtype or t.device != device for t in others
    ):
        return None
    return device, dtype, affine
