"""Models for the fold benchmark and the runtime tests, written in the style of the model zoos.

Each is built the way the zoos build it (Sequential stages, `_make_layer`, Conv-BN-activation
blocks, ModuleDicts of dense layers) and takes size arguments, so that the benchmark builds
the full-size network (a 121-layer DenseNet, a ResNet-50, an EfficientNet-B0, a RetinaNet-style
detector) and the tests a small one of the same structure. Weights are random;
`trained_statistics` gives every BatchNorm the statistics of a trained one (a freshly built
BatchNorm is the identity in eval mode, and a wrong fold would not show).

Besides the classics: the numerically sensitive designs (channel shuffle, split attention,
softmax gates over kernels, a detection head with score thresholds), convolutions that pad
their input themselves (TensorFlow "same" padding) and octave convolutions.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def trained_statistics(model: nn.Module, seed: int = 0, spread: float = 0.5) -> nn.Module:
    """Running statistics and affine parameters like a trained network's, drawn reproducibly."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                if module.running_mean is not None and module.running_var is not None:
                    module.running_mean.copy_(torch.randn(n, generator=generator) * spread)
                    module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=generator) * spread)
    return model


# ---- ResNet ---------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 1000,
        width: int = 64,
        groups: int = 1,
        width_per_group: int = 64,
    ) -> None:
        super().__init__()
        self.inplanes, self.groups, self.base_width = width, groups, width_per_group
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [
            Bottleneck(self.inplanes, planes, stride, downsample, self.groups, self.base_width)
        ]
        self.inplanes = planes * Bottleneck.expansion
        layers += [
            Bottleneck(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
            for _ in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def features(self, x: Tensor) -> list[Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        return [c3, c4, self.layer4(c4)]

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x)[-1])
        return self.fc(torch.flatten(x, 1))


def resnet50(**kwargs: int) -> ResNet:
    return ResNet((3, 4, 6, 3), **kwargs)


# ---- DenseNet -------------------------------------------------------------------------------


class _DenseLayer(nn.Module):
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        concatenated = torch.cat(inputs, 1)
        bottleneck = self.conv1(self.relu1(self.norm1(concatenated)))
        return self.conv2(self.relu2(self.norm2(bottleneck)))


class _DenseBlock(nn.ModuleDict):
    def __init__(
        self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: Tensor) -> Tensor:
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(nn.Module):
    def __init__(
        self,
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv0", nn.Conv2d(3, num_init_features, 7, 2, 3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(3, 2, 1)),
                ]
            )
        )
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(
                f"denseblock{i + 1}", _DenseBlock(num_layers, num_features, bn_size, growth_rate)
            )
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(
                    f"transition{i + 1}", _Transition(num_features, num_features // 2)
                )
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


def densenet121(**kwargs: int) -> DenseNet:
    return DenseNet(32, (6, 12, 24, 16), 64, **kwargs)


# ---- EfficientNet (torchvision style, and a TensorFlow-"same"-padding variant) ---------------


class Conv2dSame(nn.Conv2d):
    """A Conv2d with TensorFlow's "same" padding: it pads its input itself, asymmetrically
    when the stride needs it, and convolves with its weight and bias as they are."""

    def forward(self, x: Tensor) -> Tensor:
        ih, iw = x.size()[-2:]
        kh, kw = self.weight.shape[-2:]
        pad_h = _same_padding(ih, kh, self.stride[0], self.dilation[0])
        pad_w = _same_padding(iw, kw, self.stride[1], self.dilation[1])
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> int:
    return max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


def _conv(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    groups: int = 1,
    tf_same: bool = False,
) -> nn.Conv2d:
    if tf_same and stride > 1:
        return Conv2dSame(in_channels, out_channels, kernel, stride, groups=groups, bias=False)
    return nn.Conv2d(
        in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False
    )


class ConvNormActivation(nn.Sequential):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: Callable[[], nn.Module] | None = nn.SiLU,
        tf_same: bool = False,
    ) -> None:
        layers: list[nn.Module] = [
            _conv(in_channels, out_channels, kernel, stride, groups, tf_same),
            nn.BatchNorm2d(out_channels, eps=1e-3),
        ]
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class StochasticDepth(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty([x.shape[0]] + [1] * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class MBConv(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int,
        expand_ratio: int,
        drop: float,
        tf_same: bool,
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = in_channels * expand_ratio
        layers: list[nn.Module] = []
        if hidden != in_channels:
            layers.append(ConvNormActivation(in_channels, hidden, 1, tf_same=tf_same))
        layers += [
            ConvNormActivation(hidden, hidden, kernel, stride, hidden, tf_same=tf_same),
            SqueezeExcitation(hidden, max(1, in_channels // 4)),
            ConvNormActivation(hidden, out_channels, 1, activation=None, tf_same=tf_same),
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop)

    def forward(self, x: Tensor) -> Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = self.stochastic_depth(result) + x
        return result


# (expand ratio, kernel, stride, input channels, output channels, layers) of EfficientNet-B0
B0_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


class EfficientNet(nn.Module):
    def __init__(
        self,
        stages: Sequence[tuple[int, ...]] = B0_STAGES,
        width: float = 1.0,
        num_classes: int = 1000,
        tf_same: bool = False,
    ) -> None:
        super().__init__()

        def channels(c: int) -> int:
            return max(8, int(c * width + 4) // 8 * 8)

        first = channels(stages[0][3])
        layers: list[nn.Module] = [ConvNormActivation(3, first, 3, 2, tf_same=tf_same)]
        total = sum(stage[-1] for stage in stages)
        index = 0
        for expand, kernel, stride, cin, cout, repeats in stages:
            stage = []
            for i in range(repeats):
                stage.append(
                    MBConv(
                        channels(cin) if i == 0 else channels(cout),
                        channels(cout),
                        kernel,
                        stride if i == 0 else 1,
                        expand,
                        0.2 * index / total,
                        tf_same,
                    )
                )
                index += 1
            layers.append(nn.Sequential(*stage))
        last = channels(stages[-1][4])
        layers.append(ConvNormActivation(last, 4 * last, 1, tf_same=tf_same))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Dropout(0.2, inplace=True), nn.Linear(4 * last, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


def efficientnet_b0(**kwargs: object) -> EfficientNet:
    return EfficientNet(B0_STAGES, **kwargs)  # type: ignore[arg-type]


def tf_efficientnet_b0(**kwargs: object) -> EfficientNet:
    """EfficientNet-B0 as ported from TensorFlow: every strided conv pads "same" itself."""
    return EfficientNet(B0_STAGES, tf_same=True, **kwargs)  # type: ignore[arg-type]


# ---- a RetinaNet-style detector ------------------------------------------------------------


class FeaturePyramid(nn.Module):
    def __init__(self, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(channels))
            for c in in_channels
        )
        self.layer_blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
            )
            for _ in in_channels
        )
        self.extra = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 2, 1, bias=False), nn.BatchNorm2d(channels)
        )

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        last = self.inner_blocks[-1](features[-1])
        results = [self.layer_blocks[-1](last)]
        for index in range(len(features) - 2, -1, -1):
            lateral = self.inner_blocks[index](features[index])
            top_down = F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            last = lateral + top_down
            results.insert(0, self.layer_blocks[index](last))
        results.append(self.extra(F.relu(results[-1])))
        return results


class DetectionHead(nn.Module):
    """One tower of Conv-BN-ReLU shared by every pyramid level (each level calls the same
    layers), then a prediction conv."""

    def __init__(
        self, channels: int, outputs: int, depth: int = 4, prior: float | None = None
    ) -> None:
        super().__init__()
        tower: list[nn.Module] = []
        for _ in range(depth):
            tower += [
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        self.tower = nn.Sequential(*tower)
        self.predict = nn.Conv2d(channels, outputs, 3, padding=1)
        if prior is not None:
            nn.init.constant_(self.predict.bias, -math.log((1 - prior) / prior))

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        out = []
        for feature in features:
            prediction = self.predict(self.tower(feature))
            n, _, h, w = prediction.shape
            out.append(prediction.permute(0, 2, 3, 1).reshape(n, h * w, -1))
        return out


class RetinaDetector(nn.Module):
    """Backbone, feature pyramid, classification and box heads, then the post-processing of a
    detector: scores above a threshold, the best few per image, decoded boxes."""

    def __init__(
        self,
        num_classes: int = 80,
        layers: Sequence[int] = (3, 4, 6, 3),
        width: int = 64,
        channels: int = 256,
        anchors: int = 9,
        head_depth: int = 4,
        score_threshold: float = 0.05,
        detections: int = 100,
    ) -> None:
        super().__init__()
        self.backbone = ResNet(layers, width=width)
        del self.backbone.fc
        c = width * 8 * Bottleneck.expansion
        self.fpn = FeaturePyramid((c // 4, c // 2, c), channels)
        self.num_classes, self.anchors = num_classes, anchors
        self.classification = DetectionHead(channels, anchors * num_classes, head_depth, prior=0.01)
        self.regression = DetectionHead(channels, anchors * 4, head_depth)
        self.score_threshold, self.detections = score_threshold, detections

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        features = self.fpn(self.backbone.features(images))
        logits = torch.cat(self.classification(features), 1).reshape(
            images.shape[0], -1, self.num_classes
        )
        deltas = torch.cat(self.regression(features), 1).reshape(images.shape[0], -1, 4)
        results = []
        for image_logits, image_deltas in zip(logits, deltas, strict=True):
            scores = torch.sigmoid(image_logits).flatten()
            keep = scores > self.score_threshold
            candidates = torch.nonzero(keep).flatten()
            scores = scores[candidates]
            top = scores.topk(min(self.detections, scores.numel())).indices
            chosen = candidates[top]
            anchor_index = chosen // self.num_classes
            boxes = self._decode(image_deltas[anchor_index], anchor_index, images.shape[-2:])
            results.append(
                {"boxes": boxes, "scores": scores[top], "labels": chosen % self.num_classes}
            )
        return results

    @staticmethod
    def _decode(deltas: Tensor, index: Tensor, size: torch.Size) -> Tensor:
        centre = (index.to(deltas.dtype) % 97) / 97.0 * size[-1]
        wh = torch.exp(deltas[:, 2:].clamp(max=math.log(1000.0 / 16))) * 32.0
        xy = centre[:, None] + deltas[:, :2] * 32.0
        return torch.cat([xy - wh / 2, xy + wh / 2], 1)


def retinanet_resnet50(**kwargs: object) -> RetinaDetector:
    return RetinaDetector(**kwargs)  # type: ignore[arg-type]


# ---- numerically sensitive designs ----------------------------------------------------------


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    return torch.transpose(x, 1, 2).contiguous().view(batch, -1, height, width)


class ShuffleUnit(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        branch = oup // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, bias=False),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
            nn.Conv2d(branch, branch, 3, stride, 1, groups=branch, bias=False),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(
        self,
        repeats: Sequence[int] = (4, 8, 4),
        channels: Sequence[int] = (24, 116, 232, 464, 1024),
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, channels[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inp = channels[0]
        for index, (count, oup) in enumerate(zip(repeats, channels[1:], strict=False)):
            units = [ShuffleUnit(inp, oup, 2)] + [
                ShuffleUnit(oup, oup, 1) for _ in range(count - 1)
            ]
            setattr(self, f"stage{index + 2}", nn.Sequential(*units))
            inp = oup
        self.conv5 = nn.Sequential(
            nn.Conv2d(inp, channels[-1], 1, bias=False),
            nn.BatchNorm2d(channels[-1]),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(channels[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(self.conv5(x).mean([2, 3]))


class RadixSoftmax(nn.Module):
    def __init__(self, radix: int, cardinality: int) -> None:
        super().__init__()
        self.radix, self.cardinality = radix, cardinality

    def forward(self, x: Tensor) -> Tensor:
        batch = x.size(0)
        x = x.view(batch, self.cardinality, self.radix, -1).transpose(1, 2)
        return F.softmax(x, dim=1).reshape(batch, -1)


class SplitAttention(nn.Module):
    """ResNeSt's split attention: a grouped conv makes `radix` splits, a softmax over the
    splits (from their pooled sum) weights them."""

    def __init__(self, channels: int, radix: int = 2, groups: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.radix = radix
        attn = max(channels * radix // 4, 32)
        self.conv = nn.Conv2d(
            channels, channels * radix, 3, stride, 1, groups=groups * radix, bias=False
        )
        self.bn0 = nn.BatchNorm2d(channels * radix)
        self.act0 = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, attn, 1, groups=groups)
        self.bn1 = nn.BatchNorm2d(attn)
        self.act1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(attn, channels * radix, 1, groups=groups)
        self.rsoftmax = RadixSoftmax(radix, groups)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act0(self.bn0(self.conv(x)))
        batch, rc, height, width = x.shape
        x = x.reshape((batch, self.radix, rc // self.radix, height, width))
        gap = x.sum(dim=1).mean((2, 3), keepdim=True)
        attn = self.fc2(self.act1(self.bn1(self.fc1(gap))))
        attn = self.rsoftmax(attn).view(batch, -1, 1, 1)
        out = (x * attn.reshape((batch, self.radix, rc // self.radix, 1, 1))).sum(dim=1)
        return out.contiguous()


class SelectiveKernel(nn.Module):
    """SKNet's selective kernel: two grouped branches with different receptive fields and a
    softmax gate over them."""

    def __init__(self, channels: int, groups: int = 8, stride: int = 1) -> None:
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(
                    channels, channels, 3, stride, dilation, dilation, groups=groups, bias=False
                ),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            for dilation in (1, 2)
        )
        attn = max(channels // 4, 32)
        self.fc_reduce = nn.Conv2d(channels, attn, 1, bias=False)
        self.bn = nn.BatchNorm2d(attn)
        self.act = nn.ReLU(inplace=True)
        self.fc_select = nn.Conv2d(attn, channels * 2, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        paths = torch.stack([path(x) for path in self.paths], dim=1)
        batch, _, channels, _, _ = paths.shape
        gate = self.act(self.bn(self.fc_reduce(paths.sum(1).mean((2, 3), keepdim=True))))
        gate = torch.softmax(self.fc_select(gate).view(batch, 2, channels, 1, 1), dim=1)
        return torch.sum(paths * gate, dim=1)


class AttentionBottleneck(nn.Module):
    """A ResNet bottleneck whose 3x3 conv is split attention (ResNeSt) or a selective kernel
    (SKNet)."""

    def __init__(self, inplanes: int, planes: int, stride: int, kind: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = (
            SplitAttention(planes)
            if kind == "split"
            else SelectiveKernel(planes, groups=min(8, planes))
        )
        self.avd = nn.AvgPool2d(3, stride, 1) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(inplanes, planes * 4, 1, bias=False),
                nn.BatchNorm2d(planes * 4),
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.avd(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        out = self.bn3(self.conv3(out))
        return self.act3(out + shortcut)


class AttentionResNet(nn.Module):
    def __init__(
        self,
        kind: str = "split",
        layers: Sequence[int] = (3, 4, 6, 3),
        width: int = 64,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(width // 2, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks, inplanes = [], width
        for index, count in enumerate(layers):
            planes = width * 2**index
            for i in range(count):
                blocks.append(
                    AttentionBottleneck(inplanes, planes, 2 if i == 0 and index else 1, kind)
                )
                inplanes = planes * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


# ---- octave convolutions --------------------------------------------------------------------


class OctaveConv(nn.Module):
    """A convolution on a high- and a low-frequency feature map (the low one at half the
    resolution): four convs, high to high, high to low (after pooling), low to low and low to
    high (then upsampled)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        alpha_in: float = 0.5,
        alpha_out: float = 0.5,
        stride: int = 1,
    ) -> None:
        super().__init__()
        padding = (kernel - 1) // 2
        self.downsample = nn.AvgPool2d(2, 2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.stride, self.alpha_out = stride, alpha_out
        in_low, out_low = int(alpha_in * in_channels), int(alpha_out * out_channels)
        in_high, out_high = in_channels - in_low, out_channels - out_low

        def conv(cin: int, cout: int) -> nn.Conv2d | None:
            return nn.Conv2d(cin, cout, kernel, 1, padding, bias=False) if cin and cout else None

        self.conv_l2l = conv(in_low, out_low)
        self.conv_l2h = conv(in_low, out_high)
        self.conv_h2l = conv(in_high, out_low)
        self.conv_h2h = conv(in_high, out_high)

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None]:
        x_h, x_l = x if isinstance(x, tuple) else (x, None)
        x_h = self.downsample(x_h) if self.stride == 2 else x_h
        x_h2h = self.conv_h2h(x_h)
        x_h2l = self.conv_h2l(self.downsample(x_h)) if self.conv_h2l is not None else None
        if x_l is None:
            return x_h2h, x_h2l
        x_l2l = self.downsample(x_l) if self.stride == 2 else x_l
        x_l2l = self.conv_l2l(x_l2l) if self.conv_l2l is not None else None
        x_l2h = self.conv_l2h(x_l)
        x_l2h = self.upsample(x_l2h) if self.stride == 1 else x_l2h
        x_h = x_l2h + x_h2h
        x_l = x_h2l + x_l2l if x_h2l is not None and x_l2l is not None else None
        return x_h, x_l


class OctaveConvBN(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        alpha_in: float = 0.5,
        alpha_out: float = 0.5,
        stride: int = 1,
        activation: bool = True,
    ) -> None:
        super().__init__()
        self.conv = OctaveConv(in_channels, out_channels, kernel, alpha_in, alpha_out, stride)
        out_low = int(out_channels * alpha_out)
        self.bn_h = nn.BatchNorm2d(out_channels - out_low)
        self.bn_l = nn.BatchNorm2d(out_low) if out_low else None
        self.act = nn.ReLU(inplace=True) if activation else nn.Identity()

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None]:
        x_h, x_l = self.conv(x)
        x_h = self.act(self.bn_h(x_h))
        x_l = self.act(self.bn_l(x_l)) if x_l is not None and self.bn_l is not None else None
        return x_h, x_l


class OctaveBottleneck(nn.Module):
    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        alpha: float = 0.5,
        first: bool = False,
        last: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = OctaveConvBN(inplanes, planes, 1, 0.0 if first else alpha, alpha)
        self.conv2 = OctaveConvBN(planes, planes, 3, alpha, alpha, stride)
        self.conv3 = OctaveConvBN(
            planes, planes * 4, 1, alpha, 0.0 if last else alpha, activation=False
        )
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = OctaveConvBN(
                inplanes,
                planes * 4,
                1,
                0.0 if first else alpha,
                0.0 if last else alpha,
                stride,
                activation=False,
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor | tuple[Tensor, Tensor | None]) -> tuple[Tensor, Tensor | None]:
        identity_h, identity_l = x if isinstance(x, tuple) else (x, None)
        out = self.conv3(self.conv2(self.conv1(x)))
        if self.downsample is not None:
            identity_h, identity_l = self.downsample(x)
        x_h = self.relu(out[0] + identity_h)
        x_l = self.relu(out[1] + identity_l) if out[1] is not None else None
        return x_h, x_l


class OctaveResNet(nn.Module):
    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        width: int = 64,
        alpha: float = 0.5,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, inplanes = [], width
        for index, count in enumerate(layers):
            planes = width * 2**index
            last_stage = index == len(layers) - 1
            blocks = []
            for i in range(count):
                blocks.append(
                    OctaveBottleneck(
                        inplanes,
                        planes,
                        2 if i == 0 and index else 1,
                        0.0 if last_stage and i else alpha,
                        first=index == 0 and i == 0,
                        last=last_stage and i == 0,
                    )
                )
                inplanes = planes * 4
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x_h, _ = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x_h.mean((2, 3)))
