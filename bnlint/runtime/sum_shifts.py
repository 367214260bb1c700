"""The check that the layers of a sum carry their BatchNorm's shift once between them, for every
fold through a sum at once.

Each layer of a sum `bn(a(x) + b(y))` carries a part of the shift in its bias (all of it, or
none): what they carry together must be the BatchNorm's shift, within what rounding allows
(fold_errors.py measures each layer's part and its allowance). One by one that is a dozen small
tensor operations per fold, and a network of octave or multi-branch blocks has a sum fold per
block; here the folds through sums of as many layers are checked together, with the same
elementwise operations, so with the same results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SumShift:
    """What the check reads of one fold through a sum."""

    carried: list[torch.Tensor]  # per layer: the part of the shift its bias carries
    allowances: list[torch.Tensor]  # per layer: what rounding allows there
    shift: torch.Tensor  # the BatchNorm's shift


def worst_ratio(error: torch.Tensor, allowance: torch.Tensor) -> float:
    """The largest error in units of what rounding allows at that element (inf for NaN)."""
    if not error.numel():
        return 0.0
    worst = float((error.abs() / allowance.clamp_min(_TINY)).max())
    return math.inf if math.isnan(worst) else worst


def shift_error(fold: SumShift) -> tuple[float, float]:
    """(max |shift carried - shift|, NaN if any is NaN; that in units of what rounding
    allows) for one fold through a sum."""
    total = torch.stack(fold.carried).sum(0)
    allowed = torch.stack(fold.allowances).sum(0)
    missing = total - fold.shift
    return float(missing.abs().max()), worst_ratio(missing, allowed + 1e-12 * total.abs())


def shift_errors(folds: list[SumShift]) -> list[tuple[float, float]]:
    """`shift_error` of each fold, the folds through sums of as many layers checked together."""
    results: list[tuple[float, float] | None] = [None] * len(folds)
    by_count: dict[tuple[int, int], list[int]] = {}
    for index, fold in enumerate(folds):
        if fold.shift.numel():
            by_count.setdefault((len(fold.carried), len(fold.allowances)), []).append(index)
        else:
            results[index] = shift_error(fold)
    for count, members in by_count.items():
        try:
            worst = _together([folds[i] for i in members], count)
        except RuntimeError:  # tensors on several devices: one by one
            worst = [shift_error(folds[i]) for i in members]
        for index, found in zip(members, worst, strict=True):
            results[index] = found
    return [found for found in results if found is not None]


def _together(folds: list[SumShift], count: tuple[int, int]) -> list[tuple[float, float]]:
    """`shift_error` of folds through sums of as many layers, in a few tensor operations: the
    same elementwise arithmetic on the joined channels, then the worst of each fold."""
    carried, allowances = count
    total = torch.stack([torch.cat([f.carried[j] for f in folds]) for j in range(carried)]).sum(0)
    allowed = torch.stack([torch.cat([f.allowances[j] for f in folds]) for j in range(allowances)])
    allowed = allowed.sum(0)
    missing = total - torch.cat([f.shift for f in folds])
    error = missing.abs()
    ratio = error / (allowed + 1e-12 * total.abs()).clamp_min(_TINY)
    sizes = torch.tensor([f.shift.numel() for f in folds], device=error.device)
    fold_of = torch.repeat_interleave(torch.arange(len(folds), device=error.device), sizes)
    # torch.max gives NaN when any element is NaN: the NaNs are counted apart.
    per_element = torch.stack(
        [
            error.nan_to_num(nan=0.0, posinf=math.inf),
            ratio.nan_to_num(nan=0.0, posinf=math.inf),
            error.isnan().to(error.dtype),
            ratio.isnan().to(error.dtype),
        ]
    )
    worst = torch.zeros(4, len(folds), dtype=error.dtype, device=error.device)
    worst = worst.scatter_reduce(1, fold_of.expand(4, -1), per_element, "amax")
    return [
        (math.nan if error_nan else worst_error, math.inf if ratio_nan else worst_ratio_)
        for worst_error, worst_ratio_, error_nan, ratio_nan in zip(*worst.tolist(), strict=True)
    ]


_TINY = torch.finfo(torch.float64).tiny
