"""The runtime flavour of `bnlint graph MODULE:FACTORY --input-shape ...`: the model built,
one forward pass recorded, its folds matched and tried on a copy, exactly as `bnlint fold`
decides them. Imports torch; the CLI loads this module only for a runtime target."""

from __future__ import annotations

import copy
import logging
from typing import Any

from bnlint import progress
from bnlint.ftypes import FoldPlan
from bnlint.matcher import match_folds
from bnlint.picture.static_graph import RootGraph, TargetError
from bnlint.runtime.apply import apply_folds
from bnlint.runtime.capture import CaptureError, capture_graph
from bnlint.runtime.loading import SetupError, build_inputs, build_model
from bnlint.runtime.targets import RuntimeTarget, importable_from

log = logging.getLogger("bnlint.picture")


def runtime_root_graph(target: RuntimeTarget) -> RootGraph:
    progress.step("building", target.name or target.factory)
    try:
        with importable_from(target.import_roots):
            model = build_model(target.factory, target.kwargs, None)
            inputs = build_inputs(target.shapes, target.inputs, None)
    except SetupError as error:
        raise TargetError(str(error)) from error
    model.eval()
    progress.step("capturing")
    try:
        capture = capture_graph(model, inputs)
    except CaptureError as error:
        raise TargetError(f"the model failed on the example inputs: {error}") from error
    plan = match_folds(capture.graph)
    progress.step("folding")
    return RootGraph(target.factory, capture.graph, _tried(model, plan))


def _tried(model: Any, plan: FoldPlan) -> FoldPlan:
    """The plan after folding a copy: a pair this model object refuses (invalid statistics,
    a shared weight) is drawn as the skip `bnlint fold` reports."""
    try:
        trial = copy.deepcopy(model)
    except Exception as error:  # whatever the model's attributes refuse to copy
        log.warning("cannot copy the model to try its folds (%s); drawing the matched plan", error)
        return plan
    applied = apply_folds(trial, plan.folds)
    return FoldPlan(folds=applied.folds, skips=plan.skips + applied.refused, findings=plan.findings)
