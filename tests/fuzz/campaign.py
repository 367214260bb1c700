"""Many seeds through the oracle, in batches, with a summary and shrunk reproducers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bnlint.ftypes import ModelObservation, Status
from tests.fuzz.emit import emit
from tests.fuzz.oracle import Outcome, check_programs
from tests.fuzz.program import (
    DISABLED,
    ENABLED_CONSTRUCTS,
    Program,
    gated_constructs,
    generate,
    is_undecidable,
)
from tests.fuzz.shrink import shrink, size


@dataclass
class Campaign:
    programs: int = 0
    batchnorms: int = 0
    undecidable_programs: int = 0
    agreements: Counter = field(default_factory=Counter)  # Agreement value -> rows
    directions: Counter = field(default_factory=Counter)  # direction of confirmed folds
    cross_class_folds: int = 0  # folds whose layers sit in different containers or classes
    # Folds across forward() calls: the layer runs in a child's forward and the BatchNorm in
    # an enclosing one ("conv_deeper"), or the other way round ("bn_deeper").
    cross_forward: Counter = field(default_factory=Counter)
    failures: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    # Gated constructs (program.GATED_CONSTRUCTS): programs using each, and failing ones.
    gated: Counter = field(default_factory=Counter)
    gated_failures: dict[str, list[Outcome]] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.programs += 1
        self.batchnorms += outcome.batchnorms
        self.undecidable_programs += is_undecidable(outcome.program)
        if outcome.table is not None:
            for row in outcome.table.rows:
                self.agreements[row.agreement.value] += 1
                if row.runtime.direction is not None:
                    self.directions[row.runtime.direction.value] += 1
                    if row.runtime.conv and ("cat(" in row.runtime.conv or "+" in row.runtime.conv):
                        self.directions["through a merge"] += 1
                    if "." in row.runtime.bn or "." in (row.runtime.conv or ""):
                        self.cross_class_folds += 1
        if outcome.observation is not None:
            self.cross_forward.update(cross_forward_folds(outcome.observation))
        used = gated_constructs(outcome.program)
        self.gated.update(used)
        if outcome.problems:
            self.failures.append(outcome)
            for construct in used:
                self.gated_failures.setdefault(construct, []).append(outcome)

    def summary(self) -> str:
        problems = Counter(p.kind for o in self.failures for p in o.problems)
        lines = [
            f"{self.programs} programs ({self.undecidable_programs} with an undecidable "
            f"construct), {self.batchnorms} BatchNorms, {self.seconds:.1f} s",
            "agreement rows: " + ", ".join(f"{k} {v}" for k, v in sorted(self.agreements.items())),
            "folds by direction: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.directions.items()))
            + f"; across classes or containers: {self.cross_class_folds}",
            "across forward() calls: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.cross_forward.items())),
            f"failing programs: {len(self.failures)}"
            + (
                " (" + ", ".join(f"{k} {v}" for k, v in sorted(problems.items())) + ")"
                if problems
                else ""
            ),
        ]
        if DISABLED:
            lines.append(
                "kept out of the mix: "
                + "; ".join(f"{c} ({why})" for c, why in sorted(DISABLED.items()))
            )
        if self.gated:
            lines.append("gated constructs (programs using it, failing; first failing seeds):")
            for construct, count in sorted(self.gated.items()):
                failing = self.gated_failures.get(construct, [])
                seeds = ", ".join(str(o.program.seed) for o in failing[:5])
                lines.append(
                    f"  {construct}: {count}, {len(failing)} failing"
                    + (f" ({seeds})" if failing else "")
                )
        return "\n".join(lines)


def cross_forward_folds(observation: ModelObservation) -> Counter:
    """Folds whose two layers are called by different forward() methods, by which is deeper."""
    modules = {m.path: m for m in observation.modules}

    def caller(path: str) -> str:
        # The module whose forward calls the layer: its nearest ancestor that is not a plain
        # container (those have no forward of their own in the generated programs).
        parts = path.split(".")[:-1]
        while parts and modules[".".join(parts)].is_plain_container:
            parts.pop()
        return ".".join(parts)

    found: Counter = Counter()
    for batchnorm in observation.batchnorms:
        if (
            batchnorm.verdict.status is not Status.FOLDABLE
            or batchnorm.partner is None
            or batchnorm.partner not in modules
        ):
            continue
        layer, norm = caller(batchnorm.partner), caller(batchnorm.path)
        if layer != norm:
            deeper = (
                "conv_deeper"
                if _inside(layer, norm)
                else "bn_deeper"
                if _inside(norm, layer)
                else "siblings"
            )
            found[f"{batchnorm.verdict.direction.value}:{deeper}"] += 1
    return found


def _inside(path: str, ancestor: str) -> bool:
    return ancestor == "" or path.startswith(ancestor + ".")


def run_campaign(
    seeds: Iterable[int],
    *,
    batch: int = 50,
    progress: Callable[[Campaign], None] | None = None,
    constructs: frozenset[str] = ENABLED_CONSTRUCTS,
) -> Campaign:
    """`constructs`: the gated constructs in the mix."""
    campaign = Campaign()
    started = time.perf_counter()
    pending: list[Program] = []
    for seed in seeds:
        pending.append(generate(seed, constructs=constructs))
        if len(pending) == batch:
            _run(campaign, pending, progress)
            pending = []
    if pending:
        _run(campaign, pending, progress)
    campaign.seconds = time.perf_counter() - started
    return campaign


def _run(
    campaign: Campaign, programs: list[Program], progress: Callable[[Campaign], None] | None
) -> None:
    for outcome in check_programs(programs):
        campaign.add(outcome)
    if progress is not None:
        progress(campaign)


def reproducer(outcome: Outcome, *, minimise: bool = True) -> str:
    """A failing program, shrunk, as the text a failure message shows."""
    small = shrink(outcome) if minimise else outcome
    header = f"seed {outcome.program.seed}: {size(outcome.program)} stages" + (
        f", shrunk to {size(small.program)}" if minimise else ""
    )
    problems = "\n".join(f"  {problem}" for problem in small.problems)
    return f"{header}\n{problems}\n--- minimal program ---\n{emit(small.program).source}"
