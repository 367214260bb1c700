"""The error each fold introduced, measured in isolation.

A Conv/Linear with its folded BatchNorm(s) is a *chain*: [BN before] layer [BN after]; a fold
through a merge is one chain per layer into the shared BatchNorm. The original model runs once
on the example inputs and records, at every call, the input of each chain's first module(s)
and the output of its last. The folded model then runs with each first module fed the
original's recorded input, so upstream folds cannot add their error; the difference at the
chain's last module is the error that chain's fold(s) made by themselves.

These figures are also a second check beside the comparison of model outputs: a fold whose own
output is wrong fails verification even where the rest of the model hides the error (a slice
that drops the corrupted channel, a ReLU that clips it on the inputs tried).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bnlint.foldkey import pair_label
from bnlint.ftypes import Direction, FoldPair
from bnlint.runtime.verify import run_seeded, tensor_error, tolerance


@dataclass(frozen=True)
class SiteError:
    max_abs: float | None  # None when the calls of the two models did not line up
    max_rel: float | None  # max_abs / max |original output of the chain|
    scale: float = 0.0  # max |original output of the chain|
    dtype: torch.dtype | None = None  # of the chain's output


def site_failures(errors: dict[FoldPair, SiteError], rtol: float | None, atol: float | None,
                  outputs_compared: int) -> list[str]:
    """Each fold whose own output is off by more than the tolerance of its dtype and size, or
    that nothing checked: a model whose outputs are all integers (class indices) leaves the
    fold's own output as the only evidence."""
    failures = []
    for pair, error in errors.items():
        if error.max_abs is None or error.dtype is None:
            if outputs_compared == 0:
                failures.append(f"the fold of {pair.bn.label} into {pair_label(pair)}: the "
                                "model returns no floating-point output to compare and the "
                                "fold's own output could not be measured")
            continue  # the comparison of model outputs covers it
        r, a = tolerance(error.dtype, rtol, atol)
        if error.max_abs > a + r * error.scale:
            failures.append(f"the fold of {pair.bn.label} into {pair_label(pair)}: its own "
                            f"output is off by {error.max_abs:.3g}, more than {a:.3g} + "
                            f"{r:.3g} x {error.scale:.3g} (that output's magnitude)")
    return failures


@dataclass(frozen=True)
class _Chain:
    entries: tuple[str, ...]  # module paths whose inputs are forced
    exit: str  # module path whose output is compared


def measure_fold_errors(original: nn.Module, folded: nn.Module, example_inputs: tuple[Any, ...],
                        pairs: Sequence[FoldPair]) -> dict[FoldPair, SiteError]:
    chains = _chains(pairs)
    entries = list(dict.fromkeys(e for chain in chains.values() for e in chain.entries))
    exits = list(dict.fromkeys(chain.exit for chain in chains.values()))
    try:
        inputs, expected = _record(original, example_inputs, entries, exits)
        actual = _record(folded, example_inputs, entries, exits, forced=inputs)[1]
    except Exception:  # a folded model that raises is reported by the verification
        return {pair: SiteError(None, None) for pair in pairs}
    return {pair: _difference(expected[chain.exit], actual[chain.exit])
            for pair, chain in chains.items()}


def _chains(pairs: Sequence[FoldPair]) -> dict[FoldPair, _Chain]:
    # Each layer's chain starts at the BatchNorm folded into it from before, if any, and ends
    # at the one folded into it from after (alone or through a merge), if any.
    before = {p.conv.label: p.bn.label for p in pairs if p.direction is Direction.BN_CONV}
    after = {layer.label: p.bn.label for p in pairs if p.direction is Direction.CONV_BN
             for layer in p.layers}
    chains = {}
    for pair in pairs:
        entries = tuple(before.get(layer.label, layer.label) for layer in pair.layers)
        chains[pair] = _Chain(entries, after.get(pair.conv.label, pair.conv.label))
    return chains


def _record(model: nn.Module, example_inputs: tuple[Any, ...], entries: list[str],
            exits: list[str], forced: dict[str, list[torch.Tensor]] | None = None
            ) -> tuple[dict[str, list[torch.Tensor]], dict[str, list[torch.Tensor]]]:
    """Run `model`, keeping the inputs of the entries and the outputs of the exits, call by
    call; with `forced`, replace each entry's input by the recorded one of the same call."""
    inputs: dict[str, list[torch.Tensor]] = defaultdict(list)
    outputs: dict[str, list[torch.Tensor]] = defaultdict(list)
    handles = []

    def entry_hook(path: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> Any:
            if not args or not isinstance(args[0], torch.Tensor):
                return None
            index = len(inputs[path])
            # Copies: forward may change these tensors in place after the call (an in-place
            # ReLU on the same input, `out.relu_()` after a BatchNorm).
            inputs[path].append(args[0].detach().clone())
            if forced is not None and index < len(forced.get(path, ())):
                return (forced[path][index],) + tuple(args[1:])
            return None
        return hook

    def exit_hook(path: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if isinstance(output, torch.Tensor):
                outputs[path].append(output.detach().clone())
        return hook

    try:
        for path in entries:
            handles.append(model.get_submodule(path).register_forward_pre_hook(
                entry_hook(path)))
        for path in exits:
            handles.append(model.get_submodule(path).register_forward_hook(exit_hook(path)))
        run_seeded(model, example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def _difference(expected: list[torch.Tensor], actual: list[torch.Tensor]) -> SiteError:
    if not expected or len(expected) != len(actual):
        return SiteError(None, None)
    worst_abs = worst_rel = worst_scale = 0.0
    for want, got in zip(expected, actual, strict=True):
        if want.shape != got.shape:
            return SiteError(None, None)
        error, scale, mismatched_nonfinite = tensor_error(want, got)
        if mismatched_nonfinite:
            error = math.inf
        worst_abs = max(worst_abs, error)
        worst_rel = max(worst_rel, error / scale if scale > 0 else error)
        worst_scale = max(worst_scale, scale)
    return SiteError(worst_abs, worst_rel, worst_scale, expected[0].dtype)
