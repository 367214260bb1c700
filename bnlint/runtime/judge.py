"""Judging a set of folds by the model's outputs: does the folded model compute what the
original computes?

A trial makes a set of folds on the working copy (undoing any made before) and runs it. Three
judges, the cheapest first:

- "tolerance": the folded model's outputs on the example inputs against the original's (taken
  from the capture, so this costs one forward pass), within atol + rtol x magnitude.
- "float64": a model that amplifies rounding (grouped or channel-shuffled convolutions, softmax
  gates, split attention, detection thresholds) can exceed any fixed tolerance with exact folds:
  the original itself, with every weight moved by one rounding, moves as much. So when the
  default tolerance fails, the same folds are made on a float64 copy, whose output must match
  the float64 original to float64 rounding, amplified as much as this model amplifies float32
  rounding (the original float32 model's own error against float64 measures that). The
  returned float32 model must then stay within a few times that own error of the original.
- "noise": a model that does not run in float64 is judged in its own dtype: the folded model's
  error must stay within a few times the deviation of the original when each of its weights
  and buffers moves by one rounding.

Explicit tolerances are the user's bound on the returned model and are judged as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from bnlint.ftypes import FoldPair
from bnlint.runtime.apply import Applied, Snapshot, apply_folds
from bnlint.runtime.capture import Capture
from bnlint.runtime.tensors import map_tensors
from bnlint.runtime.verify import (
    Comparison,
    compare_outputs,
    random_like,
    run_seeded,
    tolerance,
    within_tolerance,
)

# How far beyond the original's own rounding noise a folded model may go. The folded and the
# original model round differently, and their errors against float64 are two draws of the same
# amplified noise: an exact fold lands within a small multiple of the original's own error; a
# wrong one (a missing gamma, another eps) lands orders of magnitude away, and is caught
# before this, at its layers.
NOISE_FACTOR = 16.0
_FLOAT32_TO_64 = torch.finfo(torch.float64).eps / torch.finfo(torch.float32).eps


@dataclass(frozen=True)
class Outcome:
    passed: bool
    failures: tuple[str, ...]
    comparisons: tuple[Comparison, ...]  # the returned model's outputs against the original's
    inputs_compared: int
    skipped_inputs: tuple[str, ...] = ()
    method: str = "tolerance"
    noise: float | None = None
    float64_error: float | None = None
    notes: tuple[str, ...] = ()


@dataclass
class _InputSet:
    name: str
    inputs: tuple[Any, ...]
    expected: Any  # the original model's output on it


class Trials:
    """Makes sets of folds on `work` and judges them against the original, `target`."""

    def __init__(self, target: nn.Module, work: nn.Module, capture: Capture,
                 inputs: tuple[Any, ...], *, rtol: float | None, atol: float | None,
                 random_inputs: int, seed: int, copy: Callable[[nn.Module], nn.Module]) -> None:
        self._target = target
        self.model = work  # the working copy: the folded model once the trials are over
        self._capture, self._copy = capture, copy
        self._rtol, self._atol = rtol, atol
        self.method = "tolerance"
        self.passes = 0  # forward passes of the folded model (for the record)
        self._sets = [_InputSet("the example inputs", inputs, capture.output)]
        self.skipped_inputs: list[str] = []
        if capture.value_dependent is not None and random_inputs > 0:
            self._add_random_inputs(inputs, random_inputs, seed)
        self._float64: _Float64 | None = None
        self._made: tuple[tuple[FoldPair, ...], Applied] | None = None  # what `work` holds
        self._floors: list[dict[str, float]] | None = None

    def _add_random_inputs(self, inputs: tuple[Any, ...], count: int, seed: int) -> None:
        # forward() branches on values: other inputs may wire the layers otherwise. A fresh
        # copy of the original answers for them (the working copy is being folded).
        reference = self._copy(self._target).eval()
        for i in range(count):
            name = f"random input {i + 1}"
            drawn = random_like(inputs, seed + i)
            try:
                expected = run_seeded(reference, drawn)
            except Exception as error:  # a random input the model does not accept
                self.skipped_inputs.append(f"{name}: the original model raised "
                                           f"{type(error).__name__}: {error}")
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
            self.model = self._copy(self._target).eval()
        applied = apply_folds(self.model, pairs, self._capture.foreign_reads,
                              self._capture.reached_batchnorms, reuse_storage=True)
        self.model.eval()
        # Only the folds made count as made: a refused pair leaves the model as it was.
        self._made = (applied.folds, Applied(applied.folds, ()))
        return applied

    # --- judging -----------------------------------------------------------------------------

    def judge(self, pairs: Sequence[FoldPair]) -> Outcome:
        """Make `pairs` and judge the folded model by the current method."""
        self.make(pairs)
        outputs, failures = self._run(self.model)
        comparisons = [compare_outputs(s.name, s.expected, out)
                       for s, out in zip(self._sets, outputs) if out is not None]
        if self.method == "float64":
            return self._judge_float64(pairs, outputs, comparisons, failures)
        if self.method == "noise":
            return self._judge_noise(comparisons, failures)
        for comparison in comparisons:
            failures += within_tolerance(comparison, self._rtol, self._atol)
        return self._outcome(failures, comparisons)

    def escalate(self) -> bool:
        """Judge by the model's own noise from now on; False if already doing so or if the
        user set the tolerances."""
        if self.method != "tolerance" or self._rtol is not None or self._atol is not None:
            return False
        self._float64 = _Float64.prepare(self._target, self._sets, self._copy, self._capture)
        if self._float64 is not None:
            self.method = "float64"
        else:
            self._floors = self._noise_floors()
            self.method = "noise"
        return True

    def _run(self, model: nn.Module) -> tuple[list[Any], list[str]]:
        outputs: list[Any] = []
        failures: list[str] = []
        for input_set in self._sets:
            self.passes += 1
            try:
                outputs.append(run_seeded(model, input_set.inputs))
            except Exception as error:
                outputs.append(None)
                failures.append(f"{input_set.name}: the folded model raised "
                                f"{type(error).__name__}: {error}")
        return outputs, failures

    def _outcome(self, failures: list[str], comparisons: list[Comparison], **figures: Any
                 ) -> Outcome:
        compared = len(comparisons)
        return Outcome(passed=not failures and compared > 0, failures=tuple(failures),
                       comparisons=tuple(comparisons), inputs_compared=compared,
                       skipped_inputs=tuple(self.skipped_inputs), method=self.method,
                       **figures)

    def _judge_float64(self, pairs: Sequence[FoldPair], outputs: list[Any],
                       comparisons: list[Comparison], failures: list[str]) -> Outcome:
        assert self._float64 is not None
        algebra = self._float64.judge(pairs)
        failures += algebra.failures
        notes = list(algebra.notes)
        # The returned model rounds like any model of its dtype: it must stay within a few
        # times the original's own error against float64.
        for input_set, out, reference, own in zip(self._sets, outputs, self._float64.expected,
                                                  self._float64.own):
            if out is None:
                continue
            against = compare_outputs(input_set.name, reference, _double(out))
            notes += [f"{problem}; the original model's own outputs differ from float64's "
                      "likewise" if problem.split(":")[0] not in own else problem
                      for problem in against.problems]
            for error in against.errors:
                floor = own.get(error.where)
                if floor is None:
                    continue
                r, a = tolerance(torch.float32, None, None)
                if error.abs_error > max(a + r * error.scale, NOISE_FACTOR * floor):
                    failures.append(
                        f"{error.where}: the folded model is off by {error.abs_error:.3g} "
                        f"from the float64 original, more than {NOISE_FACTOR:g} x the "
                        f"original's own {floor:.3g}")
        return self._outcome(failures, comparisons, noise=self._float64.noise,
                             float64_error=algebra.relative_error, notes=tuple(notes))

    def _judge_noise(self, comparisons: list[Comparison], failures: list[str]) -> Outcome:
        assert self._floors is not None
        notes = []
        for comparison, floors in zip(comparisons, self._floors):
            for problem in comparison.problems:
                if floors.get(problem.split(":")[0], 0.0) == math.inf:
                    notes.append(f"{problem} (so does the original with its weights moved by "
                                 "one rounding)")
                else:
                    failures.append(problem)
            for error in comparison.errors:
                floor = floors.get(error.where, 0.0)
                r, a = tolerance(error.dtype, None, None)
                allowed = max(a + r * error.scale, NOISE_FACTOR * floor)
                if error.abs_error > allowed:
                    failures.append(
                        f"{error.where}: max error {error.abs_error:.3g} exceeds "
                        f"{NOISE_FACTOR:g} x {floor:.3g}, the original's own deviation when "
                        "its weights move by one rounding")
        noise = max((f / max(e.scale, 1e-30) for c, fl in zip(comparisons, self._floors)
                     for e in c.errors for f in [fl.get(e.where, 0.0)] if f != math.inf),
                    default=None)
        return self._outcome(failures, comparisons, noise=noise, notes=tuple(notes))

    def _noise_floors(self) -> list[dict[str, float]]:
        """Per input set and output: how far the original moves when every floating weight
        and buffer moves by one rounding (inf: its structure or shapes change)."""
        nudged = self._copy(self._target).eval()
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for tensor in [*nudged.parameters(), *nudged.buffers()]:
                if tensor.is_floating_point():
                    unit = torch.finfo(tensor.dtype).eps / 2
                    sign = torch.randint(0, 2, tensor.shape, generator=generator) * 2 - 1
                    tensor.mul_(1 + unit * sign.to(tensor.device, tensor.dtype))
        outputs, _ = self._run(nudged)
        floors = []
        for input_set, out in zip(self._sets, outputs):
            found: dict[str, float] = {}
            if out is not None:
                comparison = compare_outputs(input_set.name, input_set.expected, out)
                found = {e.where: e.abs_error for e in comparison.errors}
                found.update({p.split(":")[0]: math.inf for p in comparison.problems})
            floors.append(found)
        return floors


def _same(made: tuple[FoldPair, ...], wanted: tuple[FoldPair, ...]) -> bool:
    return len(made) == len(wanted) and all(a is b for a, b in zip(made, wanted))


def _double(outputs: Any) -> Any:
    return map_tensors(outputs, lambda t: t.detach().to(torch.float64)
                       if t.is_floating_point() else t)


@dataclass(frozen=True)
class _Algebra:
    failures: tuple[str, ...]
    relative_error: float
    notes: tuple[str, ...] = ()


@dataclass
class _Float64:
    """The original and a copy to fold, both in float64, and the original float32 model's own
    error against float64 (per input set: output -> max abs error)."""

    folded: nn.Module
    snapshot: Snapshot
    sets: list[tuple[str, tuple[Any, ...]]]
    expected: list[Any]
    own: list[dict[str, float]]
    noise: float | None
    capture: Capture

    @classmethod
    def prepare(cls, target: nn.Module, sets: list[_InputSet],
                copy: Callable[[nn.Module], nn.Module], capture: Capture) -> _Float64 | None:
        try:
            original = copy(target).to(torch.float64).eval()
            inputs = [(s.name, _double(s.inputs)) for s in sets]
            expected = [run_seeded(original, i) for _, i in inputs]
        except Exception:  # an op without float64 support, a dtype fixed inside forward()
            return None
        own, noise = [], 0.0
        for input_set, reference in zip(sets, expected):
            comparison = compare_outputs(input_set.name, reference, _double(input_set.expected))
            own.append({e.where: e.abs_error for e in comparison.errors})
            noise = max([noise] + [e.abs_error / e.scale for e in comparison.errors
                                   if e.scale > 0])
        del original
        folded = copy(target).to(torch.float64).eval()
        return cls(folded, Snapshot(folded), inputs, expected, own, noise, capture)

    def judge(self, pairs: Sequence[FoldPair]) -> _Algebra:
        self.snapshot.restore()
        apply_folds(self.folded, pairs, self.capture.foreign_reads,
                    self.capture.reached_batchnorms)
        self.folded.eval()
        failures, notes, worst = [], [], 0.0
        for (name, inputs), reference, own in zip(self.sets, self.expected, self.own):
            try:
                out = run_seeded(self.folded, inputs)
            except Exception as error:
                failures.append(f"{name}: the folded float64 model raised "
                                f"{type(error).__name__}: {error}")
                continue
            comparison = compare_outputs(name, reference, out)
            failures += [f"{p} (in float64)" for p in comparison.problems]
            for error in comparison.errors:
                relative = error.abs_error / error.scale if error.scale > 0 else error.abs_error
                worst = max(worst, relative)
                # float64 rounding, amplified as much as the model amplifies float32's
                amplified = own.get(error.where, 0.0) / max(error.scale, 1e-300) * _FLOAT32_TO_64
                rtol, atol = tolerance(torch.float64, None, None)
                allowed = atol + max(rtol, NOISE_FACTOR * amplified) * error.scale
                if error.abs_error > allowed:
                    failures.append(f"{error.where}: with the folds made in float64 the output "
                                    f"is off by {error.abs_error:.3g} ({relative:.3g} of its "
                                    f"magnitude), more than float64 rounding allows "
                                    f"({allowed:.3g})")
        return _Algebra(tuple(failures), worst, tuple(notes))

