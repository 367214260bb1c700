"""Folds through a merge, at runtime: what the capture records about a concatenation or a sum,
and how one BatchNorm is split between the layers whose outputs it normalises.

    bn(cat([a(x), b(y)], dim=1))  ->  a absorbs scale[:Ca], shift[:Ca]; b the rest
    bn(a(x) + b(y))               ->  a and b absorb scale; one of them absorbs shift

Which folds are made is the matcher's decision (the same rules as the static half); this
module only records the facts the matcher reads and carries out what it decided, refusing a
fold that is unsafe on the particular model object, as single-layer folds are refused.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from bnlint import rules
from bnlint.ftypes import Direction, FoldPair, LayerAttrs, LayerCall, Merge, NodeKind, Skip, Status
from bnlint.runtime.apply import (
    FoldLayer,
    Sharing,
    _channels,
    _invalid_statistics,
    _layer_not_rewritable,
    _scale_outputs,
    bn_affine,
    fold_layer,
    settle,
)
from bnlint.runtime.paths import submodule
from bnlint.runtime.tensors import tensors

# Every operand with coefficient 1; sub, rsub and an alpha make a difference or a scaled term.
_PLAIN_SUMS = frozenset({"add", "add_", "__add__", "__radd__", "__iadd__"})
# The axis torch.hstack / vstack / dstack join (for inputs of two or more dimensions).
_STACK_AXES = {"hstack": 1, "vstack": 0, "dstack": 2}


def merge_facts(
    kind: NodeKind, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> tuple[LayerAttrs, list[torch.Tensor]]:
    """The attributes of a cat/add node and its operand tensors, in order (repeats kept)."""
    if kind is NodeKind.CAT:
        operands = tensors(args[0] if args else kwargs.get("tensors", ()))
        rank = output.dim() if isinstance(output, torch.Tensor) else None
        written = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis"))
        axis = _STACK_AXES.get(name, 0) if written is None else _integer(written)
        if name == "hstack" and rank == 1:
            axis = 0
        joins_existing_axis = name != "stack"
        return LayerAttrs(
            axis=axis if joins_existing_axis else None,
            rank=rank,
            plain_merge=joins_existing_axis,
            operands=len(operands),
        ), operands
    operands = [a for a in (*args[:2], kwargs.get("other")) if isinstance(a, torch.Tensor)]
    plain = name in _PLAIN_SUMS and kwargs.get("alpha", 1) == 1
    return LayerAttrs(plain_merge=plain, operands=len(operands)), operands


def _integer(value: Any) -> int | None:
    try:
        return operator.index(value)
    except TypeError:
        return None  # a named dimension


def fold_through_merge(model: nn.Module, pair: FoldPair, sharing: Sharing) -> Skip | None:
    """Fold `pair.bn` into every layer of `pair.producers` (mutating `model`), or return why
    this model object does not allow it (nothing is changed then)."""
    assert pair.merge is not None and pair.direction is Direction.CONV_BN
    bn = submodule(model, pair.bn.label)
    layers = [fold_layer(model, call.label) for call in pair.producers]
    problem = _refusal(pair, bn, layers, sharing)
    if problem is not None:
        return problem
    assert isinstance(bn, _BatchNorm)  # _refusal says why when it is not
    scale, shift = bn_affine(bn)
    for layer in layers:
        settle(layer)  # which layer carries the shift depends on the biases they have now
    shares = _shares(pair.merge, layers, scale, shift)
    for layer, (layer_scale, layer_shift) in zip(layers, shares, strict=True):
        # No shift: a layer built with bias=False stays bias-free.
        _scale_outputs(layer, layer_scale, layer_shift)
    return None


def _shares(
    merge: Merge, layers: Sequence[FoldLayer], scale: torch.Tensor, shift: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Each layer's part of the BatchNorm: (scale, shift or None for no shift)."""
    if merge is Merge.CAT:
        shares: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        start = 0
        for layer in layers:
            end = start + _channels(layer, Direction.CONV_BN)
            shares.append((scale[start:end], shift[start:end]))
            start = end
        return shares
    # The sum carries the shift once: put it where a bias already exists, if anywhere.
    keeper = next((i for i, layer in enumerate(layers) if layer.bias is not None), 0)
    return [(scale, shift if i == keeper else None) for i in range(len(layers))]


def _refusal(
    pair: FoldPair, bn: nn.Module, layers: Sequence[FoldLayer], sharing: Sharing
) -> Skip | None:
    assert isinstance(bn, _BatchNorm)
    stats = _invalid_statistics(bn)
    if stats is not None:
        return _refuse(
            pair, rules.BN_INVALID_RUNNING_STATS, pair.conv, bn=pair.bn.describe(), detail=stats
        )
    for call, layer in zip(pair.producers, layers, strict=True):
        why = _layer_not_rewritable(layer, sharing)
        if why is not None:
            return _refuse(
                pair,
                rules.LAYER_WEIGHT_SHARED_OR_DERIVED,
                call,
                bn=pair.bn.describe(),
                producer=call.describe(),
                detail=why,
            )
    channels = [_channels(layer, Direction.CONV_BN) for layer in layers]
    if pair.merge is Merge.CAT and sum(channels) != bn.num_features:
        return _refuse(
            pair,
            rules.CHANNEL_MISMATCH,
            pair.conv,
            bn=pair.bn.describe(),
            bn_channels=bn.num_features,
            channels=sum(channels),
            producer=f"the concatenation of {_names(pair.producers)}",
        )
    for call, count in zip(pair.producers, channels, strict=True):
        if pair.merge is Merge.SUM and count != bn.num_features:
            return _refuse(
                pair,
                rules.CHANNEL_MISMATCH,
                call,
                bn=pair.bn.describe(),
                bn_channels=bn.num_features,
                producer=call.describe(),
                channels=count,
            )
    return None


def _refuse(pair: FoldPair, rule: rules.Rule, partner: LayerCall, **fields: object) -> Skip:
    return Skip(
        bn=pair.bn,
        status=rule.status or Status.UNFOLDABLE,
        code=rule.code,
        reason=rule.format(**fields),
        partner=partner,
    )


def _names(calls: Sequence[LayerCall]) -> str:
    return ", ".join(call.describe() for call in calls)
