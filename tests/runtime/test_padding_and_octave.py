"""Two designs whose BatchNorms used to be left alone fold now: convolutions that pad their
input themselves (TensorFlow "same" padding, as in EfficientNets ported from TensorFlow) and
octave convolutions (a high- and a low-frequency branch, each with its own BatchNorm)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.fold_models import (  # noqa: E402
    Conv2dSame,
    EfficientNet,
    OctaveConvBN,
    OctaveResNet,
    trained_statistics,
)

from .helpers import assert_same_outputs, fold, folded, skipped  # noqa: E402

pytestmark = pytest.mark.runtime

# A two-stage EfficientNet as ported from TensorFlow: every strided conv is a Conv2dSame.
TF_STAGES = ((1, 3, 1, 32, 16, 1), (6, 5, 2, 16, 24, 2))


def batchnorms(model: nn.Module) -> set[str]:
    return {
        name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }


def test_every_batchnorm_of_a_tensorflow_ported_efficientnet_folds():
    model = trained_statistics(EfficientNet(TF_STAGES, width=0.5, num_classes=10, tf_same=True))
    assert any(isinstance(m, Conv2dSame) for m in model.modules())
    x = torch.randn(1, 3, 33, 33)  # odd sizes: the padding is asymmetric
    result = fold(model, x)
    assert {bn for _, bn in folded(result)} == batchnorms(model)
    assert_same_outputs(model, result, torch.randn(1, 3, 33, 33))
    stem = result.model.features[0]
    assert isinstance(stem[0], Conv2dSame) and isinstance(stem[1], nn.Identity)


def test_a_batchnorm_before_a_self_padding_conv_is_not_folded_into_it():
    # The padding happens inside the layer, after the BatchNorm: its shift would leak into it.
    model = trained_statistics(
        nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.BatchNorm2d(4), Conv2dSame(4, 4, 3, 2))
    )
    result = fold(model, torch.randn(1, 3, 9, 9))
    assert folded(result) == set()
    assert skipped(result) == {"2": "XBN101"}


@pytest.mark.parametrize(
    ("mode", "folds"),
    [("zeros", False), ("reflect", True), ("replicate", True), ("circular", True)],
)
def test_a_batchnorm_folds_into_a_conv_that_pads_by_copying_its_input(mode, folds):
    """Reflected, replicated or wrapped padding copies values the BatchNorm's shift has
    reached: the fold into the conv after it is exact. Zeros would not receive the shift."""
    model = trained_statistics(
        nn.Sequential(
            nn.Conv2d(3, 4, 1),
            nn.ReLU(),
            nn.BatchNorm2d(4),
            nn.Conv2d(4, 4, 3, padding=1, padding_mode=mode, bias=False),
        )
    )
    inputs = torch.randn(1, 3, 9, 9)
    result = fold(model, inputs)
    assert folded(result) == ({("3", "2")} if folds else set())
    assert skipped(result) == ({} if folds else {"2": "XBN109"})
    assert_same_outputs(model, result, inputs)


class BiasFreeSamePadConv(nn.Conv2d):
    """Pads itself, then convolves without its bias (it has none, so it passes None)."""

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1)), self.weight, None, self.stride, 0)


def test_a_conv_whose_forward_ignores_its_bias_keeps_its_batchnorm():
    # A fold gives the conv a bias; this forward would never add it. Verification says so.
    model = trained_statistics(
        nn.Sequential(BiasFreeSamePadConv(3, 4, 3, bias=False), nn.BatchNorm2d(4))
    )
    result = fold(model, torch.randn(1, 3, 8, 8))
    assert folded(result) == set() and skipped(result) == {"1": "XBN209"}
    assert result.verified
    assert_same_outputs(model, result, torch.randn(1, 3, 8, 8))


def test_every_batchnorm_of_an_octave_resnet_folds():
    model = trained_statistics(OctaveResNet((1, 1, 1, 1), width=16, num_classes=10))
    result = fold(model, torch.randn(1, 3, 64, 64))
    assert {bn for _, bn in folded(result)} == batchnorms(model)
    assert_same_outputs(model, result, torch.randn(1, 3, 64, 64))


def test_the_high_frequency_batchnorm_folds_through_the_upsampled_low_branch():
    layer = trained_statistics(OctaveConvBN(8, 8, 3, alpha_in=0.5, alpha_out=0.5))
    pair = (torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4))
    result = fold(layer, (pair,))  # one argument: the (high, low) pair
    # bn_h normalises h2h(x_h) + upsample(l2h(x_l)); bn_l normalises h2l(pool(x_h)) + l2l(x_l).
    assert folded(result) == {
        ("conv.conv_l2h+conv.conv_h2h", "bn_h"),
        ("conv.conv_h2l+conv.conv_l2l", "bn_l"),
    }
    assert_same_outputs(layer, result, (torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)))


@pytest.mark.parametrize(
    "resample, low_size, folds",
    [
        (nn.Upsample(scale_factor=2, mode="bilinear"), 4, True),
        (nn.Upsample(scale_factor=2, mode="nearest"), 4, True),
        (nn.MaxPool2d(2), 16, False),  # a maximum does not commute with a negative scale
    ],
    ids=["bilinear", "nearest", "max-pool"],
)
def test_only_an_averaging_resampling_lets_the_batchnorm_through(resample, low_size, folds):
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.high, self.low = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
            self.resample, self.bn = resample, nn.BatchNorm2d(4)

        def forward(self, x_h, x_l):
            return self.bn(self.high(x_h) + self.resample(self.low(x_l)))

    model = trained_statistics(Branches())
    x = (torch.randn(1, 3, 8, 8), torch.randn(1, 3, low_size, low_size))
    result = fold(model, x)
    if folds:
        assert folded(result) == {("high+low", "bn")}
        assert_same_outputs(model, result, *x)
    else:
        assert folded(result) == set() and skipped(result) == {"bn": "XBN104"}
