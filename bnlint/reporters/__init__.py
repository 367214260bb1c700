"""Output formats. Each is a stable contract with a golden-file test; reporters return text
and never print (the CLI writes it).

To add a format, write a module with `NAME` and `render(result, context) -> str` and list it
in `_MODULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from bnlint.ftypes import CheckResult
from bnlint.reporters import concise, full, github, json_lines, json_output, junit, sarif
from bnlint.reporters.base import ReportContext, summary_line

Renderer = Callable[[CheckResult, ReportContext], str]

_MODULES: tuple[ModuleType, ...] = (full, concise, json_output, json_lines, sarif, github, junit)

REPORTERS: dict[str, Renderer] = {module.NAME: module.render for module in _MODULES}
FORMATS: tuple[str, ...] = tuple(REPORTERS)
TEXT_FORMATS = frozenset({"full", "concise"})

__all__ = ["FORMATS", "REPORTERS", "TEXT_FORMATS", "ReportContext", "render", "summary_line"]


def render(output_format: str, result: CheckResult, context: ReportContext) -> str:
    return REPORTERS[output_format](result, context)
