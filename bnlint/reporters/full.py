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
            text = read_source(context.cwd / diagnostic.path)
            sources[diagnostic.path] = split_lines(text) if text is not None else []
        blocks.append(_block(diagnostic, sources[diagnostic.path], paint, context))
    fixes = fixable_line(result, context)
    blocks.append(paint.bold(summary_line(result)) + "\n" + (f"{fixes}\n" if fixes else ""))
    return "\n".join(blocks)


def _block(diagnostic: Diagnostic, lines: list[str], paint: Painter,
           context: ReportContext) -> str:
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
    width = max(1, min(stop, len(source) + 1) - start)
    # Keep tabs so the caret lines up under the same columns as the source.
    indent = "".join(c if c == "\t" else " " for c in source[:start - 1])
    caret = paint.severity(diagnostic.severity, "^" * width)
    return [paint.dim(f"{number} |") + f" {source}",
            paint.dim(f"{gutter} |") + f" {indent}{caret}"]

