"""`match` / `case` for the interpreter: a case whose pattern is decided runs or is skipped;
an undecided one is a branch, like an `if` the analysis cannot decide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from bnlint.static import evaluate
from bnlint.static.frames import Frame
from bnlint.static.values import Value, node_text

if TYPE_CHECKING:
    from bnlint.static.interp import Interpreter


def exec_match(interp: Interpreter, statement: cst.Match, frame: Frame) -> None:
    subject = interp.eval(statement.subject, frame)
    _cases(interp, list(statement.cases), subject, frame)


def _cases(
    interp: Interpreter, cases: Sequence[cst.MatchCase], subject: Value, frame: Frame
) -> None:
    if not cases:
        return
    case, rest = cases[0], cases[1:]
    matched = _matches(interp, case.pattern, subject, frame)
    if matched is True and case.guard is not None:
        matched = evaluate.test_truth(interp, case.guard, frame)[1]
    if matched is True:
        interp.exec_block(case.body.body, frame)
    elif matched is False:
        _cases(interp, rest, subject, frame)
    else:
        reason = f"whether `case {node_text(case.pattern)}` matches cannot be decided"

        def run_case() -> None:
            _bind(interp, case.pattern, subject, frame)
            interp.exec_block(case.body.body, frame)

        interp.branches(
            [run_case, lambda: _cases(interp, rest, subject, frame)],
            reason,
            frame,
            data_dependent=evaluate.is_data(subject),
        )


def _matches(
    interp: Interpreter, pattern: cst.MatchPattern, subject: Value, frame: Frame
) -> bool | None:
    """Whether `subject` matches (binding its captures when it does), None if unknown."""
    if isinstance(pattern, cst.MatchAs):
        if pattern.pattern is not None:
            inner = _matches(interp, pattern.pattern, subject, frame)
            if inner is not True:
                return inner
        _bind(interp, pattern, subject, frame)
        return True
    if isinstance(pattern, cst.MatchValue):
        return evaluate.compare(cst.Equal(), subject, interp.eval(pattern.value, frame))
    if isinstance(pattern, cst.MatchSingleton):
        return evaluate.compare(cst.Is(), subject, interp.eval(pattern.value, frame))
    if isinstance(pattern, cst.MatchOr):
        outcomes = [_matches(interp, option.pattern, subject, frame) for option in pattern.patterns]
        if True in outcomes:
            return True
        return False if all(o is False for o in outcomes) else None
    return None  # sequence, mapping and class patterns: not decided


def _bind(interp: Interpreter, pattern: cst.MatchPattern, subject: Value, frame: Frame) -> None:
    if isinstance(pattern, cst.MatchAs) and pattern.name is not None:
        interp.assign(pattern.name, subject, frame, pattern)
