"""The error each fold introduced, measured at its own layers, in float64, on small probes.

A fold turns each layer it rewrites into a per-channel affine map of the original. With the
BatchNorm (s1, t1) folded in before a layer L and (s2, t2) after it, the folded layer must
compute

    L'(x) = s2 * L(s1 * x + t1) + t2

(after a concatenation each layer takes its channel slice of s2 and t2; after a sum each takes
s2, and the shifts of the summed layers add up to t2). Each rewritten layer runs in float64 on
a small random probe, once with its original weight and bias and once with the folded ones; the
BatchNorm maps come from the BatchNorm's own tensors through torch's batch_norm, not from the
code that made the fold, so a fold that forgot gamma or used another eps shows here.

The folded weights are stored in the model's dtype: each may differ from the exact value by one
rounding, which the check allows, and nothing more: |error| <= 2u (|W'| * |x| + |b'|), u the
unit roundoff of that dtype. The verdict therefore does not depend on how much the rest of the
network amplifies errors, and needs no forward pass: it holds where the model output cannot show
it (a slice that drops the corrupted channel, a ReLU that clips it, outputs that are integers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from bnlint.foldkey import pair_label
from bnlint.ftypes import Direction, FoldPair, Merge


@dataclass(frozen=True)
class SiteError:
    max_abs: float | None  # max |folded - exact| on the probes; None: it could not be measured
    max_rel: float | None  # max_abs / max |exact output|
    rounding: float | None = None  # the largest error / what one rounding per value allows
    problem: str | None = None  # why the fold is wrong, or why it could not be measured

    @property
    def exact(self) -> bool:
        """Within one rounding of every stored value of the folded layers."""
        return self.rounding is not None and self.rounding <= 1.0


_UNMEASURED = SiteError(None, None)


@dataclass(frozen=True)
class _Affine:
    scale: torch.Tensor  # float64, per channel
    shift: torch.Tensor


@dataclass(frozen=True)
class Originals:
    """What the folds will replace, recorded before they are made: each layer's weight and
    bias objects (a fold binds new ones, so these stay as they were) and each BatchNorm's
    affine map."""

    layers: dict[str, tuple[torch.Tensor, torch.Tensor | None]]
    maps: dict[str, _Affine]


def record_originals(model: nn.Module, pairs: Sequence[FoldPair]) -> Originals:
    layers: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
    maps: dict[str, _Affine] = {}
    for pair in pairs:
        for call in pair.layers:
            layer = model.get_submodule(call.label)
            layers[call.label] = (layer.weight, layer.bias)
        bn = model.get_submodule(pair.bn.label)
        if isinstance(bn, _BatchNorm) and pair.bn.label not in maps:
            mapped = _batchnorm_map(bn)
            if mapped is not None:
                maps[pair.bn.label] = mapped
    return Originals(layers, maps)


def _batchnorm_map(bn: _BatchNorm) -> _Affine | None:
    """(scale, shift) of an eval-mode BatchNorm, by torch's batch_norm on 0 and 1, in float64."""
    if bn.running_mean is None or bn.running_var is None:
        return None

    def double(tensor: torch.Tensor | None) -> torch.Tensor | None:
        return None if tensor is None else tensor.detach().to(torch.float64)

    probe = torch.zeros(2, bn.num_features, dtype=torch.float64,
                        device=bn.running_mean.device)
    probe[1] = 1.0
    with torch.no_grad():
        out = torch.nn.functional.batch_norm(
            probe, double(bn.running_mean), double(bn.running_var), double(bn.weight),
            double(bn.bias), False, 0.0, bn.eps)
    return _Affine(out[1] - out[0], out[0])


def measure_fold_errors(model: nn.Module, pairs: Sequence[FoldPair],
                        originals: Originals, seed: int = 0) -> dict[FoldPair, SiteError]:
    """The error of every fold in `pairs`, all made on `model` (checked layer by layer)."""
    generator = torch.Generator().manual_seed(seed)
    before = {p.conv.label: p for p in pairs if p.direction is Direction.BN_CONV}
    after = {layer.label: p for p in pairs if p.direction is Direction.CONV_BN
             for layer in p.layers}
    by_layer: dict[str, _LayerCheck] = {}
    for label in dict.fromkeys(c.label for p in pairs for c in p.layers):
        by_layer[label] = _check_layer(model, label, before.get(label), after.get(label),
                                       originals, generator)
    errors = {}
    for pair in pairs:
        checks = [by_layer[layer.label] for layer in pair.layers]
        errors[pair] = _pair_error(model, pair, checks, originals)
    return errors


@dataclass(frozen=True)
class _LayerCheck:
    error: SiteError
    # For a layer of a sum: its output on zero minus its scaled original output on zero, per
    # channel (the part of the shift it carries), and what rounding allows there.
    carried_shift: torch.Tensor | None = None
    shift_allowance: torch.Tensor | None = None
    scale: float = 0.0  # max |exact output| on the probes


def _check_layer(model: nn.Module, label: str, before: FoldPair | None,
                 after: FoldPair | None, originals: Originals,
                 generator: torch.Generator) -> _LayerCheck:
    layer = model.get_submodule(label)
    weight0, bias0 = originals.layers[label]
    inner = originals.maps.get(before.bn.label) if before is not None else None
    outer = originals.maps.get(after.bn.label) if after is not None else None
    if (before is not None and inner is None) or (after is not None and outer is None):
        return _LayerCheck(SiteError(None, None, problem="the BatchNorm has no statistics"))
    if after is not None and after.merge is Merge.CAT:
        outer = _channel_slice(outer, after, label, model)
    try:
        with torch.no_grad():
            return _measure(layer, weight0, bias0, inner, outer,
                            summed=after is not None and after.merge is Merge.SUM,
                            generator=generator)
    except Exception as error:  # a layer whose forward needs more than its weight and bias
        return _LayerCheck(SiteError(None, None, problem=f"the layer could not be run on a "
                                     f"probe in float64 ({type(error).__name__}: {error})"))


def _channel_slice(outer: _Affine, pair: FoldPair, label: str, model: nn.Module) -> _Affine:
    start = 0
    for call in pair.producers:
        layer = model.get_submodule(call.label)
        width = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
        if call.label == label:
            return _Affine(outer.scale[start:start + width], outer.shift[start:start + width])
        start += width
    raise LookupError(label)


def _measure(layer: nn.Module, weight0: torch.Tensor, bias0: torch.Tensor | None,
             inner: _Affine | None, outer: _Affine | None, *, summed: bool,
             generator: torch.Generator) -> _LayerCheck:
    weight1, bias1 = layer.weight, layer.bias
    unit = _unit_roundoff(weight1.dtype)
    probe = torch.randn(_probe_shape(layer), generator=generator, dtype=torch.float64)
    probe = probe.to(weight1.device)
    both = torch.stack([probe, torch.zeros_like(probe)])  # the probe, and zero for the bias
    channel = (1, -1) + (1,) * (both.dim() - 2)
    folded = _run(layer, weight1, bias1, both)
    moved = both if inner is None else both * inner.scale.reshape(channel) + \
        inner.shift.reshape(channel)
    original = _run(layer, weight0, bias0, moved)
    out_channel = (1, -1) + (1,) * (original.dim() - 2)
    exact = original if outer is None else original * outer.scale.reshape(out_channel)
    if outer is not None and not summed:
        exact = exact + outer.shift.reshape(out_channel)
    magnitude = _run(layer, weight1.abs(), None, probe.abs()[None])[0]
    linear_error = (folded[0] - folded[1]) - (exact[0] - exact[1])
    linear_allowance = 2 * unit * magnitude + 1e-12 * (exact[0] - exact[1]).abs()
    bias_size = (bias1.detach().to(torch.float64).abs().reshape(out_channel[1:])
                 if bias1 is not None else torch.zeros(()))
    constant_error = folded[1] - exact[1]
    constant_allowance = 2 * unit * bias_size + 1e-12 * exact[1].abs()
    ratios = [_ratio(linear_error, linear_allowance)]
    errors = [float(linear_error.abs().max())]
    carried = allowance = None
    if summed:
        carried = constant_error.reshape(constant_error.shape[0], -1).mean(1)
        allowance = constant_allowance.expand_as(constant_error).reshape(
            constant_error.shape[0], -1).max(1).values
        spread = constant_error.reshape(constant_error.shape[0], -1)
        ratios.append(_ratio(spread - carried[:, None], allowance[:, None]))
    else:
        ratios.append(_ratio(constant_error, constant_allowance))
        errors.append(float(constant_error.abs().max()))
    scale = float(exact.abs().max())
    worst = max(errors)
    return _LayerCheck(SiteError(worst, worst / scale if scale > 0 else worst, max(ratios)),
                       carried, allowance, scale)


def _pair_error(model: nn.Module, pair: FoldPair, checks: list[_LayerCheck],
                originals: Originals) -> SiteError:
    unmeasured = next((c.error for c in checks if c.error.max_abs is None), None)
    if unmeasured is not None:
        return unmeasured
    worst_abs = max(c.error.max_abs or 0.0 for c in checks)
    worst_rel = max(c.error.max_rel or 0.0 for c in checks)
    ratio = max(c.error.rounding or 0.0 for c in checks)
    problem = _still_normalises(model, pair)
    if pair.merge is Merge.SUM:
        # The layers of a sum share the BatchNorm's shift: together they must carry all of it.
        total = sum(c.carried_shift for c in checks if c.carried_shift is not None)
        allowed = sum(c.shift_allowance for c in checks if c.shift_allowance is not None)
        missing = total - originals.maps[pair.bn.label].shift
        worst_abs = max(worst_abs, float(missing.abs().max()))
        scale = max(c.scale for c in checks)
        worst_rel = max(worst_rel, worst_abs / scale if scale > 0 else worst_abs)
        ratio = max(ratio, _ratio(missing, allowed + 1e-12 * total.abs()))
    if problem is not None:
        ratio = math.inf
    return SiteError(worst_abs, worst_rel, ratio, problem)


def _still_normalises(model: nn.Module, pair: FoldPair) -> str | None:
    """A folded BatchNorm must be gone (Identity) or compute the identity (a subclass with its
    own forward keeps its extra work)."""
    module = model.get_submodule(pair.bn.label)
    if isinstance(module, nn.Identity):
        return None
    if not isinstance(module, _BatchNorm):
        return f"'{pair.bn.label}' is a {type(module).__name__}, neither removed nor neutral"
    neutral = (module.eps == 0.0 and bool((module.running_mean == 0).all())
               and bool((module.running_var == 1).all())
               and (not module.affine or (bool((module.weight == 1).all())
                                          and bool((module.bias == 0).all()))))
    return None if neutral else f"'{pair.bn.label}' still normalises its input"


def _ratio(error: torch.Tensor, allowance: torch.Tensor) -> float:
    """The largest error in units of what rounding allows at that element."""
    error = error.abs()
    allowance = allowance.expand_as(error)
    if not bool(torch.isfinite(error).all()):
        return math.inf
    over = error / allowance.clamp_min(torch.finfo(torch.float64).tiny)
    return float(over.max()) if over.numel() else 0.0


def _run(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None,
         x: torch.Tensor) -> torch.Tensor:
    """`layer`'s own forward with this weight and bias in float64 (its hooks do not run; a
    layer with hooks is never folded)."""
    table = layer._parameters
    saved = table["weight"], table.get("bias")
    table["weight"] = weight.detach().to(torch.float64)  # type: ignore[assignment]
    table["bias"] = None if bias is None else bias.detach().to(torch.float64)  # type: ignore
    try:
        return layer.forward(x)
    finally:
        table["weight"], table["bias"] = saved


def _probe_shape(layer: nn.Module) -> tuple[int, ...]:
    if isinstance(layer, nn.Linear):
        return (layer.in_features,)
    assert isinstance(layer, nn.modules.conv._ConvNd)
    if layer.transposed:
        return (layer.in_channels,) + (2,) * len(layer.kernel_size)
    # Room for the kernel, plus a stride so that at least two outputs overlap.
    sizes = tuple(d * (k - 1) + s + 1 for k, s, d in zip(layer.kernel_size, layer.stride,
                                                          layer.dilation))
    return (layer.in_channels,) + sizes


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
            f"its own output is off by {error.max_abs:.3g} ({error.max_rel:.3g} of its "
            f"magnitude) on a probe, {error.rounding:.3g} times what rounding its folded "
            "weights allows")
        failures[pair] = f"the fold of {pair.bn.label} into {pair_label(pair)}: {what}"
    return failures


def unmeasured(errors: dict[FoldPair, SiteError]) -> list[FoldPair]:
    """Folds whose layers could not be run on a probe: only the model output speaks for them."""
    return [pair for pair, error in errors.items() if error.max_abs is None]

