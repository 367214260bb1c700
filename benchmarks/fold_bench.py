"""Time `bnlint.fold` against a reference fold and torch.fx, in one process, on the same models.

    python benchmarks/fold_bench.py [--size 64] [--repeat 5] [--models a,b] [--json FILE]

For every model of benchmarks/fold_models.py at full size (DenseNet-121, ResNet-50,
EfficientNet-B0 and its TensorFlow-"same"-padding port, a RetinaNet-style detector, ShuffleNet
V2, split-attention and selective-kernel ResNets, an octave ResNet), the example zoo
(examples/pyproject.toml [tool.bnlint.models]) and a generated residual network of 521
BatchNorms:

  fold()     the whole `bnlint.fold(model, inputs)` call: copy, capture, match, apply, the
             per-fold check and the verification
  reference  what the least a folder must do: copy the model, one forward pass with a hook on
             every layer recording which module's output each BatchNorm reads, and
             `torch.nn.utils.fusion.fuse_conv_bn_eval` on each such pair (no checks at all)
  fx fuse    `torch.fx.experimental.optimization.fuse(model)`: copy, symbolic trace, fold
             Conv2d+BatchNorm2d pairs (fails on models fx cannot trace)

Times are CPU time of this process (`time.process_time`, one torch thread, the garbage
collector off while a tool runs, as timeit does), the best of `--repeat` runs taken in turn,
so that other work on the machine does not count. Every
BatchNorm gets the statistics of a trained one first (a fresh one is the identity and a wrong
fold would not show). `error` is the largest relative difference of the folded model's output
from the original's on the example input (fx verifies nothing).
"""

from __future__ import annotations

import argparse
import copy
import gc
import importlib
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomllib
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples" / "src"))

from benchmarks import fold_models  # noqa: E402
from bnlint.runtime.fold import fold  # noqa: E402
from bnlint.runtime.tensors import tensors  # noqa: E402


@dataclass(frozen=True)
class ModelTiming:
    model: str
    batchnorms: int
    bnlint_folds: int
    reference_folds: int
    fx_folds: int | None  # None: torch.fx could not trace the model
    fold_ms: float
    reference_ms: float
    fx_ms: float | None
    judged: str  # how bnlint's verification judged the error: tolerance, float64, noise
    bnlint_error: float  # max relative error of bnlint's folded model on the example input
    fx_error: float | None
    note: str = ""

    @property
    def over_reference(self) -> float:
        return self.fold_ms / self.reference_ms

    @property
    def over_fx(self) -> float | None:
        return None if self.fx_ms is None else self.fold_ms / self.fx_ms


# ---- the reference ---------------------------------------------------------------------------


def reference_fold(model: nn.Module, inputs: tuple[Any, ...]) -> tuple[nn.Module, int]:
    """Copy, record in one forward pass which layer's output each BatchNorm reads, and fold
    every such Conv2d+BatchNorm2d pair with torch's own `fuse_conv_bn_eval`."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model)
    made_by: dict[int, tuple[torch.Tensor, nn.Module]] = {}
    pairs: dict[nn.Module, nn.Module] = {}

    def record(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if isinstance(module, nn.BatchNorm2d) and args:
            source = made_by.get(id(args[0]))
            if source is not None and source[0] is args[0]:
                pairs.setdefault(module, source[1])
        if isinstance(output, torch.Tensor):
            made_by[id(output)] = (output, module)  # kept alive: ids are not reused

    leaves = [m for m in model.modules() if not next(m.children(), None)]
    handles = [m.register_forward_hook(record) for m in leaves]
    with torch.no_grad():
        model(*inputs)
    for handle in handles:
        handle.remove()
    names = {module: name for name, module in model.named_modules()}
    folded = 0
    for bn, conv in pairs.items():
        if type(conv) is nn.Conv2d and conv in names and bn.running_mean is not None:
            _replace(model, names[conv], fuse_conv_bn_eval(conv, bn))
            _replace(model, names[bn], nn.Identity())
            folded += 1
    return model, folded


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent), name, new)


# ---- the models ------------------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(x + self.bn2(self.conv2(out)))


def deep_residual_net(blocks: int = 260, width: int = 8) -> nn.Module:
    """A ResNet-like stack of `blocks` residual blocks: 2 * blocks + 1 BatchNorms."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        *[_Block(width) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


LARGE: dict[str, Callable[[], nn.Module]] = {
    "densenet121": fold_models.densenet121,
    "resnet50": fold_models.resnet50,
    "efficientnet_b0": fold_models.efficientnet_b0,
    "tf_efficientnet_b0": fold_models.tf_efficientnet_b0,
    "retinanet_resnet50": fold_models.retinanet_resnet50,
    "shufflenet_v2": fold_models.ShuffleNetV2,
    "resnest50_split_attention": lambda: fold_models.AttentionResNet("split"),
    "sknet50_selective_kernel": lambda: fold_models.AttentionResNet("selective"),
    "octave_resnet50": fold_models.OctaveResNet,
    "deep_residual_net (521 BN)": deep_residual_net,
}


def models(size: int) -> list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]]:
    found = [(name, factory, (1, 3, size, size)) for name, factory in LARGE.items()]
    declared = tomllib.loads((REPO / "examples" / "pyproject.toml").read_text())
    for name, spec in declared["tool"]["bnlint"]["models"].items():
        module, factory = spec["factory"].split(":")
        found.append(
            (name, getattr(importlib.import_module(module), factory), tuple(spec["input-shape"]))
        )
    return found


# ---- timing ----------------------------------------------------------------------------------


def _cpu_ms(work: Callable[[], Any]) -> tuple[float, Any]:
    """CPU time of `work()` with the garbage collector off, as timeit runs it: a collection
    triggered by one tool would otherwise scan the objects the others left behind."""
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        result = work()
        return (time.process_time() - started) * 1000, result
    finally:
        gc.enable()


def _count_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _relative_error(model: nn.Module, other: nn.Module, inputs: tuple[Any, ...]) -> float:
    with torch.no_grad():
        want, got = tensors(model(*inputs)), tensors(other(*inputs))
    worst = 0.0
    for a, b in zip(want, got, strict=False):  # a structure that differs stops short
        if a.is_floating_point() and a.shape == b.shape and a.numel():
            scale = float(a.abs().max()) or 1.0
            worst = max(worst, float((a.double() - b.double()).abs().max()) / scale)
    return worst


def time_model(
    name: str, factory: Callable[[], nn.Module], shape: tuple[int, ...], repeat: int
) -> ModelTiming:
    from torch.fx.experimental.optimization import fuse

    torch.manual_seed(0)
    model = fold_models.trained_statistics(factory().eval())
    inputs = (torch.randn(*shape),)
    best = {"fold": float("inf"), "reference": float("inf"), "fx": float("inf")}
    result = reference = fused = None
    note = ""
    for _ in range(repeat):  # in turn, so that a busy moment hurts all three alike
        result = reference = fused = None  # nothing of the last round stays alive
        elapsed, result = _cpu_ms(lambda: fold(model, inputs))
        best["fold"] = min(best["fold"], elapsed)
        elapsed, reference = _cpu_ms(lambda: reference_fold(model, inputs))
        best["reference"] = min(best["reference"], elapsed)
        if note:
            continue
        try:
            elapsed, fused = _cpu_ms(lambda: fuse(model))
            best["fx"] = min(best["fx"], elapsed)
        except Exception as error:  # torch.fx cannot trace every model; that is the point
            note = f"fx fails: {type(error).__name__}: {str(error).splitlines()[0][:60]}"
    assert result is not None and reference is not None
    folded_model = result.model if result.model is not None else model
    return ModelTiming(
        model=name,
        batchnorms=_count_bn(model),
        bnlint_folds=len(result.folds),
        reference_folds=reference[1],
        fx_folds=None if fused is None else _count_bn(model) - _count_bn(fused),
        fold_ms=best["fold"],
        reference_ms=best["reference"],
        fx_ms=None if fused is None else best["fx"],
        judged=result.verification.method,
        bnlint_error=_relative_error(model, folded_model, inputs),
        fx_error=None if fused is None else _relative_error(model, fused, inputs),
        note=note,
    )


HEADER = (
    "| model | BN | folds bnlint / reference / fx | `fold()` ms | reference ms | fx ms "
    "| ÷ reference | ÷ fx | judged | error bnlint / fx |"
)


def row(t: ModelTiming) -> str:
    fx_folds = "fails" if t.fx_folds is None else str(t.fx_folds)
    fx_ms = "-" if t.fx_ms is None else f"{t.fx_ms:.1f}"
    over_fx = "-" if t.over_fx is None else f"{t.over_fx:.2f}"
    fx_error = "-" if t.fx_error is None else f"{t.fx_error:.0e}"
    return (
        f"| {t.model} | {t.batchnorms} | {t.bnlint_folds} / {t.reference_folds} / "
        f"{fx_folds} | {t.fold_ms:.1f} | {t.reference_ms:.1f} | {fx_ms} | "
        f"{t.over_reference:.2f} | {over_fx} | {t.judged} | {t.bnlint_error:.0e} / "
        f"{fx_error} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        type=int,
        default=64,
        help="height and width of the input of the large models (default 64)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--json", type=Path, help="also write the timings to FILE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # a FoldWarning for every BatchNorm left alone
    wanted = set(args.models.split(",")) if args.models else None
    rows = []
    print(HEADER)
    print("|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    for name, factory, shape in models(args.size):
        if wanted is not None and name not in wanted:
            continue
        timing = time_model(name, factory, shape, args.repeat)
        rows.append(timing)
        print(row(timing) + (f" {timing.note}" if timing.note else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
