"""Suppression comments, read from the real comments of a file (never from inside strings).

- `# noqa` (bare) silences every finding on that line, as in flake8;
  `# noqa: XBN101, XBN2` silences those codes (a code prefix matches, as in flake8).
- `# bnlint: ignore[XBN101]` does the same for bnlint alone (codes, prefixes or rule names);
  a bare `# bnlint: ignore` silences every bnlint finding on the line.
- Either comment counts on the reported line or on the first line of the statement that
  contains it, so a finding inside a multi-line `nn.Sequential(...)` can be silenced once.
- `# bnlint: file-ignore[XBN101]` anywhere in the file silences the code in the whole file.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from bnlint.ftypes import Diagnostic

_NOQA = re.compile(
    r"#\s*noqa(?:\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
_BNLINT = re.compile(
    r"#\s*bnlint\s*:\s*(?P<kind>file-ignore|ignore)\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE
)


@dataclass(frozen=True)
class LineSuppression:
    selectors: frozenset[str] | None  # codes, prefixes or rule names; None: every code

    def covers(self, diagnostic: Diagnostic) -> bool:
        return self.selectors is None or _matches(self.selectors, diagnostic)


@dataclass(frozen=True)
class FileSuppressions:
    """What the comments of one file silence."""

    lines: dict[int, tuple[LineSuppression, ...]] = field(default_factory=dict)
    statement_start: dict[int, int] = field(default_factory=dict)  # line -> first line
    file_wide: tuple[LineSuppression, ...] = ()

    def suppresses(self, diagnostic: Diagnostic) -> bool:
        if any(rule.covers(diagnostic) for rule in self.file_wide):
            return True
        first = self.statement_start.get(diagnostic.line, diagnostic.line)
        for line in {diagnostic.line, first}:
            if any(rule.covers(diagnostic) for rule in self.lines.get(line, ())):
                return True
        return False


def _matches(selectors: frozenset[str], diagnostic: Diagnostic) -> bool:
    code = diagnostic.code.upper()
    return any(code.startswith(s) or s == diagnostic.name for s in selectors)


def read_source(path: Path, errors: str = "replace") -> str | None:
    """The text of a Python file decoded as Python would (PEP 263), or None if unreadable;
    `errors` is the codec error handler for bytes that are not text."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding, errors=errors)
    except (SyntaxError, LookupError):
        return data.decode("utf-8", errors=errors)


def split_lines(source: str) -> list[str]:
    """Physical lines as Python numbers them (str.splitlines also splits on form feeds)."""
    return re.split(r"\r\n|\r|\n", source)


def parse_suppressions(source: str) -> FileSuppressions:
    # Tokenizing costs seconds on a generated multi-megabyte file; a file whose text holds
    # no suppression comment at all (most files) needs no tokens.
    if not (_NOQA.search(source) or _BNLINT.search(source)):
        return FileSuppressions()
    comments, statement_start = _scan(source)
    lines: dict[int, list[LineSuppression]] = {}
    file_wide: list[LineSuppression] = []
    for line, text in comments:
        for match in _NOQA.finditer(text):
            codes = match.group("codes")
            selectors = None if codes is None else _split(codes)
            lines.setdefault(line, []).append(LineSuppression(selectors))
        for match in _BNLINT.finditer(text):
            codes = match.group("codes")
            selectors = None if codes is None or not codes.strip() else _split(codes)
            target = (
                file_wide
                if match.group("kind").lower() == "file-ignore"
                else lines.setdefault(line, [])
            )
            target.append(LineSuppression(selectors))
    return FileSuppressions(
        {k: tuple(v) for k, v in lines.items()}, statement_start, tuple(file_wide)
    )


def _split(codes: str) -> frozenset[str]:
    parts = (p.strip() for p in re.split(r"[\s,]+", codes))
    # Codes compare upper-case; rule names are kebab-case and compare as written.
    return frozenset(p if "-" in p else p.upper() for p in parts if p)


def _scan(source: str) -> tuple[list[tuple[int, str]], dict[int, int]]:
    """Comments (line, text) and, for every line of a multi-line statement, its first line.

    A file that does not tokenize (bnlint still reports it, as a syntax error) falls back to
    treating every `#` as a comment and every line as its own statement.
    """
    comments: list[tuple[int, str]] = []
    statement_start: dict[int, int] = {}
    start: int | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments.append((token.start[0], token.string))
                continue
            if token.type in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if start is None:
                start = token.start[0]
            if token.type == tokenize.NEWLINE:
                for line in range(start, token.end[0] + 1):
                    statement_start[line] = start
                start = None
    except (tokenize.TokenError, SyntaxError):
        comments = [
            (number, line[line.index("#") :])
            for number, line in enumerate(source.splitlines(), start=1)
            if "#" in line
        ]
    return comments, statement_start
