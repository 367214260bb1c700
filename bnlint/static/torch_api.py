"""What the static analyzer knows about torch's names, without importing torch.

Layers are described by their constructor signature (so positional and keyword arguments land
in the same place) and by the LayerGraph kind a call of them produces. einops, the library of
axis rearrangements model code writes beside torch (`Rearrange("b c h w -> b (h w) c")`), is
known the same way: its layers hold no BatchNorm, and its patterns say which axes move.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnlint.ftypes import NodeKind


@dataclass(frozen=True)
class TorchClass:
    qualname: str  # canonical, e.g. "torch.nn.Conv2d"
    kind: NodeKind | None  # what calling an instance produces; None for containers/Module
    params: tuple[str, ...] = ()  # constructor parameters in order
    defaults: tuple[tuple[str, object], ...] = ()
    spatial_dims: int | None = None
    container: str | None = None  # "sequential", "list", "dict" for the containers
    passthrough: bool = False  # nn.Identity and Dropout in eval mode

    @property
    def short_name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def is_module_base(self) -> bool:
        return self.qualname == "torch.nn.Module"


# The packages whose names the analysis knows itself, never reading their code.
MODELLED_PACKAGES = frozenset({"torch", "einops"})


def is_modelled(qualname: str) -> bool:
    """`torch.nn.Conv2d`, `einops.rearrange`, `einops` itself."""
    return qualname.split(".", 1)[0] in MODELLED_PACKAGES


# torch.nn's private base of every BatchNorm class: any BatchNorm is one
BATCHNORM_BASE = "torch.nn.modules.batchnorm._BatchNorm"

_CONV = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "padding_mode",
)
_CONV_DEFAULTS = (
    ("stride", 1),
    ("padding", 0),
    ("dilation", 1),
    ("groups", 1),
    ("bias", True),
    ("padding_mode", "zeros"),
)
_CONVT = (
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "bias",
    "dilation",
    "padding_mode",
)
_CONVT_DEFAULTS = (
    ("stride", 1),
    ("padding", 0),
    ("output_padding", 0),
    ("groups", 1),
    ("bias", True),
    ("dilation", 1),
    ("padding_mode", "zeros"),
)
_UPSAMPLE = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")
_BN = ("num_features", "eps", "momentum", "affine", "track_running_stats")
_BN_DEFAULTS = (("eps", 1e-5), ("momentum", 0.1), ("affine", True), ("track_running_stats", True))

# Activation and reshaping modules by name: the runtime half classifies modules by these too.
ACTIVATIONS = (
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "PReLU",
    "RReLU",
    "ELU",
    "SELU",
    "CELU",
    "GELU",
    "SiLU",
    "Mish",
    "Hardswish",
    "Hardsigmoid",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Hardtanh",
    "Softsign",
    "Tanhshrink",
    "LogSigmoid",
    "Threshold",
    "GLU",
    "Softshrink",
    "Hardshrink",
)
_POOLS = tuple(
    f"{p}{d}d"
    for p in (
        "MaxPool",
        "AvgPool",
        "AdaptiveAvgPool",
        "AdaptiveMaxPool",
        "LPPool",
        "FractionalMaxPool",
    )
    for d in (1, 2, 3)
)
RESHAPES = ("Flatten", "Unflatten", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle")
_PASSTHROUGH = (
    "Identity",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "AlphaDropout",
    "FeatureAlphaDropout",
)


def _build_catalogue() -> dict[str, TorchClass]:
    classes: list[TorchClass] = [
        TorchClass("torch.nn.Module", None),
        TorchClass("torch.nn.Sequential", None, container="sequential"),
        TorchClass("torch.nn.ModuleList", None, ("modules",), container="list"),
        TorchClass("torch.nn.ModuleDict", None, ("modules",), container="dict"),
        TorchClass(
            "torch.nn.Linear",
            NodeKind.LINEAR,
            ("in_features", "out_features", "bias"),
            (("bias", True),),
        ),
        TorchClass(
            "torch.nn.LazyLinear", NodeKind.LINEAR, ("out_features", "bias"), (("bias", True),)
        ),
    ]
    for dims in (1, 2, 3):
        classes += [
            TorchClass(f"torch.nn.Conv{dims}d", NodeKind.CONV, _CONV, _CONV_DEFAULTS, dims),
            TorchClass(f"torch.nn.LazyConv{dims}d", NodeKind.CONV, _CONV[1:], _CONV_DEFAULTS, dims),
            TorchClass(
                f"torch.nn.ConvTranspose{dims}d",
                NodeKind.CONV_TRANSPOSE,
                _CONVT,
                _CONVT_DEFAULTS,
                dims,
            ),
            TorchClass(f"torch.nn.BatchNorm{dims}d", NodeKind.BATCHNORM, _BN, _BN_DEFAULTS, dims),
            TorchClass(
                f"torch.nn.LazyBatchNorm{dims}d", NodeKind.BATCHNORM, _BN[1:], _BN_DEFAULTS, dims
            ),
        ]
    # SyncBatchNorm works on any dimensionality; so does a subclass of the private base,
    # which checks its input's rank itself (`_check_input_dim`)
    classes.append(TorchClass("torch.nn.SyncBatchNorm", NodeKind.BATCHNORM, _BN, _BN_DEFAULTS))
    classes.append(TorchClass(BATCHNORM_BASE, NodeKind.BATCHNORM, _BN, _BN_DEFAULTS))
    classes += [TorchClass(f"torch.nn.{n}", NodeKind.ACTIVATION) for n in ACTIVATIONS]
    classes += [TorchClass(f"torch.nn.{n}", NodeKind.POOL) for n in _POOLS]
    classes += [TorchClass(f"torch.nn.{n}", NodeKind.RESHAPE) for n in RESHAPES if n != "Flatten"]
    classes.append(
        TorchClass(
            "torch.nn.Flatten",
            NodeKind.RESHAPE,
            ("start_dim", "end_dim"),
            (("start_dim", 1), ("end_dim", -1)),
        )
    )
    for name, mode in (
        ("Upsample", "nearest"),
        ("UpsamplingNearest2d", "nearest"),
        ("UpsamplingBilinear2d", "bilinear"),
    ):
        classes.append(TorchClass(f"torch.nn.{name}", NodeKind.OTHER, _UPSAMPLE, (("mode", mode),)))
    classes += [TorchClass(f"torch.nn.{n}", None, passthrough=True) for n in _PASSTHROUGH]
    classes += [
        TorchClass("einops.layers.torch.Rearrange", NodeKind.RESHAPE, ("pattern",)),
        TorchClass("einops.layers.torch.Reduce", NodeKind.POOL, ("pattern", "reduction")),
        # a learned mixing of axes (weights of its own), not a layer a BatchNorm folds into
        TorchClass("einops.layers.torch.EinMix", NodeKind.OTHER, ("pattern", "weight_shape")),
    ]
    return {c.qualname: c for c in classes}


CATALOGUE = _build_catalogue()


# torch.nn submodules that re-export the same classes (torch.nn.modules.conv.Conv2d).
def canonical(qualname: str) -> str:
    """`torch.nn.modules.conv.Conv2d` and `torch.nn.modules.Conv2d` are `torch.nn.Conv2d`;
    the private norm bases behave as the norm they generalise."""
    if not qualname.startswith("torch.nn.modules."):
        return qualname
    parts = qualname.split(".")
    name = parts[-1]
    if name in ("_BatchNorm", "_NormBase"):
        return BATCHNORM_BASE
    if name == "_InstanceNorm":  # `issubclass(layer, _InstanceNorm)`: no BatchNorm is one
        return "torch.nn.InstanceNorm2d"
    if len(parts) in (4, 5) and name[:1].isupper():  # torch.nn.modules[.<file>].<Class>
        return "torch.nn." + name
    return qualname


# Capitalised names under torch.nn that are not modules.
_NOT_MODULES = frozenset(
    {
        "torch.nn.Parameter",
        "torch.nn.ParameterList",
        "torch.nn.ParameterDict",
        "torch.nn.UninitializedParameter",
        "torch.nn.UninitializedBuffer",
        "torch.nn.Buffer",
    }
)


def torch_class(qualname: str) -> TorchClass | None:
    """The catalogue entry for a torch.nn class; unknown torch.nn classes are opaque layers."""
    name = canonical(qualname)
    if name in _NOT_MODULES:
        return None
    if name in CATALOGUE:
        return CATALOGUE[name]
    if name.startswith("torch.nn.") and name.count(".") == 2 and name[9:10].isupper():
        return TorchClass(name, NodeKind.OTHER)
    return None


# Functions: qualified name -> the kind of node a call produces.
_F = "torch.nn.functional."
FUNCTIONS: dict[str, NodeKind] = {}
for _name in (
    "relu",
    "relu_",
    "relu6",
    "leaky_relu",
    "leaky_relu_",
    "elu",
    "elu_",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "softplus",
    "hardtanh",
    "hardtanh_",
    "prelu",
    "rrelu",
    "glu",
    "logsigmoid",
    "threshold",
):
    FUNCTIONS[_F + _name] = NodeKind.ACTIVATION
for _name in (
    "relu",
    "relu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "clamp",
    "clamp_",
    "clip",
    "hardswish",
):
    FUNCTIONS["torch." + _name] = NodeKind.ACTIVATION
for _name in (
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "lp_pool2d",
):
    FUNCTIONS[_F + _name] = NodeKind.POOL
for _name in (
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "linear",
):
    FUNCTIONS[_F + _name] = NodeKind.FUNCTIONAL_CONV
for _name in (
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
):
    FUNCTIONS["torch." + _name] = NodeKind.FUNCTIONAL_CONV
FUNCTIONS[_F + "batch_norm"] = NodeKind.FUNCTIONAL_BN
FUNCTIONS["torch.batch_norm"] = NodeKind.FUNCTIONAL_BN
for _name in ("cat", "concat", "concatenate", "stack", "hstack", "vstack"):
    FUNCTIONS["torch." + _name] = NodeKind.CAT
for _name in ("add", "sub", "subtract"):
    FUNCTIONS["torch." + _name] = NodeKind.ADD
for _name in ("mul", "multiply"):
    FUNCTIONS["torch." + _name] = NodeKind.MUL
for _name in (
    "flatten",
    "reshape",
    "permute",
    "transpose",
    "squeeze",
    "unsqueeze",
    "narrow",
    "chunk",
    "split",
    "movedim",
    "swapaxes",
):
    FUNCTIONS["torch." + _name] = NodeKind.RESHAPE
for _name in ("mean", "amax", "amin", "sum"):
    FUNCTIONS["torch." + _name] = NodeKind.POOL
FUNCTIONS[_F + "pixel_shuffle"] = NodeKind.RESHAPE
for _name in ("rearrange", "repeat", "pack", "unpack"):
    FUNCTIONS["einops." + _name] = NodeKind.RESHAPE
FUNCTIONS["einops.reduce"] = NodeKind.POOL
FUNCTIONS["einops.einsum"] = NodeKind.OTHER
FUNCTIONS[_F + "dropout"] = NodeKind.OTHER  # marked pass-through below

PASSTHROUGH_FUNCTIONS = frozenset(
    {_F + "dropout", _F + "dropout2d", _F + "dropout1d", _F + "dropout3d", "torch.dropout"}
)

# Tensor methods -> kind. Methods that return non-tensors are listed apart.
TENSOR_METHODS: dict[str, NodeKind] = {}
for _name in (
    "relu",
    "relu_",
    "sigmoid",
    "sigmoid_",
    "tanh",
    "tanh_",
    "clamp",
    "clamp_",
    "clip",
    "clip_",
    "hardswish",
    "hardswish_",
):
    TENSOR_METHODS[_name] = NodeKind.ACTIVATION
for _name in (
    "view",
    "reshape",
    "flatten",
    "permute",
    "transpose",
    "squeeze",
    "unsqueeze",
    "contiguous",
    "view_as",
    "reshape_as",
    "expand",
    "expand_as",
    "narrow",
    "t",
    "movedim",
    "unflatten",
    "chunk",
    "split",
    "unbind",
):
    TENSOR_METHODS[_name] = NodeKind.RESHAPE
for _name in ("mean", "sum", "amax", "amin", "max", "min"):
    TENSOR_METHODS[_name] = NodeKind.POOL
for _name in ("add", "add_", "sub", "sub_"):
    TENSOR_METHODS[_name] = NodeKind.ADD
for _name in ("mul", "mul_"):
    TENSOR_METHODS[_name] = NodeKind.MUL

NON_TENSOR_METHODS = frozenset(
    {
        "size",
        "dim",
        "numel",
        "item",
        "tolist",
        "type",
        "nelement",
        "is_contiguous",
        "get_device",
        "stride",
        "element_size",
    }
)
NON_TENSOR_ATTRIBUTES = frozenset(
    {"shape", "ndim", "dtype", "device", "is_cuda", "requires_grad", "layout"}
)
# Tensor methods that hand back several tensors.
SPLITTING_METHODS = frozenset({"chunk", "split", "unbind"})


# Interpolation modes whose every output value is a weighted average of one channel's input
# values (weights summing to one): a BatchNorm's per-channel scale and shift pass through.
AVERAGING_MODES = frozenset(
    {"nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"}
)
# Functions that resample, with the mode they use when the call does not say.
INTERPOLATIONS = {
    "torch.nn.functional.interpolate": "nearest",
    "torch.nn.functional.upsample": "nearest",
    "torch.nn.functional.upsample_nearest": "nearest",
    "torch.nn.functional.upsample_bilinear": "bilinear",
}


def torch_names(module: str) -> frozenset[str]:
    """The names under a torch module that the catalogue knows (classes and functions)."""
    prefix = module + "."
    return frozenset(
        name[len(prefix) :]
        for name in [*CATALOGUE, *FUNCTIONS]
        if name.startswith(prefix) and "." not in name[len(prefix) :]
    )
