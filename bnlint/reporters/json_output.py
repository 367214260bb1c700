"""`json`: the versioned contract of DESIGN.md: diagnostics, every module's fold plan, summary."""

from __future__ import annotations

import json
from typing import Any

from bnlint import rule_pages
from bnlint.ftypes import CheckResult, Diagnostic, Fix, FoldEntry, ModuleReport, Status
from bnlint.reporters.base import ReportContext
from bnlint.rules import RULES

NAME = "json"
VERSION = 1


def diagnostic_object(diagnostic: Diagnostic) -> dict[str, Any]:
    found: dict[str, Any] = {
        "code": diagnostic.code,
        "name": diagnostic.name,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "path": diagnostic.path,
        "line": diagnostic.line,
        "column": diagnostic.column,
        "end_line": diagnostic.end_line,
        "end_column": diagnostic.end_column,
        "owner": diagnostic.owner,
    }
    if diagnostic.code in RULES:
        # The rule's page (added in version 1: an additive key).
        found["url"] = rule_pages.url(RULES[diagnostic.code])
    if diagnostic.fix is not None:
        # Only on fixable findings, so that the objects of version 1 keep their keys.
        found["fix"] = fix_object(diagnostic.fix)
    return found


def fix_object(fix: Fix) -> dict[str, Any]:
    return {
        "applicability": fix.applicability.value,
        "message": fix.message,
        "edits": [
            {
                "content": e.content,
                "line": e.line,
                "column": e.column,
                "end_line": e.end_line,
                "end_column": e.end_column,
            }
            for e in fix.edits
        ],
    }


def _fold_object(entry: FoldEntry) -> dict[str, Any]:
    fold: dict[str, Any] = {
        "conv": entry.conv,
        "bn": entry.bn,
        "direction": entry.direction.value if entry.direction else None,
        "status": entry.status.value,
        "code": entry.code,
    }
    if entry.merge is not None:
        # A fold through a concatenation or a sum: "conv" names its layers together
        # ("cat(a,b)", "a+b"); "producers" lists them in operand order. Added in version 1
        # without a version change: a fold into one layer reads exactly as before.
        fold.update(producers=list(entry.producers), merge=entry.merge.value)
    if entry.sites:
        # A verdict that holds for some instances of the class only: where they are built.
        fold["sites"] = list(entry.sites)
    if entry.notes:
        # What other instances of the class showed (an instance not reached, say).
        fold["notes"] = list(entry.notes)
    return fold


def _module_object(module: ModuleReport) -> dict[str, Any]:
    return {
        "class": module.class_name,
        "path": module.path,
        "line": module.line,
        "folds": [_fold_object(entry) for entry in module.folds],
    }


def document(result: CheckResult) -> dict[str, Any]:
    return {
        "version": VERSION,
        "diagnostics": [diagnostic_object(d) for d in result.diagnostics],
        "modules": [_module_object(m) for m in result.modules],
        "summary": {
            "files": len(result.files),
            "modules": len(result.modules),
            "foldable": result.count(Status.FOLDABLE),
            "unfoldable": result.count(Status.UNFOLDABLE),
            "unknown": result.count(Status.UNKNOWN),
        },
    }


def render(result: CheckResult, context: ReportContext) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"
