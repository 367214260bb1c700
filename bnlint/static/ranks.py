"""How many dimensions a tensor has, where the code says so.

A Linear transforms the last dimension and a BatchNorm1d normalises dimension 1: the two are
the same axis only on a 2-D tensor, so a fold between them needs to know the Linear's input
is 2-D. The model's input rank is never known statically, but most heads make it plain: a
convolution gives (N, C, *spatial), `torch.flatten(x, 1)` or `x.view(n, -1)` gives (N, F), a
mean over the spatial axes drops them. Anything else is None: unknown.
"""

from __future__ import annotations

from bnlint.ftypes import LayerAttrs, NodeKind
from bnlint.static.values import Const, Seq, Value

# Ops that keep the rank of their (first) input.
_SAME_RANK_KINDS = frozenset(
    {
        NodeKind.ACTIVATION,
        NodeKind.POOL,
        NodeKind.BATCHNORM,
        NodeKind.LINEAR,
        NodeKind.FUNCTIONAL_BN,
    }
)
_SAME_RANK_METHODS = frozenset(
    {
        "contiguous",
        "permute",
        "transpose",
        "t",
        "movedim",
        "swapaxes",
        "expand",
        "narrow",
        "chunk",
        "split",
        "clone",
        "detach",
        "float",
        "half",
        "double",
        "to",
        "type_as",
        "neg",
        "abs",
        "exp",
        "pow",
        "sqrt",
        "softmax",
        "sigmoid",
        "tanh",
        "relu",
        "relu_",
        "sigmoid_",
        "tanh_",
        "clamp",
        "clamp_",
        "clip",
        "clip_",
        "hardswish",
        "hardswish_",
        "mul",
        "mul_",
        "add",
        "add_",
        "sub",
        "sub_",
        "div",
        "div_",
    }
)
_REDUCTIONS = frozenset({"mean", "sum", "amax", "amin", "max", "min"})


def of_layer(kind: NodeKind | None, attrs: LayerAttrs, input_rank: int | None) -> int | None:
    """The output rank of a module call."""
    if kind in (NodeKind.CONV, NodeKind.CONV_TRANSPOSE) and attrs.spatial_dims is not None:
        return attrs.spatial_dims + 2
    if kind is NodeKind.BATCHNORM and input_rank is None and attrs.spatial_dims in (2, 3):
        return attrs.spatial_dims + 2
    if kind in _SAME_RANK_KINDS:
        return input_rank
    return None


def of_module(short_name: str, args: dict[str, Value], input_rank: int | None) -> int | None:
    """The output rank of a torch module that is not a layer (Flatten, pooling...)."""
    if short_name in ("Rearrange", "Reduce"):
        return _pattern_rank(args.get("pattern"))
    if short_name == "Flatten":
        start, end = (
            _integer(args.get("start_dim", Const(1))),
            _integer(args.get("end_dim", Const(-1))),
        )
        return start + 1 if start is not None and start >= 0 and end == -1 else None
    return None


def of_function(
    name: str,
    kind: NodeKind | None,
    args: list[Value],
    kwargs: dict[str, Value],
    input_rank: int | None,
) -> int | None:
    """The output rank of `torch.<name>` / `F.<name>` applied to a tensor of `input_rank`."""
    if name in ("rearrange", "reduce", "repeat"):  # einops: the pattern says
        return _pattern_rank(_argument(args, kwargs, 1, "pattern", Const(None)))
    if name == "flatten":
        start = _integer(_argument(args, kwargs, 1, "start_dim", Const(0)))
        end = _integer(_argument(args, kwargs, 2, "end_dim", Const(-1)))
        return start + 1 if start is not None and start >= 0 and end == -1 else None
    if name in ("reshape", "view"):
        return _shape_rank(args[1:], kwargs.get("shape"))
    if name in _REDUCTIONS:
        return _reduced(
            input_rank, _argument(args, kwargs, 1, "dim", Const(None)), kwargs.get("keepdim")
        )
    if name in ("cat", "concat", "concatenate", "add", "sub", "subtract", "mul", "multiply"):
        return input_rank
    if name in ("unsqueeze",):
        return input_rank + 1 if input_rank is not None else None
    if name == "unbind":
        return input_rank - 1 if input_rank else None
    if name == "linear":
        return input_rank
    if name.startswith("conv") and name[-2:-1].isdigit():  # conv2d, conv_transpose3d
        return int(name[-2]) + 2
    if kind in (NodeKind.ACTIVATION, NodeKind.POOL) or name in _SAME_RANK_METHODS:
        return input_rank
    return None


def of_method(
    name: str, args: list[Value], kwargs: dict[str, Value], input_rank: int | None
) -> int | None:
    """The output rank of `tensor.<name>(...)`."""
    if name == "flatten":
        start = _integer(_argument(args, kwargs, 0, "start_dim", Const(0)))
        end = _integer(_argument(args, kwargs, 1, "end_dim", Const(-1)))
        return start + 1 if start is not None and start >= 0 and end == -1 else None
    if name in ("view", "reshape"):
        return _shape_rank(args, kwargs.get("shape"))
    if name in _REDUCTIONS:
        return _reduced(
            input_rank, _argument(args, kwargs, 0, "dim", Const(None)), kwargs.get("keepdim")
        )
    if name == "unsqueeze":
        return input_rank + 1 if input_rank is not None else None
    if name == "unbind":
        return input_rank - 1 if input_rank else None
    if name == "squeeze" and (args or "dim" in kwargs) and input_rank is not None:
        return None  # squeezes only a dimension of size 1, which the analysis cannot see
    if name in _SAME_RANK_METHODS:
        return input_rank
    return None


def flattens_leading(
    name: str,
    args: list[Value],
    kwargs: dict[str, Value],
    input_rank: int | None,
    last_size: int | None,
) -> bool | None:
    """Whether `tensor.<name>(...)` merges every axis but the last into one, leaving (N, F)
    with the input's last axis whole (LayerAttrs.flattens_leading): True when certain, False
    when it may (the input's rank or last size is not known), None when it does not.
    `last_size`: the input's last axis, when the analysis knows it (a Linear's features)."""
    if name == "flatten":
        start = _integer(_argument(args, kwargs, 0, "start_dim", Const(0)))
        end = _integer(_argument(args, kwargs, 1, "end_dim", Const(-1)))
        if start != 0 or end is None or (end < 0 and end != -2):
            return None
        if end == -2 or input_rank == end + 2:
            return True
        return False if input_rank is None else None
    if name in ("view", "reshape") and _shape_rank(args, kwargs.get("shape")) == 2:
        shape = kwargs.get("shape", args[0] if len(args) == 1 else Seq(tuple(args)))
        last = _integer(shape.items[-1]) if isinstance(shape, Seq) else None
        if last is None or last_size is None:
            return False
        return True if last == last_size else None
    return None


def reordered_axes(
    name: str, args: list[Value], kwargs: dict[str, Value], rank: int | None
) -> tuple[tuple[tuple[int, int], ...], int | None] | None:
    """The axes `tensor.<name>(...)` moves, each (output axis, input axis), when it only
    reorders them (LayerAttrs.moves_axes), and the tensor's rank where known: `transpose(1,
    2)` -> ((1, 2), (2, 1)), `permute(0, 2, 1)` -> ((1, 2), (2, 1)) of a 3-D tensor,
    `contiguous()` -> (). Axes stay as written (negative from the end) unless `rank` is
    known; None for any other op or axes not known."""
    if name == "contiguous":
        return (), rank
    if name == "rearrange":  # einops.rearrange(x, pattern): args after the tensor
        return rearranged_axes(_argument(args, kwargs, 0, "pattern", Const(None)), rank)
    if name in ("transpose", "transpose_", "swapaxes", "swapdims"):
        first = _integer(_argument(args, kwargs, 0, "dim0", kwargs.get("axis0", Const(None))))
        second = _integer(_argument(args, kwargs, 1, "dim1", kwargs.get("axis1", Const(None))))
        if first is None or second is None:
            return None
        if rank is not None:
            first, second = first % rank, second % rank
        return ((first, second), (second, first)), rank
    if name == "permute":
        written = args[0] if len(args) == 1 and isinstance(args[0], Seq) else Seq(tuple(args))
        dims = kwargs.get("dims", written)
        if not isinstance(dims, Seq) or not dims.complete:
            return None
        order = [_integer(d) for d in dims.items]
        if not order or any(d is None for d in order):
            return None
        size = len(order)
        known = [d % size for d in order if d is not None]
        return tuple((out, taken) for out, taken in enumerate(known) if out != taken), size
    return None


def rearranged_axes(
    pattern: Value | None, rank: int | None
) -> tuple[tuple[tuple[int, int], ...], int | None] | None:
    """What an einops pattern (`rearrange(x, "b c h w -> b h w c")`, `Rearrange(...)`) does
    when it only reorders axes: the axes it moves, each (output axis, input axis), and the
    rank. None for a pattern that groups, splits, adds or drops axes, or whose `...` spans
    axes the rank does not tell."""
    sides = _pattern_sides(pattern)
    if sides is None:
        return None
    left, right = sides
    if sorted(left) != sorted(right) or len(set(left)) != len(left):
        return None
    if any(not name.isidentifier() for name in left if name != "..."):
        return None  # a group `(h w)`, a literal `1`: not a reordering
    if "..." in left:
        spanned = None if rank is None else rank - (len(left) - 1)
        if spanned is None or spanned < 0:
            return None
        left, right = _spread(left, spanned), _spread(right, spanned)
    order = [left.index(name) for name in right]
    return tuple((out, taken) for out, taken in enumerate(order) if out != taken), len(order)


def _pattern_sides(pattern: Value | None) -> tuple[list[str], list[str]] | None:
    if not isinstance(pattern, Const) or not isinstance(pattern.value, str):
        return None
    left, arrow, right = pattern.value.partition("->")
    return (left.split(), right.split()) if arrow else None


def _pattern_rank(pattern: Value | None) -> int | None:
    """The rank an einops pattern's output has: its right side's axes and groups, unless
    it has `...`."""
    sides = _pattern_sides(pattern)
    if sides is None or "..." in sides[1]:
        return None
    depth, count = 0, 0
    for token in sides[1]:
        if depth == 0:
            count += 1
        depth += token.count("(") - token.count(")")
    return count if depth == 0 else None


def _spread(names: list[str], spanned: int) -> list[str]:
    at = names.index("...")
    return [*names[:at], *(f"...{i}" for i in range(spanned)), *names[at + 1 :]]


def common(ranks: list[int | None]) -> int | None:
    """The rank of a value that is one of several tensors (a merge, a branch)."""
    known = set(ranks)
    return known.pop() if len(known) == 1 else None


def _shape_rank(args: list[Value], shape: Value | None) -> int | None:
    """`view(n, -1)`: two dimensions; `view((n, -1))`: the tuple's length."""
    if shape is None and len(args) == 1 and isinstance(args[0], Seq):
        shape = args[0]
    if isinstance(shape, Seq):
        return len(shape.items) if shape.complete else None
    if shape is not None or not args:
        return None
    if len(args) == 1 and not isinstance(args[0], Const):
        return None  # one value that may be a whole shape (`x.view(shape)`)
    return len(args)


def _reduced(rank: int | None, dim: Value, keepdim: Value | None) -> int | None:
    if isinstance(keepdim, Const) and keepdim.value is True:
        return rank
    if keepdim is not None and not isinstance(keepdim, Const):
        return None
    if rank is None:
        return None
    if isinstance(dim, Const) and dim.value is None:
        return 0
    if isinstance(dim, Const) and isinstance(dim.value, int):
        return rank - 1
    if isinstance(dim, Const) and isinstance(dim.value, tuple):
        return rank - len(dim.value)
    if isinstance(dim, Seq) and dim.complete:
        return rank - len(dim.items)
    return None


def _argument(
    args: list[Value], kwargs: dict[str, Value], index: int, name: str, default: Value
) -> Value:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _integer(value: Value | None) -> int | None:
    if (
        isinstance(value, Const)
        and isinstance(value.value, int)
        and not isinstance(value.value, bool)
    ):
        return value.value
    return None
