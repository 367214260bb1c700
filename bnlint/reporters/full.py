"""`full` (the default): each finding, the source line with a caret under the reported
columns, and a help line saying how to fix it; then the summary."""

from __future__ import annotations

from bnlint.ftypes import CheckResult, Diagnostic
from bnlint.reporters.base import ReportContext, fixable, fixable_line, summary_line
from bnlint.reporters.text import Painter, finding_line
from bnlint.rules import RULES
from bnlint.suppression import read_source, split_lines

NAME = "full"


def render(result: CheckResult, context: ReportContext) -> str:
    paint = Painter(context.color)
    sources: dict[str, list[str]] = {}
    blocks = []
    for diagnostic in result.diagnostics:
        if diagnostic.path not in sources:
            # A byte that is not text is kept as a lone surrogate, shown as the byte.
            text = read_source(context.cwd / diagnostic.path, errors="surrogateescape")
            sources[diagnostic.path] = split_lines(text) if text is not None else []
        blocks.append(_block(diagnostic, sources[diagnostic.path], paint, context))
    fixes = fixable_line(result, context)
    blocks.append(paint.bold(summary_line(result)) + "\n" + (f"{fixes}\n" if fixes else ""))
    return "\n".join(blocks)


def _block(diagnostic: Diagnostic, lines: list[str], paint: Painter, context: ReportContext) -> str:
    applies = fixable(diagnostic, context)
    out = [finding_line(diagnostic, paint, applies)]
    if 0 < diagnostic.line <= len(lines):
        out.extend(_snippet(diagnostic, lines[diagnostic.line - 1], paint))
    fix = diagnostic.help or (RULES[diagnostic.code].fix if diagnostic.code in RULES else None)
    if fix:
        out.append(f"{paint.bold('help')}: {fix}")
    if diagnostic.fix is not None:
        hidden = "" if applies else " (unsafe; applied with --unsafe-fixes)"
        out.append(f"{paint.bold('fix')}{hidden}: {diagnostic.fix.message}")
    return "\n".join(out) + "\n"


def _snippet(diagnostic: Diagnostic, source: str, paint: Painter) -> list[str]:
    number = str(diagnostic.line)
    gutter = " " * len(number)
    start = min(max(diagnostic.column, 1), len(source) + 1)
    stop = diagnostic.end_column if diagnostic.end_line == diagnostic.line else len(source) + 1
    stop = max(start + 1, min(stop, len(source) + 1))
    first, last = _window(start, len(source))
    shown = [_shown(c) for c in source[first - 1 : last - 1]]
    before = shown[: start - first]
    # Keep tabs so the caret lines up under the same columns as the source.
    indent = "".join(c if c == "\t" else " " * len(c) for c in before)
    width = max(1, sum(len(c) for c in shown[start - first : stop - first]))
    caret = paint.severity(diagnostic.severity, "^" * width)
    cut_left = "..." if first > 1 else ""
    cut_right = "..." if last <= len(source) else ""
    return [
        paint.dim(f"{number} |") + f" {cut_left}{''.join(shown)}{cut_right}",
        paint.dim(f"{gutter} |") + f" {' ' * len(cut_left)}{indent}{caret}",
    ]


# Characters of a source line shown around the reported column: a binary or generated file
# can hold a "line" of megabytes.
_SHOWN_CHARACTERS = 200


def _window(start: int, length: int) -> tuple[int, int]:
    """The 1-based columns [first, last) of a line `length` characters long that are shown:
    all of it when it is short, else a stretch that holds column `start`."""
    if length <= _SHOWN_CHARACTERS:
        return 1, length + 1
    first = max(1, min(start - _SHOWN_CHARACTERS // 4, length + 1 - _SHOWN_CHARACTERS))
    return first, first + _SHOWN_CHARACTERS


def _shown(char: str) -> str:
    """One character of a source line as printed: itself, or escaped when a terminal would
    not show it as written. A control character can move the cursor, recolour or clear the
    terminal (an escape sequence in a binary file); format and bidirectional controls hide
    or reorder code; a byte that was not text (read as a lone surrogate) shows as that byte."""
    if char == "\t" or char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
