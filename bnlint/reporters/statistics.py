"""`--statistics`: how many findings each rule raised, most frequent first."""

from __future__ import annotations

import json
from collections import Counter

from bnlint.ftypes import CheckResult
from bnlint.reporters.base import ReportContext, summary_line
from bnlint.reporters.text import Painter


def counts(result: CheckResult) -> list[tuple[str, str, int]]:
    """(code, name, count) sorted by count, then code."""
    tally = Counter((d.code, d.name) for d in result.diagnostics)
    return sorted(
        ((code, name, n) for (code, name), n in tally.items()), key=lambda row: (-row[2], row[0])
    )


def render(result: CheckResult, context: ReportContext, *, as_json: bool = False) -> str:
    rows = counts(result)
    if as_json:
        return json.dumps([{"code": c, "name": n, "count": k} for c, n, k in rows], indent=2) + "\n"
    paint = Painter(context.color)
    width = max((len(str(k)) for _, _, k in rows), default=1)
    lines = [f"{k:>{width}}  {paint.bold(c)}  {n}" for c, n, k in rows]
    lines.append(paint.bold(summary_line(result)))
    return "\n".join(lines) + "\n"
