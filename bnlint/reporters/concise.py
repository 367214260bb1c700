"""`concise`: one finding a line, `path:line:col: CODE [name] message`, then the summary."""

from __future__ import annotations

from bnlint.ftypes import CheckResult
from bnlint.reporters.base import ReportContext, fixable, fixable_line, summary_line
from bnlint.reporters.text import Painter, finding_line

NAME = "concise"


def render(result: CheckResult, context: ReportContext) -> str:
    paint = Painter(context.color)
    lines = [finding_line(d, paint, fixable(d, context)) for d in result.diagnostics]
    lines.append(paint.bold(summary_line(result)))
    fixes = fixable_line(result, context)
    if fixes:
        lines.append(fixes)
    return "\n".join(lines) + "\n"
