"""The error each fold introduced, measured at its own layers, in float64.

A fold turns each layer it rewrites into a per-channel affine map of the original. With the
BatchNorm (s1, t1) folded in before a layer and (s2, t2) after it, the folded layer's weight
and bias must be (checked on every bias and on the same few weights of every output channel)

    W' = s2 * W * s1        b' = s2 * (b + sum of W * t1 over inputs and taps) + t2

(after a concatenation each layer takes its channel slice of s2 and t2; after a sum each takes
s2, and the shifts the summed layers carry add up to t2). The BatchNorm maps come from the
BatchNorm's own tensors through torch's batch_norm, not from the code that made the fold, so a
fold that forgot gamma or used another eps shows here.

The folded values are stored in the model's dtype: each may differ from the exact value by the
roundings of its computation (two at most: the scale's and the product's), which the check
allows, and nothing more: |error| <= 3u |stored value|, u the unit roundoff of that dtype (a
layer folded on both sides is stored once in between: two more roundings, and its bias is
allowed 3u of the sum of its terms' magnitudes, which may cancel). In a float64 model the
exact fold, computed in float64, has roundings of its own: six more are allowed there.
The verdict therefore does not depend on how much the rest of the network amplifies errors,
costs no forward pass, and holds where the model's output cannot show it (a slice that drops
the corrupted channel, a ReLU that clips it, outputs that are integers).
That the layer's forward() really computes with these values is what the model's output shows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from bnlint.foldkey import pair_label
from bnlint.ftypes import Direction, FoldPair, Merge
from bnlint.runtime.bn_maps import misshapen_tensors
from bnlint.runtime.paths import submodule
from bnlint.runtime.sum_shifts import SumShift, shift_errors, worst_ratio


@dataclass(frozen=True)
class SiteError:
    max_abs: float | None  # max |folded - exact| over the weight and bias; None: not measured
    max_rel: float | None  # max_abs / max |exact value|
    rounding: float | None = None  # the largest error / what one rounding per value allows
    problem: str | None = None  # why the fold is wrong, or why it could not be measured

    @property
    def exact(self) -> bool:
        """Within the roundings of its computation of every stored value of the folded layers."""
        return self.rounding is not None and self.rounding <= 1.0


_FoldLayer = nn.modules.conv._ConvNd | nn.Linear


def _fold_layer(model: nn.Module, label: str) -> _FoldLayer:
    layer = submodule(model, label)
    assert isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)), label
    return layer


_Statistics = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _statistics(bn: _BatchNorm) -> _Statistics:
    """(running mean, running variance, weight, bias) of a BatchNorm that tracks statistics;
    1 and 0 for the weight and bias of one that is not affine."""
    mean, var = bn.running_mean, bn.running_var
    assert mean is not None and var is not None
    weight = bn.weight if bn.weight is not None else torch.ones_like(var)
    bias = bn.bias if bn.bias is not None else torch.zeros_like(mean)
    return mean, var, weight, bias


class _Slacks:
    """How far the float64 maps of a group of BatchNorms may be off, worked out when a check
    first needs them: a check passes without them unless a map is nearly cancelled, so most
    folds never do (see `measure_fold_errors`)."""

    def __init__(
        self,
        out: torch.Tensor,
        scale: torch.Tensor,
        mean: torch.Tensor,
        bias: torch.Tensor,
        sizes: list[int],
    ) -> None:
        self._inputs = (out, scale, mean, bias)  # out: the BatchNorms' outputs at 0 and 1
        self._sizes = sizes
        self._parts: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def of(self, member: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(slack, shift slack) of the group's `member`-th BatchNorm."""
        if self._parts is None:
            out, scale, mean, bias = self._inputs
            # |out(0)| + |out(1)|: a sum of two rows is one addition, as written out
            slack = out.abs().sum(0).mul_(2 * _unit_roundoff(torch.float64))
            slack = slack.div_(scale.abs().clamp_min(torch.finfo(torch.float64).tiny))
            shift_slack = (mean.abs() * scale.abs() + bias.abs()).mul_(
                4 * _unit_roundoff(torch.float64)
            )
            parts = zip(
                slack.split_with_sizes(self._sizes),
                shift_slack.split_with_sizes(self._sizes),
                strict=True,
            )
            self._parts = list(parts)
        return self._parts[member]


@dataclass(frozen=True)
class _Affine:
    scale: torch.Tensor  # float64, per channel
    shift: torch.Tensor
    _slacks: _Slacks
    _member: int  # which of the group's BatchNorms
    _channels: slice | None = None  # which of its channels (None: all)

    @property
    def slack(self) -> torch.Tensor:
        """How far the float64 scale itself may be off, relative to it: it is the difference
        of the BatchNorm's outputs at 1 and 0, so it carries their roundings (negligible
        against a float32 model's, not against a float64 one's when the shift dwarfs the
        scale)."""
        return self._part(self._slacks.of(self._member)[0])

    @property
    def shift_slack(self) -> torch.Tensor:
        """The same for the shift, absolute: beta - mean * scale may cancel to far less than
        its terms, which carry the roundings."""
        return self._part(self._slacks.of(self._member)[1])

    def _part(self, values: torch.Tensor) -> torch.Tensor:
        return values if self._channels is None else values[self._channels]

    def part(self, channels: slice) -> _Affine:
        # the channels of a concatenation's layer: a slice of the whole BatchNorm's
        assert self._channels is None
        return _Affine(
            self.scale[channels], self.shift[channels], self._slacks, self._member, channels
        )


@dataclass(frozen=True)
class _Layer:
    """What the check needs of a layer before it is folded, copied (the fold may write into
    the layer's own tensors)."""

    shape: torch.Size  # of the weight
    columns: torch.Tensor  # the sampled weights of each output channel (see `_rows`)
    weights: torch.Tensor  # those weights, one row per output channel, in the layer's dtype
    bias: torch.Tensor | None
    # Every weight in float64, one row per output channel: only for a layer a BatchNorm
    # before it folds into (its shift reaches the bias through all of them).
    rows: torch.Tensor | None = None


@dataclass(frozen=True)
class Originals:
    """What the folds will replace, recorded before they are made: the weights and bias of
    each layer (sampled) and each BatchNorm's affine map."""

    layers: dict[str, _Layer]
    maps: dict[str, _Affine]


def record_originals(model: nn.Module, pairs: Sequence[FoldPair]) -> Originals:
    into_following = {p.conv.label for p in pairs if p.direction is Direction.BN_CONV}
    layers: dict[str, _Layer] = {}
    batchnorms: dict[str, _BatchNorm] = {}
    with torch.no_grad():
        for pair in pairs:
            for call in pair.layers:
                layer = _fold_layer(model, call.label)
                rows = _rows(layer.weight.detach(), layer)
                columns = _columns(rows.shape[1], rows.device)
                layers[call.label] = _Layer(
                    layer.weight.shape,
                    columns,
                    rows.index_select(1, columns),
                    None if layer.bias is None else layer.bias.detach().clone(),
                    rows.to(torch.float64, copy=True) if call.label in into_following else None,
                )
            bn = submodule(model, pair.bn.label)
            # Only a BatchNorm whose tensors hold one value per feature has a map; a fold of
            # any other is refused (XBN113) before it is made or measured.
            if isinstance(bn, _BatchNorm) and misshapen_tensors(bn) is None:
                batchnorms[pair.bn.label] = bn
    return Originals(layers, _batchnorm_maps(batchnorms))


def _batchnorm_maps(batchnorms: dict[str, _BatchNorm]) -> dict[str, _Affine]:
    """(scale, shift) of each eval-mode BatchNorm, by torch's batch_norm on 0 and 1, in
    float64: one call for all the BatchNorms that share an eps and a device."""
    # Grouped by dtype too: each group's tensors are joined as they are and widened to
    # float64 once (exactly, as one by one), a few tensor operations for hundreds of layers.
    groups: dict[tuple[float, torch.device, torch.dtype], list[tuple[str, _Statistics]]] = {}
    for label, bn in batchnorms.items():
        statistics = _statistics(bn)
        groups.setdefault((bn.eps, statistics[0].device, statistics[0].dtype), []).append(
            (label, statistics)
        )
    maps = {}
    with torch.no_grad():
        for (eps, _, _), members in groups.items():
            mean, var, weight, bias = _joined([statistics for _, statistics in members])
            zero = torch.zeros_like(mean).view(1, -1)
            probe = torch.cat([zero, torch.ones_like(zero)])
            out = torch.batch_norm(  # F.batch_norm's kernel, without its Python checks
                probe, weight, bias, mean, var, False, 0.0, eps, torch.backends.cudnn.enabled
            )
            shift, at_one = out.view(-1).split_with_sizes([mean.numel()] * 2)
            scale = at_one - shift
            # Each BatchNorm's part of both maps, as views.
            sizes = [statistics[0].numel() for _, statistics in members]
            slacks = _Slacks(out, scale, mean, bias, sizes)
            parts = zip(
                members, scale.split_with_sizes(sizes), shift.split_with_sizes(sizes), strict=True
            )
            for index, ((label, _), bn_scale, bn_shift) in enumerate(parts):
                maps[label] = _Affine(bn_scale, bn_shift, slacks, index)
    return maps


def _joined(members: list[_Statistics]) -> tuple[torch.Tensor, ...]:
    """The means, variances, weights and biases of these BatchNorms, each kind joined in
    order and widened to float64 (exactly: float64 holds every value of a narrower float).
    When every BatchNorm's four tensors have one length, all of them are joined at once."""
    if all(len({t.numel() for t in statistics}) == 1 for statistics in members):
        everything = torch.cat([s[i] for i in range(4) for s in members]).to(torch.float64)
        return everything.split_with_sizes([everything.numel() // 4] * 4)
    return tuple(torch.cat([s[i] for s in members]).to(torch.float64) for i in range(4))


def measure_fold_errors(
    model: nn.Module, pairs: Sequence[FoldPair], originals: Originals
) -> dict[FoldPair, SiteError]:
    """The error of every fold in `pairs`, all made on `model` (checked layer by layer).

    First without the roundings of the float64 maps themselves (`_Slacks`): they only add to
    what is allowed, so a fold within the rest is exact as it is. Only when a fold is not are
    they worked out and every fold measured again with them."""
    errors = _measured(model, pairs, originals, slack=False)
    if all(error.exact or error.max_abs is None for error in errors.values()):
        return errors
    return _measured(model, pairs, originals, slack=True)


def _measured(
    model: nn.Module, pairs: Sequence[FoldPair], originals: Originals, *, slack: bool
) -> dict[FoldPair, SiteError]:
    before = {p.conv.label: p for p in pairs if p.direction is Direction.BN_CONV}
    after = {
        layer.label: p for p in pairs if p.direction is Direction.CONV_BN for layer in p.layers
    }
    labels = list(dict.fromkeys(c.label for p in pairs for c in p.layers))
    scaled = [label for label in labels if _only_scaled(model, label, before, after, originals)]
    by_layer = _check_scaled_layers(model, scaled, after, originals, slack=slack)
    for label in labels:
        if label not in by_layer:
            by_layer[label] = _check_layer(
                model, label, before.get(label), after.get(label), originals, slack=slack
            )
    # By position, not by pair: a FoldPair's hash walks all its records.
    checks = [[by_layer[layer.label] for layer in pair.layers] for pair in pairs]
    sums = [
        i
        for i, pair in enumerate(pairs)
        if pair.merge is Merge.SUM and all(c.error.max_abs is not None for c in checks[i])
    ]
    shifts: list[tuple[float, float] | None] = [None] * len(pairs)
    measured = shift_errors(
        [_sum_shift(checks[i], originals.maps[pairs[i].bn.label].shift) for i in sums]
    )
    for i, shift in zip(sums, measured, strict=True):
        shifts[i] = shift
    return {
        pair: _pair_error(model, pair, layer_checks, shift)
        for pair, layer_checks, shift in zip(pairs, checks, shifts, strict=True)
    }


@dataclass(frozen=True)
class _LayerCheck:
    error: SiteError
    # For a layer of a sum: its output on zero minus its scaled original output on zero, per
    # channel (the part of the shift it carries), and what rounding allows there.
    carried_shift: torch.Tensor | None = None
    shift_allowance: torch.Tensor | None = None
    scale: float = 0.0  # max |exact value| of the weight and bias


def _only_scaled(
    model: nn.Module,
    label: str,
    before: dict[str, FoldPair],
    after: dict[str, FoldPair],
    originals: Originals,
) -> bool:
    """The common case, checked for all such layers at once: a Conv/ConvTranspose/Linear
    whose output channels a BatchNorm after it scales and shifts (alone, or through a
    concatenation or a sum)."""
    pair = after.get(label)
    layer = submodule(model, label)
    return (
        pair is not None
        and label not in before
        and pair.bn.label in originals.maps
        and layer.weight.shape == originals.layers[label].shape
    )


def _check_scaled_layers(
    model: nn.Module,
    labels: list[str],
    after: dict[str, FoldPair],
    originals: Originals,
    *,
    slack: bool,
) -> dict[str, _LayerCheck]:
    """`_measure` for many layers of the common case in a few tensor operations: the sampled
    weights and the bias of every output channel of every layer checked at once, and the
    worst of each layer read back.

    Each kind of tensor operation costs tens of microseconds the first time a call makes it
    (after a garbage collection), one or two after that: the check keeps to the kinds the
    fold makes anyway (no indexing, nothing in place)."""
    if not labels:
        return {}
    weights0, weights1, biases0, biases1, scales, shifts = [], [], [], [], [], []
    slacks, shift_slacks, units, counts, summed = [], [], [], [], []
    try:
        for label in labels:
            layer = _fold_layer(model, label)
            recorded = originals.layers[label]
            pair = after[label]
            outer = originals.maps[pair.bn.label]
            if pair.merge is Merge.CAT:
                outer = _channel_slice(outer, pair, label, model)
            rows1 = _rows(layer.weight.detach(), layer)
            weights0.append(recorded.weights)
            weights1.append(rows1.index_select(1, recorded.columns))
            # no bias: zeros like the map's (widened with the others in any case)
            biases0.append(_or_zeros(recorded.bias, outer.scale))
            biases1.append(_or_zeros(layer.bias, outer.scale))
            scales.append(outer.scale)
            # The layers of a sum share the shift: what each carries is checked per pair.
            summed.append(pair.merge is Merge.SUM)
            shifts.append(torch.zeros_like(outer.shift) if summed[-1] else outer.shift)
            if slack:
                slacks.append(outer.slack)
                shift_slacks.append(outer.shift_slack)
            units.append(_allowed_roundings(layer.weight.dtype))
            counts.append(rows1.shape[0])
        with torch.no_grad():
            weight, weight1 = torch.cat(weights0).double(), torch.cat(weights1).double()
            bias, bias1 = torch.cat(biases0).double(), torch.cat(biases1).double()
            scale, shift = torch.cat(scales), torch.cat(shifts)
    except RuntimeError:  # layers on several devices: one by one
        return {}
    with torch.no_grad():
        # One dtype (the usual case): its roundings as a number, the same in every row.
        unit: float | torch.Tensor = units[0]
        if any(u != units[0] for u in units):
            unit = _per_row(units, counts, scale)
        exact = weight.mul(scale.view(-1, 1))
        scaled_bias = bias.mul(scale)
        exact_bias = scaled_bias.add(shift)
        error = weight1.sub(exact).abs()
        carried = bias1.sub(exact_bias)  # for the layers of a sum: their share of the shift
        bias_error = carried.abs()
        if any(summed):  # what the layers of a sum carry together is checked per pair
            bias_error = bias_error.masked_fill(_per_row(summed, counts, scale).bool(), 0.0)
        magnitude, bias_magnitude = exact.abs(), exact_bias.abs()
        # one rounding per value, and the maps' own roundings when they count
        per_value = unit if not slack else torch.cat(slacks).add(unit)
        per_weight = per_value.view(-1, 1) if isinstance(per_value, torch.Tensor) else per_value
        allowed = weight1.abs().mul(per_weight).add(magnitude, alpha=1e-12)
        # the bias adds up terms that may cancel: its roundings are relative to them
        terms = scaled_bias.abs().add(shift.abs()).mul(unit)
        if slack:
            terms = terms.add(torch.cat(shift_slacks))
        bias_allowed = bias1.abs().mul(per_value).add(bias_magnitude, alpha=1e-12).add(terms)
        # + tiny: an error where nothing is allowed is a huge ratio, never NaN (0 / 0)
        tiny = torch.finfo(torch.float64).tiny
        # per output channel: the worst ratio, error and magnitude of its sampled weights, and
        # the same of its bias
        figures = [
            error.div(allowed.add(tiny)).amax(1),
            bias_error.div(bias_allowed.add(tiny)),
            error.amax(1),
            bias_error,
            magnitude.amax(1),
            bias_magnitude,
        ]
        worst = _worst_of_each(torch.cat(figures).view(len(figures), -1), counts)
    checks, start = {}, 0
    for label, count, in_a_sum, figures_ in zip(labels, counts, summed, worst, strict=True):
        ratio, error_, size = (_largest(figures_[i : i + 2]) for i in (0, 2, 4))
        share = slice(start, start + count)
        start += count
        checks[label] = _LayerCheck(
            SiteError(
                error_,
                error_ / size if size > 0 else error_,
                math.inf if math.isnan(ratio) else ratio,
            ),
            carried[share] if in_a_sum else None,
            bias_allowed[share] if in_a_sum else None,
            size,
        )
    return checks


def _per_row(values: Sequence[float], counts: list[int], like: torch.Tensor) -> torch.Tensor:
    """Each layer's value repeated on each of its rows (`counts` of them in turn)."""
    per_layer = torch.tensor(values, dtype=like.dtype, device=like.device)
    return per_layer.repeat_interleave(torch.tensor(counts, device=like.device))


# Output channels whose figures are read back to be reduced per layer in Python, up to this
# many; more are reduced by a scatter, a few more kinds of operation but a fixed cost.
_READ_BACK_CHANNELS = 512


def _worst_of_each(figures: torch.Tensor, counts: list[int]) -> list[tuple[float, ...]]:
    """The largest of each figure (a row of `figures`, one value per output channel) over
    each layer's channels (`counts` of them in turn), NaN when one is NaN, -1 for a layer
    without channels."""
    if figures.shape[1] <= _READ_BACK_CHANNELS:
        rows, found, start = figures.tolist(), [], 0
        for count in counts:
            end = start + count
            found.append(tuple(_largest(row[start:end]) if count else -1.0 for row in rows))
            start = end
        return found
    owner = torch.repeat_interleave(torch.tensor(counts, device=figures.device))
    kinds = figures.shape[0]
    worst = torch.full((kinds, len(counts)), -1.0, dtype=figures.dtype, device=figures.device)
    reduced = worst.scatter_reduce(1, owner.expand(kinds, -1), figures, "amax")
    return list(zip(*reduced.tolist(), strict=True))


def _largest(values: Sequence[float]) -> float:
    # the figures are never negative: their sum is NaN exactly when one of them is
    return math.nan if math.isnan(sum(values)) else max(values)


@functools.lru_cache(maxsize=256)
def _columns(count: int, device: torch.device) -> torch.Tensor:
    """`_SAMPLED_WEIGHTS` column indices spread over `count` (repeating when fewer); the
    same few widths recur in a model, so they are made once."""
    return (torch.arange(_SAMPLED_WEIGHTS, device=device) * count) // _SAMPLED_WEIGHTS


def _or_zeros(bias: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if bias is None else bias.detach()


def _bias(bias: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
    if bias is None:
        return torch.zeros(rows.shape[0], dtype=rows.dtype, device=rows.device)
    return bias.detach()


def _check_layer(
    model: nn.Module,
    label: str,
    before: FoldPair | None,
    after: FoldPair | None,
    originals: Originals,
    *,
    slack: bool,
) -> _LayerCheck:
    layer = _fold_layer(model, label)
    original = originals.layers[label]
    inner = originals.maps.get(before.bn.label) if before is not None else None
    outer = originals.maps.get(after.bn.label) if after is not None else None
    if (before is not None and inner is None) or (after is not None and outer is None):
        return _LayerCheck(SiteError(None, None, problem="the BatchNorm has no statistics"))
    if after is not None and after.merge is Merge.CAT and outer is not None:
        outer = _channel_slice(outer, after, label, model)
    if layer.weight.shape != original.shape:
        return _LayerCheck(SiteError(None, None, problem="the folded weight has another shape"))
    with torch.no_grad():
        return _measure(
            layer,
            original,
            inner,
            outer,
            summed=after is not None and after.merge is Merge.SUM,
            slack=slack,
        )


def _channel_slice(outer: _Affine, pair: FoldPair, label: str, model: nn.Module) -> _Affine:
    start = 0
    for call in pair.producers:
        layer = _fold_layer(model, call.label)
        width = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
        if call.label == label:
            return outer.part(slice(start, start + width))
        start += width
    raise LookupError(label)


def _measure(
    layer: _FoldLayer,
    original: _Layer,
    inner: _Affine | None,
    outer: _Affine | None,
    *,
    summed: bool,
    slack: bool,
) -> _LayerCheck:
    """The folded weight and bias against the exact fold of the original ones: every bias,
    and the same few weights of every output channel (a fold scales whole channels, so a
    wrong scale shows on any of its weights, at a cost that does not grow with the kernel).
    With `slack`, the roundings of the float64 maps themselves are allowed too."""
    unit = _unit_roundoff(layer.weight.dtype)
    rounding = _allowed_roundings(layer.weight.dtype)
    rows1 = _rows(layer.weight.detach(), layer)
    weight = original.weights.to(torch.float64)
    weight1 = rows1.index_select(1, original.columns).to(torch.float64)
    bias = _bias(original.bias, rows1).to(torch.float64)
    # The sum of the magnitudes of the terms the bias adds up: a rounding made on the way
    # (a layer folded on both sides stores its bias in between) is relative to them, not to
    # the result, which may be far smaller when the terms cancel.
    terms = bias.abs()
    if inner is not None:
        # Before the layer: x -> s1 x + t1 on its input channels (never grouped, never
        # padded: the matcher allows no other); the shift meets every tap of its channel.
        assert original.rows is not None
        taps = original.rows.shape[1] // inner.scale.numel()
        shift = inner.shift.repeat_interleave(taps)
        bias = bias + original.rows @ shift
        terms = terms + original.rows.abs() @ shift.abs()
        weight = weight * inner.scale.repeat_interleave(taps)[original.columns]
    if outer is not None:
        weight = weight * outer.scale[:, None]
        bias = bias * outer.scale + (0.0 if summed else outer.shift)
        terms = terms * outer.scale.abs() + (0.0 if summed else outer.shift.abs())
    if inner is not None and outer is not None:
        # Folded on both sides, the weight is stored once in between: two more roundings.
        rounding += 2 * unit
    # the reference's own error, per output channel (an input-side scale: its worst channel)
    own = torch.zeros(weight.shape[0], dtype=torch.float64, device=weight.device)
    if slack and outer is not None:
        own = own + outer.slack
    if slack and inner is not None:
        own = own + inner.slack.max()
    bias1 = _bias(layer.bias, rows1).to(torch.float64)
    weight_error = weight1 - weight
    ratios = [
        worst_ratio(weight_error, (rounding + own[:, None]) * weight1.abs() + 1e-12 * weight.abs())
    ]
    bias_error = bias1 - bias
    carried = bias_error if summed else None  # a sum's shift share: checked for all layers
    bias_allowance = rounding * (bias1.abs() + terms)
    if slack and outer is not None:
        bias_allowance = bias_allowance + outer.shift_slack
    if not summed:
        ratios.append(worst_ratio(bias_error, bias_allowance + 1e-12 * bias.abs()))
    errors = [weight_error] + ([] if summed else [bias_error])
    worst = max(float(e.abs().max()) if e.numel() else 0.0 for e in errors)
    scale = max(float(t.abs().max()) if t.numel() else 0.0 for t in (weight, bias))
    return _LayerCheck(
        SiteError(worst, worst / scale if scale > 0 else worst, max(ratios)),
        carried,
        bias_allowance,
        scale,
    )


# Weights checked per output channel (a fold scales whole channels: any weight of a channel
# shows a wrong scale; a few guard against a rewrite that touched only part of a row).
_SAMPLED_WEIGHTS = 4
# Roundings a folded value may carry (two, see apply.working_dtype), plus one for the float64
# arithmetic of this check and of the fold.
_ROUNDINGS = 3
_REFERENCE_ROUNDINGS = 6


def _rows(weight: torch.Tensor, layer: _FoldLayer) -> torch.Tensor:
    """The weight with one row per output channel (a view, except for transposed convs)."""
    if isinstance(layer, nn.modules.conv._ConvNd) and layer.transposed:
        # Layout [in, out/groups, k...]: output channel g*out_g + j is column j of group g.
        groups = layer.groups
        grouped = weight.reshape(groups, weight.shape[0] // groups, weight.shape[1], -1)
        return grouped.permute(0, 2, 1, 3).reshape(groups * weight.shape[1], -1)
    return weight.reshape(weight.shape[0], -1)


def _pair_error(
    model: nn.Module,
    pair: FoldPair,
    checks: list[_LayerCheck],
    shift: tuple[float, float] | None,
) -> SiteError:
    """The error of a fold from its layers' checks; `shift`: for a fold through a sum, the
    error of the shift its layers carry together (`sum_shifts.shift_error`)."""
    unmeasured = next((c.error for c in checks if c.error.max_abs is None), None)
    if unmeasured is not None:
        return unmeasured
    worst_abs = max(c.error.max_abs or 0.0 for c in checks)
    worst_rel = max(c.error.max_rel or 0.0 for c in checks)
    ratio = max(c.error.rounding or 0.0 for c in checks)
    problem = _still_normalises(model, pair)
    if pair.merge is Merge.SUM:
        # The layers of a sum share the BatchNorm's shift: together they must carry all of it.
        assert shift is not None  # measured for every sum whose layers are
        missing, shift_ratio = shift
        worst_abs = max(worst_abs, missing)
        scale = max(c.scale for c in checks)
        worst_rel = max(worst_rel, worst_abs / scale if scale > 0 else worst_abs)
        ratio = max(ratio, shift_ratio)
    if problem is not None:
        ratio = math.inf
    return SiteError(worst_abs, worst_rel, ratio, problem)


def _sum_shift(checks: list[_LayerCheck], shift: torch.Tensor) -> SumShift:
    return SumShift(
        carried=[c.carried_shift for c in checks if c.carried_shift is not None],
        allowances=[c.shift_allowance for c in checks if c.shift_allowance is not None],
        shift=shift,
    )


def _still_normalises(model: nn.Module, pair: FoldPair) -> str | None:
    """A folded BatchNorm must be gone (Identity) or compute the identity (a subclass with its
    own forward keeps its extra work)."""
    module = submodule(model, pair.bn.label)
    if isinstance(module, nn.Identity):
        return None
    if not isinstance(module, _BatchNorm):
        return f"'{pair.bn.label}' is a {type(module).__name__}, neither removed nor neutral"
    mean, var, weight, bias = _statistics(module)
    neutral = (
        module.eps == 0.0
        and bool((mean == 0).all())
        and bool((var == 1).all())
        and bool((weight == 1).all())
        and bool((bias == 0).all())
    )
    return None if neutral else f"'{pair.bn.label}' still normalises its input"


def _allowed_roundings(dtype: torch.dtype) -> float:
    """What rounding may cost a value stored in `dtype`, relative to it. The exact fold is
    computed in float64: in a float64 model it carries roundings of the same size as the
    stored values' (the BatchNorm's map through batch_norm, the products), which are allowed
    too. A wrong fold is still off by many orders of magnitude more."""
    reference = _REFERENCE_ROUNDINGS if dtype == torch.float64 else 0
    return (_ROUNDINGS + reference) * _unit_roundoff(dtype)


def _unit_roundoff(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps / 2 if dtype.is_floating_point else 0.0


def site_failures(errors: dict[FoldPair, SiteError]) -> dict[FoldPair, str]:
    """Each fold whose layers compute more than one rounding away from the exact fold, with
    why: these folds are wrong whatever the model's output shows."""
    failures = {}
    for pair, error in errors.items():
        if error.max_abs is None or error.rounding is None or error.exact:
            continue
        what = error.problem or (
            f"its folded weights are off by up to {error.max_abs:.3g} ({error.max_rel:.3g} of "
            f"their magnitude), {error.rounding:.3g} times what rounding allows"
        )
        failures[pair] = f"the fold of {pair.bn.label} into {pair_label(pair)}: {what}"
    return failures


def unmeasured(errors: dict[FoldPair, SiteError]) -> list[FoldPair]:
    """Folds whose layers could not be checked: only the model output speaks for them."""
    return [pair for pair, error in errors.items() if error.max_abs is None]
