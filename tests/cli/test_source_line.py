"""The source line the default format prints under a finding is safe to print: a character a
terminal would not show as written is escaped, a byte that is not text shows as that byte,
an endless line shows a window around the finding, and the caret stays under the column."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import CheckResult
from bnlint.reporters import ReportContext, render

from .helpers import diagnostic, run_subprocess

# A pickle-like file that happens to hold a line starting with `class`, with a terminal escape
# sequence (clear the screen), a bell, a NUL and bytes that are not UTF-8.
BINARY = b"\x80\x04\x95\nclass Net:\n\x1b[2J\x07\x00\x8c\x05torch\x94\n"


def _snippet(text: str, line: int) -> list[str]:
    """The source line and the caret line printed under the finding on `line`."""
    lines = text.splitlines()
    at = next(i for i, shown in enumerate(lines) if shown.startswith(f"{line} | "))
    return lines[at : at + 2]


def _printed(tmp_path: Path, line: str, column: int, end_column: int) -> list[str]:
    (tmp_path / "m.py").write_text(line + "\n", encoding="utf-8")
    result = CheckResult(
        ("m.py",), (diagnostic("XBN101", "m.py", 1, column, end_column=end_column),), ()
    )
    return _snippet(render("full", result, ReportContext(root=tmp_path, cwd=tmp_path)), 1)


def test_a_binary_file_with_a_class_line_prints_its_bytes_escaped(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "weights.py").write_bytes(BINARY)
    run = run_subprocess(["check", "weights.py"], cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith(
        "weights.py:3:6: XBN002 [undecodable-file] cannot analyse file: binary file (NUL bytes)\n"
    )
    assert _snippet(run.stdout, 3) == [
        "3 | \\x1b[2J\\x07\\x00\\x8c\\x05torch\\x94",
        "  |            ^^^^",
    ]
    assert all(c == "\n" or c.isprintable() for c in run.stdout), repr(run.stdout)


def test_controls_that_hide_or_reorder_code_are_escaped_and_tabs_kept(tmp_path):
    # U+202E (right-to-left override) makes a terminal show the rest of the line reversed.
    line = "\tx = self.bn(y)  # \u202eevil\u200b"
    printed = _printed(tmp_path, line, 6, 17)
    assert printed == ["1 | \tx = self.bn(y)  # \\u202eevil\\u200b", "  | \t    ^^^^^^^^^^^"]


def test_an_endless_line_shows_a_window_around_the_finding(tmp_path):
    line = "x = [" + "1, " * 2000 + "self.bn(y)]"
    column = line.index("self.bn") + 1
    source, caret = _printed(tmp_path, line, column, column + 10)
    assert source.startswith("1 | ...1, 1, ") and source.endswith("self.bn(y)]")
    assert len(source) < 220
    start = caret.index("^")
    assert source[start : start + 10] == "self.bn(y)" and caret[start:] == "^" * 10
