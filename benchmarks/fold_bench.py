"""Time the runtime half against torch.fx, in one process, on the same models.

    python benchmarks/fold_bench.py [--repeat 3] [--json FILE]

For every example model (examples/pyproject.toml [tool.bnlint.models], imported by path) and a
generated deep residual network of 521 BatchNorms:

  bnlint      capture + match + apply (what `bnlint.fold` does before verifying: copy the
              model, record one forward pass, match the folds, copy again and fold)
  verify      `bnlint.fold`'s verification: the folded copy against the original on the
              example input and random ones, plus the per-fold error measurement
  fold()      the whole `bnlint.fold(model, inputs)` call
  fx fuse     `torch.fx.experimental.optimization.fuse(model)` (copy, trace, fold Conv+BN)

and the CPU inference latency of the original, the bnlint-folded and the fx-fused model (one
thread, no grad, best of 20), and how far the fx-fused model's output is from the original's
(fx verifies nothing; bnlint's figures are in its verification). Every BatchNorm gets the
statistics of a trained one first: a fresh BatchNorm is the identity, so a wrong fold would
not show. Every time is the best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples" / "src"))

from bnlint.matcher import match_folds  # noqa: E402
from bnlint.runtime.apply import apply_folds  # noqa: E402
from bnlint.runtime.capture import capture_graph  # noqa: E402
from bnlint.runtime.fold import fold  # noqa: E402
from bnlint.runtime.fold_errors import measure_fold_errors  # noqa: E402
from bnlint.runtime.verify import verify_equivalence  # noqa: E402


@dataclass(frozen=True)
class ModelTiming:
    model: str
    batchnorms: int
    bnlint_folds: int
    fx_folds: int | None  # None: torch.fx could not trace the model
    capture_match_apply_ms: float
    verify_ms: float
    fold_total_ms: float
    fx_fuse_ms: float | None
    latency_original_ms: float
    latency_bnlint_ms: float
    latency_fx_ms: float | None
    fx_error: float | None  # max |fx-fused - original| on the input
    note: str = ""


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
        nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        *[_Block(width) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def _models() -> list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]]:
    declared = tomllib.loads((REPO / "examples" / "pyproject.toml").read_text())
    found = []
    for name, spec in declared["tool"]["bnlint"]["models"].items():
        module, factory = spec["factory"].split(":")
        found.append((name, getattr(importlib.import_module(module), factory),
                      tuple(spec["input-shape"])))
    found.append(("deep_residual_net (521 BN)", deep_residual_net, (1, 3, 16, 16)))
    return found


def _trained(model: nn.Module) -> nn.Module:
    """Give every BatchNorm the statistics and affine parameters of a trained one: freshly
    built BatchNorms compute the identity in eval mode, and a wrong fold would go unseen."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                if module.running_mean is not None and module.running_var is not None:
                    module.running_mean.normal_(0, 0.5)
                    module.running_var.uniform_(0.5, 2.0)
                if module.affine:
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0, 0.5)
    return model


def _best(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


def _capture_match_apply(model: nn.Module, inputs: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    reference = copy.deepcopy(model).eval()
    capture = capture_graph(reference, inputs)
    plan = match_folds(capture.graph)
    folded = copy.deepcopy(reference)
    applied = apply_folds(folded, plan.folds, capture.foreign_reads)
    return reference, folded.eval(), applied


def _verify(reference: nn.Module, folded: nn.Module, inputs: tuple[Any, ...],
            applied: Any) -> None:
    verify_equivalence(reference, folded, inputs, random_inputs=3, seed=0, rtol=None, atol=None)
    measure_fold_errors(reference, folded, inputs, applied.folds)


def _latency(model: nn.Module, inputs: tuple[Any, ...]) -> float:
    with torch.no_grad():
        model(*inputs)
        return _best(20, lambda: model(*inputs))[0]


def _count_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def time_model(name: str, factory: Callable[[], nn.Module], shape: tuple[int, ...],
               repeat: int) -> ModelTiming:
    from torch.fx.experimental.optimization import fuse

    torch.manual_seed(0)
    model = _trained(factory().eval())
    inputs = (torch.randn(*shape),)
    batchnorms = _count_bn(model)
    cma, (reference, folded, applied) = _best(repeat, lambda: _capture_match_apply(model, inputs))
    verify, _ = _best(repeat, lambda: _verify(reference, folded, inputs, applied))
    total, result = _best(repeat, lambda: fold(model, inputs))
    fused, fx_ms, note = None, None, ""
    try:
        fx_ms, fused = _best(repeat, lambda: fuse(model))
    except Exception as error:  # torch.fx cannot trace every model; that is the comparison
        note = f"fx fuse fails: {type(error).__name__}: {str(error).splitlines()[0][:80]}"
    return ModelTiming(
        model=name, batchnorms=batchnorms, bnlint_folds=len(result.folds),
        fx_folds=None if fused is None else batchnorms - _count_bn(fused),
        capture_match_apply_ms=cma, verify_ms=verify, fold_total_ms=total, fx_fuse_ms=fx_ms,
        latency_original_ms=_latency(model, inputs),
        latency_bnlint_ms=_latency(result.model if result.model is not None else folded, inputs),
        latency_fx_ms=None if fused is None else _latency(fused, inputs),
        fx_error=None if fused is None else _error(model, fused, inputs), note=note)


def _error(model: nn.Module, other: nn.Module, inputs: tuple[Any, ...]) -> float:
    with torch.no_grad():
        return float((model(*inputs) - other(*inputs)).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the timings to FILE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    import warnings

    warnings.simplefilter("ignore")  # FoldWarning for every BatchNorm left alone
    rows = []
    print(f"{'model':<28} {'BN':>4} {'folds':>5} {'fx':>4} {'cap+match+apply':>15} "
          f"{'verify':>7} {'fold()':>7} {'fx fuse':>8} {'ratio':>6} "
          f"{'lat orig':>8} {'bnlint':>7} {'fx':>7}  (ms)  fx error")
    for name, factory, shape in _models():
        row = time_model(name, factory, shape, args.repeat)
        rows.append(row)
        ratio = f"{row.capture_match_apply_ms / row.fx_fuse_ms:.2f}" if row.fx_fuse_ms else "-"
        print(f"{row.model:<28} {row.batchnorms:>4} {row.bnlint_folds:>5} "
              f"{row.fx_folds if row.fx_folds is not None else '-':>4} "
              f"{row.capture_match_apply_ms:>15.1f} {row.verify_ms:>7.1f} "
              f"{row.fold_total_ms:>7.1f} "
              f"{row.fx_fuse_ms if row.fx_fuse_ms is not None else float('nan'):>8.1f} "
              f"{ratio:>6} {row.latency_original_ms:>8.2f} {row.latency_bnlint_ms:>7.2f} "
              f"{row.latency_fx_ms if row.latency_fx_ms is not None else float('nan'):>7.2f}"
              f"  {'' if row.fx_error is None else f'{row.fx_error:.1e}'} {row.note}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
