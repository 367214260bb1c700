"""What ruff users reach for: -q, -o/--output with --force, --show-files, --show-settings,
--add-noqa, `bnlint clean PATH`, and a documentation URL for every rule."""

from __future__ import annotations

import json
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from bnlint import rule_pages
from bnlint.rules import RULES

from .helpers import REPO_ROOT, run_subprocess, write

FLAGGED = """
class Net:
    def forward(self, x):
        return self.bn_act(x)
"""


def test_quiet_prints_only_the_summary(bnlint, fake_engine, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "m.py": FLAGGED})
    loud = bnlint("check", "m.py", cwd=tmp_path)
    quiet = bnlint("check", "-q", "m.py", cwd=tmp_path)
    assert "XBN101" in loud.out
    assert quiet.code == loud.code == 1
    assert (
        quiet.out == "Found 1 finding (0 errors, 1 warning, 0 info) in 1 file; "
        "folds: 1 foldable, 0 unfoldable, 0 unknown\n"
    )
    assert bnlint("check", "--quiet", "m.py", cwd=tmp_path).out == quiet.out


def test_quiet_keeps_machine_formats_whole(bnlint, fake_engine, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "m.py": FLAGGED})
    run = bnlint("check", "-q", "--format", "json", "m.py", cwd=tmp_path)
    assert json.loads(run.out)["diagnostics"][0]["code"] == "XBN101"


def test_output_is_never_overwritten_without_force(bnlint, fake_engine, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "m.py": FLAGGED, "report.txt": "kept\n"})
    refused = bnlint("check", "m.py", "-o", "report.txt", cwd=tmp_path)
    assert refused.code == 2 and "report.txt exists; pass --force" in refused.err
    assert (tmp_path / "report.txt").read_text() == "kept\n"
    forced = bnlint("check", "m.py", "--output", "report.txt", "--force", cwd=tmp_path)
    assert forced.code == 1 and "XBN101" in (tmp_path / "report.txt").read_text()


def test_the_old_output_file_spelling_still_works_and_is_hidden(bnlint, fake_engine, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "m.py": FLAGGED})
    run = bnlint("check", "m.py", "--output-file", "new.txt", cwd=tmp_path)
    assert run.code == 1 and "XBN101" in (tmp_path / "new.txt").read_text()
    assert "--output-file" not in run_subprocess(["check", "--help"], cwd=tmp_path).stdout


def test_show_files_lists_what_would_be_checked_and_checks_nothing(bnlint, fake_engine, tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.bnlint]\nextend-exclude = ['skip']\n",
            "pkg/a.py": FLAGGED,
            "pkg/b.py": "",
            "skip/c.py": FLAGGED,
        },
    )
    run = bnlint("check", "--show-files", cwd=tmp_path)
    assert (run.code, run.out) == (0, "pkg/a.py\npkg/b.py\n")
    assert fake_engine.calls == []


def test_show_settings_names_where_each_value_came_from(bnlint, fake_engine, tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.bnlint]\nignore = ['XBN401']\noutput-format = 'concise'\n",
            "m.py": "",
        },
    )
    run = bnlint("check", "--show-settings", "--extend-exclude", "gen", "-j", "3", cwd=tmp_path)
    settings = {
        line.split(" = ")[0].strip(): " ".join(line.split()) for line in run.out.splitlines()
    }
    assert run.code == 0 and fake_engine.calls == []
    config = str(tmp_path / "pyproject.toml")
    assert settings["config-file"].endswith("# the nearest pyproject.toml with [tool.bnlint]")
    assert settings["ignore"] == f'ignore = ["XBN401"] # {config}'
    assert settings["output-format"].endswith(f'"concise" # {config}')
    assert settings["extend-exclude"].endswith('["gen"] # command line (--extend-exclude)')
    assert settings["jobs"].endswith("3 # command line (--jobs)")
    assert settings["select"].endswith('["ALL"] # default')
    assert "XBN401" not in settings["enabled-rules"] and "XBN101" in settings["enabled-rules"]
    assert settings["cache-dir"].endswith("# default (.bnlint_cache in the project root)")


def test_add_noqa_silences_every_finding_keeps_codes_and_is_idempotent(
    bnlint, fake_engine, tmp_path
):
    source = (
        "class Net:\n"
        "    def forward(self, x):\n"
        "        x = self.bn_act(x)  # noqa: E501\n"
        "        y = self.conv_bias(x)  # why: kept for export\n"
        "        w = self.call(\n"
        '            x, """self.bn_act in a string\n'
        '            that ends here""")\n'
        "        return self.bn_act(y)\n"
    )
    write(tmp_path, {"pyproject.toml": "", "m.py": source})
    first = bnlint("check", "--add-noqa", "m.py", cwd=tmp_path)
    text = (tmp_path / "m.py").read_text()
    assert text.splitlines()[2:] == [
        "        x = self.bn_act(x)  # noqa: E501, XBN101",
        "        y = self.conv_bias(x)  # noqa: XBN401 # why: kept for export",
        # Line 6 ends inside a string: the statement's first line carries the comment.
        "        w = self.call(  # noqa: XBN101",
        '            x, """self.bn_act in a string',
        '            that ends here""")',
        "        return self.bn_act(y)  # noqa: XBN101",
    ]
    assert "added 4 noqa comments in 1 file" in first.err
    assert first.code == 0 and first.out.startswith("No findings in 1 file")
    again = bnlint("check", "--add-noqa", "m.py", cwd=tmp_path)
    assert (tmp_path / "m.py").read_text() == text
    assert again.code == 0 and "added 0 noqa comments" in again.err


def test_add_noqa_names_a_finding_no_comment_can_reach(bnlint, fake_engine, tmp_path):
    source = 'DOC = """first line\nself.bn_act inside the string\nlast line"""\n'
    write(tmp_path, {"pyproject.toml": "", "m.py": source})
    run = bnlint("check", "--add-noqa", "m.py", cwd=tmp_path)
    assert (tmp_path / "m.py").read_text() == source
    assert "m.py: line 2: no comment can end that line (XBN101 not suppressed)" in run.err
    assert run.code == 1 and "Found 1 finding" in run.out


def test_add_noqa_does_not_combine_with_fix(bnlint, fake_engine, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "m.py": FLAGGED})
    run = bnlint("check", "--add-noqa", "--fix", "m.py", cwd=tmp_path)
    assert run.code == 2 and "cannot be combined" in run.err


def test_clean_removes_the_cache_check_used_for_the_same_path(bnlint, tmp_path):
    write(
        tmp_path, {".git/HEAD": "", "examples/pyproject.toml": "", "examples/src/m.py": "x = 1\n"}
    )
    bnlint("check", "examples/src", cwd=tmp_path)
    cache = tmp_path / "examples" / ".bnlint_cache"
    assert cache.is_dir()
    run = bnlint("clean", "examples/src", cwd=tmp_path)
    assert run.code == 0 and f"removed {cache}" in run.err and not cache.exists()


def test_clean_without_a_cache_points_at_the_caches_of_projects_below(bnlint, tmp_path):
    write(
        tmp_path, {".git/HEAD": "", "examples/pyproject.toml": "", "examples/src/m.py": "x = 1\n"}
    )
    bnlint("check", "examples/src", cwd=tmp_path)
    run = bnlint("clean", cwd=tmp_path)
    cache = tmp_path / "examples" / ".bnlint_cache"
    assert run.code == 0 and cache.is_dir()
    assert run.err == (
        f"bnlint: no cache at {tmp_path / '.bnlint_cache'}; "
        f"`bnlint clean examples` removes {cache}\n"
    )


def test_clean_of_a_missing_path_is_a_usage_error(bnlint, tmp_path):
    run = bnlint("clean", str(tmp_path / "nonexistent"), cwd=tmp_path)
    assert run.code == 2 and "no such file or directory" in run.err


def test_every_rule_has_a_documentation_url_in_sarif_and_json(bnlint, fake_engine, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "m.py": FLAGGED})
    sarif = json.loads(bnlint("check", "m.py", "--format", "sarif", cwd=tmp_path).out)
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert [r["helpUri"] for r in rules] == [f"{rule_pages.RULES_URL}XBN101.md"]
    found = json.loads(bnlint("check", "m.py", "--format", "json", cwd=tmp_path).out)
    assert found["diagnostics"][0]["url"] == f"{rule_pages.RULES_URL}XBN101.md"


def test_the_rule_url_base_is_the_one_pyproject_publishes():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Rules"] == rule_pages.RULES_URL
    for rule in RULES.values():  # each address names a page the repository has
        page = rule_pages.url(rule).removeprefix(rule_pages.RULES_URL)
        assert (REPO_ROOT / "rules" / page).is_file(), rule.code
