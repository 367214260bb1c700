"""Fixable findings in the machine formats: a `fix` object in json and json-lines, `fixes`
in SARIF (still valid SARIF 2.1.0); findings without a fix keep the version-1 keys."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema

from bnlint.ftypes import Applicability, CheckResult, Edit, Fix
from bnlint.reporters import ReportContext, render
from tests.cli.helpers import diagnostic

SCHEMA = Path(__file__).resolve().parents[1] / "cli" / "sarif-schema-2.1.0.json"
WRAP = Fix(
    Applicability.SAFE,
    "Wrap in nn.ModuleList",
    (Edit("nn.ModuleList(", 9, 22, 9, 22), Edit(")", 12, 10, 12, 10)),
)
BIAS = Fix(Applicability.UNSAFE, "Pass bias=False", (Edit("False", 7, 50, 7, 54),))


def result() -> CheckResult:
    return CheckResult(
        ("src/my net.py",),
        (
            diagnostic("XBN303", "src/my net.py", 9, 9),
            diagnostic("XBN401", "src/my net.py", 7, 21),
            diagnostic("XBN101", "src/my net.py", 15, 9),
        ),
        (),
    )


def with_fixes() -> CheckResult:
    wrap, bias, plain = result().diagnostics
    return CheckResult(
        result().files, (replace(wrap, fix=WRAP), replace(bias, fix=BIAS), plain), ()
    )


def context(tmp_path: Path) -> ReportContext:
    return ReportContext(root=tmp_path, cwd=tmp_path)


def test_json_has_a_fix_object_only_on_fixable_findings(tmp_path):
    document = json.loads(render("json", with_fixes(), context(tmp_path)))
    wrap, bias, plain = document["diagnostics"]
    assert wrap["fix"] == {
        "applicability": "safe",
        "message": "Wrap in nn.ModuleList",
        "edits": [
            {"content": "nn.ModuleList(", "line": 9, "column": 22, "end_line": 9, "end_column": 22},
            {"content": ")", "line": 12, "column": 10, "end_line": 12, "end_column": 10},
        ],
    }
    assert bias["fix"]["applicability"] == "unsafe"
    assert list(plain) == [
        "code",
        "name",
        "severity",
        "message",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "owner",
        "url",
    ]
    lines = render("json-lines", with_fixes(), context(tmp_path)).splitlines()
    assert json.loads(lines[0])["fix"] == wrap["fix"]


def test_sarif_results_carry_fixes_and_stay_valid(tmp_path):
    document = json.loads(render("sarif", with_fixes(), context(tmp_path)))
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(document)
    wrap, bias, plain = document["runs"][0]["results"]
    assert wrap["fixes"] == [
        {
            "description": {"text": "Wrap in nn.ModuleList"},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "src/my%20net.py", "uriBaseId": "%SRCROOT%"},
                    "replacements": [
                        {
                            "deletedRegion": {
                                "startLine": 9,
                                "startColumn": 22,
                                "endLine": 9,
                                "endColumn": 22,
                            },
                            "insertedContent": {"text": "nn.ModuleList("},
                        },
                        {
                            "deletedRegion": {
                                "startLine": 12,
                                "startColumn": 10,
                                "endLine": 12,
                                "endColumn": 10,
                            },
                            "insertedContent": {"text": ")"},
                        },
                    ],
                }
            ],
            "properties": {"applicability": "safe"},
        }
    ]
    assert bias["fixes"][0]["properties"] == {"applicability": "unsafe"}
    assert "fixes" not in plain


def test_text_formats_count_hidden_unsafe_fixes(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "my net.py").write_text("x = 1\n" * 20)
    text = render("concise", with_fixes(), context(tmp_path)).splitlines()
    assert text[0].startswith("src/my net.py:9:9: XBN303 [*] [modules-in-plain-container]")
    assert "XBN401 [redundant-bias-before-bn]" in text[1]
    assert text[-1] == "[*] 1 fixable with `bnlint check --fix` (1 more with --unsafe-fixes)"
    full = render("full", with_fixes(), context(tmp_path))
    assert "fix: Wrap in nn.ModuleList" in full
    assert full.endswith("[*] 1 fixable with `bnlint check --fix` (1 more with --unsafe-fixes)\n")
