"""Applying a FoldPlan to a model: rewrite each Conv/Linear, then take the BatchNorm out.

Scales and shifts are computed in float64; weights are rescaled in their own dtype when it is
float32 or wider and in float64 otherwise (see `working_dtype`), so no folded value is more than
two roundings from the exact one. A pair is refused (and reported as a Skip) when folding it
would be unsafe on this particular model object: invalid running statistics, a weight shared
with another layer, read by other code in forward() or recomputed by a hook or
parametrization, or shapes that do not line up. `apply_folds_atomically` is all or nothing,
for folding a user's model in place.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd
from torch.nn.utils import parametrize

from bnlint import rules
from bnlint.ftypes import Direction, FoldPair, Skip, Status
from bnlint.runtime import bn_maps, kinds
from bnlint.runtime.batched_writes import PendingScalings
from bnlint.runtime.bn_maps import BatchNormMaps
from bnlint.runtime.paths import every_module, submodule
from bnlint.runtime.registered import replace_buffer, replace_parameter


@dataclass(frozen=True)
class Applied:
    folds: tuple[FoldPair, ...]
    refused: tuple[Skip, ...]


@dataclass(frozen=True)
class Sharing:
    """Who else uses a layer's tensors on this model object."""

    owners: dict[int, set[int]]  # id(parameter) -> ids of the modules holding it
    paths: dict[int, str] = field(default_factory=dict)  # id(module) -> its name
    # Full tensor name -> the op outside the layer that read it (Capture.foreign_reads).
    foreign_reads: Mapping[str, str] = field(default_factory=dict)

    def read_elsewhere(self, module: nn.Module, names: Sequence[str]) -> tuple[str, str] | None:
        """One of `module`'s tensors that forward() also reads outside the module, and the op
        that reads it."""
        path = self.paths.get(id(module))
        for name in names:
            reader = self.foreign_reads.get(f"{path}.{name}" if path else name)
            if reader is not None and getattr(module, name, None) is not None:
                return name, reader
        return None


def apply_folds(
    model: nn.Module,
    pairs: Sequence[FoldPair],
    foreign_reads: Mapping[str, str] | None = None,
    kept_in_place: Collection[str] = (),
    *,
    reuse_storage: bool = False,
) -> Applied:
    """Fold every pair that is safe on `model` (mutated in place); refuse the others.

    `foreign_reads` names the layer tensors that forward() reads outside their layer (from
    the capture); pairs that would rewrite one are refused. The BatchNorms named in
    `kept_in_place` are neutralised where they are instead of being replaced by Identity.

    By default every rewritten layer gets new weight and bias Parameters, so that whoever
    holds the old ones (an optimizer, a snapshot) keeps the old values. With
    `reuse_storage=True` the new values are written into the layers' own tensors instead: no
    new memory for the weights, for a model no one else holds (a private copy).
    """
    token = _REUSE_STORAGE.set(reuse_storage)
    try:
        with torch.no_grad():  # new values for the layers; nothing to differentiate
            return _apply(model, pairs, foreign_reads or {}, kept_in_place)
    finally:
        _REUSE_STORAGE.reset(token)


# Whether the fold being applied writes into the layers' own tensors (see apply_folds); read
# where the values are written, so that the arithmetic helpers keep one signature.
_REUSE_STORAGE: ContextVar[bool] = ContextVar("bnlint_reuse_storage", default=False)


def _apply(
    model: nn.Module,
    pairs: Sequence[FoldPair],
    foreign_reads: Mapping[str, str],
    kept_in_place: Collection[str],
) -> Applied:
    sharing = _sharing(model, foreign_reads)
    token = _STATISTICS.set(
        BatchNormMaps(
            bn for p in pairs if isinstance(bn := submodule(model, p.bn.label), _BatchNorm)
        )
    )
    pending = _PENDING.set(PendingScalings() if _REUSE_STORAGE.get() else None)
    try:
        return _fold_each(model, pairs, sharing, kept_in_place)
    finally:
        _PENDING.reset(pending)
        _STATISTICS.reset(token)


# The folds after a layer not yet written, when they are written together (batched_writes.py:
# only into a private copy's own tensors, where no one sees the layers before they are all
# written); None when each fold is written as it is made.
_PENDING: ContextVar[PendingScalings | None] = ContextVar("bnlint_pending", default=None)


def settle(layer: nn.Module) -> None:
    """Write the folds waiting to be written if `layer` has one: its values are read next."""
    pending = _PENDING.get()
    if pending is not None and pending.holds(layer):
        pending.write()


def _fold_each(
    model: nn.Module, pairs: Sequence[FoldPair], sharing: Sharing, kept_in_place: Collection[str]
) -> Applied:
    folded: list[FoldPair] = []
    refused: list[Skip] = []
    for pair in pairs:
        if pair.merge is not None:
            # One BatchNorm into several layers (after a concatenation or a sum).
            from bnlint.runtime.multi_fold import fold_through_merge  # it builds on this module

            merge_problem = fold_through_merge(model, pair, sharing)
            if merge_problem is None:
                folded.append(pair)
            else:
                refused.append(merge_problem)
            continue
        layer = fold_layer(model, pair.conv.label)
        bn = submodule(model, pair.bn.label)
        problem = refusal(pair, layer, bn, sharing)
        if problem is not None:
            refused.append(problem)
            continue
        assert isinstance(bn, _BatchNorm)  # refusal() says why when it is not
        scale, shift = bn_affine(bn)
        if pair.direction is Direction.CONV_BN:
            _scale_outputs(layer, scale, shift)
        else:
            _absorb_inputs(layer, scale, shift)
        folded.append(pair)
    pending = _PENDING.get()
    if pending is not None:
        pending.write()
    remove_batchnorms(
        model,
        list(dict.fromkeys(_batchnorm(model, p.bn.label) for p in folded)),
        kept={id(submodule(model, p.bn.label)) for p in folded if p.bn.label in kept_in_place},
    )
    return Applied(tuple(folded), tuple(refused))


class PairRefused(Exception):
    """A pair that `apply_folds_atomically` had to fold was refused (the model is unchanged)."""

    def __init__(self, skip: Skip) -> None:
        super().__init__(skip.reason)
        self.skip = skip


def apply_folds_atomically(
    model: nn.Module,
    pairs: Sequence[FoldPair],
    foreign_reads: Mapping[str, str] | None = None,
    kept_in_place: Collection[str] = (),
) -> Applied:
    """Fold every pair or none: if one is refused (PairRefused) or anything raises, `model` is
    put back exactly as it was (the same parameter, buffer and module objects and attributes)."""
    saved = Snapshot(model)
    try:
        applied = apply_folds(model, pairs, foreign_reads, kept_in_place)
        if applied.refused:
            raise PairRefused(applied.refused[0])
        return applied
    except BaseException:
        saved.restore()
        raise


class Snapshot:
    """Every module's attributes and its parameter, buffer and submodule tables. A fold only
    rebinds these (it never writes into a tensor), so restoring them undoes it; the snapshot
    can be restored any number of times."""

    def __init__(self, model: nn.Module) -> None:
        self._saved = [
            (module, dict(vars(module)), {table: dict(getattr(module, table)) for table in _TABLES})
            for module in model.modules()
        ]

    def restore(self) -> None:
        for module, attributes, tables in self._saved:
            vars(module).clear()
            vars(module).update(attributes)
            for table, entries in tables.items():
                getattr(module, table).clear()
                getattr(module, table).update(entries)


_TABLES = ("_parameters", "_buffers", "_modules")


def refusal(pair: FoldPair, layer: nn.Module, bn: nn.Module, sharing: Sharing) -> Skip | None:
    """Why this pair must not be folded on this model object, or None."""
    assert isinstance(bn, _BatchNorm)
    stats = _invalid_statistics(bn)
    if stats is not None:
        return _refuse(pair, rules.BN_INVALID_RUNNING_STATS, bn=pair.bn.describe(), detail=stats)
    read = sharing.read_elsewhere(bn, _BN_TENSORS)
    if read is not None:
        return _refuse(
            pair,
            rules.LAYER_WEIGHT_SHARED_OR_DERIVED,
            bn=pair.bn.describe(),
            producer=pair.conv.describe(),
            detail=f"the BatchNorm's {read[0]} is also read by {read[1]} in "
            "forward(), and a fold removes the BatchNorm",
        )
    why = _bn_not_removable(bn) or _layer_not_rewritable(layer, sharing)
    if why is not None:
        return _refuse(
            pair,
            rules.LAYER_WEIGHT_SHARED_OR_DERIVED,
            bn=pair.bn.describe(),
            producer=pair.conv.describe(),
            detail=why,
        )
    channels = _channels(layer, pair.direction)
    if channels != bn.num_features:
        return _refuse(
            pair,
            rules.CHANNEL_MISMATCH,
            bn=pair.bn.describe(),
            bn_channels=bn.num_features,
            producer=pair.conv.describe(),
            channels=channels,
        )
    return None


def _refuse(pair: FoldPair, rule: rules.Rule, **fields: object) -> Skip:
    return Skip(
        bn=pair.bn,
        status=rule.status or Status.UNFOLDABLE,
        code=rule.code,
        reason=rule.format(**fields),
        partner=pair.conv,
    )


# The maps of the BatchNorms being folded, worked out together (bn_maps.py); read where each
# fold takes its BatchNorm's map, so that the helpers keep one signature.
_STATISTICS: ContextVar[BatchNormMaps | None] = ContextVar("bnlint_statistics", default=None)


def bn_affine(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel (scale, shift) an eval-mode BatchNorm applies, in float64."""
    statistics = _STATISTICS.get()
    return bn_maps.bn_affine(bn) if statistics is None else statistics.affine(bn)


def _invalid_statistics(bn: _BatchNorm) -> str | None:
    statistics = _STATISTICS.get()
    return bn_maps.invalid_statistics(bn) if statistics is None else statistics.invalid(bn)


_BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def _sharing(model: nn.Module, foreign_reads: Mapping[str, str]) -> Sharing:
    """Which module objects hold each parameter object (tied weights have several), and what
    else forward() reads."""
    owners: dict[int, set[int]] = {}
    for module in every_module(model):  # a layer kept in a plain list may tie a weight too
        for param in module._parameters.values():
            if param is not None:
                owners.setdefault(id(param), set()).add(id(module))
    # Only registered layers are ever folded, so their registered names are the ones read.
    names = {id(module): name for name, module in model.named_modules()} if foreign_reads else {}
    return Sharing(owners=owners, paths=names, foreign_reads=foreign_reads)


def _bn_not_removable(bn: nn.Module) -> str | None:
    # A hook on the BatchNorm (one that scales its output, or one that collects features)
    # stops running when a fold removes the BatchNorm: the second kind no output shows.
    if bn._forward_pre_hooks or bn._forward_hooks:
        return "the BatchNorm has forward hooks, which would stop running when a fold removes it"
    return None


def _layer_not_rewritable(layer: nn.Module, sharing: Sharing) -> str | None:
    if parametrize.is_parametrized(layer):
        return "its weight is computed by a parametrization"
    if layer._forward_pre_hooks or layer._forward_hooks:
        return "it has forward hooks, which may recompute its weight or change its output"
    for name in ("weight", "bias"):
        param = layer._parameters.get(name)
        if param is not None and len(sharing.owners.get(id(param), ())) > 1:
            return f"its {name} is also a parameter of another layer (tied weights)"
    read = sharing.read_elsewhere(layer, ("weight", "bias"))
    if read is not None:
        return f"its {read[0]} is also read by {read[1]} in forward(), which a fold would change"
    return None


def _channels(layer: nn.Module, direction: Direction) -> int:
    """The channels a BatchNorm on this side of the layer must have."""
    if isinstance(layer, nn.Linear):
        return layer.out_features if direction is Direction.CONV_BN else layer.in_features
    assert isinstance(layer, _ConvNd)
    return layer.out_channels if direction is Direction.CONV_BN else layer.in_channels


FoldLayer = _ConvNd | nn.Linear


def fold_layer(model: nn.Module, path: str) -> FoldLayer:
    """The Conv/Linear at `path` (the matcher folds into no other module)."""
    layer = submodule(model, path)
    assert isinstance(layer, (_ConvNd, nn.Linear)), path
    return layer


def _batchnorm(model: nn.Module, path: str) -> _BatchNorm:
    bn = submodule(model, path)
    assert isinstance(bn, _BatchNorm), path
    return bn


def _scale_outputs(layer: FoldLayer, scale: torch.Tensor, shift: torch.Tensor | None) -> None:
    """layer'(x) = scale * layer(x) + shift, per output channel; a layer without bias keeps
    none when `shift` is None (no shift). Written now, or with the other folds waiting to be
    written (the same values)."""
    weight = layer.weight.detach()
    pending = _PENDING.get()
    if (
        pending is not None
        and not isinstance(layer, _ConvTransposeNd)
        and working_dtype(weight.dtype) == weight.dtype
        and weight.is_contiguous()
    ):
        pending.add(layer, scale, shift)
        return
    settle(layer)
    factor = scale.to(working_dtype(weight.dtype))
    if isinstance(layer, _ConvTransposeNd):
        # Weight layout [in, out/groups, k...]: output channel g*out_g + j sits at column j of
        # the rows of group g, so the scale is laid out per group, not along dim 0.
        groups = layer.groups
        in_g, out_g = weight.shape[0] // groups, weight.shape[1]
        factor = factor.reshape(groups, 1, out_g, *([1] * (weight.dim() - 2)))
        shaped = weight.reshape(groups, in_g, out_g, *weight.shape[2:])
    else:
        factor = factor.reshape(-1, *([1] * (weight.dim() - 1)))
        shaped = weight
    bias: torch.Tensor | None = None
    if shift is not None or layer.bias is not None:  # before the weight changes
        bias = _bias(layer, scale) * scale + (torch.zeros_like(scale) if shift is None else shift)
    _set(layer, _multiplied(shaped, factor).reshape(weight.shape), bias)


def _absorb_inputs(layer: FoldLayer, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """layer'(x) = layer(scale * x + shift), per input channel (no padding, groups == 1)."""
    settle(layer)
    weight = layer.weight.detach()
    per_input = (1, -1) + (1,) * (weight.dim() - 2)
    # The shift meets every weight tap of its input channel once: sum over channels and taps.
    bias_gain = (weight.double() * shift.reshape(per_input)).flatten(1).sum(1)
    bias = _bias(layer, bias_gain) + bias_gain
    factor = scale.to(working_dtype(weight.dtype)).reshape(per_input)
    _set(layer, _multiplied(weight, factor), bias)


def _multiplied(weight: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """weight * factor, written into `weight` itself when the fold may reuse its storage."""
    if _REUSE_STORAGE.get() and factor.dtype == weight.dtype and weight.is_contiguous():
        return weight.mul_(factor)
    return weight * factor


def working_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a weight is rescaled in: its own when it is float32 or wider (the scale's
    rounding and the product's make at most two roundings), float64 for half and bfloat16,
    which then lose one rounding only."""
    return dtype if torch.finfo(dtype).bits >= 32 else torch.float64


def _bias(layer: FoldLayer, per_output: torch.Tensor) -> torch.Tensor:
    """The layer's bias in float64; zeros like `per_output` (float64, one value per output
    channel) for a layer built with bias=False."""
    bias: torch.Tensor | None = layer.bias
    return torch.zeros_like(per_output) if bias is None else bias.detach().double()


def _set(layer: FoldLayer, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """The new weight and bias into `layer` (bias None: the layer has none and keeps none)."""
    old = layer.weight
    old_bias: torch.Tensor | None = layer.bias  # None for a layer built with bias=False
    if _REUSE_STORAGE.get():
        if weight.data_ptr() != old.data_ptr():
            old.copy_(weight)
        if old_bias is not None and bias is not None:
            old_bias.copy_(bias)
        elif bias is not None:
            new_bias = nn.Parameter(bias.to(old.dtype), requires_grad=old.requires_grad)
            replace_parameter(layer, "bias", new_bias)
        return
    # New Parameter objects: anything that held the old ones (an optimizer, a tie the
    # refusal checks missed) keeps the old values instead of silently seeing new ones.
    replace_parameter(
        layer, "weight", nn.Parameter(weight.to(old.dtype), requires_grad=old.requires_grad)
    )
    if bias is not None:
        bias_grad = old_bias.requires_grad if old_bias is not None else old.requires_grad
        replace_parameter(layer, "bias", nn.Parameter(bias.to(old.dtype), requires_grad=bias_grad))


def remove_batchnorms(
    model: nn.Module, batchnorms: Sequence[_BatchNorm], kept: Collection[int] = ()
) -> None:
    """Take folded BatchNorms out of the model, wherever and however often each is registered.

    Torch's own BatchNorm classes become nn.Identity at every path, in the BatchNorm's mode (a
    model in eval mode stays so); a subclass with its own forward (normalise, then an
    activation, say) keeps its forward and becomes an identity normalisation, and so do the
    BatchNorms whose ids are in `kept` (other code reads them).
    The old objects are neutralised too, so a stray reference that the module tree does not
    show (a plain list, a closure) also computes the identity.
    """
    replaced = set()
    for bn in batchnorms:
        _neutralise(bn)
        if kinds.is_plain_batchnorm(bn) and id(bn) not in kept:
            replaced.add(id(bn))
    if not replaced:
        return
    for parent in model.modules():  # one walk for all of them: a model has hundreds
        for name, child in list(parent._modules.items()):
            if child is not None and id(child) in replaced:
                parent._modules[name] = _identity(child)


def _identity(bn: nn.Module) -> nn.Identity:
    """An Identity in the BatchNorm's mode (`training` written where train() writes it: an
    Identity has no children to walk), carrying the attributes the model's own code set on the
    BatchNorm: a parent's forward() may read them from every layer it runs (a layer's index,
    where its input comes from)."""
    identity = nn.Identity()
    identity.__dict__["training"] = bn.training
    for name, value in bn.__dict__.items():
        if name not in _BATCHNORM_STATE:
            identity.__dict__[name] = value
    return identity


# What torch itself keeps in a BatchNorm's __dict__ (the module tables, the hyperparameters):
# anything else there was put by the model's code.
_BATCHNORM_STATE = frozenset(nn.BatchNorm1d(1).__dict__) | frozenset(nn.SyncBatchNorm(1).__dict__)


def _neutralise(bn: _BatchNorm) -> None:
    """Make an eval-mode BatchNorm return its input exactly: (x - 0) / sqrt(1 + 0) * 1 + 0."""
    mean, var = bn.running_mean, bn.running_var  # each read once: a module lookup each time
    assert mean is not None and var is not None
    replace_buffer(bn, "running_mean", torch.zeros_like(mean))
    replace_buffer(bn, "running_var", torch.ones_like(var))
    bn.eps = 0.0
    # By the tensors it has, not by `affine`: torch's batch_norm uses whichever it is given.
    weight: torch.Tensor | None = bn.weight
    bias: torch.Tensor | None = bn.bias
    if weight is not None:
        replace_parameter(
            bn, "weight", nn.Parameter(torch.ones_like(weight), requires_grad=weight.requires_grad)
        )
    if bias is not None:
        replace_parameter(
            bn, "bias", nn.Parameter(torch.zeros_like(bias), requires_grad=bias.requires_grad)
        )
