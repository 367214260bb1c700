"""Building a declared model and letting the runtime checker fold it: the runtime side of
`--confirm`, reduced to the torch-free ModelObservation the comparison reads."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from bnlint import progress
from bnlint.config import ModelSpec
from bnlint.confirm.sites import ConstructionSites, construction_sites
from bnlint.ftypes import (
    Direction,
    FoldKey,
    ModelModule,
    ModelObservation,
    RuntimeBatchNorm,
    SideVerdict,
    Status,
)
from bnlint.runtime import kinds
from bnlint.runtime.fold import FoldResult, fold
from bnlint.runtime.lazy import materialize
from bnlint.runtime.loading import SetupError, build_inputs, build_model
from bnlint.runtime.targets import declared_shapes, importable_from
from bnlint.static.source import module_name_for


def observe_model(spec: ModelSpec, *, import_roots: Sequence[Path] = ()) -> ModelObservation:
    """Build `spec`'s model and inputs (its modules imported from `import_roots` first), fold
    it, and report every BatchNorm. Raises SetupError or FoldError naming the cause."""
    if spec.input_shape is None and spec.inputs is None:
        raise SetupError("declares neither input-shape nor inputs")
    shapes = declared_shapes(spec)
    progress.step("building", spec.name)
    with importable_from(import_roots):
        with construction_sites() as sites:
            model = build_model(spec.factory, dict(spec.kwargs), None)
        inputs = build_inputs(shapes, spec.inputs, None)
        materialize(model, inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every skip is in the table
        result = fold(model, inputs)
    return observation_of(model, result, sites)


def observation_of(
    model: nn.Module, result: FoldResult, sites: ConstructionSites | None = None
) -> ModelObservation:
    """`result` (of folding `model`) as BatchNorm verdicts named by fold key, with where each
    module was built when `sites` recorded the building of `model`."""
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module  # fold() folds the wrapped module: its paths are the ones named
    static = static_names(model)
    modules = tuple(
        ModelModule(
            path=path,
            class_name=static.get(kinds.class_name(type(module)), kinds.class_name(type(module))),
            is_plain_container=type(module) in kinds.PLAIN_CONTAINERS,
            built_at=sites.of(module) if sites is not None else None,
        )
        for path, module in model.named_modules(remove_duplicate=False)
    )
    batchnorms = [
        RuntimeBatchNorm(
            path=f.bn,
            partner=f.conv,
            verdict=_verdict(f.key, Status.FOLDABLE, f.direction, None, None, static),
        )
        for f in result.folds
    ]
    batchnorms += [
        RuntimeBatchNorm(
            path=s.bn,
            partner=s.partner,
            verdict=_verdict(s.key, s.status, None, s.code, s.reason, static),
        )
        for s in result.skipped
    ]
    v = result.verification
    figures = (
        f"{v.inputs_compared} inputs compared, max abs error {v.max_abs_error:.3g}, "
        f"max relative error {v.max_rel_error:.3g}"
    )
    verification = (
        figures
        if v.passed
        else f"FAILED: {'; '.join(v.failures) or 'no input could be compared'} ({figures})"
    )
    return ModelObservation(
        modules=modules, batchnorms=tuple(batchnorms), verified=v.passed, verification=verification
    )


def static_names(model: nn.Module) -> dict[str, str]:
    """The model's classes that the static half names otherwise than Python does, by the
    name Python gives them: a module of a directory without __init__.py (a namespace
    package) is `app.model` to the import that built the model and `model` to the static
    half, which names a module from its file alone."""
    renamed: dict[str, str] = {}
    for module in model.modules():
        cls = type(module)
        python = kinds.class_name(cls)
        if python in renamed or cls.__module__.startswith("torch."):
            continue
        try:
            source = inspect.getsourcefile(cls)
        except (TypeError, OSError):  # a class made at run time
            continue
        if source is None or not source.endswith(".py"):
            continue
        module_name = module_name_for(Path(source))[0]
        if cls.__module__ != module_name and cls.__module__.endswith(f".{module_name}"):
            renamed[python] = f"{module_name}.{cls.__qualname__}"
    return renamed


def _verdict(
    key: FoldKey,
    status: Status,
    direction: Direction | None,
    code: str | None,
    reason: str | None,
    static: dict[str, str],
) -> SideVerdict:
    return SideVerdict(
        owner=static.get(key.owner, key.owner),
        conv=key.conv or None,
        bn=key.bn,
        direction=direction,
        status=status,
        code=code,
        reason=reason,
    )
