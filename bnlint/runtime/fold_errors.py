"""The error each fold introduced, measured in isolation.

A Conv/Linear with its folded BatchNorm(s) is a *chain*: [BN before] layer [BN after]. The
original model runs once on the example inputs and records, at every call, the input of each
chain's first module and the output of its last. The folded model then runs with each chain's
first module fed the original's recorded input, so upstream folds cannot add their error; the
difference at the chain's last module is the error that chain's fold(s) made by itself.

These figures are also a second check beside the comparison of model outputs: a fold whose own
output is wrong fails verification even where the rest of the model hides the error (a slice
that drops the corrupted channel, a ReLU that clips it on the inputs tried).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from bnlint.ftypes import Direction, FoldPair
from bnlint.runtime.verify import run_seeded, tensor_error, tolerance


@dataclass(frozen=True)
class SiteError:
    max_abs: float | None  # None when the calls of the two models did not line up
    max_rel: float | None  # max_abs / max |original output of the chain|
    scale: float = 0.0  # max |original output of the chain|
    dtype: torch.dtype | None = None  # of the chain's output


def site_failures(errors: dict[FoldPair, SiteError], rtol: float | None,
                  atol: float | None) -> list[str]:
    """Each fold whose own output is off by more than the tolerance of its dtype and size."""
    failures = []
    for pair, error in errors.items():
        if error.max_abs is None or error.dtype is None:
            continue  # not measurable: the comparison of model outputs still applies
        r, a = tolerance(error.dtype, rtol, atol)
        if error.max_abs > a + r * error.scale:
            failures.append(f"the fold of {pair.bn.label} into {pair.conv.label}: its own "
                            f"output is off by {error.max_abs:.3g}, more than {a:.3g} + "
                            f"{r:.3g} x {error.scale:.3g} (that output's magnitude)")
    return failures


@dataclass(frozen=True)
class _Chain:
    entry: str  # module path whose input is forced
    exit: str  # module path whose output is compared


def measure_fold_errors(original: nn.Module, folded: nn.Module, example_inputs: tuple[Any, ...],
                        pairs: Sequence[FoldPair]) -> dict[FoldPair, SiteError]:
    chains = _chains(pairs)
    try:
        inputs, expected = _record(original, example_inputs, chains.values())
        forced = {chain.entry: list(inputs[chain.entry]) for chain in chains.values()}
        actual = _record(folded, example_inputs, chains.values(), forced=forced)[1]
    except Exception:  # a folded model that raises is reported by the verification
        return {pair: SiteError(None, None) for pair in pairs}
    errors = {}
    for pair in pairs:
        chain = chains[pair.conv.label]
        errors[pair] = _difference(expected[chain.exit], actual[chain.exit])
    return errors


def _chains(pairs: Sequence[FoldPair]) -> dict[str, _Chain]:
    by_layer: dict[str, dict[Direction, str]] = defaultdict(dict)
    for pair in pairs:
        by_layer[pair.conv.label][pair.direction] = pair.bn.label
    return {layer: _Chain(entry=folds.get(Direction.BN_CONV, layer),
                          exit=folds.get(Direction.CONV_BN, layer))
            for layer, folds in by_layer.items()}


def _record(model: nn.Module, example_inputs: tuple[Any, ...], chains: Any,
            forced: dict[str, list[torch.Tensor]] | None = None
            ) -> tuple[dict[str, list[torch.Tensor]], dict[str, list[torch.Tensor]]]:
    """Run `model`, keeping each chain's entry inputs and exit outputs, call by call; with
    `forced`, replace each entry's input by the recorded one of the same call."""
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
            if forced is not None and index < len(forced[path]):
                return (forced[path][index],) + tuple(args[1:])
            return None
        return hook

    def exit_hook(path: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if isinstance(output, torch.Tensor):
                outputs[path].append(output.detach().clone())
        return hook

    try:
        for chain in chains:
            handles.append(model.get_submodule(chain.entry).register_forward_pre_hook(
                entry_hook(chain.entry)))
            handles.append(model.get_submodule(chain.exit).register_forward_hook(
                exit_hook(chain.exit)))
        run_seeded(model, example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def _difference(expected: list[torch.Tensor], actual: list[torch.Tensor]) -> SiteError:
    if not expected or len(expected) != len(actual):
        return SiteError(None, None)
    worst_abs = worst_rel = worst_scale = 0.0
    for want, got in zip(expected, actual):
        if want.shape != got.shape:
            return SiteError(None, None)
        error, scale, mismatched_nonfinite = tensor_error(want, got)
        if mismatched_nonfinite:
            error = math.inf
        worst_abs = max(worst_abs, error)
        worst_rel = max(worst_rel, error / scale if scale > 0 else error)
        worst_scale = max(worst_scale, scale)
    return SiteError(worst_abs, worst_rel, worst_scale, expected[0].dtype)
