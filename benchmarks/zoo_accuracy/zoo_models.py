"""Every model a zoo exposes, as a model id, and how to build it with random initialisation and
the example inputs to try on it (smallest first). Runs in the runtime venv (needs the zoos).

A model id is `zoo:name`, with `|`-separated variants where one name is built several ways:
`monai:UNet|3d|batch`, `smp:Unet|mobilenet_v2`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Inputs = tuple[Any, ...]  # the positional arguments of model(*inputs)


@dataclass(frozen=True)
class Candidate:
    id: str
    family: str  # the model file (or network class): every family is covered


@dataclass(frozen=True)
class Built:
    model: nn.Module
    inputs: tuple[Inputs, ...]  # example inputs to try, cheapest first


def _image(channels: int, *size: int) -> Inputs:
    return (torch.randn(1, channels, *size),)


def _sizes(default: int, smallest: int = 64) -> list[int]:
    return sorted({size for size in (smallest, 128, default) if size <= default} or {default})


# timm: every registered architecture; the family is the model file.


def timm_candidates() -> list[Candidate]:
    import timm
    from timm.models import _registry

    return [
        Candidate(f"timm:{name}", f"timm.models.{_registry._model_to_module[name]}")
        for name in timm.list_models()
    ]


def timm_build(name: str) -> Built:
    import timm

    model = timm.create_model(name, pretrained=False)
    config = model.pretrained_cfg or {}
    channels, height, _ = config.get("input_size", (3, 224, 224))
    smallest = config.get("min_input_size", (3, 64, 64))[1]
    return Built(
        model, tuple(_image(channels, size, size) for size in _sizes(height, max(smallest, 64)))
    )


# torchvision: every registered builder, detection/segmentation/video/optical flow included.


def torchvision_candidates() -> list[Candidate]:
    from torchvision import models

    return [
        Candidate(f"torchvision:{name}", models.get_model_builder(name).__module__)
        for name in models.list_models()
    ]


def torchvision_build(name: str) -> Built:
    from torchvision import models

    module = models.get_model_builder(name).__module__
    kwargs: dict[str, Any] = {"weights": None}
    if ".detection." in module or ".segmentation." in module:
        kwargs["weights_backbone"] = None
    if ".detection." in module and not name.startswith("ssd"):
        kwargs.update(min_size=128, max_size=160)  # the transform resizes to 800 otherwise
    model = models.get_model(name, **kwargs)
    if ".detection." in module:
        return Built(model, (([torch.rand(3, 128, 160)],),))
    if ".optical_flow." in module:
        return Built(model, ((torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)),))
    if ".video." in module:
        return Built(
            model,
            tuple(
                (torch.randn(1, 3, frames, size, size),)
                for frames, size in ((8, 64), (16, 112), (16, 224))
            ),
        )
    return Built(model, tuple(_image(3, size, size) for size in _sizes(224)))


# pytorchcv: the model provider's table; the family is the model file.


def pytorchcv_candidates() -> list[Candidate]:
    from pytorchcv.model_provider import _models

    return [Candidate(f"pytorchcv:{name}", factory.__module__) for name, factory in _models.items()]


def pytorchcv_build(name: str) -> Built:
    from pytorchcv.model_provider import _models

    model = _models[name](pretrained=False)
    height = getattr(model, "in_size", (224, 224))[0]
    channels = _first_layer_channels(model, 3)
    # Optical flow and stereo networks take two images.
    images = 2 if len(_required_arguments(model.forward)) == 2 else 1
    return Built(
        model,
        tuple(_image(channels, size, size) * images for size in _sizes(height, min(height, 32))),
    )


def _first_layer_channels(model: nn.Module, otherwise: int) -> int:
    return next(
        (
            layer.in_channels
            for layer in model.modules()
            if isinstance(layer, nn.modules.conv._ConvNd)
        ),
        otherwise,
    )


def _required_arguments(function: Callable[..., Any]) -> list[str]:
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


# MONAI: every network class of monai.networks.nets, 2-D and 3-D, with its default norm and,
# where it takes one, with batch norm; arguments filled from small values by parameter name.

_MONAI_ARGUMENTS: dict[str, Callable[[int], Any]] = {
    "in_channels": lambda dims: 1,
    "out_channels": lambda dims: 2,
    "n_input_channels": lambda dims: 1,
    "num_classes": lambda dims: 2,
    "classes": lambda dims: 2,
    "channels": lambda dims: (4, 8, 16),
    "strides": lambda dims: (2, 2),
    "img_size": lambda dims: (32,) * dims,
    "image_size": lambda dims: (32,) * dims,
    "patch_size": lambda dims: (8,) * dims,
    "input_shape": lambda dims: (32,) * dims,
    "kernel_size": lambda dims: (3, 3, 3),
    "upsample_kernel_size": lambda dims: (2, 2),
    "init_filters": lambda dims: 8,
    "num_res_units": lambda dims: 1,
    "block": lambda dims: "basic",
    "layers": lambda dims: (1, 1, 1, 1),
    "block_inplanes": lambda dims: (8, 16, 32, 64),
    "growth_rate": lambda dims: 8,
    "block_config": lambda dims: (2, 2),
    "init_features": lambda dims: 16,
    "model_name": lambda dims: "efficientnet-b0",
    "latent_size": lambda dims: 8,
    "num_channel_initial": lambda dims: 4,
    "depth": lambda dims: 2,
    "extract_levels": lambda dims: (0, 1, 2),
    "in_shape": lambda dims: (1,) + (32,) * dims,
    "out_shape": lambda dims: (2,),
    "hidden_channels": lambda dims: (4, 8),
}
_NORM_PARAMETERS = ("norm", "norm_name", "norm_type")  # the first one a class takes is set
# Where one value per parameter name does not fit a class (lengths that must agree, arguments
# taken through **kwargs, a sub-network to pass in).
_MONAI_OVERRIDES: dict[str, Callable[[int], dict[str, Any]]] = {
    "AutoEncoder": lambda dims: {"strides": (2, 2, 2)},
    "VarAutoEncoder": lambda dims: {"strides": (2, 2, 2), "in_shape": (1,) + (32,) * dims},
    "DynUNet": lambda dims: {"kernel_size": (3, 3, 3), "strides": (1, 2, 2)},
    "PatchDiscriminator": lambda dims: {"channels": 8, "kernel_size": 3},
    "MultiScalePatchDiscriminator": lambda dims: {
        "num_d": 2,
        "num_layers_d": 2,
        "channels": 8,
        "kernel_size": 3,
        "minimum_size_im": 32,
    },
    "SegResNetVAE": lambda dims: {"input_image_size": (32,) * dims},
    "ResNetBlock": lambda dims: {"in_planes": 8, "planes": 8},
    "ResNetBottleneck": lambda dims: {"in_planes": 32, "planes": 8},
    "ResNetEncoder": lambda dims: {"model_name": "resnet18"},
    "ResNetFeatures": lambda dims: {"model_name": "resnet18"},
    "FlexibleUNet": lambda dims: {"backbone": "efficientnet-b0"},
    "VoxelMorphUNet": lambda dims: {
        "unet_out_channels": 4,
        "channels": (4, 8, 16, 16),
        "final_conv_channels": (8, 8),
    },
    "DiNTS": lambda dims: {"dints_space": _dints_space(dims)},
    **{
        name: lambda dims: {"spatial_dims": dims, "in_channels": 1, "num_classes": 2}
        for name in (
            "SENet154",
            "SEResNet50",
            "SEResNet101",
            "SEResNet152",
            "SEResNext50",
            "SEResNext101",
        )
    },
}


def _dints_space(dims: int) -> Any:
    from monai.networks.nets import TopologyInstance

    return TopologyInstance(channel_mul=0.25, num_blocks=3, num_depths=3, spatial_dims=dims)


def monai_candidates() -> list[Candidate]:
    from monai.networks import nets

    classes = {
        id(value): value
        for value in vars(nets).values()
        if inspect.isclass(value) and issubclass(value, nn.Module)
    }
    found = []
    for cls in sorted(classes.values(), key=lambda c: c.__qualname__):
        parameters = inspect.signature(cls).parameters
        norms = ["default"] + (["batch"] if any(p in parameters for p in _NORM_PARAMETERS) else [])
        found += [
            Candidate(
                f"monai:{cls.__qualname__}|{dims}d|{norm}", f"{cls.__module__}.{cls.__qualname__}"
            )
            for dims in (2, 3)
            for norm in norms
        ]
    return found


def monai_build(name: str) -> Built:
    from monai.networks import nets

    class_name, dims_text, norm = name.split("|")
    cls, dims = getattr(nets, class_name), int(dims_text[0])
    parameters = inspect.signature(cls).parameters
    overrides = _MONAI_OVERRIDES.get(class_name, lambda dims: {})(dims)
    kwargs: dict[str, Any] = {}
    for parameter in parameters.values():
        if parameter.name in overrides:
            kwargs[parameter.name] = overrides[parameter.name]
        elif parameter.name in ("spatial_dims", "dimensions"):
            kwargs[parameter.name] = dims
        elif parameter.name == "pretrained":
            kwargs[parameter.name] = False  # never weights from the network
        elif parameter.default is inspect.Parameter.empty and parameter.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ):
            if parameter.name not in _MONAI_ARGUMENTS:
                raise TypeError(f"no small value known for parameter '{parameter.name}'")
            kwargs[parameter.name] = _MONAI_ARGUMENTS[parameter.name](dims)
    norm_parameter = next((name for name in _NORM_PARAMETERS if name in parameters), None)
    if norm == "batch" and norm_parameter:
        kwargs[norm_parameter] = "batch"
    model = cls(**{**overrides, **kwargs})
    # The first layer says what the network takes (some name it n_input_channels, some
    # have none: a block takes its own width).
    channels = _first_layer_channels(model, 1)
    sizes = (32, 64, 96) if dims == 3 else (32, 64, 96, 128, 256)
    return Built(model, tuple(_image(channels, *(size,) * dims) for size in sizes))


# segmentation_models_pytorch: every decoder on one encoder, and one Unet per encoder.


def smp_candidates() -> list[Candidate]:
    import segmentation_models_pytorch as smp

    decoders = [
        Candidate(f"smp:{cls.__name__}|resnet18", cls.__module__)
        for cls in smp.MODEL_ARCHITECTURES_MAPPING.values()
    ]
    encoders = [
        Candidate(f"smp:Unet|{name}", entry["encoder"].__module__)
        for name, entry in smp.encoders.encoders.items()
    ]
    # Any timm network as an encoder: one plain, one with timm's own conv-norm blocks; DPT
    # takes only vision transformers.
    timm_universal = [
        Candidate(f"smp:{arch}|tu-{encoder}", "segmentation_models_pytorch.encoders.timm_universal")
        for arch, encoder in (
            ("Unet", "resnet18"),
            ("Unet", "mobilenetv3_small_100"),
            ("DPT", "vit_small_patch16_224"),
        )
    ]
    unique = {c.id: c for c in decoders + encoders + timm_universal}  # Unet|resnet18 twice
    return list(unique.values())


def smp_build(name: str) -> Built:
    import segmentation_models_pytorch as smp

    arch, encoder = name.split("|")
    model = getattr(smp, arch)(encoder_name=encoder, encoder_weights=None)
    return Built(model, tuple(_image(3, size, size) for size in (64, 128, 224, 256)))


CANDIDATES: dict[str, Callable[[], list[Candidate]]] = {
    "timm": timm_candidates,
    "torchvision": torchvision_candidates,
    "pytorchcv": pytorchcv_candidates,
    "monai": monai_candidates,
    "smp": smp_candidates,
}
BUILDERS: dict[str, Callable[[str], Built]] = {
    "timm": timm_build,
    "torchvision": torchvision_build,
    "pytorchcv": pytorchcv_build,
    "monai": monai_build,
    "smp": smp_build,
}


def build(model_id: str) -> Built:
    zoo, _, name = model_id.partition(":")
    torch.manual_seed(0)
    return BUILDERS[zoo](name)
