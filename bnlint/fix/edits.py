"""Text edits: choosing fixes whose edits do not collide, applying them, following a position
through them, and showing them as a unified diff."""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bnlint.ftypes import Edit, Fix

# Line ends as Python's tokenizer (and so libcst's positions) counts them.
_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class LineIndex:
    """Offsets of line starts in one text, to turn 1-based (line, column) into offsets."""

    starts: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> LineIndex:
        return cls((0, *(match.end() for match in _LINE_END.finditer(text))))

    def offset(self, line: int, column: int) -> int:
        return self.starts[min(line, len(self.starts)) - 1] + column - 1

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1


def compatible(fixes: Iterable[Fix]) -> list[Fix]:
    """The fixes, in order, that can be applied together: a fix whose edits overlap an edit
    already taken is left for another run (an identical edit, such as the same import, is
    shared)."""
    taken: list[Edit] = []
    chosen = []
    for fix in fixes:
        if any(_collide(edit, other) for edit in fix.edits for other in taken):
            continue
        chosen.append(fix)
        taken.extend(edit for edit in fix.edits if edit not in taken)
    return chosen


def _collide(a: Edit, b: Edit) -> bool:
    if a == b:
        return False
    start_a, end_a = (a.line, a.column), (a.end_line, a.end_column)
    start_b, end_b = (b.line, b.column), (b.end_line, b.end_column)
    if start_a == end_a and start_b == end_b:
        return start_a == start_b  # two different insertions at one point: order unknown
    return (start_a < end_b and start_b < end_a) or start_a == start_b


def unique_edits(fixes: Sequence[Fix]) -> list[Edit]:
    return list(dict.fromkeys(edit for fix in fixes for edit in fix.edits))


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    index = LineIndex.of(text)
    spans = sorted(
        (
            (index.offset(e.line, e.column), index.offset(e.end_line, e.end_column), e.content)
            for e in edits
        ),
        reverse=True,
    )
    for start, end, content in spans:
        text = text[:start] + content + text[end:]
    return text


def moved(text: str, edits: Sequence[Edit], line: int, column: int) -> tuple[int, int]:
    """Where the character at (line, column) of `text` is after `edits`; an insertion at
    that very point pushes it along."""
    index = LineIndex.of(text)
    point = index.offset(line, column)
    shift = 0
    for edit in edits:
        start = index.offset(edit.line, edit.column)
        end = index.offset(edit.end_line, edit.end_column)
        if end <= point:
            shift += len(edit.content) - (end - start)
    return LineIndex.of(apply_edits(text, edits)).position(point + shift)


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=path,
        tofile=path,
    )
    return "".join(
        line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        for line in lines
    )
