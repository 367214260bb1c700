"""`bnlint check` as a terminal user and a CI job see it: exit codes, text output, colour."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

from bnlint import cli

from .helpers import REPO_ROOT, run_subprocess, write

MODEL = """
import torch.nn as nn

class Net(nn.Module):
    def forward(self, x):
        x = self.act(x)
        return self.bn_act(x)
"""

CLEAN = """
import torch.nn as nn

class Clean(nn.Module):
    def forward(self, x):
        return self.bn(self.conv(x))
"""


def test_findings_exit_1_with_one_line_each_and_a_summary(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"src/net.py": MODEL, "src/clean.py": CLEAN})
    run = bnlint("check", "src", "--format", "concise", cwd=tmp_path)
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0] == (
        "src/net.py:6:16: XBN101 [bn-after-activation] BatchNorm 'self.bn_act' "
        "cannot be folded: its input comes from 'self.act', not a Conv/Linear"
    )
    assert lines[-1] == (
        "Found 1 finding (0 errors, 1 warning, 0 info) in 2 files; "
        "folds: 2 foldable, 0 unfoldable, 0 unknown"
    )
    assert len(lines) == 2


def test_clean_code_exits_0(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"clean.py": CLEAN})
    run = bnlint("check", ".", cwd=tmp_path)
    assert run.code == 0
    assert run.out.strip().startswith("No findings in 1 file;")


def test_exit_zero_reports_but_exits_0(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": MODEL})
    run = bnlint("check", "net.py", "--exit-zero", cwd=tmp_path)
    assert run.code == 0
    assert "XBN101" in run.out


def test_full_format_shows_source_caret_and_help(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": MODEL})
    run = bnlint("check", "net.py", cwd=tmp_path)
    block = run.out.split("\n\n")[0].splitlines()
    assert block[0].startswith("net.py:6:16: XBN101 [bn-after-activation] ")
    assert block[1] == "6 |         return self.bn_act(x)"
    assert block[2] == "  |                ^^^^^^^^^^^"
    assert block[3] == (
        "help: Move the BatchNorm directly after the Conv/Linear, before the activation."
    )


def test_colour_only_on_a_terminal_and_never_with_no_color(
    tmp_path, fake_engine, bnlint, monkeypatch
):
    write(tmp_path, {"net.py": MODEL})
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert "\033[" not in bnlint("check", "net.py", cwd=tmp_path).out
    assert "\033[" in bnlint("check", "net.py", cwd=tmp_path, tty=True).out
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in bnlint("check", "net.py", cwd=tmp_path, tty=True).out


def test_statistics_count_findings_per_rule(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"a.py": MODEL, "b.py": MODEL + "        self.conv_bias(x)\n"})
    run = bnlint("check", ".", "--statistics", cwd=tmp_path)
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0].split() == ["2", "XBN101", "bn-after-activation"]
    assert lines[1].split() == ["1", "XBN401", "redundant-bias-before-bn"]
    assert lines[2].startswith("Found 3 findings (0 errors, 2 warnings, 1 info) in 2 files")
    as_json = bnlint("check", ".", "--statistics", "--format", "json", cwd=tmp_path)
    assert json.loads(as_json.out)[0] == {
        "code": "XBN101",
        "name": "bn-after-activation",
        "count": 2,
    }


def test_output_file_receives_the_report(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": MODEL})
    run = bnlint("check", "net.py", "--format", "json", "-o", "report.json", cwd=tmp_path)
    assert run.code == 1 and run.out == ""
    report = json.loads((tmp_path / "report.json").read_text())
    assert [d["code"] for d in report["diagnostics"]] == ["XBN101"]


def test_missing_path_is_a_one_line_error_naming_it(tmp_path):
    run = run_subprocess(["check", "no/such/dir", "."], cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == "bnlint: error: no/such/dir: no such file or directory\n"
    assert run.stdout == ""


def test_usage_error_exits_2(tmp_path):
    run = run_subprocess(["check", "--format", "xml", "."], cwd=tmp_path)
    assert run.returncode == 2
    assert "invalid choice: 'xml'" in run.stderr


def test_internal_error_is_one_line_with_a_hint_and_v_shows_the_traceback(
    tmp_path, monkeypatch, bnlint
):
    from bnlint import api

    def broken(files, *, search_roots=()):
        raise RuntimeError("the engine tripped")

    monkeypatch.setattr(api, "_engine", lambda: broken)
    write(tmp_path, {"net.py": MODEL})
    run = bnlint("check", "net.py", cwd=tmp_path)
    assert run.code == 2
    assert run.err == (
        "bnlint: error: internal error: RuntimeError: the engine tripped "
        "(run with -v for the traceback)\n"
    )
    verbose = bnlint("check", "-v", "net.py", cwd=tmp_path)
    assert verbose.code == 2
    assert "Traceback (most recent call last)" in verbose.err


def test_verbose_logs_decisions_and_quiet_silences_warnings(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": MODEL})
    (tmp_path / "gone.py").symlink_to(tmp_path / "missing.py")
    assert "bnlint.api: INFO: checking 1 files" in bnlint("check", "-v", ".", cwd=tmp_path).err
    assert "bnlint.discovery: DEBUG: found" in bnlint("check", "-vv", ".", cwd=tmp_path).err
    assert "broken symbolic link" in bnlint("check", ".", cwd=tmp_path).err
    assert bnlint("check", "-q", ".", cwd=tmp_path).err == ""


def test_python_dash_m_bnlint_runs_the_same_cli(tmp_path):
    run = run_subprocess(["--version"], cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout.startswith("bnlint ")


def test_rule_prints_the_page_and_all_lists_codes(tmp_path, bnlint):
    run = bnlint("rule", "XBN101", cwd=tmp_path)
    assert run.code == 0
    assert run.out.startswith("# XBN101")
    assert "bn-after-activation" in run.out
    by_name = bnlint("rule", "bn-after-activation", cwd=tmp_path)
    assert by_name.out == run.out
    listing = bnlint("rule", "--all", cwd=tmp_path)
    assert listing.code == 0
    assert any(
        line.split()[:2] == ["XBN101", "bn-after-activation"] for line in listing.out.splitlines()
    )
    unknown = bnlint("rule", "XBN999", cwd=tmp_path)
    assert unknown.code == 2
    assert "unknown rule 'XBN999'" in unknown.err


def test_fold_is_delegated_to_the_runtime_command(tmp_path, bnlint, monkeypatch):
    seen = {}

    def add_arguments(parser):
        parser.add_argument("model")

    def run(args):
        seen["model"] = args.model
        return 3

    command = SimpleNamespace(add_arguments=add_arguments, run=run)
    monkeypatch.setattr(cli, "_runtime_command", lambda: command)
    assert bnlint("fold", "zoo:resnet", cwd=tmp_path).code == 3
    assert seen == {"model": "zoo:resnet"}


def test_fold_without_the_runtime_command_explains_and_exits_2(tmp_path, bnlint, monkeypatch):
    monkeypatch.setattr(cli, "_runtime_command", lambda: None)
    run = bnlint("fold", "zoo:resnet", "--verify", cwd=tmp_path)
    assert run.code == 2
    assert run.err == (
        "bnlint: error: `bnlint fold` is not available in this installation "
        "(the module bnlint.runtime.command is missing)\n"
    )


def test_check_does_not_import_torch(tmp_path):
    write(tmp_path, {"clean.py": CLEAN})
    code = (
        "import sys, bnlint.cli\n"
        "bnlint.cli.build_parser(['check'])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": ""},
    )
    assert out.stdout.strip() == "False", out.stderr


def test_rule_pages_are_found_in_a_checkout_and_in_a_wheel(tmp_path, monkeypatch):
    from bnlint import rule_pages
    from bnlint.rules import RULES

    rule = RULES["XBN101"]
    write(
        tmp_path,
        {
            "checkout/rules/XBN101.md": "# from the checkout\n",
            "site/bnlint/_rule_pages/XBN101.md": "# from the wheel\n",
        },
    )
    (tmp_path / "checkout" / "bnlint").mkdir()
    monkeypatch.setattr(rule_pages, "_PACKAGE_DIR", tmp_path / "checkout" / "bnlint")
    assert rule_pages.page(rule) == "# from the checkout\n"
    monkeypatch.setattr(rule_pages, "_PACKAGE_DIR", tmp_path / "site" / "bnlint")
    assert rule_pages.page(rule) == "# from the wheel\n"
    # No page at all: one is made from the catalogue entry.
    monkeypatch.setattr(rule_pages, "_PACKAGE_DIR", tmp_path / "nowhere" / "bnlint")
    assert rule_pages.page(rule).startswith("# XBN101: bn-after-activation\n")
    assert rule.fix in rule_pages.page(rule)
