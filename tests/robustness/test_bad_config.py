"""A bad `[tool.bnlint]` fails fast: exit 2, one line naming the file, the key and the reason,
and no file is analysed. tests/cli/test_config.py covers the top-level keys; these are the
cases it leaves out: a glob that is a key, and a list with one wrong item."""

from __future__ import annotations

import pytest

from .helpers import GOOD, run_cli, write_tree


@pytest.mark.parametrize(
    "table, reason",
    [
        ('per-file-ignores = {"gen/[a-z" = ["XBN1"]}', "per-file-ignores: invalid glob 'gen/[a-z'"),
        ('select = ["XBN1", 2]', "select: expected a list of strings"),
        ('extend-exclude = ["**/[!"]', "extend-exclude: invalid glob '**/[!'"),
        ("severity = {XBN401 = 3}", "severity.XBN401: expected one of error, warning, info"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, table, reason):
    root = write_tree(tmp_path, {"good.py": GOOD})
    (root / "pyproject.toml").write_text(f"[tool.bnlint]\n{table}\n")
    run = run_cli(["check", "."], cwd=root)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith(f"bnlint: error: {root / 'pyproject.toml'}: [tool.bnlint] ")
    assert reason in run.stderr
