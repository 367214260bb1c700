"""`github`: GitHub Actions workflow commands, which the runner turns into annotations.

Paths are relative to the repository root, as annotations require. Values are escaped the
way the Actions toolkit escapes them: `%`, CR and LF everywhere, and also `:` and `,` inside
properties, where they would end the property.
"""

from __future__ import annotations

from bnlint.ftypes import CheckResult, Severity
from bnlint.reporters.base import ReportContext
from bnlint.rules import RULES

NAME = "github"

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: CheckResult, context: ReportContext) -> str:
    lines = []
    for d in result.diagnostics:
        properties = {
            "file": context.repo_path(d.path),
            "line": d.line,
            "col": d.column,
            "endLine": d.end_line,
            "endColumn": d.end_column,
            "title": f"{d.code} [{d.name}]",
        }
        joined = ",".join(
            f"{key}={escape_property(str(value))}" for key, value in properties.items()
        )
        fix = d.help or (RULES[d.code].fix if d.code in RULES else None)
        message = f"{d.message}\nhelp: {fix}" if fix else d.message
        lines.append(f"::{_COMMAND[d.severity]} {joined}::{escape_data(message)}\n")
    return "".join(lines)
