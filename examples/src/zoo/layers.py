"""Building blocks the zoo's models share, written the way torchvision and timm write them."""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import torch
from torch import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1,
            dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


# The statistics settings of weights ported from TensorFlow (MobileNetV3, EfficientNet).
BatchNorm2dTF = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


class ConvBNAct(nn.Sequential):
    """Conv2d, normalisation and activation as one Sequential (torchvision's
    Conv2dNormActivation)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        norm_layer: Optional[Callable[..., nn.Module]] = None,
        activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
    ) -> None:
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        padding = (kernel_size - 1) // 2
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                         bias=False)
        bn = norm_layer(out_channels)
        act = activation_layer(inplace=True) if activation_layer is not None else nn.Identity()
        super().__init__(conv, bn, act)
        self.out_channels = out_channels


class BatchNormAct2d(nn.BatchNorm2d):
    """BatchNorm2d and its activation in one module (timm's norm_act layers)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        act_layer: Optional[Callable[..., nn.Module]] = nn.ReLU,
    ) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats)
        self.act = act_layer(inplace=True) if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return self.act(x)


# folds:
#   ConvBNAct: 0 -> 1 conv_bn foldable
