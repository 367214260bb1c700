"""The maps of many BatchNorms worked out together are the maps worked out one at a time,
bit for bit, and a BatchNorm whose statistics forbid a fold is named with the same reason."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bnlint.runtime.bn_maps import (  # noqa: E402
    _TOGETHER_FROM,
    BatchNormMaps,
    bn_affine,
    invalid_statistics,
)

from .helpers import randomise  # noqa: E402

pytestmark = pytest.mark.runtime


def batchnorms() -> list[nn.modules.batchnorm._BatchNorm]:
    found = [
        nn.BatchNorm2d(7),
        nn.BatchNorm2d(3, eps=1e-3),
        nn.BatchNorm1d(5, affine=False),
        nn.BatchNorm2d(4, affine=False, eps=1e-2),
        nn.BatchNorm2d(6).double(),
        nn.BatchNorm2d(2, track_running_stats=False),  # no statistics at all
        nn.BatchNorm3d(3),
        nn.BatchNorm2d(3),
        nn.BatchNorm2d(4),
        # enough plain ones that every float32 group is worked out together
        *(nn.BatchNorm2d(2 + i) for i in range(4)),
        *(nn.BatchNorm2d(3 + i, affine=False) for i in range(4)),
    ]
    for bn in found:
        randomise(bn, seed=len(bn.weight) if bn.weight is not None else 1)
    with torch.no_grad():
        found[6].running_var[1] = -0.5  # negative variance
        found[7].running_mean[0] = float("nan")
        found[8].weight[2] = float("inf")
    return found


def test_maps_worked_out_together_equal_maps_worked_out_alone():
    every = batchnorms()
    together = BatchNormMaps(every)
    assert len(together._maps) == 12  # the two float32 groups, but for the invalid three
    for bn in every:
        assert together.invalid(bn) == invalid_statistics(bn)
        if invalid_statistics(bn) is None:
            scale, shift = together.affine(bn)
            alone_scale, alone_shift = bn_affine(bn)
            assert torch.equal(scale, alone_scale) and torch.equal(shift, alone_shift)
            assert scale.dtype == torch.float64


def test_a_batchnorm_not_given_is_worked_out_alone():
    bn = randomise(nn.BatchNorm2d(3))
    scale, shift = BatchNormMaps(()).affine(bn)
    assert torch.equal(scale, bn_affine(bn)[0]) and torch.equal(shift, bn_affine(bn)[1])
    assert BatchNormMaps(()).invalid(bn) is None


def test_a_batchnorm_changed_after_the_maps_were_worked_out_gets_its_map_as_it_is_now():
    every = [randomise(nn.BatchNorm2d(4), seed=seed) for seed in range(_TOGETHER_FROM)]
    together = BatchNormMaps(every)
    every[0].eps = 1e-3
    every[1].weight = nn.Parameter(torch.ones(4))
    with torch.no_grad():
        every[2].running_var.mul_(2.0)
    for bn in every:
        scale, shift = together.affine(bn)
        assert torch.equal(scale, bn_affine(bn)[0]) and torch.equal(shift, bn_affine(bn)[1])


def test_a_group_too_small_to_pay_for_it_is_worked_out_alone_with_the_same_maps():
    few = [randomise(nn.BatchNorm2d(4), seed=seed) for seed in range(_TOGETHER_FROM - 1)]
    many = few + [randomise(nn.BatchNorm2d(4), seed=9)]
    alone, together = BatchNormMaps(few), BatchNormMaps(many)
    assert not alone._maps and len(together._maps) == _TOGETHER_FROM
    for bn in few:
        for maps in (alone, together):
            scale, shift = maps.affine(bn)
            assert torch.equal(scale, bn_affine(bn)[0]) and torch.equal(shift, bn_affine(bn)[1])
            assert maps.invalid(bn) is None
