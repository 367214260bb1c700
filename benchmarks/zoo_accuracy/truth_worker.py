"""One worker process of runtime_truth.py: plans or observes models one after another, writing
one result file per model, so that a crash or a timeout loses only the model it happened on.

    python truth_worker.py plan|run CACHE_DIR TASK_FILE
    python truth_worker.py list CACHE_DIR ZOO

`list` writes the zoo's candidates (model id and family) to CACHE_DIR/candidates/ZOO.json.
`plan` builds a model on the meta device (no memory, no init cost) and records its size and
structure, from which the supervisor picks representatives. `run` builds it for real (random
initialisation, eval mode, BatchNorm statistics randomised), finds inputs it accepts, and lets
bnlint's runtime checker fold it: every BatchNorm's verdict, by fold key."""

from __future__ import annotations

import inspect
import json
import re
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from bnlint.confirm.observe import observation_of
from bnlint.runtime.fold import fold
from bnlint.runtime.kinds import class_name

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_models import CANDIDATES, Built, build  # noqa: E402


def result_path(cache: Path, mode: str, model_id: str) -> Path:
    zoo, _, name = model_id.partition(":")
    return cache / mode / zoo / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".json")


def current_path(cache: Path, model_id: str) -> Path:
    """Where a worker names the model it is on: one file per zoo, so that zoos can run side
    by side."""
    return cache / f"current-{model_id.partition(':')[0]}.json"


def plan(model_id: str) -> dict[str, Any]:
    """Size and structure (on the meta device when the model allows it): the parameter count,
    the classes that hold a BatchNorm, and for each module holding one, its class with its
    children's names and classes (digits dropped, so repeated blocks and deeper stages of the
    same design look alike). A child held by more than one parent is marked shared: a layer
    handed from block to block folds differently from one each block owns; a conv or
    BatchNorm subclass carries its boolean switches."""
    try:
        with torch.device("meta"):
            model = build(model_id).model
    except Exception:  # __init__ reads a tensor's value: build it for real (slower)
        model = build(model_id).model
    holders = [
        module
        for module in model.modules()
        if any(isinstance(inner, _BatchNorm) for inner in module.modules())
    ]
    parents = Counter(id(child) for module in model.modules() for child in module.children())
    shapes = {
        class_name(type(module))
        + "("
        + ",".join(
            sorted(
                {
                    re.sub(r"\d+", "#", name)
                    + ":"
                    + class_name(type(child))
                    + ("[shared]" if parents[id(child)] > 1 else "")
                    + _layer_flags(child)
                    for name, child in module.named_children()
                }
            )
        )
        + ")"
        for module in holders
    }
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "bn_classes": sorted({class_name(type(module)) for module in holders}),
        "shapes": sorted(shapes),
    }


def _layer_flags(child: nn.Module) -> str:
    """The switches of a conv or BatchNorm subclass (a conv that binarizes its weight when
    `binarized`): they change what its forward() computes, so they are part of the shape."""
    if not isinstance(child, (nn.modules.conv._ConvNd, _BatchNorm)):
        return ""
    if type(child).__module__.startswith("torch."):
        return ""
    flags = sorted(
        f"{name}={value}"
        for name, value in vars(child).items()
        if isinstance(value, bool) and not name.startswith("_") and name != "training"
    )
    return f"[{','.join(flags)}]" if flags else ""


def run(model_id: str) -> dict[str, Any]:
    built = build(model_id)
    model = built.model.eval()
    _randomise_batchnorms(model)
    inputs = _accepted_inputs(model, built)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every BatchNorm left alone is in the verdicts
        observation = observation_of(model, fold(model, inputs))
    verdicts = Counter(
        (
            v.owner,
            v.conv or "",
            v.bn,
            v.direction.value if v.direction else "",
            v.status.value,
            v.code or "",
        )
        for v in (b.verdict for b in observation.batchnorms)
    )
    owners = {owner for owner, *_ in verdicts}
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "input": _describe(inputs),
        "verified": observation.verified,
        "verification": observation.verification,
        "verdicts": [[*key, count] for key, count in sorted(verdicts.items())],
        "classes": {
            name: where
            for module in model.modules()
            if (name := class_name(type(module))) in owners
            for where in [_definition(type(module))]
        },
    }


def _randomise_batchnorms(model: nn.Module) -> None:
    """Statistics and affine parameters far from their identity init, so that a wrong fold
    changes the output visibly."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _BatchNorm):
                continue
            for tensor, low, high in (
                (module.running_mean, -0.5, 0.5),
                (module.running_var, 0.5, 2.0),
                (module.weight, 0.5, 1.5),
                (module.bias, -0.5, 0.5),
            ):
                if tensor is not None and tensor.is_floating_point():
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)


def _accepted_inputs(model: nn.Module, built: Built) -> tuple[Any, ...]:
    """The first example inputs the model runs on; the last error when none is."""
    error: Exception | None = None
    for inputs in built.inputs:
        try:
            with torch.no_grad():
                model(*inputs)
            return inputs
        except Exception as failure:  # a zoo model may reject a size in any way
            error = failure
    raise RuntimeError(f"no example input accepted: {type(error).__name__}: {error}")


def _describe(inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return list(inputs.shape)
    if isinstance(inputs, (list, tuple)):
        return [_describe(item) for item in inputs]
    return type(inputs).__name__


def _definition(cls: type) -> str:
    """`path/inside/package.py:line` of a class, the path from its top package on."""
    try:
        path = Path(inspect.getsourcefile(cls) or "")
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return ""
    top = cls.__module__.split(".")[0]
    parts = path.parts
    start = max(i for i, part in enumerate(parts) if part == top) if top in parts else 0
    return f"{Path(*parts[start:])}:{line}"


def main() -> None:
    mode, cache, tasks = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    torch.set_num_threads(1)
    if mode == "list":
        zoo = str(tasks)
        target = cache / "candidates" / f"{zoo}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps([[c.id, c.family] for c in CANDIDATES[zoo]()]))
        return
    work = {"plan": plan, "run": run}[mode]
    for model_id in tasks.read_text().split():
        target = result_path(cache, mode, model_id)
        if target.exists():
            continue
        _write_atomically(current_path(cache, model_id), {"id": model_id, "mode": mode})
        started = time.perf_counter()
        try:
            result = {"status": "ok", **work(model_id)}
        except Exception as error:
            last = traceback.extract_tb(error.__traceback__)[-1]
            result = {
                "status": "failed",
                "error": f"{type(error).__name__}: {error}"[:400],
                "where": f"{Path(last.filename).name}:{last.lineno}",
            }
        result.update(id=model_id, seconds=round(time.perf_counter() - started, 2))
        _write_atomically(target, result)


def _write_atomically(target: Path, value: Any) -> None:
    """The supervisor reads these files while the worker runs: never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(".tmp")
    scratch.write_text(json.dumps(value))
    scratch.replace(target)


if __name__ == "__main__":
    main()
