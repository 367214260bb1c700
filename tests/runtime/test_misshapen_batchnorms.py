"""A BatchNorm whose tensors are not one value per feature - lightly's SplitBatchNorm keeps
num_splits sets of running statistics and normalises with a slice of them - is left alone with
XBN113 and a reason naming the mismatch, before any arithmetic; the rest of the model folds
and is verified."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from bnlint.runtime.bn_maps import _TOGETHER_FROM, BatchNormMaps  # noqa: E402

from .helpers import assert_same_outputs, fold, folded, randomise, skipped  # noqa: E402

pytestmark = pytest.mark.runtime


class SplitBatchNorm(nn.BatchNorm2d):
    """As lightly.models.resnet: num_splits sets of statistics, the first used in eval mode."""

    def __init__(self, num_features: int, num_splits: int) -> None:
        super().__init__(num_features)
        self.num_splits = num_splits
        self.register_buffer("running_mean", torch.zeros(num_features * num_splits))
        self.register_buffer("running_var", torch.ones(num_features * num_splits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if self.training:
            return F.batch_norm(
                x.view(-1, c * self.num_splits, h, w),
                self.running_mean,
                self.running_var,
                self.weight.repeat(self.num_splits),
                self.bias.repeat(self.num_splits),
                True,
                self.momentum,
                self.eps,
            ).view(n, c, h, w)
        return F.batch_norm(
            x,
            self.running_mean[: self.num_features],
            self.running_var[: self.num_features],
            self.weight,
            self.bias,
            False,
            self.momentum,
            self.eps,
        )


def get_norm_layer(num_features: int, num_splits: int) -> nn.Module:
    if num_splits > 0:
        return SplitBatchNorm(num_features, num_splits)
    return nn.BatchNorm2d(num_features)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, num_splits: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, padding=1, bias=False)
        self.bn1 = get_norm_layer(planes, num_splits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn1(self.conv1(x)))


class SplitNet(nn.Module):
    """A plain Conv -> BatchNorm stem, then a block normalised by SplitBatchNorm."""

    def __init__(self, num_splits: int = 2) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.layer1 = BasicBlock(4, 8, num_splits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer1(F.relu(self.bn(self.stem(x))))


def split_net() -> SplitNet:
    return randomise(SplitNet()).eval()  # two different splits: only the first counts


def test_split_batchnorm_is_skipped_with_the_mismatch_and_the_plain_pair_folds():
    model = split_net()
    x = torch.randn(2, 3, 8, 8)
    result = fold(model, x)
    assert folded(result) == {("stem", "bn")}
    assert skipped(result) == {"layer1.bn1": "XBN113"}
    skip = result.skipped[0]
    assert skip.partner == "layer1.conv1"  # the pair keeps its name for the fold key
    assert "its running_mean and running_var have 16 values for 8 features" in skip.reason
    assert isinstance(result.model.layer1.bn1, SplitBatchNorm)
    assert_same_outputs(model, result, torch.randn(3, 3, 8, 8))


class SlicedWeightBatchNorm(nn.BatchNorm2d):
    """A hand-built oddity: a weight longer than num_features, of which forward() uses the
    first num_features values."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.weight = nn.Parameter(torch.rand(2 * num_features) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.running_mean is not None and self.running_var is not None
        weight = self.weight[: self.num_features]
        return F.batch_norm(x, self.running_mean, self.running_var, weight, self.bias, False)


def column_weight(features: int) -> nn.BatchNorm2d:
    """torch's own BatchNorm2d runs with a weight of shape (features, 1): it checks the count."""
    bn = nn.BatchNorm2d(features)
    bn.weight = nn.Parameter(torch.rand(features, 1) + 0.5)
    return bn


@pytest.mark.parametrize(
    "make, detail",
    [
        (SlicedWeightBatchNorm, "its weight has 16 values for 8 features"),
        (column_weight, "its weight has shape (8, 1) for 8 features"),
    ],
)
def test_a_batchnorm_whose_weight_is_not_one_value_per_feature_is_skipped(make, detail):
    model = randomise(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 1),
            make(8),
        )
    ).eval()
    x = torch.randn(2, 3, 8, 8)
    result = fold(model, x)
    assert folded(result) == {("0", "1")}
    assert skipped(result) == {"4": "XBN113"}
    assert detail in result.skipped[0].reason
    assert_same_outputs(model, result, torch.randn(3, 3, 8, 8))


class SplitAfterConcat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1, bias=False)
        self.b = nn.Conv2d(3, 4, 1, bias=False)
        self.bn = SplitBatchNorm(8, 2)
        self.c = nn.Conv2d(8, 4, 1, bias=False)
        self.bn_c = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(torch.cat([self.a(x), self.b(x)], dim=1))
        return self.bn_c(self.c(y))


def test_a_split_batchnorm_after_a_concatenation_is_skipped_and_the_rest_folds():
    model = randomise(SplitAfterConcat()).eval()
    result = fold(model, torch.randn(2, 3, 6, 6))
    assert folded(result) == {("c", "bn_c")}
    assert skipped(result) == {"bn": "XBN113"}
    assert "16 values for 8 features" in result.skipped[0].reason
    assert_same_outputs(model, result, torch.randn(3, 3, 6, 6))


@pytest.mark.parametrize("missing", ["weight", "bias"])
def test_a_batchnorm_with_only_a_weight_or_only_a_bias_folds_as_torch_runs_it(missing):
    model = randomise(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)))
    with torch.no_grad():
        model[1].bias.copy_(torch.randn(8))
    setattr(model[1], missing, None)  # torch's batch_norm takes 1 or 0 in its place
    model.eval()
    result = fold(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == {("0", "1")}
    assert_same_outputs(model, result, torch.randn(3, 3, 8, 8))


def test_batchnorms_whose_tensors_all_have_another_length_are_never_worked_out_together():
    # Each BatchNorm's four tensors agree with each other, but not with num_features.
    split = [SplitBatchNorm(3, 2) for _ in range(_TOGETHER_FROM)]
    for bn in split:
        bn.weight = nn.Parameter(torch.ones(6))
        bn.bias = nn.Parameter(torch.zeros(6))
    maps = BatchNormMaps([*split, *(nn.BatchNorm2d(3) for _ in range(_TOGETHER_FROM))])
    assert maps.invalid(split[0]) == (
        "its running_mean, running_var, weight and bias have 6 values for 3 features"
    )
