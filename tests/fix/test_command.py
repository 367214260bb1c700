"""`bnlint check --fix / --unsafe-fixes / --diff` as a user runs them, and the re-analysis
that keeps a bad fix from being written."""

from __future__ import annotations

import json

from bnlint.fix import fix_files
from bnlint.ftypes import CheckResult, Diagnostic, Severity

from .helpers import checked, project

SOURCE = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # the stem
        self.bn = nn.BatchNorm2d(8)
        self.heads = [
            nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)),  # head A
            nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)),  # head B
        ]

    def forward(self, x):
        x = self.bn(self.conv(x))
        return [head(x) for head in self.heads]
"""
SAFE = SOURCE.replace("self.heads = [", "self.heads = nn.ModuleList([").replace(
    "  # head B\n        ]", "  # head B\n        ])"
)
UNSAFE = SAFE.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, bias=False)")


def test_text_output_marks_what_fix_would_fix(tmp_path, bnlint):
    project(tmp_path, SOURCE)
    run = bnlint("check", "--format", "concise", ".", cwd=tmp_path)
    lines = run.out.splitlines()
    assert any(
        line.startswith("models.py:9:9: XBN303 [*] [modules-in-plain-container]") for line in lines
    )
    assert any(
        line.startswith("models.py:7:21: XBN401 [redundant-bias-before-bn]") for line in lines
    ), "unsafe fixes are not marked without --unsafe-fixes"
    # The container and the two BatchNorms in it are fixed by one edit.
    assert [line.split(" [")[0] for line in lines[:-2] if "[*]" in line] == [
        "models.py:9:9: XBN303",
        "models.py:10:59: XBN205",
        "models.py:11:59: XBN205",
    ]
    assert lines[-1] == "[*] 3 fixable with `bnlint check --fix` (1 more with --unsafe-fixes)"
    unsafe = bnlint("check", "--format", "concise", "--unsafe-fixes", ".", cwd=tmp_path)
    assert "XBN401 [*] [redundant-bias-before-bn]" in unsafe.out
    assert unsafe.out.splitlines()[-1] == "[*] 4 fixable with `bnlint check --fix --unsafe-fixes`"


def test_full_output_says_what_the_fix_does(tmp_path, bnlint):
    project(tmp_path, SOURCE)
    out = bnlint("check", ".", cwd=tmp_path).out
    assert "fix: Wrap in nn.ModuleList" in out
    assert "fix (unsafe; applied with --unsafe-fixes): Pass bias=False" in out


def test_fix_writes_the_safe_fixes_and_reports_what_remains(tmp_path, bnlint):
    path = project(tmp_path, SOURCE)
    run = bnlint("check", "--fix", "--format", "concise", ".", cwd=tmp_path)
    assert path.read_text() == SAFE.lstrip("\n")
    assert "bnlint: fixed 3 findings in 1 file" in run.err
    # The heads' BatchNorms, unknown while unregistered, now fold; the bias finding remains.
    assert [line.split(" [")[0] for line in run.out.splitlines()[:-2]] == ["models.py:7:21: XBN401"]
    assert "folds: 3 foldable, 0 unfoldable, 0 unknown" in run.out
    assert run.code == 1


def test_unsafe_fixes_also_drop_the_redundant_bias(tmp_path, bnlint):
    path = project(tmp_path, SOURCE)
    run = bnlint("check", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert path.read_text() == UNSAFE.lstrip("\n")
    assert run.code == 0
    assert "No findings" in run.out


def test_diff_shows_the_edits_without_writing(tmp_path, bnlint):
    path = project(tmp_path, SOURCE)
    run = bnlint("check", "--diff", ".", cwd=tmp_path)
    assert path.read_text() == SOURCE.lstrip("\n")
    assert run.code == 1
    assert run.out.splitlines()[:2] == ["--- models.py", "+++ models.py"]
    assert "-        self.heads = [\n+        self.heads = nn.ModuleList([\n" in run.out
    assert "+        ])\n" in run.out
    assert "would fix 3 findings in 1 file" in run.err


def test_diff_exits_zero_when_there_is_nothing_to_fix(tmp_path, bnlint):
    project(tmp_path, UNSAFE)
    run = bnlint("check", "--diff", "--unsafe-fixes", ".", cwd=tmp_path)
    assert (run.code, run.out) == (0, "")


def test_windows_line_endings_stay(tmp_path, bnlint):
    path = project(tmp_path, "")
    path.write_bytes(SOURCE.lstrip("\n").replace("\n", "\r\n").encode())
    bnlint("check", "--fix", ".", cwd=tmp_path)
    assert path.read_bytes() == SAFE.lstrip("\n").replace("\n", "\r\n").encode()


def test_json_carries_the_fix_object(tmp_path, bnlint):
    project(tmp_path, SOURCE)
    document = json.loads(bnlint("check", "--format", "json", ".", cwd=tmp_path).out)
    by_code = {d["code"]: d for d in document["diagnostics"]}
    assert by_code["XBN205"]["fix"] == by_code["XBN303"]["fix"]
    assert by_code["XBN303"]["fix"] == {
        "applicability": "safe",
        "message": "Wrap in nn.ModuleList",
        "edits": [
            {"content": "nn.ModuleList(", "line": 9, "column": 22, "end_line": 9, "end_column": 22},
            {"content": ")", "line": 12, "column": 10, "end_line": 12, "end_column": 10},
        ],
    }
    assert by_code["XBN401"]["fix"]["applicability"] == "unsafe"
    assert by_code["XBN401"]["fix"]["edits"] == [
        {"content": ", bias=False", "line": 7, "column": 38, "end_line": 7, "end_column": 38}
    ]


def test_fix_and_write_baseline_do_not_mix(tmp_path, bnlint):
    project(tmp_path, SOURCE)
    run = bnlint("check", "--fix", "--write-baseline", "b.json", ".", cwd=tmp_path)
    assert run.code == 2 and "--write-baseline" in run.err


def _still_reported(code: str):
    """An analysis of the fixed text that still finds `code` where it was fixed."""

    def analyze(sources, *, search_roots=()):
        diagnostics = tuple(
            Diagnostic(code, "x", Severity.ERROR, "still there", "models.py", 9, 9, 9, 20)
            for _ in sources
        )
        return CheckResult(("models.py",), diagnostics, ())

    return analyze


def _unparsable(sources, *, search_roots=()):
    return CheckResult(
        ("models.py",),
        (
            Diagnostic(
                "XBN001",
                "syntax-error",
                Severity.ERROR,
                "cannot analyse file: syntax error",
                "models.py",
                3,
                1,
                3,
                1,
            ),
        ),
        (),
    )


def test_a_fix_whose_result_still_has_the_finding_is_not_kept(tmp_path):
    path = project(tmp_path, SOURCE)
    outcome = fix_files(checked(path), analyzer=_still_reported("XBN303"))
    assert outcome.changes == ()
    [rejected] = outcome.rejected
    assert rejected.path == "models.py"
    assert "XBN303 at line 9 is still reported" in rejected.reason


def test_a_fix_whose_result_does_not_parse_is_not_kept(tmp_path, bnlint, monkeypatch):
    path = project(tmp_path, SOURCE)
    monkeypatch.setattr("bnlint.fix.run._engine", lambda: _unparsable)
    run = bnlint("check", "--fix", ".", cwd=tmp_path)
    assert path.read_text() == SOURCE.lstrip("\n")
    assert "models.py: left unchanged: the fixed text would not be analysable (XBN001" in run.err
    assert "XBN303 [*]" in run.out
