"""VGG the torchvision way: a configuration table turned into one nn.Sequential."""

from __future__ import annotations

from typing import Union, cast

import torch
import torch.nn as nn

cfgs: dict[str, list[Union[str, int]]] = {
    "A": [16, "M", 32, "M", 64, 64, "M"],
    "B": [16, 16, "M", 32, 32, "M", 64, 64, "M"],
}


def make_layers(cfg: list[Union[str, int]], batch_norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            v = cast(int, v)
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)  # expect: XBN401
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, features: nn.Module, num_classes: int = 10, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 2 * 2, 64),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def vgg_tiny(num_classes: int = 10) -> VGG:
    return VGG(make_layers(cfgs["A"], batch_norm=False), num_classes=num_classes)


def vgg_tiny_bn(num_classes: int = 10) -> VGG:
    return VGG(make_layers(cfgs["B"], batch_norm=True), num_classes=num_classes)


# folds:
#   VGG: features.0 -> features.1 conv_bn foldable
#   VGG: features.3 -> features.4 conv_bn foldable
#   VGG: features.7 -> features.8 conv_bn foldable
#   VGG: features.10 -> features.11 conv_bn foldable
#   VGG: features.14 -> features.15 conv_bn foldable
#   VGG: features.17 -> features.18 conv_bn foldable
