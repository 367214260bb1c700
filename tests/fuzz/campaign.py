"""Many seeds through the oracle, in batches, with a summary and shrunk reproducers."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tests.fuzz.emit import emit
from tests.fuzz.oracle import Outcome, check_programs
from tests.fuzz.program import DISABLED, Program, generate, is_undecidable
from tests.fuzz.shrink import shrink, size


@dataclass
class Campaign:
    programs: int = 0
    batchnorms: int = 0
    undecidable_programs: int = 0
    agreements: Counter = field(default_factory=Counter)  # Agreement value -> rows
    directions: Counter = field(default_factory=Counter)  # direction of confirmed folds
    cross_class_folds: int = 0  # folds whose owner is not the BatchNorm's own class
    failures: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.programs += 1
        self.batchnorms += outcome.batchnorms
        self.undecidable_programs += is_undecidable(outcome.program)
        if outcome.table is not None:
            for row in outcome.table.rows:
                self.agreements[row.agreement.value] += 1
                if row.runtime.direction is not None:
                    self.directions[row.runtime.direction.value] += 1
                    if "." in row.runtime.bn or "." in (row.runtime.conv or ""):
                        self.cross_class_folds += 1
        if outcome.problems:
            self.failures.append(outcome)

    def summary(self) -> str:
        problems = Counter(p.kind for o in self.failures for p in o.problems)
        lines = [f"{self.programs} programs ({self.undecidable_programs} with an undecidable "
                 f"construct), {self.batchnorms} BatchNorms, {self.seconds:.1f} s",
                 "agreement rows: " + ", ".join(f"{k} {v}" for k, v in
                                                sorted(self.agreements.items())),
                 "folds by direction: " + ", ".join(f"{k} {v}" for k, v in
                                                    sorted(self.directions.items())) +
                 f"; across classes or containers: {self.cross_class_folds}",
                 f"failing programs: {len(self.failures)}" +
                 (" (" + ", ".join(f"{k} {v}" for k, v in sorted(problems.items())) + ")"
                  if problems else "")]
        if DISABLED:
            lines.append("kept out of the mix: " + "; ".join(f"{c} ({why})" for c, why in
                                                             sorted(DISABLED.items())))
        return "\n".join(lines)


def run_campaign(seeds: Iterable[int], *, batch: int = 50,
                 progress: Callable[[Campaign], None] | None = None) -> Campaign:
    campaign = Campaign()
    started = time.perf_counter()
    pending: list[Program] = []
    for seed in seeds:
        pending.append(generate(seed))
        if len(pending) == batch:
            _run(campaign, pending, progress)
            pending = []
    if pending:
        _run(campaign, pending, progress)
    campaign.seconds = time.perf_counter() - started
    return campaign


def _run(campaign: Campaign, programs: list[Program],
         progress: Callable[[Campaign], None] | None) -> None:
    for outcome in check_programs(programs):
        campaign.add(outcome)
    if progress is not None:
        progress(campaign)


def reproducer(outcome: Outcome, *, minimise: bool = True) -> str:
    """A failing program, shrunk, as the text a failure message shows."""
    small = shrink(outcome) if minimise else outcome
    header = (f"seed {outcome.program.seed}: {size(outcome.program)} stages"
              + (f", shrunk to {size(small.program)}" if minimise else ""))
    problems = "\n".join(f"  {problem}" for problem in small.problems)
    return f"{header}\n{problems}\n--- minimal program ---\n{emit(small.program).source}"
