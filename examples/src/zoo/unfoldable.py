"""Real model patterns whose BatchNorms cannot all be folded, and why.

Each model is small but written the way the architecture it is named after writes it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers import ConvBNAct, conv1x1, conv3x3


class PreActBlock(nn.Module):
    """Pre-activation residual block: BatchNorm and ReLU come before each convolution, so the
    first BatchNorm normalises the sum of the previous block."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.shortcut = None
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(conv1x1(in_planes, self.expansion * planes, stride))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))  # expect: XBN103, XBN104
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut
        return out


class PreActResNet(nn.Module):
    def __init__(self, block: type[PreActBlock], num_blocks: list[int], num_classes: int = 10,
                 width: int = 16) -> None:
        super().__init__()
        self.in_planes = width
        self.conv1 = conv3x3(3, width)
        self.layer1 = self._make_layer(block, width, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, width * 2, num_blocks[1], stride=2)
        self.bn = nn.BatchNorm2d(width * 2 * block.expansion)
        self.linear = nn.Linear(width * 2 * block.expansion, num_classes)

    def _make_layer(self, block: type[PreActBlock], planes: int, num_blocks: int,
                    stride: int) -> nn.Sequential:
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for stride in strides:
            layers.append(block(self.in_planes, planes, stride))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = F.relu(self.bn(out))  # expect: XBN104
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def conv_relu_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    """Convolution, ReLU, then BatchNorm: the order some audio and keyword-spotting models use."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(out_channels),  # expect: XBN101
        nn.MaxPool2d(2),
    )


class ConvReluBNNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_relu_bn(3, width),
            conv_relu_bn(width, width * 2),
            conv_relu_bn(width * 2, width * 2),
        )
        self.classifier = nn.Linear(width * 2 * 4 * 4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        return self.classifier(torch.flatten(x, 1))


class UNetTiny(nn.Module):
    """A one-level U-Net whose skip connection is taken from the raw encoder convolution."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, width: int = 8) -> None:
        super().__init__()
        self.enc_conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.enc_bn = nn.BatchNorm2d(width)
        self.down = nn.MaxPool2d(2)
        self.mid = ConvBNAct(width, width * 2)
        self.up = nn.ConvTranspose2d(width * 2, width, kernel_size=2, stride=2, bias=False)
        self.up_bn = nn.BatchNorm2d(width)
        self.dec = ConvBNAct(width * 2, width)
        self.head = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.enc_conv(x)
        x = self.down(F.relu(self.enc_bn(skip)))  # expect: XBN103
        x = self.mid(x)
        x = F.relu(self.up_bn(self.up(x)))
        x = self.dec(torch.cat([x, skip], dim=1))
        return self.head(x)


class MultiScaleSharedConv(nn.Module):
    """One stem convolution applied at two scales, each scale with its own BatchNorm
    (weight sharing across branches, as TridentNet does)."""

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, kernel_size=3, padding=1, bias=False)
        self.bn_full = nn.BatchNorm2d(width)
        self.bn_half = nn.BatchNorm2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        full = F.relu(self.bn_full(self.stem(x)))  # expect: XBN106
        half = F.relu(self.bn_half(self.stem(F.avg_pool2d(x, 2))))  # expect: XBN106
        feats = torch.cat([self.pool(full), self.pool(half)], dim=1).flatten(1)
        return self.fc(feats)


class _DenseLayer(nn.Module):
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1,
                               stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1,
                               padding=1, bias=False)

    def bn_function(self, inputs: list[Tensor]) -> Tensor:
        concated_features = torch.cat(inputs, 1)
        bottleneck_output = self.conv1(self.relu1(self.norm1(concated_features)))  # expect: XBN104
        return bottleneck_output

    def forward(self, inputs: list[Tensor]) -> Tensor:
        bottleneck_output = self.bn_function(inputs)
        new_features = self.conv2(self.relu2(self.norm2(bottleneck_output)))
        return new_features


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers: int, num_input_features: int, bn_size: int,
                 growth_rate: int) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate=growth_rate,
                                bn_size=bn_size)
            self.add_module("denselayer%d" % (i + 1), layer)

    def forward(self, init_features: Tensor) -> Tensor:
        features = [init_features]
        for name, layer in self.items():
            new_features = layer(features)
            features.append(new_features)
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)  # expect: XBN104
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1,
                              bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet: every BatchNorm that opens a dense layer normalises a concatenation."""

    def __init__(self, growth_rate: int = 4, block_config: tuple[int, ...] = (2, 2),
                 num_init_features: int = 8, bn_size: int = 2, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, stride=1,
                                        padding=1, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                ]
            )
        )

        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers=num_layers, num_input_features=num_features,
                                bn_size=bn_size, growth_rate=growth_rate)
            self.features.add_module("denseblock%d" % (i + 1), block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_input_features=num_features,
                                    num_output_features=num_features // 2)
                self.features.add_module("transition%d" % (i + 1), trans)
                num_features = num_features // 2

        self.features.add_module("norm5", nn.BatchNorm2d(num_features))  # expect: XBN104
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = torch.flatten(out, 1)
        out = self.classifier(out)
        return out


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """The MAML backbone block: its BatchNorm always uses the statistics of the batch at hand
    (transductive batch normalisation)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels, track_running_stats=False),  # expect: XBN107
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class MAMLConvNet(nn.Module):
    def __init__(self, num_classes: int = 5, hidden: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            conv_block(3, hidden),
            conv_block(hidden, hidden),
            conv_block(hidden, hidden),
        )
        self.fc = nn.Linear(hidden * 4 * 4, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.encoder(x).flatten(1))


class InputNormNet(nn.Module):
    """Normalises the raw input with a BatchNorm instead of a fixed mean and std; the padded
    stem convolution after it would receive the BatchNorm's shift in its zero padding."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.input_norm = nn.BatchNorm2d(in_channels)
        self.stem = ConvBNAct(in_channels, width)
        self.body = ConvBNAct(width, width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_norm(x)  # expect: XBN109
        x = self.stem(x)
        x = self.body(x)
        return self.fc(self.pool(x).flatten(1))


class MultiHeadListNet(nn.Module):
    """Keeps its heads in a plain Python list: a real bug, since PyTorch never registers them
    (they are not trained by an optimizer over .parameters(), not saved, not moved by .to())."""

    def __init__(self, num_heads: int = 2, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.backbone = ConvBNAct(3, width, stride=2)
        self.heads = [  # expect: XBN303
            nn.Sequential(
                nn.Conv2d(width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),  # expect: XBN205
                nn.ReLU(inplace=True),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(width, num_classes),
            )
            for _ in range(num_heads)
        ]

    def forward(self, x: Tensor) -> Tensor:
        x = self.backbone(x)
        return torch.stack([head(x) for head in self.heads], dim=1).mean(dim=1)


def preact_resnet_tiny(num_classes: int = 10) -> PreActResNet:
    return PreActResNet(PreActBlock, [2, 2], num_classes=num_classes)


def conv_relu_bn_net(num_classes: int = 10) -> ConvReluBNNet:
    return ConvReluBNNet(num_classes=num_classes)


def unet_tiny(num_classes: int = 2) -> UNetTiny:
    return UNetTiny(num_classes=num_classes)


def multiscale_shared_conv(num_classes: int = 10) -> MultiScaleSharedConv:
    return MultiScaleSharedConv(num_classes=num_classes)


def densenet_tiny(num_classes: int = 10) -> DenseNet:
    return DenseNet(num_classes=num_classes)


def maml_convnet(num_classes: int = 5) -> MAMLConvNet:
    return MAMLConvNet(num_classes=num_classes)


def input_norm_net(num_classes: int = 10) -> InputNormNet:
    return InputNormNet(num_classes=num_classes)


def multihead_list_net(num_classes: int = 10) -> MultiHeadListNet:
    return MultiHeadListNet(num_classes=num_classes)


# folds:
#   PreActResNet: conv1 -> layer1.0.bn1 - unfoldable XBN103
#   PreActBlock: - -> bn1 - unfoldable XBN104
#   PreActBlock: conv1 -> bn2 conv_bn foldable
#   PreActResNet: - -> bn - unfoldable XBN104
#   ConvReluBNNet: - -> features.0.2 - unfoldable XBN101
#   ConvReluBNNet: - -> features.1.2 - unfoldable XBN101
#   ConvReluBNNet: - -> features.2.2 - unfoldable XBN101
#   UNetTiny: enc_conv -> enc_bn - unfoldable XBN103
#   UNetTiny: up -> up_bn conv_bn foldable
#   MultiScaleSharedConv: stem -> bn_full - unfoldable XBN106
#   MultiScaleSharedConv: stem -> bn_half - unfoldable XBN106
#   DenseNet: features.conv0 -> features.norm0 conv_bn foldable
#   _DenseLayer: - -> norm1 - unfoldable XBN104
#   _DenseLayer: conv1 -> norm2 conv_bn foldable
#   _Transition: - -> norm - unfoldable XBN104
#   DenseNet: - -> features.norm5 - unfoldable XBN104
#   MAMLConvNet: - -> encoder.0.1 - unfoldable XBN107
#   MAMLConvNet: - -> encoder.1.1 - unfoldable XBN107
#   MAMLConvNet: - -> encoder.2.1 - unfoldable XBN107
#   InputNormNet: stem.0 -> input_norm - unfoldable XBN109
#   MultiHeadListNet: - -> heads.0.1 - unknown XBN205
#   MultiHeadListNet: - -> heads.1.1 - unknown XBN205
