"""`bnlint.fold(model, example_inputs)`: capture, match, apply, verify, account for every BN.

The user's model is never run and never changed unless `inplace=True`: a forward pass may
update state (counters, caches, statistics a custom layer keeps), so everything runs on one deep
copy: it is captured, then folded, then checked, and it is the folded model returned.

Verification has two parts, and neither costs a forward pass per fold:

- each fold's layers are checked in float64 against the exact fold (fold_errors.py): a fold
  that is wrong at its layers is dropped whatever the model's output shows;
- the folded model runs once on the example inputs (more only when forward() branches on the
  input's values) and its outputs are compared with the ones the capture recorded (judge.py:
  within tolerance, or, for a model that amplifies rounding or whose outputs jump at
  thresholds, within its own deviation when its weights move by one rounding).

When the outputs still disagree, the folds responsible are found by bisection (isolate.py) and
left out with XBN209; every other fold is kept and the model returned, verified. With
`all_or_nothing=True` any failure returns no model instead. A model that cannot be copied, is
not materialised, or does not run on the example inputs raises FoldError.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.nn.parameter import is_lazy

from bnlint import progress, rules
from bnlint.foldkey import fold_key, pair_key, pair_label
from bnlint.ftypes import Direction, Finding, FoldKey, FoldPair, Merge, Skip, Status
from bnlint.matcher import match_folds
from bnlint.runtime.apply import PairRefused, apply_folds_atomically
from bnlint.runtime.capture import Capture, CaptureError, capture_graph
from bnlint.runtime.copying import copy_model
from bnlint.runtime.fold_errors import (
    Originals,
    SiteError,
    measure_fold_errors,
    record_originals,
    site_failures,
    unmeasured,
)
from bnlint.runtime.isolate import isolate
from bnlint.runtime.judge import Outcome, Trials
from bnlint.runtime.kinds import PARALLEL_WRAPPERS
from bnlint.runtime.lazy import uninitialized
from bnlint.runtime.modes import to_eval
from bnlint.runtime.tensors import Keywords
from bnlint.runtime.verify import Verification, closest_tolerance
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
    # max |folded - exact| over the weights and biases of the fold's layers (the rounding of the
    # folded values to the model's dtype), and that over the largest exact value
    max_error: float | None
    relative_error: float | None
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


def fold(
    model: nn.Module,
    example_inputs: Any,
    example_kwargs: Mapping[str, Any] | None = None,
    *,
    inplace: bool = False,
    rtol: float | None = None,
    atol: float | None = None,
    random_inputs: int = 3,
    seed: int = 0,
    all_or_nothing: bool = False,
) -> FoldResult:
    """Fold every BatchNorm of `model` that can be folded and prove the result.

    `example_inputs` is the tuple of positional arguments of `model(*example_inputs)`; anything
    that is not a tuple (a tensor, a dict) is taken as the single argument. `example_kwargs`
    are keyword arguments besides them (`model(pixel_values=x)`: `fold(model, (),
    {"pixel_values": x})`), compared and varied as the positional ones are. The folded model is
    a copy in eval mode; `model` itself is neither run nor changed. With `inplace=True`, `model`
    is folded too (with exactly the folds verified on the copy, all or none of them), keeps its
    train/eval modes, and is returned as `.model`. A model wrapped in DataParallel,
    DistributedDataParallel or torch.compile is unwrapped: the folded copy is the wrapped
    module, and paths are relative to it, as in its state dict without the wrapper's prefix. A
    model sharded by FSDP raises FoldError (no process holds a whole layer).

    `rtol`/`atol` bound the returned model's error as given; by default they are the dtype's
    (1e-4/1e-6 for float32), and a model that amplifies rounding beyond them is judged against
    its own noise instead. `random_inputs` random inputs are compared too when forward() lets
    the input's values steer it. A fold that fails verification is left out (XBN209) and the
    others are kept, unless `all_or_nothing=True`: then any failure returns no model.
    """
    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    if example_kwargs:
        inputs = (*inputs, Keywords(example_kwargs))
    target = _unwrap(model)
    modules = list(target.modules())  # one walk for both checks
    _check_not_sharded(modules)
    _check_materialised(target, modules)
    work = to_eval(_copy(target))
    progress.step("capturing")
    try:
        capture = capture_graph(work, inputs)
    except CaptureError as error:
        raise FoldError(f"the model failed on the example inputs: {error}") from error
    plan = match_folds(capture.graph)
    trials = Trials(
        target,
        work,
        capture,
        inputs,
        rtol=rtol,
        atol=atol,
        random_inputs=random_inputs,
        seed=seed,
        copy=_copy,
    )
    originals = record_originals(work, plan.folds)
    progress.step("folding")
    applied = trials.make(plan.folds)
    progress.step("verifying")
    checked = _check_sites(trials, applied.folds, originals, all_or_nothing)
    outcome, kept, dropped = _judge(trials, checked, all_or_nothing)
    verification = _verification(outcome, rtol, atol, checked.wrong if all_or_nothing else {})
    result_model: nn.Module | None = trials.model if verification.passed else None
    if verification.passed and inplace:
        _fold_in_place(target, kept, capture)
        result_model = model
    folds = tuple(_fold_record(p, checked.errors[p]) for p in kept)
    skipped = tuple(
        _record(skip)
        for skip in plan.skips
        + applied.refused
        + tuple(_not_verified(pair, why) for pair, why in dropped.items())
    )
    _explain(kept, skipped, verification)
    return FoldResult(
        model=result_model,
        folds=folds,
        skipped=skipped,
        verification=verification,
        capture_note=capture.note,
        findings=plan.findings,
    )


def _judge(
    trials: Trials, checked: _SiteCheck, all_or_nothing: bool
) -> tuple[Outcome, tuple[FoldPair, ...], dict[FoldPair, str]]:
    """Judge the folds that passed their site check by the model's outputs: against the
    model's own noise when the default tolerance fails, without the folds nothing can vouch
    for, and, when the outputs still disagree, without the folds found responsible (unless
    all or nothing). Returns the outcome, the folds kept and the ones left out, with why."""
    outcome = trials.judge(checked.kept)
    exact = all(checked.errors[p].exact for p in checked.kept)
    while (
        not outcome.passed
        and not (all_or_nothing and checked.wrong)
        and trials.escalate(exact_sites=exact)
    ):
        outcome = trials.judge(checked.kept)
    kept, dropped = checked.kept, dict(checked.dropped)
    if outcome.passed and not any(c.errors for c in outcome.comparisons):
        # No floating output to compare (class indices): a fold whose layers could not be
        # checked has no evidence at all.
        blind = {
            p: "its layers could not be checked and the model returns no "
            "floating-point output to compare"
            for p in unmeasured(checked.errors)
            if p in kept
        }
        if blind:
            dropped.update(blind)
            kept = tuple(p for p in kept if p not in blind)
            outcome = trials.judge(kept)
    if not outcome.passed and not all_or_nothing and kept:
        isolated = isolate(
            _most_suspicious_first(kept, checked.errors),
            trials.judge,
            outcome,
            budget=_budget(len(kept)),
        )
        kept, outcome = isolated.kept, isolated.outcome or trials.judge(())
        dropped.update(isolated.dropped)
        trials.make(kept)  # the working copy ends with exactly the verified folds
    return outcome, kept, dropped


@dataclass(frozen=True)
class _SiteCheck:
    kept: tuple[FoldPair, ...]
    dropped: dict[FoldPair, str]  # folds left out, and why
    wrong: dict[FoldPair, str]  # every fold found wrong at its layers
    errors: dict[FoldPair, SiteError]


def _check_sites(
    trials: Trials, folds: tuple[FoldPair, ...], originals: Originals, all_or_nothing: bool
) -> _SiteCheck:
    """Check every fold at its own layers; leave out the wrong ones (unless all or nothing).

    A layer folded from both sides is checked with both folds: once one of them is left out,
    the other is checked again on its own."""
    errors = measure_fold_errors(trials.model, folds, originals)
    wrong = site_failures(errors)
    found = dict(wrong)
    kept = tuple(p for p in folds if p not in found)
    while found and not all_or_nothing:
        trials.make(kept)
        rechecked = measure_fold_errors(trials.model, kept, originals)
        errors.update(rechecked)
        found = site_failures(rechecked)
        wrong.update(found)
        kept = tuple(p for p in kept if p not in found)
    if all_or_nothing:
        return _SiteCheck(folds, {}, wrong, errors)
    return _SiteCheck(kept, dict(wrong), wrong, errors)


def _most_suspicious_first(
    pairs: Sequence[FoldPair], errors: dict[FoldPair, SiteError]
) -> list[FoldPair]:
    def suspicion(pair: FoldPair) -> float:
        rounding = errors[pair].rounding
        return math.inf if rounding is None else rounding

    return sorted(pairs, key=suspicion, reverse=True)


def _budget(folds: int) -> int:
    """Judgements allowed to isolate the folds that fail: enough for a few wrong folds among
    any number (each costs about 2 log2 of the number)."""
    return 8 + 4 * max(1, math.ceil(math.log2(folds + 1)))


def _verification(
    outcome: Outcome, rtol: float | None, atol: float | None, wrong: dict[FoldPair, str]
) -> Verification:
    worst_abs, worst_rel = 0.0, 0.0
    for comparison in outcome.comparisons:
        a, r = comparison.worst()
        worst_abs, worst_rel = max(worst_abs, a), max(worst_rel, r)
    chosen_rtol, chosen_atol = closest_tolerance(list(outcome.comparisons), rtol, atol)
    failures = tuple(wrong.values()) + outcome.failures
    return Verification(
        passed=outcome.passed and not wrong,
        inputs_compared=outcome.inputs_compared,
        outputs_compared=sum(len(c.errors) for c in outcome.comparisons),
        max_abs_error=worst_abs,
        max_rel_error=worst_rel,
        rtol=chosen_rtol,
        atol=chosen_atol,
        failures=failures,
        skipped_inputs=outcome.skipped_inputs,
        method=outcome.method,
        noise=outcome.noise,
        notes=outcome.notes,
    )


def _fold_record(pair: FoldPair, error: SiteError) -> FoldRecord:
    return FoldRecord(
        conv=pair_label(pair),
        bn=pair.bn.label,
        direction=pair.direction,
        max_error=error.max_abs,
        relative_error=error.max_rel,
        key=pair_key(pair),
        producers=tuple(c.label for c in pair.producers),
        merge=pair.merge,
    )


def _not_verified(pair: FoldPair, why: str) -> Skip:
    rule = rules.FOLD_FAILED_VERIFICATION
    return Skip(
        bn=pair.bn,
        status=rule.status or Status.UNKNOWN,
        code=rule.code,
        reason=rule.format(bn=pair.bn.describe(), producer=pair_label(pair), detail=why),
        partner=pair.conv,
    )


def _fold_in_place(model: nn.Module, folds: tuple[FoldPair, ...], capture: Capture) -> None:
    """Make on the user's model exactly the folds verified on the copy, or none at all."""
    try:
        apply_folds_atomically(model, folds, capture.foreign_reads, capture.reached_batchnorms)
    except PairRefused as refused:
        # Only a model whose deep copy differs from it gets here: better no fold than one
        # that was not verified.
        raise FoldError(
            f"the model does not fold like its verified copy, so it was not "
            f"changed: {refused.skip.reason}"
        ) from refused


def _unwrap(model: nn.Module) -> nn.Module:
    """The module a DataParallel / DistributedDataParallel / torch.compile wrapper runs."""
    while True:
        if isinstance(model, PARALLEL_WRAPPERS):
            inner = model.module
        elif type(model).__name__ == "OptimizedModule" and isinstance(
            getattr(model, "_orig_mod", None), nn.Module
        ):
            inner = model._orig_mod  # torch.compile's wrapper; its forward is compiled code
        else:
            return model
        log.info("folding the module wrapped by %s", type(model).__name__)
        model = inner


def _check_not_sharded(modules: list[nn.Module]) -> None:
    """FSDP cannot be unwrapped: each process holds a shard of every parameter."""
    sharded = any(  # each class once: a model has hundreds of modules and a few classes
        klass.__name__ in ("FSDPModule", "FullyShardedDataParallel")
        for cls in {type(module) for module in modules}
        for klass in cls.__mro__
    )
    if sharded or any(
        type(p).__name__ in ("DTensor", "FlatParameter")
        for module in modules
        for p in module._parameters.values()
    ):
        raise FoldError(
            "the model is sharded by FSDP (each process holds a shard of its "
            "parameters), so no layer can be rewritten whole; fold an unsharded "
            "copy: build the model without FSDP and load the full state dict "
            "(bnlint fold --checkpoint)"
        )


def _check_materialised(model: nn.Module, modules: list[nn.Module]) -> None:
    on_meta = False
    for module in modules:
        for tensor in (*module._parameters.values(), *module._buffers.values()):
            if tensor is None:
                continue
            if is_lazy(tensor):  # also on the meta device: say what to do about it
                lazy = uninitialized(model)
                shown = ", ".join(f"'{path}'" for path in lazy[:3])
                more = " and more" if len(lazy) > 3 else ""
                raise FoldError(
                    f"the model's lazy layers ({shown}{more}) have no parameters yet: run the "
                    "model once on an example input, then fold it"
                )
            on_meta = on_meta or tensor.is_meta
    if on_meta:
        raise FoldError(
            "the model is on the meta device (its weights are not materialised); "
            "load real weights before folding"
        )


def _copy(model: nn.Module) -> nn.Module:
    try:
        return copy_model(model)
    except Exception as error:  # whatever the model's attributes refuse to copy
        raise FoldError(
            f"cannot copy the model to fold it safely: {type(error).__name__}: {error}"
        ) from error


def _record(skip: Skip) -> SkipRecord:
    return SkipRecord(
        bn=skip.bn.label,
        code=skip.code,
        name=rules.get_rule(skip.code).name,
        status=skip.status,
        reason=skip.reason,
        partner=skip.partner.label if skip.partner else None,
        key=fold_key(skip.partner, skip.bn),
    )


def _explain(
    folds: tuple[FoldPair, ...], skipped: tuple[SkipRecord, ...], verification: Verification
) -> None:
    for pair in folds:
        log.info("folded %s into %s (%s)", pair.bn.label, pair.conv.label, pair.direction.value)
    for skip in skipped:
        log.info("%s %s", skip.code, skip.reason)
        warnings.warn(f"{skip.code} {skip.reason}", FoldWarning, stacklevel=3)
    if not verification.passed:
        log.warning(
            "the folded model failed verification: %s",
            "; ".join(verification.failures) or "no input could be compared",
        )
