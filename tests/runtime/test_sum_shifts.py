"""The shift check of the folds through sums, made for all of them together, gives what it gives
made one fold at a time: on sums of two and three layers, with a shift carried twice, and with
NaN where a fold wrote one (which must come out as an infinite error, never as a pass)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from bnlint.runtime.sum_shifts import SumShift, shift_error, shift_errors  # noqa: E402

pytestmark = pytest.mark.runtime


def sum_fold(generator: torch.Generator, layers: int, channels: int) -> SumShift:
    shift = torch.randn(channels, generator=generator, dtype=torch.float64)
    carried = [torch.zeros(channels, dtype=torch.float64) for _ in range(layers)]
    carried[0] = shift + torch.randn(channels, generator=generator, dtype=torch.float64) * 1e-17
    allowances = [torch.full((channels,), 1e-16, dtype=torch.float64) for _ in range(layers)]
    return SumShift(carried, allowances, shift)


def test_sums_checked_together_equal_sums_checked_one_by_one():
    generator = torch.Generator().manual_seed(0)
    folds = [sum_fold(generator, layers, channels) for layers, channels in
             [(2, 4), (3, 5), (2, 1), (2, 7), (3, 2)]]  # fmt: skip
    twice = sum_fold(generator, 2, 4)
    folds.append(SumShift([twice.carried[0], twice.carried[0]], twice.allowances, twice.shift))
    half_nan = sum_fold(generator, 2, 3)
    half_nan.carried[1][1] = math.nan
    folds.append(half_nan)
    together = shift_errors(folds)
    one_by_one = [shift_error(fold) for fold in folds]
    assert len(together) == len(folds)
    for mine, theirs in zip(together, one_by_one, strict=True):
        assert (mine[0] == theirs[0]) or (math.isnan(mine[0]) and math.isnan(theirs[0]))
        assert mine[1] == theirs[1]
    assert together[5][1] > 1e10  # the shift carried twice is caught
    assert math.isnan(together[6][0]) and together[6][1] == math.inf
    assert all(ratio <= 1.0 for _, ratio in together[:5])
