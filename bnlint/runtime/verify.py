"""Proving the folded model computes what the original computes.

Both models run on the example inputs and on `random_inputs` random inputs of the same
structure, shapes and dtypes (floating tensors drawn with the example's mean and spread, integer
tensors within the example's range, everything else copied). Each floating output tensor must
satisfy  max|folded - original| <= atol + rtol * max|original| : the tolerance scales with the
output's magnitude, not element by element, so outputs near zero do not fail on noise.

Every forward pass of either model runs with the global RNG seeded the same way, and the
caller's RNG state is restored afterwards: a model that draws random numbers in eval mode
(`F.dropout(x, p)` leaves `training=True` by default) then draws the same numbers in both
models, so what is compared is the fold, not two different dropout masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from bnlint.runtime.tensors import leaves, map_tensors

# (rtol, atol) by output dtype. A fold changes rounding once per folded layer; errors then
# travel through the rest of the network, so the relative bound sits a few decades above the
# dtype's machine epsilon (fp32 ~1e-7, fp16 ~1e-3, bf16 ~8e-3).
DEFAULT_TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-9, 1e-12),
    torch.float32: (1e-4, 1e-6),
    torch.float16: (2e-2, 1e-3),
    torch.bfloat16: (6e-2, 1e-2),
}


@dataclass(frozen=True)
class Verification:
    passed: bool
    inputs_compared: int  # the example inputs plus the random inputs the original accepted
    outputs_compared: int  # floating tensors compared, over all inputs
    max_abs_error: float
    max_rel_error: float  # max over outputs of max|folded - original| / max|original|
    rtol: float  # the tolerance of the output that came closest to failing
    atol: float
    failures: tuple[str, ...] = ()
    skipped_inputs: tuple[str, ...] = ()  # random inputs the original model itself rejected


def tolerance(dtype: torch.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES[torch.float32])
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


# The seed of the RNG while a model runs; the same for the original and the folded model.
FORWARD_SEED = 0


def run_seeded(model: Callable[..., Any], inputs: tuple[Any, ...]) -> Any:
    """`model(*inputs)` without autograd, under a fixed RNG seed, leaving the caller's RNG as
    it was, on a fresh copy of the inputs: a forward that writes into its input in place
    (`x.mul_(2)`) changes neither the caller's tensors nor what the next run sees."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(FORWARD_SEED)
        return model(*fresh_copy(inputs))


def fresh_copy(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    return map_tensors(inputs, lambda tensor: tensor.detach().clone())


def random_like(example_inputs: tuple[Any, ...], seed: int) -> tuple[Any, ...]:
    """Inputs of the same structure, shapes and dtypes as the example, drawn reproducibly."""
    generator = torch.Generator().manual_seed(seed)

    def draw(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.is_floating_point():
            sample = tensor.detach().double()
            mean = float(sample.mean()) if sample.numel() else 0.0
            std = float(sample.std()) if sample.numel() > 1 else 1.0
            if not math.isfinite(mean) or not math.isfinite(std) or std == 0.0:
                mean, std = 0.0, 1.0
            noise = torch.randn(tensor.shape, generator=generator, dtype=torch.float64)
            return (noise * std + mean).to(dtype=tensor.dtype, device=tensor.device)
        if tensor.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
            if tensor.numel() == 0:
                return tensor.clone()
            low, high = int(tensor.min()), int(tensor.max())
            drawn = torch.randint(low, high + 1, tensor.shape, generator=generator)
            return drawn.to(dtype=tensor.dtype, device=tensor.device)
        return tensor.clone()  # bool masks and other dtypes carry meaning: keep them

    return map_tensors(example_inputs, draw)


def verify_equivalence(original: nn.Module, folded: nn.Module, example_inputs: tuple[Any, ...],
                       *, random_inputs: int = 3, seed: int = 0, rtol: float | None = None,
                       atol: float | None = None) -> Verification:
    """Compare the two models' outputs; both must already be in the mode they are used in."""
    checks = [("the example inputs", example_inputs)]
    checks += [(f"random input {i + 1}", random_like(example_inputs, seed + i))
               for i in range(random_inputs)]
    failures: list[str] = []
    skipped: list[str] = []
    worst = _Worst()
    compared_inputs = compared_outputs = 0
    for name, inputs in checks:
        try:
            expected = run_seeded(original, inputs)
        except Exception as error:  # a random input the model does not accept
            skipped.append(f"{name}: the original model raised {type(error).__name__}: {error}")
            continue
        try:
            actual = run_seeded(folded, inputs)
        except Exception as error:
            failures.append(f"{name}: the folded model raised {type(error).__name__}: {error}")
            continue
        compared_inputs += 1
        compared_outputs += _compare(name, expected, actual, rtol, atol, worst, failures)
    return Verification(passed=not failures and compared_inputs > 0,
                        inputs_compared=compared_inputs, outputs_compared=compared_outputs,
                        max_abs_error=worst.abs_error, max_rel_error=worst.rel_error,
                        rtol=worst.rtol, atol=worst.atol, failures=tuple(failures),
                        skipped_inputs=tuple(skipped))


class _Worst:
    """The largest errors seen, and the tolerance of the output closest to failing."""

    def __init__(self) -> None:
        self.abs_error = self.rel_error = 0.0
        self.ratio = -1.0
        self.rtol, self.atol = tolerance(torch.float32, None, None)

    def see(self, abs_error: float, scale: float, rtol: float, atol: float) -> None:
        self.abs_error = max(self.abs_error, abs_error)
        self.rel_error = max(self.rel_error, abs_error / scale if scale > 0 else abs_error)
        bound = atol + rtol * scale
        ratio = abs_error / bound if bound > 0 else (math.inf if abs_error > 0 else 0.0)
        if ratio > self.ratio:
            self.ratio, self.rtol, self.atol = ratio, rtol, atol


def _compare(name: str, expected: Any, actual: Any, rtol: float | None, atol: float | None,
             worst: _Worst, failures: list[str]) -> int:
    want, got = dict(leaves(expected)), dict(leaves(actual))
    if want.keys() != got.keys():
        failures.append(f"{name}: the folded model returns a different structure "
                        f"({sorted(got)} instead of {sorted(want)})")
        return 0
    compared = 0
    for path, reference in want.items():
        result = got[path]
        where = f"{name}, output{path}"
        if not reference.is_floating_point():
            continue  # indices and masks: a tie may flip; the floating outputs carry the proof
        if result.shape != reference.shape or result.dtype != reference.dtype:
            failures.append(f"{where}: shape/dtype {tuple(result.shape)}/{result.dtype} instead "
                            f"of {tuple(reference.shape)}/{reference.dtype}")
            continue
        compared += 1
        r, a = tolerance(reference.dtype, rtol, atol)
        abs_error, scale, mismatched_nonfinite = tensor_error(reference, result)
        worst.see(abs_error, scale, r, a)
        if mismatched_nonfinite:
            failures.append(f"{where}: NaN/infinity where the original has none (or vice versa)")
        elif abs_error > a + r * scale:
            failures.append(f"{where}: max error {abs_error:.3g} exceeds {a:.3g} + {r:.3g} x "
                            f"{scale:.3g} (the output's magnitude)")
    return compared


def tensor_error(reference: torch.Tensor, result: torch.Tensor) -> tuple[float, float, bool]:
    """(max abs error over finite entries, max |reference|, non-finite patterns differ)."""
    ref, res = reference.detach().double(), result.detach().double()
    finite = torch.isfinite(ref)
    mismatched = bool((finite != torch.isfinite(res)).any()) or not bool(
        (ref[~finite].nan_to_num(0.0) == res[~finite].nan_to_num(0.0)).all())
    if not bool(finite.any()):
        return 0.0, 0.0, mismatched
    abs_error = float((ref[finite] - res[finite]).abs().max())
    scale = float(ref[finite].abs().max())
    return abs_error, scale, mismatched
