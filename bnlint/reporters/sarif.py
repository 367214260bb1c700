"""`sarif`: SARIF 2.1.0, as GitHub code scanning ingests it; fixable findings carry `fixes`.

Every rule that raised a finding is described (short and full description, help text and
Markdown from its rule page; rules without findings are left out, as ruff does, so a report
does not change when the catalogue grows). Locations are relative
to the repository root under the `%SRCROOT%` base, regions are 1-based, and each result
carries the same fingerprint a baseline uses, so code scanning tracks a finding across
unrelated line shifts.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from bnlint import __version__, rule_pages
from bnlint.baseline import fingerprints
from bnlint.ftypes import CheckResult, Fix, Severity
from bnlint.reporters.base import ReportContext
from bnlint.rules import RULES, Rule

NAME = "sarif"

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "bnlintFingerprint/v1"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    markdown = rule_pages.page(rule)
    tags = ["batchnorm-folding"]
    if rule.status is not None:
        tags.append(rule.status.value)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule_pages.description(rule)},
        "helpUri": rule_pages.url(rule),
        "help": {"text": markdown, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"tags": tags},
    }


def document(result: CheckResult, context: ReportContext) -> dict[str, Any]:
    rules = [RULES[code] for code in sorted({d.code for d in result.diagnostics} & set(RULES))]
    index = {rule.code: i for i, rule in enumerate(rules)}
    prints = fingerprints(result.diagnostics, root=context.root, cwd=context.cwd)
    results = []
    for d, fingerprint in zip(result.diagnostics, prints, strict=True):
        entry: dict[str, Any] = {"ruleId": d.code}
        if d.code in index:
            entry["ruleIndex"] = index[d.code]
        entry.update(
            {
                "level": _LEVEL[d.severity],
                "message": {"text": d.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": quote(context.repo_path(d.path)),
                                "uriBaseId": "%SRCROOT%",
                            },
                            "region": {
                                "startLine": max(1, d.line),
                                "startColumn": max(1, d.column),
                                "endLine": max(1, d.end_line),
                                "endColumn": max(1, d.end_column),
                            },
                        }
                    }
                ],
                "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
            }
        )
        if d.fix is not None:
            entry["fixes"] = [_fix_object(d.fix, context.repo_path(d.path))]
        results.append(entry)
    driver = {
        "name": "bnlint",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [_rule_descriptor(rule) for rule in rules],
    }
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}
        ],
    }


def _fix_object(fix: Fix, path: str) -> dict[str, Any]:
    replacements = [
        {
            "deletedRegion": {
                "startLine": e.line,
                "startColumn": e.column,
                "endLine": e.end_line,
                "endColumn": e.end_column,
            },
            "insertedContent": {"text": e.content},
        }
        for e in fix.edits
    ]
    return {
        "description": {"text": fix.message},
        "artifactChanges": [
            {
                "artifactLocation": {"uri": quote(path), "uriBaseId": "%SRCROOT%"},
                "replacements": replacements,
            }
        ],
        "properties": {"applicability": fix.applicability.value},
    }


def render(result: CheckResult, context: ReportContext) -> str:
    return json.dumps(document(result, context), indent=2, ensure_ascii=False) + "\n"
