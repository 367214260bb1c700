"""What a module or a torch function call is, in the LayerGraph vocabulary the static half uses.

The names mirror bnlint/static/torch_api.py so that both builders give the matcher the same
kinds; the runtime sees real objects, so it classifies by isinstance and by the function's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvTransposeNd
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm
from torch.nn.utils.weight_norm import WeightNorm

from bnlint.ftypes import LayerAttrs, ModuleFrame, NodeKind
from bnlint.runtime.tensors import tensors
from bnlint.static.torch_api import ACTIVATIONS, RESHAPES

PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
# Wrappers whose forward only hands the input to `.module` (on a CPU, or in one process).
PARALLEL_WRAPPERS = (nn.DataParallel, nn.parallel.DistributedDataParallel)

_ACTIVATION_MODULES = tuple(getattr(nn, name) for name in ACTIVATIONS)
_POOL_MODULES = (
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
)
_RESHAPE_MODULES = tuple(getattr(nn, name) for name in RESHAPES)


def class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def type_name(cls: type) -> str:
    """The public name of a torch class ("torch.nn.Conv2d"), else the qualified class name."""
    if cls.__module__.startswith("torch.nn.modules."):
        return f"torch.nn.{cls.__qualname__}"
    return class_name(cls)


def frame(name: str, module: nn.Module) -> ModuleFrame:
    return ModuleFrame(
        name=name,
        class_name=class_name(type(module)),
        is_plain_container=type(module) in PLAIN_CONTAINERS,
    )


def has_torch_forward(module: nn.Module) -> bool:
    """Whether the forward that runs is torch.nn's own, not a subclass's.

    Only torch.nn's layer classes count: torch.ao's QAT layers (a Conv2d that fake-quantises
    its weight, a ConvBn2d that normalises inside) replace forward just as a user subclass can.
    """
    for cls in type(module).__mro__:
        if "forward" in cls.__dict__:
            return cls.__module__.startswith("torch.nn.modules.")
    return True


def is_scripted_batchnorm(module: nn.Module) -> bool:
    """A BatchNorm compiled by `torch.jit.script`: the module hooks that record a model's
    calls never run inside TorchScript, so it can be neither seen nor folded, only named."""
    return isinstance(module, torch.jit.ScriptModule) and "BatchNorm" in str(
        getattr(module, "original_name", "")
    )


def is_plain_batchnorm(module: nn.Module) -> bool:
    """A BatchNorm whose forward is torch's own: only normalisation, replaceable by Identity.

    A subclass that replaces forward may do more than normalise, so its inner ops are
    recorded instead of being hidden behind one node.
    """
    return isinstance(module, _BatchNorm) and has_torch_forward(module)


def module_kind(module: nn.Module) -> NodeKind | None:
    """The kind of node one call of `module` is, or None when its inner ops are recorded.

    Pass-through modules (Identity, Dropout) also return None; see `is_passthrough`. The kind
    depends on the class alone, so it is worked out once per class.
    """
    cls = type(module)
    if cls not in _KINDS:
        _KINDS[cls] = _class_kind(module)
    return _KINDS[cls]


_KINDS: dict[type, NodeKind | None] = {}


def _class_kind(module: nn.Module) -> NodeKind | None:
    if isinstance(module, _BatchNorm):
        return NodeKind.BATCHNORM if is_plain_batchnorm(module) else None
    if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) and not has_torch_forward(module):
        # Its own forward runs: its ops are recorded, and its convolution becomes the layer's
        # node only if it uses the weight as it is (see `own_layer_call`).
        return None
    if isinstance(module, _ConvTransposeNd):
        return NodeKind.CONV_TRANSPOSE
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return NodeKind.CONV
    if isinstance(module, nn.Linear):
        return NodeKind.LINEAR
    if isinstance(module, _ACTIVATION_MODULES):
        return NodeKind.ACTIVATION
    if isinstance(module, _POOL_MODULES):
        return NodeKind.POOL
    if isinstance(module, _RESHAPE_MODULES):
        return NodeKind.RESHAPE
    if isinstance(module, (nn.Identity, _DropoutNd) + PLAIN_CONTAINERS + PARALLEL_WRAPPERS):
        return None
    if type(module).__module__.startswith("torch."):
        # Any other torch layer (LayerNorm, Upsample, MultiheadAttention...) is one opaque op,
        # as the static half treats it.
        return NodeKind.OTHER
    return None


def own_layer_call(
    module: nn.Module, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> NodeKind | None:
    """The layer kind when this functional call is `module`'s own layer computation: the
    functional form of its class applied with its weight and bias objects as they are (a
    Conv2d subclass that pads its input itself, then calls F.conv2d(x, self.weight,
    self.bias, ...)). None for anything else: a weight computed from the module's own (weight
    standardisation, a fake-quantised copy, a slice) means a fold into it cannot be promised.
    """
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    if weight is not getattr(module, "weight", None) or bias is not getattr(module, "bias", None):
        return None
    if isinstance(module, nn.Linear):
        return NodeKind.LINEAR if name == "linear" else None
    if not isinstance(module, nn.modules.conv._ConvNd):
        return None
    dims = len(module.kernel_size)
    if isinstance(module, _ConvTransposeNd):
        return NodeKind.CONV_TRANSPOSE if name == f"conv_transpose{dims}d" else None
    return NodeKind.CONV if name == f"conv{dims}d" else None


def call_attrs(
    module: nn.Module, kind: NodeKind, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> LayerAttrs:
    """`layer_attrs` of a layer that runs its own forward, with the padding and groups of the
    convolution it really made: a subclass may pass other values than its attributes."""
    attrs = layer_attrs(module)
    if kind is not NodeKind.CONV or not isinstance(module, nn.modules.conv._ConvNd):
        return attrs
    padding = args[4] if len(args) > 4 else kwargs.get("padding", 0)
    groups = args[6] if len(args) > 6 else kwargs.get("groups", 1)
    return replace(attrs, pads=_call_pads(padding, module), groups=groups)


def _call_pads(padding: Any, conv: nn.modules.conv._ConvNd) -> bool:
    """Whether a convolution with this padding argument pads its input."""
    if padding == "valid":
        return False
    if padding == "same":
        return any(d * (k - 1) > 0 for d, k in zip(conv.dilation, conv.kernel_size, strict=True))
    values = padding if isinstance(padding, (tuple, list)) else (padding,)
    return any(p > 0 for p in values if isinstance(p, int))


def is_fold_layer(module: nn.Module) -> bool:
    """A module whose tensors a fold may rewrite: a Conv/ConvTranspose/Linear or a BatchNorm."""
    return isinstance(module, (nn.modules.conv._ConvNd, nn.Linear, _BatchNorm))


def is_passthrough(module: nn.Module) -> bool:
    """Identity, and Dropout in eval mode, hand their input on: no node, like the static half."""
    if isinstance(module, _DropoutNd):
        return not module.training
    return isinstance(module, nn.Identity)


def layer_attrs(
    module: nn.Module, known: dict[tuple[Any, ...], LayerAttrs] | None = None
) -> LayerAttrs:
    """Constructor facts of a Conv/ConvTranspose/Linear/BatchNorm module.

    `known` holds the LayerAttrs made before, by the facts they were made from: most layers
    of a model share theirs (every 3x3 convolution of one width), and reading the facts costs
    less than making the frozen record."""
    facts = _facts(module)
    try:
        attrs = None if known is None else known.get(facts)
    except TypeError:  # a value that cannot be a key (a list): made for this module alone
        return _attrs_from(facts)
    if attrs is None:
        attrs = _attrs_from(facts)
        if known is not None:
            known[facts] = attrs
    return attrs


def _facts(module: nn.Module) -> tuple[Any, ...]:
    """What `layer_attrs` reads of `module`: its class, which form of record, the values."""
    cls = type(module)
    if isinstance(module, _BatchNorm):
        return (
            cls,
            "batchnorm",
            module.num_features,
            _bn_dims(module),
            module.affine,
            module.track_running_stats,
        )
    if isinstance(module, nn.Linear):
        return (
            cls,
            "linear",
            module.in_features,
            module.out_features,
            module.bias is not None,
            weight_derived(module),
        )
    if isinstance(module, nn.modules.conv._ConvNd):
        return (
            cls,
            "conv",
            module.in_channels,
            module.out_channels,
            len(module.kernel_size),
            module.groups,
            _pads(module),
            module.bias is not None,
            weight_derived(module),
        )
    if isinstance(module, nn.Upsample):
        return (cls, "upsample", module.mode in _AVERAGING_MODES)
    return (cls, "other")


def _attrs_from(facts: tuple[Any, ...]) -> LayerAttrs:
    cls, form, *values = facts
    name = type_name(cls)
    if form == "batchnorm":
        num_features, spatial_dims, affine, track_running_stats = values
        return LayerAttrs(
            num_features=num_features,
            spatial_dims=spatial_dims,
            affine=affine,
            track_running_stats=track_running_stats,
            type_name=name,
        )
    if form == "linear":
        in_features, out_features, bias, derived = values
        return LayerAttrs(
            in_channels=in_features,
            out_channels=out_features,
            groups=1,
            pads=False,
            bias=bias,
            type_name=name,
            weight_derived=derived,
        )
    if form == "conv":
        in_channels, out_channels, spatial_dims, groups, pads, bias, derived = values
        return LayerAttrs(
            in_channels=in_channels,
            out_channels=out_channels,
            spatial_dims=spatial_dims,
            groups=groups,
            pads=pads,
            bias=bias,
            type_name=name,
            weight_derived=derived,
        )
    if form == "upsample":
        return LayerAttrs(type_name=name, keeps_channel_affine=values[0])
    return LayerAttrs(type_name=name)


# Interpolation modes whose every output value is a weighted average of one channel's input
# values (weights summing to one), so that a per-channel scale and shift pass through.
_AVERAGING_MODES = frozenset(
    {"nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"}
)
_INTERPOLATIONS = {
    "interpolate": None,
    "upsample": None,
    "upsample_nearest": "nearest",
    "upsample_bilinear": "bilinear",
}


def op_attrs(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> LayerAttrs | None:
    """Facts about a functional op that the fold rules use: how an interpolation treats a
    channel, whether a reshape merges the leading axes."""
    if name in _LEADING_FLATTENS:
        return _FLATTENS_LEADING if _flattens_leading(args, output) else None
    if name in _REORDERINGS:
        return _reordering(name, args, kwargs)
    if name.startswith(
        (
            "upsample_nearest",
            "upsample_bilinear",
            "upsample_linear",
            "upsample_trilinear",
            "upsample_bicubic",
            "_upsample_nearest_exact",
        )
    ):
        return LayerAttrs(keeps_channel_affine=True)  # an ATen interpolation kernel itself
    if name not in _INTERPOLATIONS:
        return None
    mode = _INTERPOLATIONS[name] or (args[3] if len(args) > 3 else kwargs.get("mode", "nearest"))
    return LayerAttrs(keeps_channel_affine=mode in _AVERAGING_MODES)


# Reshapes that keep the elements in row-major order of their input: merging every axis but
# the last into one leaves each element's index on the last axis as it was.
_LEADING_FLATTENS = frozenset({"flatten", "reshape", "view", "view_as", "reshape_as"})
_FLATTENS_LEADING = LayerAttrs(flattens_leading=True, rank=2)


# Reshapes that only reorder the axes of their input (or copy it as it is).
_REORDERINGS = frozenset(
    {"transpose", "transpose_", "swapaxes", "swapdims", "permute", "contiguous", "t", "t_"}
)


def _reordering(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LayerAttrs | None:
    """Which axes a transpose or permute moves (LayerAttrs.moves_axes), on the tensor it
    was called with."""
    source = args[0] if args else kwargs.get("input")
    if not isinstance(source, torch.Tensor):
        return None
    rank = source.dim()
    rest = list(args[1:])
    try:
        if name == "contiguous":
            return LayerAttrs(moves_axes=(), rank=rank)
        if name in ("t", "t_"):
            pair = (0, 1) if rank == 2 else None
        elif name == "permute":
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
            dims = list(dims or kwargs.get("dims", ()))
            if len(dims) != rank:
                return None
            order = [int(d) % rank for d in dims]
            moves = tuple((out, taken) for out, taken in enumerate(order) if out != taken)
            return LayerAttrs(moves_axes=moves, rank=rank)
        else:
            first = rest[0] if rest else kwargs.get("dim0", kwargs.get("axis0"))
            second = rest[1] if len(rest) > 1 else kwargs.get("dim1", kwargs.get("axis1"))
            if not isinstance(first, int) or not isinstance(second, int):
                return None
            pair = (first % rank, second % rank)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if pair is None:
        return None
    return LayerAttrs(moves_axes=((pair[0], pair[1]), (pair[1], pair[0])), rank=rank)


def _flattens_leading(args: tuple[Any, ...], output: Any) -> bool:
    """Whether the reshape made an (N, F) tensor of an input of three or more dimensions whose
    last axis has F entries: a Linear's features stay whole, on axis 1."""
    source = args[0] if args else None
    return (
        isinstance(source, torch.Tensor)
        and isinstance(output, torch.Tensor)
        and source.dim() >= 3
        and output.dim() == 2
        and output.shape[-1] == source.shape[-1]
    )


def weight_derived(layer: nn.Module) -> str | None:
    """Why the layer's weight is computed from other tensors before each call, as the static
    half reads `weight_norm(conv)`: a parametrization, or the hook the older weight_norm and
    spectral_norm install. None when it is a plain parameter (other hooks are judged when a
    fold is made)."""
    if parametrize.is_parametrized(layer):
        parametrized = getattr(layer, "parametrizations", {})
        names = ", ".join(str(name) for name in parametrized)
        return f"its {names} is computed by a parametrization before each call"
    for hook in layer._forward_pre_hooks.values():
        if isinstance(hook, (WeightNorm, SpectralNorm)):
            return f"its {hook.name} is recomputed by {type(hook).__name__} before each call"
    return None


def _bn_dims(module: _BatchNorm) -> int | None:
    for dims, cls in ((1, nn.BatchNorm1d), (2, nn.BatchNorm2d), (3, nn.BatchNorm3d)):
        if isinstance(module, cls):
            return dims
    return None  # SyncBatchNorm and direct _BatchNorm subclasses accept any dimensionality


def _pads(conv: nn.modules.conv._ConvNd) -> bool:
    """Whether the conv adds zeros around its input. Reflected, replicated or circular
    padding copies input values, which a per-channel scale and shift reach as they reach the
    rest of the input: no fold into the conv is blocked by it."""
    return conv.padding_mode == "zeros" and _call_pads(conv.padding, conv)


# --- torch functions and tensor methods, by name -------------------------------------------

_ACTIVATION_FUNCTIONS = frozenset(
    {
        "relu",
        "relu_",
        "relu6",
        "leaky_relu",
        "leaky_relu_",
        "elu",
        "elu_",
        "selu",
        "selu_",
        "celu",
        "celu_",
        "gelu",
        "silu",
        "mish",
        "hardswish",
        "hardswish_",
        "hardsigmoid",
        "hardsigmoid_",
        "sigmoid",
        "sigmoid_",
        "tanh",
        "tanh_",
        "softplus",
        "hardtanh",
        "hardtanh_",
        "prelu",
        "rrelu",
        "rrelu_",
        "glu",
        "logsigmoid",
        "threshold",
        "threshold_",
        "clamp",
        "clamp_",
        "clip",
        "clip_",
        "clamp_min",
        "clamp_min_",
        "clamp_max",
        "clamp_max_",
        "softsign",
        "tanhshrink",
        "softshrink",
        "hardshrink",
    }
)
_POOL_FUNCTIONS = frozenset(
    {
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
        "lp_pool1d",
        "lp_pool2d",
        "lp_pool3d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "adaptive_max_pool1d_with_indices",
        "adaptive_max_pool2d_with_indices",
        "fractional_max_pool2d",
        "fractional_max_pool3d",
        "mean",
        "sum",
        "amax",
        "amin",
        "max",
        "min",
    }
)
_RESHAPE_FUNCTIONS = frozenset(
    {
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "flatten",
        "unflatten",
        "permute",
        "transpose",
        "transpose_",
        "t",
        "t_",
        "squeeze",
        "squeeze_",
        "unsqueeze",
        "unsqueeze_",
        "contiguous",
        "expand",
        "expand_as",
        "narrow",
        "movedim",
        "moveaxis",
        "swapaxes",
        "swapdims",
        "chunk",
        "split",
        "unbind",
        "tensor_split",
        "__getitem__",
        "select",
        "pixel_shuffle",
        "pixel_unshuffle",
        "channel_shuffle",
        "__iter__",
        "flip",
        "roll",
        "T",
        "mT",
        "H",
        "mH",
    }
)
_ADD_FUNCTIONS = frozenset(
    {
        "add",
        "add_",
        "__add__",
        "__radd__",
        "__iadd__",
        "sub",
        "sub_",
        "__sub__",
        "__rsub__",
        "__isub__",
        "subtract",
        "subtract_",
    }
)
_MUL_FUNCTIONS = frozenset(
    {"mul", "mul_", "__mul__", "__rmul__", "__imul__", "multiply", "multiply_"}
)
_CAT_FUNCTIONS = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack"})
_CONV_FUNCTIONS = frozenset(
    {
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "linear",
        "convolution",
        "_convolution",
    }
)
# Dropout functions and whether they train when `training` is not given.
_DROPOUT_TRAINS_BY_DEFAULT = {
    "dropout": True,
    "dropout1d": True,
    "dropout2d": True,
    "dropout3d": True,
    "dropout_": True,
    "alpha_dropout": False,
    "feature_alpha_dropout": False,
}


def function_name(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "__get__":  # a tensor property (x.T, x.data): name it by the property
        return getattr(getattr(func, "__self__", None), "__name__", name)
    return name


def function_label(func: Callable[..., Any]) -> str:
    """How a message names the op: "F.relu", "torch.cat", "Tensor.relu_"."""
    name = function_name(func)
    owner = getattr(func, "__module__", None) or ""
    if owner in ("torch.nn.functional", "torch._C._nn"):  # F.linear, F.gelu are builtins
        return f"F.{name}"
    if getattr(func, "__objclass__", None) is not None or owner == "torch._tensor":
        return f"Tensor.{name}"
    return f"torch.{name}"


def function_kind(name: str, tensor_operands: int) -> NodeKind:
    """The kind of a call of the torch function named `name` (outside any layer module).

    `tensor_operands` counts the tensors among its arguments: add/sub/mul merge branches only
    when two tensors meet; with a Python number they are a plain op.
    """
    if name in _ACTIVATION_FUNCTIONS:
        return NodeKind.ACTIVATION
    if name in _POOL_FUNCTIONS:
        return NodeKind.POOL
    if name in _RESHAPE_FUNCTIONS:
        return NodeKind.RESHAPE
    if name in _CAT_FUNCTIONS:
        return NodeKind.CAT
    if name in _ADD_FUNCTIONS:
        return NodeKind.ADD if tensor_operands >= 2 else NodeKind.OTHER
    if name in _MUL_FUNCTIONS:
        return NodeKind.MUL if tensor_operands >= 2 else NodeKind.OTHER
    if name in _CONV_FUNCTIONS:
        return NodeKind.FUNCTIONAL_CONV
    if name == "batch_norm":
        return NodeKind.FUNCTIONAL_BN
    return NodeKind.OTHER


# Ops that read only the shape, dtype or device of these tensors, never their values.
_METADATA_ONLY = frozenset(
    {
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "rand_like",
        "randn_like",
        "randint_like",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
    }
)
# Ops that read the values of their first operand and only the metadata of the others.
_METADATA_OF_OTHERS = frozenset({"to", "type_as", "view_as", "reshape_as", "expand_as"})


def value_operands(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    """The tensors whose values a call of the torch function `name` reads."""
    if name in _METADATA_ONLY:
        return []
    if name in _METADATA_OF_OTHERS:
        return tensors(args[:1])
    return tensors((args, kwargs))


def is_dropout_in_eval(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether this dropout call returns its input unchanged: no node, like the static half's
    pass-through functions.

    `F.dropout(x, p)` leaves `training=True`, so it drops at inference too, whatever the
    module's mode: a random mask multiplies every value, including a BatchNorm's shift, so it
    is an op a fold cannot pass through (a BatchNorm after it is XBN102). Only a call whose
    training flag is false here - `training=False`, or `training=self.training` in the eval
    mode bnlint folds in - is the identity.
    """
    if name not in _DROPOUT_TRAINS_BY_DEFAULT:
        return False
    default = _DROPOUT_TRAINS_BY_DEFAULT[name]
    training = args[2] if len(args) > 2 else kwargs.get("training", kwargs.get("train", default))
    return not training


# Calls that hand tensor values to Python (a truth value, a number, a list) or that make a
# tensor whose size depends on the values: after one, forward() may take other paths on other
# inputs.
_VALUE_READS = frozenset(
    {
        "__bool__",
        "item",
        "tolist",
        "__int__",
        "__float__",
        "__index__",
        "__complex__",
        "numpy",
        "__array__",
        "__format__",
        "equal",
        "allclose",
        "is_nonzero",
        "nonzero",
        "argwhere",
        "masked_select",
        "unique",
        "unique_consecutive",
        "bincount",
    }
)


def reads_values(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether this call lets the input's values steer what forward() does next."""
    if name in _VALUE_READS:
        return True
    if name == "where":
        return len(args) + len(kwargs) == 1  # torch.where(condition) is nonzero()
    if name == "__getitem__" and len(args) > 1:
        index = args[1] if isinstance(args[1], (tuple, list)) else (args[1],)
        return any(t.dtype in (torch.bool, torch.uint8) for t in tensors(index))
    return False
