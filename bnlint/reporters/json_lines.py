"""`json-lines`: one diagnostic object a line (the `json` format's diagnostic objects)."""

from __future__ import annotations

import json

from bnlint.ftypes import CheckResult
from bnlint.reporters.base import ReportContext
from bnlint.reporters.json_output import diagnostic_object

NAME = "json-lines"


def render(result: CheckResult, context: ReportContext) -> str:
    return "".join(
        json.dumps(diagnostic_object(d), ensure_ascii=False) + "\n" for d in result.diagnostics
    )
