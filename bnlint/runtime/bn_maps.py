"""What an eval-mode BatchNorm does to each channel, x -> scale * x + shift, in float64, and
whether its statistics allow a fold at all: the first question, before any arithmetic, is
whether its tensors hold one value per feature (`misshapen_tensors`).

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
    misshapen = misshapen_tensors(bn)
    if misshapen is not None:
        return misshapen
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None  # misshapen_tensors says so when missing
    affine = [t for t in (bn.weight, bn.bias) if t is not None]
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


_TENSORS = ("running_mean", "running_var", "weight", "bias")
_ABSENT = object()


def misshapen_tensors(bn: _BatchNorm) -> str | None:
    """Why the BatchNorm's tensors are not those a torch BatchNorm of its num_features has
    (running statistics, and a weight and bias or None, each one value per feature), or None.

    Every map and check of a fold works on one value per channel, so anything else is refused
    before any arithmetic. A subclass may keep other tensors under these names and a forward()
    of its own that uses part of them (lightly's SplitBatchNorm keeps num_splits sets of
    statistics and normalises with the first in eval mode): what it computes cannot be read
    off its tensors."""
    # getattr: a subclass with its own forward() may delete an attribute it does not use
    values = [getattr(bn, name, _ABSENT) for name in _TENSORS]
    absent = [name for name, value in zip(_TENSORS, values, strict=True) if value is _ABSENT]
    if absent:
        return f"it has no {_listed(absent)} attribute{'' if len(absent) == 1 else 's'}"
    if values[0] is None or values[1] is None:
        return "its running statistics are missing (running_mean/running_var is None)"
    features = bn.num_features
    wrong: dict[str, list[str]] = {}
    for name, value in zip(_TENSORS, values, strict=True):
        if value is None or (isinstance(value, torch.Tensor) and value.shape == (features,)):
            continue
        wrong.setdefault(_held(value), []).append(name)
    if not wrong:
        return None
    held = [
        f"{_listed(names)} {'has' if len(names) == 1 else 'have'} {what}"
        for what, names in wrong.items()
    ]
    return f"its {', '.join(held)} for {features} features"


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _held(value: object) -> str:
    """What a BatchNorm tensor attribute holds, as `misshapen_tensors` names it."""
    if not isinstance(value, torch.Tensor):
        return f"a {type(value).__name__} instead of a tensor"
    if value.dim() == 1:
        return f"{value.numel()} value{'' if value.numel() == 1 else 's'}"
    return f"shape {tuple(value.shape)}"


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
    # None for a BatchNorm built with affine=False (or one set to None: torch's batch_norm
    # then takes 1 for the weight, 0 for the bias)
    weight: torch.Tensor | None = bn.weight
    bias: torch.Tensor | None = bn.bias
    if weight is None and bias is None:
        return scale, -centred
    gamma = torch.ones_like(scale) if weight is None else weight.detach().double()
    beta = torch.zeros_like(scale) if bias is None else bias.detach().double()
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
            key = None if misshapen_tensors(bn) is not None else _group(bn)
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
    """The group a BatchNorm of one value per feature in each tensor is worked out with, or
    None to work it out alone: only one of weight and bias, or tensors not all of one dtype
    and device."""
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None  # misshapen_tensors says so when missing
    weight, bias = bn.weight, bn.bias
    affine = weight is not None
    if affine != (bias is not None):
        return None
    others = [var, weight, bias] if affine else [var]
    # The mean's dtype and device read once (each read makes a new object).
    dtype, device = mean.dtype, mean.device
    if any(t.dtype != dtype or t.device != device for t in others):
        return None
    return device, dtype, affine
