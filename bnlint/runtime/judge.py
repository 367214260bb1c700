"""Judging a set of folds by the model's outputs: does the folded model compute what the
original computes?

A trial makes a set of folds on the working copy and runs it once on the example inputs (on
random inputs too when forward() branches on the input's values); the original's outputs come
from the capture, and on the random inputs from the working copy before any fold is made on
it. Two judges:

- "tolerance": every floating output within atol + rtol x its magnitude. The common case, and
  the only judge when the user sets the tolerances: they bound the returned model's error.
- "noise": some models amplify rounding beyond any fixed tolerance with exact folds (grouped
  or channel-shuffled convolutions, softmax gates, split attention), and some outputs are not
  even continuous (a score on a detection threshold, tied scores that a sort or NMS orders).
  A fold moves each weight by a rounding or two, so such a model is judged against itself:
  the original is run with every weight and buffer moved by one rounding (at random, then
  all up, then all down), and each output of the folded model may deviate from the
  original's by a few times as much as the largest of those. An output whose structure or
  shape a nudge alone changes is not compared, and says so. Whether each fold is right is
  decided before this, at its own layers and in float64 (fold_errors.py), so a wrong fold is
  caught however noisy the model.
- "float64": an output that is not continuous can jump where the nudges happen not to push it
  (a detection's box whose score the fold's roundings, not a nudge's, move across a
  threshold). When every fold was found exact at its layers, the same folds are made on a
  float64 copy of the original and judged by float64's tolerance against the float64
  original: the algebra of the whole set is then verified where rounding cannot flip a
  discrete step, and the float32 model's stored values are the exact fold rounded (checked at
  each layer). The float32 differences are reported beside it, not hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bnlint.ftypes import FoldPair
from bnlint.runtime.apply import Applied, apply_folds
from bnlint.runtime.capture import Capture
from bnlint.runtime.modes import to_eval
from bnlint.runtime.verify import (
    Comparison,
    compare_outputs,
    random_inputs_like,
    run_seeded,
    tolerance,
    within_tolerance,
)

# How far beyond the original's own deviation a folded model may go. The folded model and the
# nudged original are two draws of the same rounding noise, amplified alike: an exact fold
# lands within a small multiple of it; a fold that changes what the model computes lands
# orders of magnitude away on any output that is continuous.
NOISE_FACTOR = 16.0
# The nudges of the original whose largest deviation is the floor: every weight and buffer
# one rounding up or down at random (the usual rounding noise), then all up and all down (an
# output sitting exactly on a threshold moves across it one way or the other).
NUDGES = ("random", "up", "down")


@dataclass(frozen=True)
class Outcome:
    passed: bool
    failures: tuple[str, ...]
    comparisons: tuple[Comparison, ...]  # the returned model's outputs against the original's
    inputs_compared: int
    skipped_inputs: tuple[str, ...] = ()
    method: str = "tolerance"
    noise: float | None = None  # the original's own relative deviation (judge "noise")
    notes: tuple[str, ...] = ()


@dataclass
class _InputSet:
    name: str
    inputs: tuple[Any, ...]
    expected: Any  # the original model's output on it


class Trials:
    """Makes sets of folds on the working copy and judges them against the original."""

    def __init__(
        self,
        target: nn.Module,
        work: nn.Module,
        capture: Capture,
        inputs: tuple[Any, ...],
        *,
        rtol: float | None,
        atol: float | None,
        random_inputs: int,
        seed: int,
        copy: Callable[[nn.Module], nn.Module],
    ) -> None:
        self._target = target
        self.model = work  # the working copy: the folded model once the trials are over
        self._capture, self._copy = capture, copy
        self._rtol, self._atol = rtol, atol
        self.method = "tolerance"
        self._sets = [_InputSet("the example inputs", inputs, capture.output)]
        self.skipped_inputs: list[str] = []
        if capture.value_dependent is not None and random_inputs > 0:
            self._add_random_inputs(inputs, random_inputs, seed)
        self._floors: list[dict[str, float]] = []  # per input set: output -> own deviation
        self._float64_expected: list[Any] = []  # per input set: the float64 original's output
        self._made: tuple[tuple[FoldPair, ...], Applied] | None = None  # what `model` holds

    def _add_random_inputs(self, inputs: tuple[Any, ...], count: int, seed: int) -> None:
        # forward() branches on values: other inputs may wire the layers otherwise. The
        # working copy answers for the original on them: no fold is made on it yet, and it is
        # in the state the folded model will be in (after the capture's pass), not in a fresh
        # copy's (a model that sets itself up on its first call, from that call's input).
        for i, drawn in enumerate(random_inputs_like(inputs, [seed + i for i in range(count)])):
            name = f"random input {i + 1}"
            try:
                expected = run_seeded(self.model, drawn)
            except Exception as error:  # a random input the model does not accept
                self.skipped_inputs.append(
                    f"{name}: the original model raised {type(error).__name__}: {error}"
                )
                continue
            self._sets.append(_InputSet(name, drawn, expected))

    # --- making folds ------------------------------------------------------------------------

    def make(self, pairs: Sequence[FoldPair]) -> Applied:
        """Exactly these folds on the working copy."""
        pairs = tuple(pairs)
        if self._made is not None:
            if _same(self._made[0], pairs):
                return self._made[1]
            # The folds made before were written into the copy's own tensors: start again
            # from a fresh copy of the original (only when a fold failed, so rarely).
            self.model = to_eval(self._copy(self._target))
        applied = apply_folds(
            self.model,
            pairs,
            self._capture.foreign_reads,
            self._capture.reached_batchnorms,
            reuse_storage=True,
        )
        # Only the folds made count as made: a refused pair leaves the model as it was.
        self._made = (applied.folds, Applied(applied.folds, ()))
        return applied

    # --- judging -----------------------------------------------------------------------------

    def judge(self, pairs: Sequence[FoldPair]) -> Outcome:
        """Make `pairs` and judge the folded model by the current method."""
        self.make(pairs)
        if not pairs:  # an unfolded copy computes what the original computes: no run needed
            return Outcome(
                passed=True,
                failures=(),
                comparisons=(),
                inputs_compared=0,
                skipped_inputs=tuple(self.skipped_inputs),
                method=self.method,
                notes=("no fold was made: the model returned is a copy of the original",),
            )
        outputs, failures = self._run(self.model)
        comparisons = [
            compare_outputs(s.name, s.expected, out)
            for s, out in zip(self._sets, outputs, strict=True)
            if out is not None
        ]
        if self.method == "float64":
            return self._judge_float64(pairs, comparisons, failures)
        if self.method == "noise":
            return self._judge_noise(comparisons, failures)
        for comparison in comparisons:
            failures += within_tolerance(comparison, self._rtol, self._atol)
        return self._outcome(failures, comparisons)

    def escalate(self, exact_sites: bool) -> bool:
        """Judge by the next method from now on: against the model's own noise, then (when
        every fold is exact at its layers: `exact_sites`) on a float64 copy. False when there
        is none left, or when the user set the tolerances."""
        if self._rtol is not None or self._atol is not None:
            return False
        if self.method == "tolerance":
            self._floors = self._noise_floors()
            self.method = "noise"
            return True
        if self.method == "noise" and exact_sites and self._float64_originals():
            self.method = "float64"
            return True
        return False

    def _float64_originals(self) -> bool:
        """The float64 original's output on every input set; False when the model does not
        run in float64 (a forward that casts or checks its dtype)."""
        try:
            original = to_eval(self._copy(self._target)).double()
            self._float64_expected = [
                run_seeded(original, as_float64(s.inputs)) for s in self._sets
            ]
        except Exception:  # a model written for one dtype: the float32 judges stand
            return False
        return True

    def _judge_float64(
        self, pairs: Sequence[FoldPair], comparisons: list[Comparison], failures: list[str]
    ) -> Outcome:
        if failures:  # the folded model itself raised
            return self._outcome(failures, comparisons)
        folded = to_eval(self._copy(self._target)).double()
        applied = apply_folds(
            folded, pairs, self._capture.foreign_reads, self._capture.reached_batchnorms
        )
        if len(applied.folds) != len(pairs):
            return self._outcome(
                ["the float64 copy refused a fold the float32 model took"], comparisons
            )
        for input_set, expected in zip(self._sets, self._float64_expected, strict=True):
            try:
                got = run_seeded(folded, as_float64(input_set.inputs))
            except Exception as error:
                failures.append(
                    f"{input_set.name}: the folded float64 copy raised "
                    f"{type(error).__name__}: {error}"
                )
                continue
            failures += within_tolerance(compare_outputs(input_set.name, expected, got), None, None)
        float32 = self._judge_noise(comparisons, [])
        notes = [
            "judged in float64: the same folds made on a float64 copy of the model agree with "
            "the float64 original within float64's tolerance, and every fold is exact at its "
            "layers; the float32 outputs differ by more than the model's own rounding noise "
            f"({'; '.join(float32.failures)}), where float32 rounding moves an output across a "
            "discrete step",
            *float32.notes,
        ]
        return self._outcome(failures, comparisons, noise=float32.noise, notes=tuple(notes))

    def _run(self, model: nn.Module) -> tuple[list[Any], list[str]]:
        outputs: list[Any] = []
        failures: list[str] = []
        for input_set in self._sets:
            try:
                outputs.append(run_seeded(model, input_set.inputs))
            except Exception as error:
                outputs.append(None)
                failures.append(
                    f"{input_set.name}: the folded model raised {type(error).__name__}: {error}"
                )
        return outputs, failures

    def _outcome(
        self, failures: list[str], comparisons: list[Comparison], **figures: Any
    ) -> Outcome:
        compared = len(comparisons)
        return Outcome(
            passed=not failures and compared > 0,
            failures=tuple(failures),
            comparisons=tuple(comparisons),
            inputs_compared=compared,
            skipped_inputs=tuple(self.skipped_inputs),
            method=self.method,
            **figures,
        )

    def _judge_noise(self, comparisons: list[Comparison], failures: list[str]) -> Outcome:
        notes = []
        for comparison, floors in zip(comparisons, self._floors, strict=False):
            for problem in comparison.problems:
                if _unstable(floors, _where(problem)):
                    notes.append(
                        f"{problem}; so do the original's when its weights move by "
                        "one rounding, so it is not compared"
                    )
                else:
                    failures.append(problem)
            for error in comparison.errors:
                floor = math.inf if _unstable(floors, error.where) else floors.get(error.where, 0.0)
                if floor == math.inf:
                    notes.append(
                        f"{error.where}: not compared: the original's own output "
                        "changes shape when its weights move by one rounding"
                    )
                    continue
                r, a = tolerance(error.dtype, None, None)
                if error.abs_error > max(a + r * error.scale, NOISE_FACTOR * floor):
                    failures.append(
                        f"{error.where}: max error {error.abs_error:.3g} exceeds "
                        f"{NOISE_FACTOR:g} x {floor:.3g}, the original's own deviation when "
                        "its weights move by one rounding"
                    )
        noise = max(
            (
                floors.get(e.where, 0.0) / e.scale
                for comparison, floors in zip(comparisons, self._floors, strict=False)
                for e in comparison.errors
                if e.scale > 0 and floors.get(e.where, 0.0) != math.inf
            ),
            default=None,
        )
        return self._outcome(failures, comparisons, noise=noise, notes=tuple(notes))

    def _noise_floors(self) -> list[dict[str, float]]:
        """Per input set and output: the most the original deviates from itself when every
        floating weight and buffer moves by one rounding (inf: the output changes shape)."""
        floors: list[dict[str, float]] = [{} for _ in self._sets]
        for direction in NUDGES:
            outputs, _ = self._run(_nudged(to_eval(self._copy(self._target)), direction))
            for input_set, out, found in zip(self._sets, outputs, floors, strict=True):
                if out is None:
                    continue
                comparison = compare_outputs(input_set.name, input_set.expected, out)
                for error in comparison.errors:
                    found[error.where] = max(found.get(error.where, 0.0), error.abs_error)
                for problem in comparison.problems:
                    found[_where(problem)] = math.inf
        return floors


def as_float64(value: Any) -> Any:
    """`value` with every floating tensor in it (in tuples, lists and dicts) made float64."""
    if isinstance(value, torch.Tensor):
        return value.double() if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return type(value)(*(as_float64(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(as_float64(v) for v in value)
    if isinstance(value, dict):
        return {k: as_float64(v) for k, v in value.items()}
    return value


def _nudged(model: nn.Module, direction: str) -> nn.Module:
    """`model` with every floating weight and buffer moved by one rounding: each up or down
    at random ("random"), or all of them "up" or "down"."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if not tensor.is_floating_point():
                continue
            step = torch.finfo(tensor.dtype).eps  # one rounding at magnitudes in [1, 2)
            if direction == "random":
                sign = torch.randint(0, 2, tensor.shape, generator=generator) * 2 - 1
                tensor.mul_(1 + step / 2 * sign.to(tensor.device, tensor.dtype))
            else:
                tensor.mul_(1 + step if direction == "up" else 1 - step / 2)
    return model


def _unstable(floors: dict[str, float], where: str) -> bool:
    """Whether the nudged original changes the structure of this input's outputs, or the
    shape of this output."""
    return math.inf in (floors.get(where), floors.get(where.split(", output", 1)[0]))


def _where(problem: str) -> str:
    """The output a comparison problem is about ("the example inputs, output[0]")."""
    return problem.split(": ", 1)[0]


def _same(made: tuple[FoldPair, ...], wanted: tuple[FoldPair, ...]) -> bool:
    return len(made) == len(wanted) and all(a is b for a, b in zip(made, wanted, strict=True))
