"""MobileNetV2 the torchvision way (inverted residuals built from a settings table), and a
multi-scale feature extractor the detection libraries' way (stages in an nn.ModuleList)."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from zoo.layers import BatchNorm2dTF, BatchNormAct2d, ConvBNAct


def _make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """Round the channel count to a multiple of `divisor`, never down by more than 10 %."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual(nn.Module):
    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand_ratio: int,
        norm_layer: Optional[Callable[..., nn.Module]] = None,
    ) -> None:
        super().__init__()
        self.stride = stride
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d

        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = self.stride == 1 and inp == oup

        layers: list[nn.Module] = []
        if expand_ratio != 1:
            # pointwise expansion
            layers.append(ConvBNAct(inp, hidden_dim, kernel_size=1, norm_layer=norm_layer,
                                    activation_layer=nn.ReLU6))
        layers.extend(
            [
                # depthwise
                ConvBNAct(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                          norm_layer=norm_layer, activation_layer=nn.ReLU6),
                # pointwise linear projection
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
                norm_layer(oup),
            ]
        )
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        width_mult: float = 1.0,
        inverted_residual_setting: Optional[list[list[int]]] = None,
        round_nearest: int = 8,
        norm_layer: Optional[Callable[..., nn.Module]] = None,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d

        input_channel = 16
        last_channel = 64

        if inverted_residual_setting is None:
            inverted_residual_setting = [
                # t, c, n, s
                [1, 8, 1, 1],
                [6, 12, 2, 2],
                [6, 16, 2, 2],
            ]

        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [
            ConvBNAct(3, input_channel, stride=1, norm_layer=norm_layer,
                      activation_layer=nn.ReLU6)
        ]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride,
                                                 expand_ratio=t, norm_layer=norm_layer))
                input_channel = output_channel
        features.append(ConvBNAct(input_channel, self.last_channel, kernel_size=1,
                                  norm_layer=norm_layer, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)

        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(self.last_channel, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


class MobileNetFeatures(nn.Module):
    """The feature maps of chosen stages, for a detection or segmentation neck."""

    # expand ratio, channels, blocks, stride
    arch_settings = [[1, 8, 1, 1], [6, 12, 2, 2], [6, 16, 2, 2]]

    def __init__(
        self,
        out_indices: tuple[int, ...] = (1, 2),
        norm_layer: Callable[..., nn.Module] = BatchNorm2dTF,
        act_layer: Callable[..., nn.Module] = nn.ReLU6,
    ) -> None:
        super().__init__()
        self.out_indices = out_indices
        self.conv_stem = nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)
        self.bn1 = BatchNormAct2d(16, eps=1e-3, act_layer=act_layer)

        self.stages = nn.ModuleList()
        in_channels = 16
        for expand_ratio, channels, num_blocks, stride in self.arch_settings:
            blocks = []
            for i in range(num_blocks):
                blocks.append(InvertedResidual(in_channels, channels, stride if i == 0 else 1,
                                               expand_ratio, norm_layer=norm_layer))
                in_channels = channels
            self.stages.append(nn.Sequential(*blocks))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.bn1(self.conv_stem(x))
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def mobilenet_v2_tiny(num_classes: int = 10) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes)


def mobilenet_features_tiny() -> MobileNetFeatures:
    return MobileNetFeatures()


# folds:
#   InvertedResidual: conv.1 -> conv.2 conv_bn foldable
#   InvertedResidual: conv.2 -> conv.3 conv_bn foldable
#   MobileNetFeatures: conv_stem -> bn1 conv_bn foldable
