"""A small model zoo for trying bnlint: foldable, unfoldable and cross-module BatchNorms."""

from .cross import deep_stem_net, guarded_net, head_net, stem_net
from .layers import BatchNorm2dTF, BatchNormAct2d, ConvBNAct, conv1x1, conv3x3
from .mobilenet import MobileNetFeatures, MobileNetV2, mobilenet_features_tiny, mobilenet_v2_tiny
from .resnet import BasicBlock, Bottleneck, ResNet, resnet_tiny, resnet_tiny_bottleneck
from .unfoldable import (
    conv_relu_bn_net,
    densenet_tiny,
    input_norm_net,
    maml_convnet,
    multihead_list_net,
    multiscale_shared_conv,
    preact_resnet_tiny,
    unet_tiny,
)
from .vgg import VGG, vgg_tiny, vgg_tiny_bn

__all__ = [
    "BasicBlock",
    "BatchNorm2dTF",
    "BatchNormAct2d",
    "Bottleneck",
    "ConvBNAct",
    "MobileNetFeatures",
    "MobileNetV2",
    "ResNet",
    "VGG",
    "conv1x1",
    "conv3x3",
    "conv_relu_bn_net",
    "deep_stem_net",
    "densenet_tiny",
    "guarded_net",
    "head_net",
    "input_norm_net",
    "maml_convnet",
    "mobilenet_features_tiny",
    "mobilenet_v2_tiny",
    "multihead_list_net",
    "multiscale_shared_conv",
    "preact_resnet_tiny",
    "resnet_tiny",
    "resnet_tiny_bottleneck",
    "stem_net",
    "unet_tiny",
    "vgg_tiny",
    "vgg_tiny_bn",
]
