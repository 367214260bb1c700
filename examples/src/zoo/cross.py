"""Folds that cross a forward(): the convolution in one module, its BatchNorm in another.

- `DeepStemNet`: timm's deep stem, an nn.Sequential that ends with a convolution, normalised
  by the parent's `bn1`.
- `StemNet`: the same with a stem class of its own whose forward() ends with a convolution.
- `HeadNet`: the mirror: the classifier head's forward() starts with a BatchNorm on its input,
  and the parent ran a convolution just before calling the head.
- `GuardedNet`: a data-dependent `if` in forward() that torch.fx cannot trace; it sits between
  blocks, so every BatchNorm still folds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import ConvBNAct


class DeepStemNet(nn.Module):
    def __init__(self, num_classes: int = 10, stem_width: int = 8, width: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, stem_width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, stem_width, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, width, 3, stride=1, padding=1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.act1(x)
        x = self.maxpool(x)
        return self.fc(x.mean((2, 3)))


class Stem(nn.Module):
    """A two-convolution stem; its output is the raw second convolution."""

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        mid_chs = out_chs // 2
        self.conv1 = nn.Conv2d(in_chs, mid_chs, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_chs)
        self.act = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid_chs, out_chs, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(x)))
        return self.conv2(x)


class StemNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = Stem(3, width)
        self.bn = nn.BatchNorm2d(width)
        self.block = ConvBNAct(width, width * 2, stride=2)
        self.fc = nn.Linear(width * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = self.block(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class NormActHead(nn.Module):
    """A classifier head that normalises the backbone's last feature map itself."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(x))
        return self.fc(self.pool(x).flatten(1))


class HeadNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16, head_width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            ConvBNAct(3, width, stride=2),
            ConvBNAct(width, width, stride=2),
        )
        self.conv_head = nn.Conv2d(width, head_width, kernel_size=1, bias=False)
        self.head = NormActHead(head_width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.conv_head(x)
        return self.head(x)


class GuardedNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16, max_activation: float = 6.0) -> None:
        super().__init__()
        self.max_activation = max_activation
        self.stem = ConvBNAct(3, width, stride=2)
        self.body = ConvBNAct(width, width * 2, stride=2)
        self.fc = nn.Linear(width * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        # Rescale saturated feature maps; the condition depends on the data.
        peak = x.abs().amax()
        if peak > self.max_activation:
            x = x * (self.max_activation / peak)
        x = self.body(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def deep_stem_net(num_classes: int = 10) -> DeepStemNet:
    return DeepStemNet(num_classes=num_classes)


def stem_net(num_classes: int = 10) -> StemNet:
    return StemNet(num_classes=num_classes)


def head_net(num_classes: int = 10) -> HeadNet:
    return HeadNet(num_classes=num_classes)


def guarded_net(num_classes: int = 10) -> GuardedNet:
    return GuardedNet(num_classes=num_classes)


# folds:
#   DeepStemNet: conv1.0 -> conv1.1 conv_bn foldable
#   DeepStemNet: conv1.3 -> conv1.4 conv_bn foldable
#   DeepStemNet: conv1.6 -> bn1 conv_bn foldable
#   Stem: conv1 -> bn1 conv_bn foldable
#   StemNet: stem.conv2 -> bn conv_bn foldable
#   HeadNet: conv_head -> head.bn conv_bn foldable
