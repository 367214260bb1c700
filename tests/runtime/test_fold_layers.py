"""Every layer type a BatchNorm can fold into, in both directions, proved numerically."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from .helpers import assert_same_outputs, fold, folded, randomise, skipped  # noqa: E402

pytestmark = pytest.mark.runtime


def check(model: nn.Module, *inputs: torch.Tensor):
    randomise(model)
    result = fold(model, inputs)
    assert_same_outputs(model, result, *[torch.randn_like(x) for x in inputs])
    return result


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv1d(4, 6, 3, padding=2, dilation=2, bias=False),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
        nn.Conv2d(6, 6, 3, padding="same", groups=6, bias=False),  # depthwise
        nn.Conv3d(4, 6, (1, 3, 3), padding=(0, 1, 1), bias=False),
    ],
    ids=["conv1d-dilated-no-bias", "conv2d-grouped", "conv2d-depthwise", "conv3d"],
)
def test_conv_then_batchnorm_folds_for_any_groups_padding_dilation(conv):
    dims = len(conv.kernel_size)
    bn = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1](conv.out_channels)
    model = nn.Sequential(conv, bn, nn.ReLU())
    x = torch.randn(2, conv.in_channels, *([7] * dims))
    result = check(model, x)
    assert folded(result) == {("0", "1")}
    assert isinstance(result.model[1], nn.Identity)
    assert result.model[0].bias is not None  # created where the conv had none


@pytest.mark.parametrize(
    "layer",
    [
        nn.ConvTranspose1d(4, 6, 3, stride=2, bias=False),
        nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.ConvTranspose2d(6, 6, 4, stride=2, padding=1, groups=6, bias=False),  # depthwise
        nn.ConvTranspose2d(6, 9, 3, groups=3, dilation=2),
        nn.ConvTranspose3d(4, 6, 2, stride=2, groups=2),
    ],
    ids=["1d", "2d-groups2", "2d-depthwise", "2d-groups3-unequal", "3d-groups2"],
)
def test_conv_transpose_folds_with_its_per_group_weight_layout(layer):
    dims = len(layer.kernel_size)
    bn = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1](layer.out_channels)
    model = nn.Sequential(layer, bn)
    result = check(model, torch.randn(2, layer.in_channels, *([5] * dims)))
    assert folded(result) == {("0", "1")}
    assert result.folds[0].relative_error < 1e-5


def test_linear_then_batchnorm1d_on_2d_input_folds():
    model = nn.Sequential(nn.Linear(8, 5), nn.BatchNorm1d(5), nn.ReLU())
    result = check(model, torch.randn(4, 8))
    assert folded(result) == {("0", "1")}


def test_linear_then_batchnorm1d_on_3d_input_is_not_folded():
    # Linear acts on the last axis (features=5), BatchNorm1d on axis 1 (here 5 tokens): they
    # are different axes, so folding would scale the wrong numbers.
    model = nn.Sequential(nn.Linear(8, 5), nn.BatchNorm1d(5))
    result = check(model, torch.randn(3, 5, 8))
    assert folded(result) == set()
    assert skipped(result) == {"1": "XBN102"}
    assert "last axis" in result.skipped[0].reason


class LinearNorm(nn.Module):
    """LeViT's: a Linear over tokens, normalised with the batch and token axes merged."""

    def __init__(self, features: int, merge) -> None:
        super().__init__()
        self.linear = nn.Linear(8, features, bias=False)
        self.bn = nn.BatchNorm1d(features)
        self.merge = merge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return self.bn(self.merge(y)).reshape_as(y)


@pytest.mark.parametrize(
    "merge, shape",
    [
        (lambda y: y.flatten(0, 1), (3, 5, 8)),
        (lambda y: y.reshape(-1, 6), (3, 5, 8)),
        (lambda y: torch.flatten(y, 0, 2), (2, 3, 4, 8)),
        (lambda y: y.view(-1, y.shape[-1]), (2, 3, 4, 8)),
    ],
    ids=["flatten-0-1", "reshape", "torch-flatten-4d", "view"],
)
def test_linear_then_batchnorm1d_over_merged_leading_axes_folds(merge, shape):
    # Every element keeps its index on the last axis: the Linear's features are the
    # BatchNorm's channels, as on a 2-D input.
    result = check(LinearNorm(6, merge), torch.randn(*shape))
    assert folded(result) == {("linear", "bn")}


class SharedLinearNorm(LinearNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return self.bn(y.flatten(0, 1)).reshape_as(y) + y


def test_linear_output_read_beside_the_merge_is_not_folded():
    result = check(SharedLinearNorm(6, None), torch.randn(3, 5, 8))
    assert folded(result) == set()
    assert skipped(result) == {"bn": "XBN103"}


def test_merge_that_leaves_the_tokens_on_axis_1_is_not_folded():
    # (2, 3, 5, 8) -> (6, 5, 6): BatchNorm1d(5) normalises the tokens, not the features.
    model = nn.Sequential(nn.Linear(8, 6), nn.Flatten(0, 1), nn.BatchNorm1d(5))
    result = check(model, torch.randn(2, 3, 5, 8))
    assert folded(result) == set()


class ReorderedNorm(nn.Module):
    """A layer's output whose axes are reordered before a BatchNorm (and back after it)."""

    def __init__(self, layer: nn.Module, norm: nn.Module, before, after) -> None:
        super().__init__()
        self.layer, self.bn = layer, norm
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.bn(self.before(self.layer(x))))


@pytest.mark.parametrize(
    "layer, norm, before, after, shape",
    [
        # speech toolkits: (batch, time, features) data, features moved to axis 1 and back
        (
            nn.Linear(8, 6),
            nn.BatchNorm1d(6),
            lambda y: y.transpose(-1, 1),
            lambda y: y.transpose(1, -1),
            (3, 5, 8),
        ),
        (
            nn.Linear(8, 6),
            nn.BatchNorm1d(6),
            lambda y: y.permute(0, 2, 1).contiguous(),
            lambda y: y,
            (3, 5, 8),
        ),
        (
            nn.Linear(8, 6),
            nn.BatchNorm1d(6),
            lambda y: torch.swapaxes(y, 1, 2),
            lambda y: y,
            (3, 5, 8),
        ),
        # a pointwise Linear on channels-last data, permuted back before a BatchNorm2d
        (
            nn.Linear(8, 6),
            nn.BatchNorm2d(6),
            lambda y: y.permute(0, 3, 1, 2),
            lambda y: y,
            (2, 4, 4, 8),
        ),
        # a conv's channels moved away and back (a wrapper for (batch, time, channels) data)
        (
            nn.Conv1d(8, 6, 3),
            nn.BatchNorm1d(6),
            lambda y: y.transpose(1, 2).transpose(-1, 1),
            lambda y: y,
            (2, 8, 7),
        ),
    ],
    ids=["transpose-back", "permute-contiguous", "swapaxes", "channels-last-2d", "conv-twice"],
)
def test_batchnorm_after_axes_reordered_onto_the_channels_folds(layer, norm, before, after, shape):
    result = check(ReorderedNorm(layer, norm, before, after), torch.randn(*shape))
    assert folded(result) == {("layer", "bn")}


def test_batchnorm_after_axes_reordered_off_the_channels_is_not_folded():
    # (2, 6, 5) -> (2, 5, 6): BatchNorm1d(5) normalises time, not the conv's channels.
    model = ReorderedNorm(
        nn.Conv1d(8, 6, 1), nn.BatchNorm1d(5), lambda y: y.transpose(1, 2), lambda y: y
    )
    result = check(model, torch.randn(2, 8, 5))
    assert folded(result) == set()
    assert skipped(result) == {"bn": "XBN102"}


class NormReordered(nn.Module):
    """A BatchNorm whose output reaches a layer through reshapes that reorder its axes."""

    def __init__(self, norm: nn.Module, layer: nn.Module, between) -> None:
        super().__init__()
        self.bn, self.layer, self.between = norm, layer, between

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.between(self.bn(torch.relu(x))))


@pytest.mark.parametrize(
    "norm, layer, between, shape",
    [
        # a classifier head on (batch, time, features) data: features back to the last axis
        (nn.BatchNorm1d(8), nn.Linear(8, 4), lambda y: y.transpose(1, -1), (2, 8, 5)),
        # channels-last before a pointwise Linear
        (nn.BatchNorm2d(8), nn.Linear(8, 4), lambda y: y.permute(0, 2, 3, 1), (2, 8, 4, 4)),
        # away and back before an unpadded conv
        (
            nn.BatchNorm1d(8),
            nn.Conv1d(8, 4, 1),
            lambda y: y.transpose(1, 2).contiguous().transpose(2, 1),
            (2, 8, 5),
        ),
    ],
    ids=["linear-time-features", "channels-last-linear", "conv-away-and-back"],
)
def test_batchnorm_reaching_a_layer_through_reordered_axes_folds_into_it(
    norm, layer, between, shape
):
    result = check(NormReordered(norm, layer, between), torch.randn(*shape))
    assert folded(result) == {("layer", "bn")}
    assert result.folds[0].direction.value == "bn_conv"


def test_batchnorm_affine_false_folds():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, affine=False))
    assert folded(check(model, torch.randn(2, 3, 8, 8))) == {("0", "1")}


def test_batchnorm_before_unpadded_conv_folds_into_it():
    model = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3), nn.Conv2d(3, 5, 3, bias=False))
    result = check(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == {("2", "1")}
    assert result.folds[0].direction.value == "bn_conv"


def test_batchnorm_before_padded_conv_is_skipped_like_the_static_half():
    model = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3), nn.Conv2d(3, 5, 3, padding=1))
    result = check(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == set()
    assert skipped(result) == {"1": "XBN109"}
    assert result.skipped[0].reason == (
        "BatchNorm '1' cannot be folded into the following '2', which pads its input (zero "
        "padding) so that the shift would leak into the padding, and its input comes from '0'"
    )


def test_batchnorm_before_grouped_conv_says_why_in_one_sentence():
    model = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 1, groups=2))
    result = check(model, torch.randn(2, 4, 8, 8))
    assert skipped(result) == {"1": "XBN110"}
    assert result.skipped[0].reason == (
        "BatchNorm '1' cannot be folded into the following '2', which is grouped (groups=2), "
        "and its input comes from '0'"
    )


def test_batchnorm_before_linear_folds_into_it():
    model = nn.Sequential(nn.Tanh(), nn.BatchNorm1d(6), nn.Linear(6, 3))
    result = check(model, torch.randn(5, 6))
    assert folded(result) == {("2", "1")}


class BatchNormAct2d(nn.BatchNorm2d):
    """timm-style: normalise, then an activation, in one module."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


def test_batchnorm_subclass_with_activation_folds_and_keeps_the_activation():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), BatchNormAct2d(4))
    result = check(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == {("0", "1")}
    kept = result.model[1]
    assert isinstance(kept, BatchNormAct2d) and isinstance(kept.act, nn.SiLU)


def test_plain_batchnorm_subclass_and_syncbatchnorm_fold():
    class MyBN(nn.BatchNorm2d):
        pass

    model = nn.Sequential(nn.Conv2d(3, 4, 3), MyBN(4), nn.Conv2d(4, 4, 1), nn.SyncBatchNorm(4))
    result = check(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == {("0", "1"), ("2", "3")}


def test_batchnorm_without_running_stats_is_skipped():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    result = check(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == set()
    assert skipped(result) == {"1": "XBN107"}


def test_batchnorm1d_on_3d_input_before_a_linear_is_not_folded_into_it():
    # BatchNorm1d normalises axis 1 (4 channels), the Linear mixes the last axis (length 4):
    # the sizes match, the axes do not.
    model = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 3))
    result = check(model, torch.randn(2, 4, 4))
    assert folded(result) == set()
    assert skipped(result) == {"1": "XBN101"}  # nothing before it, nothing after it


def test_batchnorm_between_two_layers_folds_forward_and_backward_into_one_conv():
    model = nn.Sequential(nn.Tanh(), nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    result = check(model, torch.randn(2, 3, 5, 5))
    assert folded(result) == {("2", "1"), ("2", "3")}


@pytest.mark.parametrize(
    "normalise",
    [
        nn.utils.parametrizations.weight_norm,
        nn.utils.parametrizations.spectral_norm,
        nn.utils.weight_norm,  # the older form: a forward pre-hook recomputes the weight
    ],
    ids=["weight_norm", "spectral_norm", "hook-weight_norm"],
)
def test_batchnorm_after_a_parametrized_layer_folds_into_the_next_one(normalise):
    # The parametrized conv recomputes its weight on every call, so it cannot take the fold;
    # the plain conv after the BatchNorm (no padding) can.
    model = nn.Sequential(
        normalise(nn.Conv2d(3, 6, 3, bias=False)), nn.BatchNorm2d(6), nn.Conv2d(6, 4, 1)
    )
    result = check(model, torch.randn(2, 3, 8, 8))
    assert folded(result) == {("2", "1")}
    assert result.folds[0].direction.value == "bn_conv"
