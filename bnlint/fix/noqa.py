"""`bnlint check --add-noqa`: a `# noqa: XBNnnn` comment on the line of every current finding,
so that a codebase adopts bnlint without a baseline file. Returns the new texts; prints nothing.

A comment goes on the finding's line, or, when a comment cannot end that line (it is inside a
multi-line string, or continued with a backslash), on the first line of the statement, where
bnlint reads it too. An existing `# noqa: CODES` keeps its codes and gains the new ones; other
comments are kept after it. A file that does not parse, or a finding with no line that can
carry a comment, is left alone and named.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bnlint.fix.source import parse_fix_source
from bnlint.ftypes import Diagnostic
from bnlint.suppression import split_lines

_NOQA_CODES = re.compile(
    r"#\s*noqa\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*)", re.IGNORECASE
)
_LINE_END = re.compile(r"\r\n|\r|\n|$")


@dataclass(frozen=True)
class NoqaChange:
    path: str  # as the diagnostics name it
    before: str
    after: str
    encoding: str
    added: int  # comments added or extended

    @property
    def data(self) -> bytes:
        return self.after.encode(self.encoding)


@dataclass(frozen=True)
class NoqaOutcome:
    changes: tuple[NoqaChange, ...]
    left_alone: tuple[tuple[str, str], ...]  # (path, why)

    @property
    def added(self) -> int:
        return sum(change.added for change in self.changes)


def add_noqa(diagnostics: Iterable[Diagnostic], cwd: Path) -> NoqaOutcome:
    by_path: dict[str, list[Diagnostic]] = defaultdict(list)
    for diagnostic in diagnostics:
        by_path[diagnostic.path].append(diagnostic)
    changes, left_alone = [], []
    for path, found in sorted(by_path.items()):
        try:
            data = (cwd / path).read_bytes()
        except OSError as error:
            left_alone.append((path, f"cannot read it: {error.strerror or error}"))
            continue
        source = parse_fix_source(data)
        if source is None:
            left_alone.append((path, "it does not parse (or starts with a byte-order mark)"))
            continue
        change, problems = _annotate(path, source.text, source.encoding, found)
        left_alone.extend((path, problem) for problem in problems)
        if change is not None:
            changes.append(change)
    return NoqaOutcome(tuple(changes), tuple(left_alone))


def _annotate(
    path: str, text: str, encoding: str, found: list[Diagnostic]
) -> tuple[NoqaChange | None, list[str]]:
    endable, statement_start = _comment_lines(text)
    wanted: dict[int, set[str]] = defaultdict(set)
    problems = []
    for diagnostic in found:
        line = diagnostic.line
        if line not in endable:
            line = statement_start.get(line, line)
        if line not in endable:
            problems.append(
                f"line {diagnostic.line}: no comment can end that line "
                f"({diagnostic.code} not suppressed)"
            )
            continue
        wanted[line].add(diagnostic.code)
    if not wanted:
        return None, problems
    lines = _split_keeping_ends(text)
    for number, codes in wanted.items():
        body, end = lines[number - 1]
        lines[number - 1] = (_with_codes(body, endable[number], codes), end)
    after = "".join(body + end for body, end in lines)
    return NoqaChange(path, text, after, encoding, added=len(wanted)), problems


def _with_codes(line: str, comment_at: int | None, codes: set[str]) -> str:
    """`line` with `codes` in its noqa comment; `comment_at` is where its comment starts."""
    if comment_at is None:
        return f"{line.rstrip()}  # noqa: {', '.join(sorted(codes))}"
    code_part, comment = line[:comment_at], line[comment_at:]
    existing = _NOQA_CODES.search(comment)
    if existing is not None:
        have = [c for c in re.split(r"[\s,]+", existing.group("codes")) if c]
        merged = have + sorted(codes - {c.upper() for c in have})
        start, stop = existing.span("codes")
        return code_part + comment[:start] + ", ".join(merged) + comment[stop:]
    return f"{code_part.rstrip()}  # noqa: {', '.join(sorted(codes))} {comment}"


def _comment_lines(text: str) -> tuple[dict[int, int | None], dict[int, int]]:
    """Lines a comment can end -> the column (0-based, in characters) of the comment already
    there, or None; and each line of a multi-line statement -> its first line."""
    endable: dict[int, int | None] = {}
    statement_start: dict[int, int] = {}
    start: int | None = None
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            endable[token.start[0]] = token.start[1]
        elif token.type in (tokenize.NL, tokenize.NEWLINE):
            endable.setdefault(token.start[0], None)
        if token.type in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            continue
        if start is None:
            start = token.start[0]
        if token.type == tokenize.NEWLINE:
            for line in range(start, token.end[0] + 1):
                statement_start[line] = start
            start = None
    return endable, statement_start


def _split_keeping_ends(text: str) -> list[tuple[str, str]]:
    """Physical lines as (body, line end), numbered as Python numbers them."""
    bodies = split_lines(text)
    ends = [match.group() for match in _LINE_END.finditer(text)][: len(bodies)]
    return list(zip(bodies, ends, strict=True))
