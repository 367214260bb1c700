"""Proving the folded model computes what the original computes.

The folded model runs on the example inputs (and, when forward() lets the input's values steer
it, on random inputs of the same structure, shapes and dtypes: floating tensors drawn with the
example's mean and spread, integer tensors within the example's range, everything else copied).
Each floating output tensor is compared with the original's: by default it must satisfy
max|folded - original| <= atol + rtol * max|original| : the tolerance scales with the output's
magnitude, not element by element, so outputs near zero do not fail on noise. What happens when
it does not is decided in judge.py.

Every forward pass of either model runs with the global RNG seeded the same way, and the
caller's RNG state is restored afterwards: a model that draws random numbers in eval mode
(`F.dropout(x, p)` leaves `training=True` by default) then draws the same numbers in both
models, so what is compared is the fold, not two different dropout masks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bnlint.runtime.tensors import call, leaves, map_tensors, tensors

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
    max_abs_error: float  # of the returned model against the original, in the model's dtype
    max_rel_error: float  # max over outputs of max|folded - original| / max|original|
    rtol: float  # the tolerance of the output that came closest to failing
    atol: float
    failures: tuple[str, ...] = ()
    skipped_inputs: tuple[str, ...] = ()  # random inputs the original model itself rejected
    # How the error was judged: "tolerance" (within atol + rtol x the output's magnitude) or
    # "noise" (within a few times the original's own deviation when its weights move by one
    # rounding; see judge.py).
    method: str = "tolerance"
    noise: float | None = None  # that deviation, relative to the output, when it was measured
    notes: tuple[str, ...] = ()  # differences the judgement explains (a threshold that flips)


def tolerance(dtype: torch.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES[torch.float32])
    return (default_rtol if rtol is None else rtol, default_atol if atol is None else atol)


# The seed of the RNG while a model runs; the same for the original and the folded model.
FORWARD_SEED = 0


def run_seeded(model: Callable[..., Any], inputs: tuple[Any, ...]) -> Any:
    """`model(*inputs)` without autograd, under a fixed RNG seed, leaving the caller's RNG as
    it was, on a fresh copy of the inputs: a forward that writes into its input in place
    (`x.mul_(2)`) changes neither the caller's tensors nor what the next run sees."""
    with seeded_rng(), torch.no_grad():
        return call(model, fresh_copy(inputs))


@contextlib.contextmanager
def seeded_rng() -> Iterator[None]:
    """The global RNG seeded with FORWARD_SEED inside, and the caller's state back after.

    CPU always; the CUDA devices too once CUDA is in use. (torch.manual_seed would also
    queue a seed for a CUDA not yet started, taking a stack trace each time: a cost per
    forward pass that a model on the CPU has no use for.)"""
    if _cuda_started():
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            torch.default_generator.manual_seed(FORWARD_SEED)
            torch.cuda.manual_seed_all(FORWARD_SEED)
            yield
        return
    # The CPU generator alone: what fork_rng does for it, without its checks of devices and
    # arguments (a few microseconds a pass, and there are several passes per fold).
    saved = torch.default_generator.get_state()
    torch.default_generator.manual_seed(FORWARD_SEED)
    try:
        yield
    finally:
        torch.default_generator.set_state(saved)


# torch.cuda.is_initialized carries no annotations; this says what it returns.
_cuda_started: Callable[[], bool] = torch.cuda.is_initialized


def fresh_copy(inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    copied = map_tensors(inputs, lambda tensor: tensor.detach().clone())
    assert isinstance(copied, tuple)
    return copied


def random_inputs_like(
    example_inputs: tuple[Any, ...], seeds: Sequence[int]
) -> list[tuple[Any, ...]]:
    """Inputs of the same structure, shapes and dtypes as the example, one set drawn
    reproducibly from the generator seeded with each seed; each example tensor's mean and
    spread (or range) are read once for all the sets."""
    spreads: dict[int, _Spread] = {}
    for tensor in tensors(example_inputs):
        if id(tensor) not in spreads:
            spreads[id(tensor)] = _spread(tensor)
    generator = torch.Generator()

    def drawn(seed: int) -> tuple[Any, ...]:
        generator.manual_seed(seed)  # as a new generator seeded so: nothing drawn is carried
        inputs = map_tensors(
            example_inputs,
            lambda tensor: (spreads.get(id(tensor)) or _spread(tensor)).draw(generator),
        )
        assert isinstance(inputs, tuple)
        return inputs

    return [drawn(seed) for seed in seeds]


@dataclass(frozen=True)
class _Spread:
    """What a random tensor like an example tensor is drawn from."""

    example: torch.Tensor
    mean: float = 0.0  # floating tensors: drawn with the example's mean and spread
    std: float = 1.0
    low: int = 0  # integer tensors: drawn within the example's range
    high: int = 0

    def draw(self, generator: torch.Generator) -> torch.Tensor:
        tensor = self.example
        if tensor.is_floating_point():
            # One kernel (mean + std * a normal draw), in float32 at least.
            drawn = torch.normal(
                self.mean,
                self.std,
                tuple(tensor.shape),
                generator=generator,
                dtype=_at_least_float32(tensor.dtype),
            )
            return drawn.to(dtype=tensor.dtype, device=tensor.device)
        if tensor.dtype in _INTEGER_DTYPES and tensor.numel():
            drawn = torch.randint(self.low, self.high + 1, tensor.shape, generator=generator)
            return drawn.to(dtype=tensor.dtype, device=tensor.device)
        return tensor.clone()  # bool masks and other dtypes carry meaning: keep them


_INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _at_least_float32(dtype: torch.dtype) -> torch.dtype:
    return dtype if torch.finfo(dtype).bits >= 32 else torch.float32


def _spread(tensor: torch.Tensor) -> _Spread:
    if tensor.is_floating_point():
        sample = tensor.detach().to(_at_least_float32(tensor.dtype))
        mean, std = 0.0, 1.0
        if sample.numel() > 1:
            spread, centre = torch.std_mean(sample)
            mean, std = float(centre), float(spread)
        elif sample.numel():
            mean = float(sample)
        if not math.isfinite(mean) or not math.isfinite(std) or std == 0.0:
            mean, std = 0.0, 1.0
        return _Spread(tensor, mean, std)
    if tensor.dtype in _INTEGER_DTYPES and tensor.numel():
        return _Spread(tensor, low=int(tensor.min()), high=int(tensor.max()))
    return _Spread(tensor)


@dataclass(frozen=True)
class OutputError:
    """One floating output tensor of the folded model against the original's."""

    where: str  # "the example inputs, output[0]"
    abs_error: float  # max |folded - original| over finite entries; inf: NaN/inf patterns differ
    scale: float  # max |original|
    dtype: torch.dtype


@dataclass(frozen=True)
class Comparison:
    errors: tuple[OutputError, ...]
    problems: tuple[str, ...] = ()  # outputs that could not be compared element by element

    def worst(self) -> tuple[float, float]:
        """(max absolute error, max relative error) over the outputs."""
        worst_abs = max((e.abs_error for e in self.errors), default=0.0)
        worst_rel = max(
            (e.abs_error / e.scale if e.scale > 0 else e.abs_error for e in self.errors),
            default=0.0,
        )
        return worst_abs, worst_rel


def compare_outputs(name: str, expected: Any, actual: Any) -> Comparison:
    """Every floating output of `actual` against the same output of `expected`."""
    want, got = dict(leaves(expected)), dict(leaves(actual))
    if want.keys() != got.keys():
        return Comparison(
            (),
            (
                f"{name}: the folded model returns a different structure "
                f"({sorted(got)} instead of {sorted(want)})",
            ),
        )
    errors, problems = [], []
    for path, reference in want.items():
        result = got[path]
        where = f"{name}, output{path}"
        if not reference.is_floating_point():
            continue  # indices and masks: a tie may flip; the floating outputs carry the proof
        if result.shape != reference.shape or result.dtype != reference.dtype:
            problems.append(
                f"{where}: shape/dtype {tuple(result.shape)}/{result.dtype} "
                f"instead of {tuple(reference.shape)}/{reference.dtype}"
            )
            continue
        abs_error, scale, mismatched_nonfinite = tensor_error(reference, result)
        errors.append(
            OutputError(
                where, math.inf if mismatched_nonfinite else abs_error, scale, reference.dtype
            )
        )
    return Comparison(tuple(errors), tuple(problems))


def within_tolerance(comparison: Comparison, rtol: float | None, atol: float | None) -> list[str]:
    """The outputs whose error exceeds atol + rtol x their magnitude, with the figures."""
    failures = list(comparison.problems)
    for error in comparison.errors:
        r, a = tolerance(error.dtype, rtol, atol)
        if math.isinf(error.abs_error):
            failures.append(
                f"{error.where}: NaN/infinity where the original has none (or vice versa)"
            )
        elif error.abs_error > a + r * error.scale:
            failures.append(
                f"{error.where}: max error {error.abs_error:.3g} exceeds {a:.3g} + "
                f"{r:.3g} x {error.scale:.3g} (the output's magnitude)"
            )
    return failures


def closest_tolerance(
    comparisons: list[Comparison], rtol: float | None, atol: float | None
) -> tuple[float, float]:
    """The (rtol, atol) of the output that came closest to failing (float32's by default)."""
    best, chosen = -1.0, tolerance(torch.float32, rtol, atol)
    for comparison in comparisons:
        for error in comparison.errors:
            r, a = tolerance(error.dtype, rtol, atol)
            bound = a + r * error.scale
            ratio = error.abs_error / bound if bound > 0 else math.inf
            if ratio > best:
                best, chosen = ratio, (r, a)
    return chosen


def tensor_error(reference: torch.Tensor, result: torch.Tensor) -> tuple[float, float, bool]:
    """(max abs error over finite entries, max |reference|, non-finite patterns differ)."""
    ref, res = reference.detach().double(), result.detach().double()
    difference = ref - res
    # The common case, every entry finite in both, which is exactly when every difference is
    # finite (two finite float32 values, or float64 ones within range, differ by a finite
    # amount; inf or NaN on either side makes inf or NaN), so when the largest is (a NaN
    # makes the largest NaN): the same figures in fewer operations.
    if ref.numel():
        worst = float(difference.abs().amax())
        if math.isfinite(worst):
            return worst, float(ref.abs().amax()), False
    finite = torch.isfinite(ref)
    mismatched = bool((finite != torch.isfinite(res)).any()) or not bool(
        (ref[~finite].nan_to_num(0.0) == res[~finite].nan_to_num(0.0)).all()
    )
    if not bool(finite.any()):
        return 0.0, 0.0, mismatched
    abs_error = float((ref[finite] - res[finite]).abs().max())
    scale = float(ref[finite].abs().max())
    return abs_error, scale, mismatched
