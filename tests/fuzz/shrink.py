"""Cutting a failing program down to a minimal one that still fails the same way.

Greedy: try every one-step simplification (drop a stage, replace a nested construct by its
own stages, reset a layer's options), keep the first that still shows a problem of the same
kind, repeat until none does. Each round's candidates are checked in one batch, which costs
one static analysis.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from tests.fuzz.oracle import Outcome, check_programs
from tests.fuzz.program import Leaf, Node, Program, Stage

_DEFAULT_STYLE = {"bn": "plain", "act": "module", "drop": "dropout", "pool": "module"}
_ROUND = 12  # candidates analysed statically per batch


def shrink(outcome: Outcome, *, max_rounds: int = 200) -> Outcome:
    """The smallest program found that still has a problem of the kind `outcome` has first."""
    kind = outcome.problems[0].kind

    def fails(result: Outcome) -> bool:
        return any(p.kind == kind for p in result.problems)

    best = outcome
    for _ in range(max_rounds):
        improved = None
        candidates = list(_variants(best.program))
        for start in range(0, len(candidates), _ROUND):
            results = check_programs(candidates[start : start + _ROUND], until=fails)
            if fails(results[-1]):
                improved = results[-1]
                break
        if improved is None:
            return best
        best = improved
    return best


def size(program: Program) -> int:
    return sum(1 for _ in _stages(program.chain))


def _stages(stages: tuple[Stage, ...]) -> Iterator[Stage]:
    for stage in stages:
        yield stage
        if isinstance(stage, Node):
            for chain in stage.chains:
                yield from _stages(chain)


def _variants(program: Program) -> Iterator[Program]:
    for chain in _chain_variants(program.chain):
        yield replace(program, chain=chain)
    if program.width != 3:
        yield replace(program, width=3)


def _chain_variants(stages: tuple[Stage, ...]) -> Iterator[tuple[Stage, ...]]:
    # Halves, then quarters... first: a long chain loses most of itself in a few rounds.
    chunk = len(stages) // 2
    while chunk > 1:
        for start in range(0, len(stages), chunk):
            yield stages[:start] + stages[start + chunk :]
        chunk //= 2
    for index in range(len(stages)):
        yield stages[:index] + stages[index + 1 :]
    for index, stage in enumerate(stages):
        if isinstance(stage, Node):
            for chain in stage.chains:
                yield stages[:index] + chain + stages[index + 1 :]
    for index, stage in enumerate(stages):
        for simpler in _stage_variants(stage):
            yield stages[:index] + (simpler,) + stages[index + 1 :]


def _stage_variants(stage: Stage) -> Iterator[Stage]:
    if isinstance(stage, Leaf):
        default = _DEFAULT_STYLE.get(stage.kind, stage.style)
        for simpler in (
            replace(stage, out=None),
            replace(stage, bias=False),
            replace(stage, kernel=1),
            replace(stage, groups="one"),
            replace(stage, style=default),
        ):
            if simpler != stage:
                yield simpler
        return
    if stage.count > 1:
        yield replace(stage, count=1)
    for position, chain in enumerate(stage.chains):
        if len(stage.chains) > 1 and stage.kind == "cat":
            yield replace(stage, chains=stage.chains[:position] + stage.chains[position + 1 :])
        for simpler in _chain_variants(chain):
            chains = stage.chains[:position] + (simpler,) + stage.chains[position + 1 :]
            yield replace(stage, chains=chains)
