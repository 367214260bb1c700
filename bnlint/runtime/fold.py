"""`bnlint.fold(model, example_inputs)`: capture, match, apply, verify, account for every BN.

The folded model is returned only when it has been verified numerically: when verification
fails, `FoldResult.model` is None and `verified` is False, with the figures saying why (no
exception, so callers can still report the folds and the failure). A model that cannot be
copied, is not materialised, or does not run on the example inputs raises FoldError.

The user's model is never run and never changed unless `inplace=True`: a forward pass may
update state (counters, caches, statistics a custom layer keeps), so capture and verification
run on a copy, and the folds are made on a second copy. With `inplace=True` the same folds are
then applied to the user's model all or nothing, after the copy has been verified.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

from torch import nn

from bnlint import progress, rules
from bnlint.foldkey import fold_key, pair_key, pair_label
from bnlint.ftypes import Direction, Finding, FoldKey, FoldPair, Merge, Skip, Status
from bnlint.matcher import match_folds
from bnlint.runtime.apply import PairRefused, apply_folds, apply_folds_atomically
from bnlint.runtime.capture import CaptureError, capture_graph
from bnlint.runtime.fold_errors import measure_fold_errors, site_failures
from bnlint.runtime.kinds import PARALLEL_WRAPPERS
from bnlint.runtime.verify import Verification, verify_equivalence
from bnlint.warnings_ import FoldWarning

log = logging.getLogger("bnlint.runtime")


class FoldError(Exception):
    """The model could not be folded at all (the message names the cause)."""


@dataclass(frozen=True)
class FoldRecord:
    """A fold that was applied: both layers by full module path, and the error it made alone."""

    conv: str  # a fold through a merge names all its layers: "cat(a.conv,b.conv)", "a+b"
    bn: str
    direction: Direction
    max_error: float | None  # max |folded - original| at the fold site, in isolation
    relative_error: float | None  # max_error / max |original output at the site|
    key: FoldKey
    producers: tuple[str, ...] = ()  # a fold through a merge: its layers, in operand order
    merge: Merge | None = None


@dataclass(frozen=True)
class SkipRecord:
    """A BatchNorm left alone, with the rule that blocked it."""

    bn: str
    code: str
    name: str  # the rule's kebab-case name
    status: Status
    reason: str
    partner: str | None  # the layer it would have folded with, when there is one
    key: FoldKey


@dataclass(frozen=True)
class FoldResult:
    model: nn.Module | None  # None unless verification passed
    folds: tuple[FoldRecord, ...]
    skipped: tuple[SkipRecord, ...]
    verification: Verification
    capture_note: str
    findings: tuple[Finding, ...] = ()  # e.g. a redundant bias before a folded BatchNorm

    @property
    def verified(self) -> bool:
        return self.verification.passed


def fold(model: nn.Module, example_inputs: Any, *, inplace: bool = False,
         rtol: float | None = None, atol: float | None = None, random_inputs: int = 3,
         seed: int = 0) -> FoldResult:
    """Fold every BatchNorm of `model` that can be folded and prove the result.

    `example_inputs` is the tuple of positional arguments of `model(*example_inputs)`; anything
    that is not a tuple (a tensor, a dict) is taken as the single argument. The folded model is
    a copy in eval mode; `model` itself is neither run nor changed. With `inplace=True`, `model`
    is folded too (all or nothing, only after the copy verified), keeps its train/eval modes,
    and is returned as `.model`. A model wrapped in DataParallel, DistributedDataParallel or
    torch.compile is unwrapped: the folded copy is the wrapped module, and paths are relative
    to it, as in its state dict without the wrapper's prefix. A model sharded by FSDP raises
    FoldError (no process holds a whole layer).
    """
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    target = _unwrap(model)
    _check_not_sharded(target)
    _check_materialised(target)
    reference = _copy(target).eval()
    progress.step("capturing")
    try:
        capture = capture_graph(reference, inputs)
    except CaptureError as error:
        raise FoldError(f"the model failed on the example inputs: {error}") from error
    plan = match_folds(capture.graph)
    folded = _copy(reference)  # after the capture ran: the same state as the reference
    progress.step("folding")
    applied = apply_folds(folded, plan.folds, capture.foreign_reads)
    folded.eval()
    progress.step("verifying")
    verification = verify_equivalence(reference, folded, inputs, random_inputs=random_inputs,
                                      seed=seed, rtol=rtol, atol=atol)
    errors = measure_fold_errors(reference, folded, inputs, applied.folds)
    wrong_sites = site_failures(errors, rtol, atol, verification.outputs_compared)
    if wrong_sites:
        verification = dataclasses.replace(verification, passed=False,
                                           failures=verification.failures + tuple(wrong_sites))
    result_model: nn.Module | None = folded if verification.passed else None
    if verification.passed and inplace:
        _fold_in_place(target, applied.folds, capture.foreign_reads)
        result_model = model
    folds = tuple(FoldRecord(conv=pair_label(p), bn=p.bn.label, direction=p.direction,
                             max_error=errors[p].max_abs, relative_error=errors[p].max_rel,
                             key=pair_key(p), producers=tuple(c.label for c in p.producers),
                             merge=p.merge) for p in applied.folds)
    skipped = tuple(_record(skip) for skip in plan.skips + applied.refused)
    _explain(applied.folds, skipped, verification)
    return FoldResult(model=result_model, folds=folds, skipped=skipped,
                      verification=verification, capture_note=capture.note,
                      findings=plan.findings)


def _fold_in_place(model: nn.Module, folds: tuple[FoldPair, ...],
                   foreign_reads: Mapping[str, str]) -> None:
    """Make on the user's model exactly the folds verified on the copy, or none at all."""
    try:
        apply_folds_atomically(model, folds, foreign_reads)
    except PairRefused as refused:
        # Only a model whose deep copy differs from it gets here: better no fold than one
        # that was not verified.
        raise FoldError(f"the model does not fold like its verified copy, so it was not "
                        f"changed: {refused.skip.reason}") from refused


def _unwrap(model: nn.Module) -> nn.Module:
    """The module a DataParallel / DistributedDataParallel / torch.compile wrapper runs."""
    while True:
        if isinstance(model, PARALLEL_WRAPPERS):
            inner = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(
                getattr(model, "_orig_mod", None), nn.Module):
            inner = model._orig_mod  # torch.compile's wrapper; its forward is compiled code
        else:
            return model
        log.info("folding the module wrapped by %s", type(model).__name__)
        model = inner


def _check_not_sharded(model: nn.Module) -> None:
    """FSDP cannot be unwrapped: each process holds a shard of every parameter."""
    sharded = any(cls.__name__ in ("FSDPModule", "FullyShardedDataParallel")
                  for module in model.modules() for cls in type(module).__mro__)
    if sharded or any(type(p).__name__ in ("DTensor", "FlatParameter")
                      for p in model.parameters()):
        raise FoldError("the model is sharded by FSDP (each process holds a shard of its "
                        "parameters), so no layer can be rewritten whole; fold an unsharded "
                        "copy: build the model without FSDP and load the full state dict "
                        "(bnlint fold --checkpoint)")


def _check_materialised(model: nn.Module) -> None:
    tensors = list(model.parameters()) + list(model.buffers())
    if any(t.is_meta for t in tensors):
        raise FoldError("the model is on the meta device (its weights are not materialised); "
                        "load real weights before folding")


def _copy(model: nn.Module) -> nn.Module:
    try:
        return copy.deepcopy(model)
    except Exception as error:  # whatever the model's attributes refuse to copy
        raise FoldError(f"cannot copy the model to fold it safely: {type(error).__name__}: "
                        f"{error}") from error


def _record(skip: Skip) -> SkipRecord:
    return SkipRecord(bn=skip.bn.label, code=skip.code, name=rules.get_rule(skip.code).name,
                      status=skip.status, reason=skip.reason,
                      partner=skip.partner.label if skip.partner else None,
                      key=fold_key(skip.partner, skip.bn))


def _explain(folds: tuple[FoldPair, ...], skipped: tuple[SkipRecord, ...],
             verification: Verification) -> None:
    for pair in folds:
        log.info("folded %s into %s (%s)", pair.bn.label, pair.conv.label, pair.direction.value)
    for skip in skipped:
        log.info("%s %s", skip.code, skip.reason)
        warnings.warn(f"{skip.code} {skip.reason}", FoldWarning, stacklevel=3)
    if not verification.passed:
        log.warning("the folded model failed verification: %s",
                    "; ".join(verification.failures) or "no input could be compared")
