"""Finding the folds a failed verification is due to, in few forward passes.

The folds are ordered by their site errors, the most suspicious first, and split in halves: a
half whose folds, added to the ones already kept, verify is kept whole; a half that fails is
split again, down to single folds, which are dropped. One wrong fold among n costs about
2 log2(n) judgements instead of n, and every set kept has been verified as a whole, so folds
that are harmless alone but not together are never all kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bnlint.ftypes import FoldPair
from bnlint.runtime.judge import Outcome


@dataclass(frozen=True)
class Isolated:
    kept: tuple[FoldPair, ...]
    dropped: dict[FoldPair, str]  # why each fold was dropped: what failed with it added
    outcome: Outcome | None  # the judgement of exactly `kept`; None when nothing was kept


def isolate(
    pairs: Sequence[FoldPair],
    judge: Callable[[Sequence[FoldPair]], Outcome],
    failure: Outcome,
    budget: int,
) -> Isolated:
    """Split `pairs` (known to fail together, as `failure` says) into the folds that verify
    together and the ones that do not; at most `budget` judgements, after which the folds not
    yet cleared are dropped too."""
    search = _Search(judge, budget)
    search.run(list(pairs), failure)
    return Isolated(tuple(search.kept), search.dropped, search.outcome)


class _Search:
    def __init__(self, judge: Callable[[Sequence[FoldPair]], Outcome], budget: int) -> None:
        self._judge, self._budget = judge, budget
        self.kept: list[FoldPair] = []
        self.dropped: dict[FoldPair, str] = {}
        self.outcome: Outcome | None = None

    def run(self, candidates: list[FoldPair], failure: Outcome) -> None:
        """`kept + candidates` is known to fail, as `failure` says."""
        if len(candidates) == 1:
            self.dropped[candidates[0]] = _why(failure)
            return
        if self._budget <= 0:
            self._give_up(candidates, failure)
            return
        half = len(candidates) // 2
        first, second = candidates[:half], candidates[half:]
        trial = self._try(first)
        if trial.passed:
            self.run(second, failure)  # kept + second is what failed
            return
        self.run(first, trial)
        if self._budget <= 0:
            self._give_up(second, failure)
            return
        trial = self._try(second)
        if not trial.passed:
            self.run(second, trial)

    def _give_up(self, candidates: list[FoldPair], failure: Outcome) -> None:
        for pair in candidates:
            self.dropped[pair] = (
                f"it could not be cleared in the judgements allowed, after: {_why(failure)}"
            )

    def _try(self, pairs: list[FoldPair]) -> Outcome:
        self._budget -= 1
        outcome = self._judge(self.kept + pairs)
        if outcome.passed:
            self.kept += pairs
            self.outcome = outcome
        return outcome


def _why(failure: Outcome) -> str:
    return "; ".join(failure.failures) or "the folded model could not be compared"
