"""The text of the synthetic zoo's files (benchmarks/zoo.py fills them in)."""

CONV = '''"""Convolution helpers shared by every model family."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn


def make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round a channel count to a multiple of `divisor`, never down by more than 10 %."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1,
            dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ConvBNAct(nn.Sequential):
    """Conv2d, BatchNorm and an activation, as one Sequential."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1,
                 norm_layer: Optional[Callable[..., nn.Module]] = None,
                 activation_layer: Optional[Callable[..., nn.Module]] = nn.ReLU) -> None:
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        padding = (kernel_size - 1) // 2
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            groups=groups, bias=False), norm_layer(out_channels)]
        if activation_layer is not None:
            layers.append(activation_layer(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


class ConvBNReLU(nn.Module):
    """The same three layers as named attributes."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                              kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))
'''


NORM = '''"""Normalisation layers and the registry that names them."""

from __future__ import annotations

from functools import partial
from typing import Callable, Optional

import torch
from torch import nn

BatchNorm2dTF = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


class BatchNormAct2d(nn.BatchNorm2d):
    """BatchNorm2d and its activation in one module."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 act_layer: Optional[Callable[..., nn.Module]] = nn.ReLU) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.act = act_layer(inplace=True) if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return self.act(x)


_NORM_LAYERS = {"batchnorm": nn.BatchNorm2d, "batchnorm_tf": BatchNorm2dTF,
                "groupnorm": partial(nn.GroupNorm, 8), "identity": nn.Identity}


def get_norm_layer(name: str = "batchnorm") -> Callable[..., nn.Module]:
    """The normalisation layer a config names."""
    return _NORM_LAYERS[name]
'''


ATTENTION = '''"""Channel attention shared by several families."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
        return x * scale
'''


REGISTRY = '''"""Model registry: factories register themselves by name."""

from __future__ import annotations

from typing import Any, Callable, Dict

_MODELS: Dict[str, Callable[..., Any]] = {}


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    _MODELS[fn.__name__] = fn
    return fn


def create_model(name: str, **kwargs: Any) -> Any:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(_MODELS)}")
    return _MODELS[name](**kwargs)


def list_models() -> list:
    return sorted(_MODELS)
'''


BLOCK_HEADER = '''"""Blocks of this family."""

from __future__ import annotations

from typing import Callable, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from {package}.layers import ConvBNAct, SqueezeExcite, conv1x1, conv3x3

'''


BASIC = '''
class BasicBlock(nn.Module):
    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 norm_layer: Optional[Callable[..., nn.Module]] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)
'''


BOTTLENECK = '''
class Bottleneck(nn.Module):
    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: Optional[nn.Module] = None,
                 norm_layer: Optional[Callable[..., nn.Module]] = None,
                 use_se: bool = {use_se}) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.se = SqueezeExcite(planes * self.expansion) if use_se else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.se(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        return self.relu(out)
'''


INVERTED = '''
class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int,
                 norm_layer: Optional[Callable[..., nn.Module]] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: List[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNAct(inp, hidden_dim, kernel_size=1, norm_layer=norm_layer,
                                    activation_layer=nn.ReLU6))
        layers.extend([
            ConvBNAct(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim,
                      norm_layer=norm_layer, activation_layer=nn.ReLU6),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            norm_layer(oup),
        ])
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)
'''


DENSE = '''
class DenseLayer(nn.Module):
    """Pre-activation: BatchNorm before the convolution, outputs concatenated."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, 4 * growth, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4 * growth, growth, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return torch.cat([x, out], 1)


class DenseBlock(nn.Sequential):
    def __init__(self, num_layers: int, in_channels: int, growth: int) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{{i + 1}}", DenseLayer(in_channels + i * growth, growth))


class Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, stride=2))
'''


DOUBLE = '''
class DoubleConv(nn.Module):
    """Two conv-BN-ReLU, the U-Net way."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: Optional[int] = None) -> None:
        super().__init__()
        mid = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)
'''


XBLOCK = '''
class XBlock(nn.Module):
    """RegNet's X block: 1x1, grouped 3x3, 1x1, each with BatchNorm."""

    def __init__(self, w_in: int, w_out: int, stride: int, group_width: int = {group},
                 bottleneck_ratio: float = 1.0) -> None:
        super().__init__()
        w_b = int(round(w_out * bottleneck_ratio))
        groups = max(1, w_b // group_width)
        self.a = ConvBNAct(w_in, w_b, kernel_size=1)
        self.b = ConvBNAct(w_b, w_b, kernel_size=3, stride=stride, groups=groups)
        self.c = nn.Conv2d(w_b, w_out, 1, bias=False)
        self.c_bn = nn.BatchNorm2d(w_out)
        self.proj = None
        if w_in != w_out or stride != 1:
            self.proj = nn.Sequential(nn.Conv2d(w_in, w_out, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(w_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        x = self.c_bn(self.c(self.b(self.a(x))))
        return self.act(x + shortcut)
'''


PREACT = '''

class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al., 2016): BatchNorm and ReLU before each
    convolution, so the first BatchNorm normalises the block input.

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of the first convolution.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride,
                          bias=False)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class MultiBranch(nn.Module):
    """Parallel branches (Inception style) whose outputs are concatenated.

    Each branch is a conv-BN-ReLU stack of a different kernel size; the BatchNorms fold
    into their branch's convolution.
    """

    def __init__(self, in_channels: int, branch_channels: int = {branch}) -> None:
        super().__init__()
        self.branches = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_channels, branch_channels, k, padding=k // 2, bias=False),
                          nn.BatchNorm2d(branch_channels), nn.ReLU(inplace=True))
            for k in (1, 3, 5)
        ])
        self.pool_proj = ConvBNAct(in_channels, branch_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        outs.append(self.pool_proj(F.max_pool2d(x, 3, stride=1, padding=1)))
        return torch.cat(outs, 1)


class StemBlock(nn.Module):
    """A deep stem: three 3x3 convolutions, the first strided."""

    def __init__(self, in_chans: int = 3, out_chans: int = {stem}) -> None:
        super().__init__()
        mid = out_chans // 2
        self.conv1 = conv3x3(in_chans, mid, stride=2)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = conv3x3(mid, mid)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv3x3(mid, out_chans)
        self.bn3 = nn.BatchNorm2d(out_chans)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.conv1(x)))
        x = self.act(self.bn2(self.conv2(x)))
        return self.act(self.bn3(self.conv3(x)))
'''


HELPERS = '''

def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
'''


BLOCKS_BY_ARCH = {"resnet": (BASIC, BOTTLENECK), "mobilenet": (INVERTED, BASIC),
                   "vgg": (BASIC,), "densenet": (DENSE,), "regnet": (XBLOCK, BOTTLENECK),
                   "unet": (DOUBLE, BASIC)}


RESNET = '''"""{name}: a ResNet whose stages `_make_layer` builds."""

from __future__ import annotations

from typing import Callable, List, Optional, Type, Union

import torch
import torch.nn as nn

from {package}.layers import conv1x1
from {package}.registry import register_model

from .blocks import BasicBlock, Bottleneck, _init_weights


class {cls}(nn.Module):
    def __init__(self, block: Type[Union[BasicBlock, Bottleneck]], layers: List[int],
                 num_classes: int = {classes}, width: int = {width},
                 norm_layer: Optional[Callable[..., nn.Module]] = None) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        _init_weights(self)

    def _make_layer(self, block: Type[Union[BasicBlock, Bottleneck]], planes: int,
                    blocks: int, stride: int = 1) -> nn.Sequential:
        norm_layer = self._norm_layer
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)

'''


MOBILENET = '''"""{name}: a MobileNetV2 built from a settings table."""

from __future__ import annotations

from typing import Callable, List, Optional

import torch
from torch import nn

from {package}.layers import ConvBNAct, make_divisible
from {package}.registry import register_model

from .blocks import InvertedResidual, _init_weights

SETTINGS = [
    # t, c, n, s
    [1, 16, 1, 1],
    [6, 24, {n2}, 2],
    [6, 32, 3, 2],
    [6, 64, {n4}, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
]


class {cls}(nn.Module):
    def __init__(self, num_classes: int = {classes}, width_mult: float = 1.0,
                 norm_layer: Optional[Callable[..., nn.Module]] = None,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        input_channel = make_divisible({width} * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        features: List[nn.Module] = [ConvBNAct(3, input_channel, stride=2, norm_layer=norm_layer,
                                               activation_layer=nn.ReLU6)]
        for t, c, n, s in SETTINGS:
            output_channel = make_divisible(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride,
                                                 expand_ratio=t, norm_layer=norm_layer))
                input_channel = output_channel
        features.append(ConvBNAct(input_channel, self.last_channel, kernel_size=1,
                                  norm_layer=norm_layer, activation_layer=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(self.last_channel, num_classes))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)

'''


VGG = '''"""{name}: a VGG built from a cfg table."""

from __future__ import annotations

from typing import Dict, List, Union, cast

import torch
import torch.nn as nn

from {package}.registry import register_model

from .blocks import _init_weights

CFGS: Dict[str, List[Union[str, int]]] = {{
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}}


def make_layers(cfg: List[Union[str, int]], batch_norm: bool = False) -> nn.Sequential:
    layers: List[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            v = cast(int, v)
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


class {cls}(nn.Module):
    def __init__(self, features: nn.Module, num_classes: int = {classes},
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)

'''


DENSENET = '''"""{name}: a DenseNet (pre-activation BatchNorms, concatenation)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from {package}.registry import register_model

from .blocks import DenseBlock, Transition, _init_weights


class {cls}(nn.Module):
    def __init__(self, growth_rate: int = 12, block_config: Tuple[int, ...] = ({b1}, {b2}, {b3}),
                 num_init_features: int = {width}, num_classes: int = {classes}) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, padding=1, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
        ]))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, num_features, growth_rate)
            self.features.add_module(f"denseblock{{i + 1}}", block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = Transition(num_features, num_features // 2)
                self.features.add_module(f"transition{{i + 1}}", trans)
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        out = F.relu(features, inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = torch.flatten(out, 1)
        return self.classifier(out)

'''


REGNET = '''"""{name}: a RegNet-like network of X blocks in Sequential-subclass stages."""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from {package}.layers import ConvBNAct
from {package}.registry import register_model

from .blocks import XBlock, _init_weights


class Stage(nn.Sequential):
    def __init__(self, w_in: int, w_out: int, stride: int, depth: int) -> None:
        super().__init__()
        for i in range(depth):
            self.add_module(f"b{{i + 1}}", XBlock(w_in if i == 0 else w_out, w_out,
                                                 stride if i == 0 else 1))


class {cls}(nn.Module):
    def __init__(self, depths: List[int] = [{b1}, {b2}, {b3}, 1],
                 widths: List[int] = [{width}, {width2}, {width4}, {width8}],
                 num_classes: int = {classes}) -> None:
        super().__init__()
        self.stem = ConvBNAct(3, widths[0], stride=2)
        stages = []
        w_in = widths[0]
        for depth, w_out in zip(depths, widths):
            stages.append(Stage(w_in, w_out, 2, depth))
            w_in = w_out
        self.trunk = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(w_in, num_classes))
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(self.stem(x)))

'''


UNET = '''"""{name}: a U-Net with skip connections concatenated on the way up."""

from __future__ import annotations

import torch
from torch import nn

from {package}.registry import register_model

from .blocks import DoubleConv, Down, Up, _init_weights


class {cls}(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = {classes}, base: int = {width}) -> None:
        super().__init__()
        self.inc = DoubleConv(n_channels, base)
        self.down1 = Down(base, base * 2)
        self.down2 = Down(base * 2, base * 4)
        self.down3 = Down(base * 4, base * 8)
        self.up1 = Up(base * 8, base * 4)
        self.up2 = Up(base * 4, base * 2)
        self.up3 = Up(base * 2, base)
        self.outc = nn.Conv2d(base, n_classes, kernel_size=1)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(x4, x3)
        x = self.up2(x, x2)
        x = self.up3(x, x1)
        return self.outc(x)

'''


NETS = {"resnet": RESNET, "mobilenet": MOBILENET, "vgg": VGG, "densenet": DENSENET,
         "regnet": REGNET, "unet": UNET}


EXTRAS = '''

def get_classifier(model: nn.Module) -> nn.Module:
    """The final classification layer of a {cls}."""
    for name in ("fc", "classifier", "head", "outc"):
        if hasattr(model, name):
            return getattr(model, name)
    raise AttributeError("no classifier")


def group_matcher(coarse: bool = False) -> dict:
    """Parameter groups for layer-wise learning-rate decay."""
    return dict(
        stem=r"^conv1|bn1|stem|features\\.0",
        blocks=r"^layer(\\d+)" if coarse else r"^layer(\\d+)\\.(\\d+)",
    )


def checkpoint_filter_fn(state_dict: dict, model: nn.Module) -> dict:
    """Rename the keys of old checkpoints."""
    out = {{}}
    for key, value in state_dict.items():
        key = key.replace("downsample.conv", "downsample.0").replace("downsample.bn", "downsample.1")
        if key.startswith("module."):
            key = key[len("module."):]
        out[key] = value
    return out
'''


FEATURES = '''

class {cls}Features(nn.Module):
    """The feature map of every stage, for detection and segmentation necks."""

    def __init__(self, net: nn.Module, out_indices: tuple = (1, 2, 3)) -> None:
        super().__init__()
        self.net = net
        self.out_indices = out_indices

    def forward(self, x: torch.Tensor) -> list:
        features = []
        for i, (name, module) in enumerate(self.net.named_children()):
            if name in ("fc", "classifier", "head"):
                break
            x = module(x)
            if i in self.out_indices:
                features.append(x)
        return features


def {lower}_info(model: nn.Module) -> dict:
    """Parameter and BatchNorm counts, for the model card."""
    batchnorms = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    convs = sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))
    params = sum(p.numel() for p in model.parameters())
    return {{"params": params, "convs": convs, "batchnorms": batchnorms}}
'''


LICENSE = """# Copyright (c) {year} The Zoobench Authors. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""


VARIANTS = '''"""Variants of {name}: subclasses of the network in another file."""

from __future__ import annotations

import torch
from torch import nn

from {package}.layers import BatchNormAct2d, ConvBNReLU
from {package}.registry import register_model

from .{arch} import {cls}
from .heads import ClassifierHead


class {cls}WithStem(nn.Module):
    """A deep stem in front of the network: three conv-BN-ReLU layers."""

    def __init__(self, net: nn.Module, stem_width: int = {width}) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNReLU(3, stem_width, stride=2),
            ConvBNReLU(stem_width, stem_width),
            nn.Conv2d(stem_width, 3, 3, padding=1, bias=False),
            BatchNormAct2d(3),
        )
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.stem(x))


class {cls}Frozen({cls}):
    """The same network; a subclass in another file, as fine-tuning code writes it."""

    def freeze_bn(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                m.weight.requires_grad = False
                m.bias.requires_grad = False


class Projection(nn.Module):
    def __init__(self, in_features: int = 512, dim: int = {dim}) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, dim)
        self.bn = nn.BatchNorm1d(dim)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(dim, dim)
        self.head = ClassifierHead(dim, {classes})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc2(self.relu(self.bn(self.fc1(x)))))


class {cls}Ensemble(nn.Module):
    """Several networks averaged: members in an nn.ModuleList."""

    def __init__(self, members: int = {members}) -> None:
        super().__init__()
        self.members = nn.ModuleList([{factory}() for _ in range(members)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [member(x) for member in self.members]
        return torch.stack(outs, 0).mean(0)


class Adapter(nn.Module):
    """A bottleneck adapter between two stages: BN before the 1x1 convolution."""

    def __init__(self, channels: int = {width}, reduction: int = 4) -> None:
        super().__init__()
        hidden = channels // reduction
        self.norm = nn.BatchNorm2d(channels)
        self.down = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.up = nn.Conv2d(hidden, channels, 1, bias=False)
        self.up_bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up_bn(self.up(self.act(self.down(self.norm(x)))))
        return x + y


def load_pretrained(model: nn.Module, path: str, strict: bool = False) -> nn.Module:
    """Load weights, dropping the classifier when the class counts differ."""
    state = torch.load(path, map_location="cpu")
    own = model.state_dict()
    kept = {{k: v for k, v in state.items() if k in own and own[k].shape == v.shape}}
    missing = sorted(set(own) - set(kept))
    if missing and strict:
        raise KeyError(f"missing keys: {{missing[:5]}}")
    model.load_state_dict(kept, strict=False)
    return model


@register_model
def {name}_stem(**kwargs) -> nn.Module:
    return {cls}WithStem({factory}(**kwargs))


@register_model
def {name}_projection() -> nn.Module:
    return Projection()
'''


HEADS = '''"""Heads of {name}."""

from __future__ import annotations

import torch
from torch import nn


class ClassifierHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, dropout: float = {dropout}) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(x))


class ConvHead(nn.Module):
    """1x1 conv, BatchNorm, ReLU, pooling: foldable."""

    def __init__(self, in_channels: int = {width}, hidden: int = {hidden}, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.bn(self.conv(x))))
        return self.fc(torch.flatten(x, 1))


class AuxHead(nn.Module):
    """Normalises the input first: the BatchNorm has no producer to fold into."""

    def __init__(self, in_channels: int = {width}, num_classes: int = 10) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.bn(x)), 1))


class SegHead(nn.Module):
    """Semantic segmentation head: 3x3 conv-BN-ReLU, dropout, 1x1 classifier."""

    def __init__(self, in_channels: int = {width}, channels: int = {hidden}, num_classes: int = 21,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout2d(dropout)
        self.cls = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls(self.dropout(self.relu(self.bn(self.conv(x)))))


class DetectionHead(nn.Module):
    """A shared conv tower per pyramid level: the towers live in a ModuleList."""

    def __init__(self, in_channels: int = {width}, num_levels: int = {levels},
                 num_anchors: int = 9, num_classes: int = 80) -> None:
        super().__init__()
        self.towers = nn.ModuleList([
            nn.Sequential(nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False),
                          nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True))
            for _ in range(num_levels)
        ])
        self.cls_logits = nn.Conv2d(in_channels, num_anchors * num_classes, 3, padding=1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 3, padding=1)

    def forward(self, features: list) -> list:
        outputs = []
        for tower, feature in zip(self.towers, features):
            t = tower(feature)
            outputs.append((self.cls_logits(t), self.bbox_pred(t)))
        return outputs
'''


DATASET = '''"""Data set number {k}: images and labels from an index file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import torch
from torch.utils.data import Dataset


class {cls}(Dataset):
    def __init__(self, root: str, split: str = "train",
                 transform: Optional[Callable] = None) -> None:
        self.root = Path(root)
        self.split = split
        self.transform = transform
        self.samples: List[Tuple[str, int]] = []
        index = self.root / f"{{split}}.json"
        if index.exists():
            with open(index, encoding="utf-8") as handle:
                for entry in json.load(handle):
                    self.samples.append((entry["path"], int(entry["label"])))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        image = torch.load(os.path.join(self.root, path))
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def class_counts(self) -> dict:
        counts: dict = {{}}
        for _, label in self.samples:
            counts[label] = counts.get(label, 0) + 1
        return counts


def collate_{k}(batch: List[Tuple[torch.Tensor, int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([item[0] for item in batch])
    labels = torch.tensor([item[1] for item in batch])
    return images, labels
'''


TRANSFORMS = '''"""Tensor transforms, pipeline {k}."""

from __future__ import annotations

import math
import random
from typing import List, Sequence

import torch


class Compose:
    def __init__(self, transforms: Sequence) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            x = t(x)
        return x


class Normalize:
    def __init__(self, mean: List[float], std: List[float]) -> None:
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class RandomCrop:
    def __init__(self, size: int, padding: int = {pad}) -> None:
        self.size = size
        self.padding = padding

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = torch.nn.functional.pad(x, [self.padding] * 4)
        h, w = x.shape[-2:]
        top = random.randint(0, h - self.size)
        left = random.randint(0, w - self.size)
        return x[..., top:top + self.size, left:left + self.size]


def cosine_ramp(step: int, total: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / max(1, total)))
'''


TRAIN = '''"""Training loop {k}."""

from __future__ import annotations

import logging
import time
from typing import Iterable, Tuple

import torch
from torch import nn

log = logging.getLogger(__name__)


def train_one_epoch(model: nn.Module, loader: Iterable[Tuple[torch.Tensor, torch.Tensor]],
                    optimizer: torch.optim.Optimizer, epoch: int,
                    clip: float = {clip}) -> float:
    model.train()
    criterion = nn.CrossEntropyLoss(label_smoothing={smooth})
    total, seen, start = 0.0, 0, time.time()
    for step, (images, labels) in enumerate(loader):
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(images), labels)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        total += loss.item() * images.size(0)
        seen += images.size(0)
        if step % 50 == 0:
            log.info("epoch %d step %d loss %.4f (%.1f img/s)", epoch, step, loss.item(),
                     seen / max(1e-6, time.time() - start))
    return total / max(1, seen)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[Tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.eval()
    correct, seen = 0, 0
    for images, labels in loader:
        predictions = model(images).argmax(dim=1)
        correct += int((predictions == labels).sum())
        seen += labels.numel()
    return correct / max(1, seen)


def fit(model: nn.Module, train_loader, val_loader, epochs: int = {epochs},
        lr: float = {lr}) -> list:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    history = []
    for epoch in range(epochs):
        loss = train_one_epoch(model, train_loader, optimizer, epoch)
        accuracy = evaluate(model, val_loader)
        history.append((epoch, loss, accuracy))
    return history
'''


SCHEDULER = '''"""Learning-rate schedule {k}."""

from __future__ import annotations

import math

from torch.optim import Optimizer


class WarmupCosine:
    def __init__(self, optimizer: Optimizer, warmup: int = {warmup}, total: int = {total},
                 min_lr: float = 1e-6) -> None:
        self.optimizer = optimizer
        self.warmup = warmup
        self.total = total
        self.min_lr = min_lr
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.step_count = 0

    def step(self) -> None:
        self.step_count += 1
        for base, group in zip(self.base, self.optimizer.param_groups):
            group["lr"] = self.lr_at(base, self.step_count)

    def lr_at(self, base: float, step: int) -> float:
        if step < self.warmup:
            return base * step / self.warmup
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.min_lr + (base - self.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    def state_dict(self) -> dict:
        return {{"step_count": self.step_count, "base": self.base}}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = state["step_count"]
        self.base = state["base"]
'''


CONFIG = '''"""Experiment configuration {k}."""

MODEL = dict(
    name="{factory}",
    num_classes={classes},
    pretrained=False,
)

DATA = dict(
    root="/data/imagenet",
    batch_size={batch},
    num_workers=8,
    image_size={size},
    mean=[0.485, 0.456, 0.406],
    std=[0.229, 0.224, 0.225],
)

OPTIMIZER = dict(type="SGD", lr={lr}, momentum=0.9, weight_decay=1e-4, nesterov=True)

SCHEDULE = dict(type="cosine", warmup_epochs=5, epochs={epochs})

AUGMENT = dict(
    random_crop=True,
    horizontal_flip=True,
    mixup_alpha=0.2,
    cutmix_alpha=1.0,
    label_smoothing=0.1,
)
'''


METRICS = '''"""Running averages and accuracy, set {k}."""

from __future__ import annotations

from typing import List, Sequence

import torch


class AverageMeter:
    def __init__(self, name: str, fmt: str = ":f") -> None:
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.avg = 0.0
        self.sum = 0.0
        self.count = 0

    def update(self, val: float, n: int = 1) -> None:
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def __str__(self) -> str:
        return f"{{self.name}} {{self.val:.3f}} ({{self.avg:.3f}})"


def accuracy(output: torch.Tensor, target: torch.Tensor, topk: Sequence[int] = (1, {topk})) -> List[float]:
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    return [float(correct[:k].reshape(-1).float().sum(0) * 100.0 / batch_size) for k in topk]
'''


SCRIPT = '''"""Train {factory} from the command line."""

from __future__ import annotations

import argparse

import torch

from {module} import {factory}
from {package}.train.loop_{loop} import fit


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default={epochs})
    parser.add_argument("--lr", type=float, default={lr})
    parser.add_argument("--batch-size", type=int, default={batch})
    parser.add_argument("--output", default="checkpoints/{factory}.pt")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    model = {factory}()
    loader = [(torch.randn(args.batch_size, 3, 32, 32),
               torch.randint(0, 10, (args.batch_size,)))]
    fit(model, loader, loader, epochs=args.epochs, lr=args.lr)
    torch.save(model.state_dict(), args.output)


if __name__ == "__main__":
    main()
'''


TEST = '''"""Smoke tests of {factory}."""

import pytest
import torch

from {module} import {factory}


def test_{factory}_forward_shape():
    model = {factory}()
    model.eval()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape[0] == 2


@pytest.mark.parametrize("batch", [1, 4])
def test_{factory}_batches(batch):
    model = {factory}()
    out = model(torch.randn(batch, 3, 64, 64))
    assert out.shape[0] == batch


def test_{factory}_has_batchnorm():
    model = {factory}()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
'''


IO = '''"""Checkpoint input and output, helpers {k}."""

from __future__ import annotations

import hashlib
import os
import shutil
from typing import Any, Dict, Optional

import torch


def save_checkpoint(state: Dict[str, Any], path: str, is_best: bool = False) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    if is_best:
        shutil.copyfile(path, os.path.join(os.path.dirname(path), "model_best.pt"))


def load_checkpoint(path: str, map_location: Optional[str] = "cpu") -> Dict[str, Any]:
    state = torch.load(path, map_location=map_location)
    if "state_dict" in state:
        state = state["state_dict"]
    return {{key.replace("module.", "", 1): value for key, value in state.items()}}


def file_digest(path: str, chunk: int = {chunk}) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
'''


SNIPPETS = ('''

def seed_everything_{k}_{j}(seed: int = {j}) -> None:
    """Seed every random number generator a training run touches."""
    import os
    import random as _random

    import numpy as np
    import torch as _torch

    os.environ["PYTHONHASHSEED"] = str(seed)
    _random.seed(seed)
    np.random.seed(seed)
    _torch.manual_seed(seed)
    if _torch.cuda.is_available():
        _torch.cuda.manual_seed_all(seed)
''', '''

def reduce_tensor_{k}_{j}(value, world_size: int = {j} + 1):
    """Average a tensor over the processes of a distributed run."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_initialized():
        return value
    reduced = value.clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / world_size
''', '''

class ModelEma{k}x{j}:
    """Exponential moving average of a model's weights."""

    def __init__(self, model, decay: float = 0.999{j}) -> None:
        import copy

        self.module = copy.deepcopy(model)
        self.module.eval()
        self.decay = decay

    def update(self, model) -> None:
        import torch as _torch

        with _torch.no_grad():
            for ema_v, model_v in zip(self.module.state_dict().values(),
                                      model.state_dict().values()):
                if ema_v.dtype.is_floating_point:
                    ema_v.mul_(self.decay).add_(model_v.detach(), alpha=1 - self.decay)
                else:
                    ema_v.copy_(model_v)
''', '''

def param_groups_{k}_{j}(model, weight_decay: float = 1e-4, skip=("bias", "bn")) -> list:
    """Parameters without weight decay (biases, BatchNorm) in their own group."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim <= 1 or any(s in name for s in skip):
            no_decay.append(param)
        else:
            decay.append(param)
    return [{{"params": no_decay, "weight_decay": 0.0}},
            {{"params": decay, "weight_decay": weight_decay}}]
''', '''

def mixup_{k}_{j}(images, labels, alpha: float = 0.{j}, num_classes: int = 1000):
    """Mix pairs of images and their one-hot labels."""
    import numpy as np
    import torch as _torch

    lam = float(np.random.beta(alpha + 1e-3, alpha + 1e-3))
    index = _torch.randperm(images.size(0))
    mixed = lam * images + (1 - lam) * images[index]
    one_hot = _torch.nn.functional.one_hot(labels, num_classes).float()
    targets = lam * one_hot + (1 - lam) * one_hot[index]
    return mixed, targets
''', '''

def setup_logging_{k}_{j}(output_dir: str, rank: int = 0, level: str = "INFO"):
    """Log to the console on rank 0 and to a file per process."""
    import logging
    import os

    logger = logging.getLogger("zoobench")
    logger.setLevel(level)
    formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s")
    if rank == 0:
        console = logging.StreamHandler()
        console.setFormatter(formatter)
        logger.addHandler(console)
    os.makedirs(output_dir, exist_ok=True)
    handler = logging.FileHandler(os.path.join(output_dir, f"log_rank{{rank}}.txt"))
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    return logger
''')
