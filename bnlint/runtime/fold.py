"""`bnlint.fold(model, example_inputs)`: capture, match, apply, verify, account for every BN.

The folded model is returned only when it has been verified numerically: when verification
fails, `FoldResult.model` is None and `verified` is False, with the figures saying why (no
exception, so callers can still report the folds and the failure). A model that cannot be
copied, is not materialised, or does not run on the example inputs raises FoldError.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from torch import nn

from bnlint import rules
from bnlint.foldkey import fold_key, pair_key, pair_label
from bnlint.ftypes import Direction, Finding, FoldKey, FoldPair, Merge, Skip, Status
from bnlint.matcher import match_folds
from bnlint.runtime.apply import apply_folds
from bnlint.runtime.capture import CaptureError, capture_graph
from bnlint.runtime.fold_errors import measure_fold_errors
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
    a copy in eval mode, unless `inplace=True`, where `model` itself is folded, and only after
    a copy has been verified. `model`'s train/eval modes are restored in every case.
    """
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    model = _unwrap(model)
    _check_materialised(model)
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        try:
            capture = capture_graph(model, inputs)
        except CaptureError as error:
            raise FoldError(f"the model failed on the example inputs: {error}") from error
        plan = match_folds(capture.graph)
        folded = _copy(model)
        applied = apply_folds(folded, plan.folds)
        folded.eval()
        verification = verify_equivalence(model, folded, inputs, random_inputs=random_inputs,
                                          seed=seed, rtol=rtol, atol=atol)
        errors = measure_fold_errors(model, folded, inputs, applied.folds)
        result_model: nn.Module | None = folded if verification.passed else None
        if verification.passed and inplace:
            apply_folds(model, applied.folds)
            result_model = model
    finally:
        for module, training in modes:
            module.train(training)
    folds = tuple(FoldRecord(conv=pair_label(p), bn=p.bn.label, direction=p.direction,
                             max_error=errors[p].max_abs, relative_error=errors[p].max_rel,
                             key=pair_key(p), producers=tuple(c.label for c in p.producers),
                             merge=p.merge) for p in applied.folds)
    skipped = tuple(_record(skip) for skip in plan.skips + applied.refused)
    _explain(applied.folds, skipped, verification)
    return FoldResult(model=result_model, folds=folds, skipped=skipped,
                      verification=verification, capture_note=capture.note,
                      findings=plan.findings)


def _unwrap(model: nn.Module) -> nn.Module:
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        log.info("folding the module wrapped by %s", type(model).__name__)
        return model.module
    return model


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
