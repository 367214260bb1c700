"""An edit costs only the definitions that read what it changed (bnlint.static.footprint):
the cache keeps each definition's verdicts with what its analysis read, and a run after an
edit takes every definition whose reads still hold from there. Whatever it keeps, the report
is the one a run without a cache gives."""

from __future__ import annotations

import ast
import logging
import random
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from bnlint.static.engine import analyze
from bnlint.static.footprint import layout_of

BLOCKS = """
from torch import nn


class ConvBN(nn.Module):
    def __init__(self, cin, cout, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class PreNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.conv = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv(self.bn(x))
"""

NETS = """
from torch import nn

from pkg.blocks import ConvBN, PreNorm


class Net(nn.Module):
    def __init__(self, width=16, pre=True):
        super().__init__()
        self.stem = ConvBN(3, width)
        self.body = nn.Sequential(ConvBN(width, width), PreNorm(width) if pre else nn.Identity())
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean((2, 3)))


def net_small():
    return Net(8)


def net_wide():
    return Net(32)


def plain():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
"""


def _project(tmp_path: Path) -> Path:
    package = tmp_path / "project" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "blocks.py").write_text(textwrap.dedent(BLOCKS))
    (package / "nets.py").write_text(textwrap.dedent(NETS))
    return package.parent


# a comment below the last statement of nets.py: no statement changes
COMMENT_BELOW = ("nn.ReLU())\n", "nn.ReLU())\n\n# a note\n")


def _filled(tmp_path: Path) -> tuple[Path, Path]:
    """The project, and a cache its first check filled."""
    root, cache = _project(tmp_path), tmp_path / "cache"
    analyze(_files(root), search_roots=[root], cache_dir=cache)
    return root, cache


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _kept(records: list[logging.LogRecord]) -> int:
    """How many definitions the last run took from the cache, as it logs them."""
    found = [
        re.search(r"\((\d+) definitions of them from the cache\)", r.getMessage()) for r in records
    ]
    counts = [int(m.group(1)) for m in found if m]
    return counts[-1] if counts else 0


def _check_after(
    root: Path, cache: Path, caplog: pytest.LogCaptureFixture, file: str, old: str, new: str
) -> int:
    path = root / "pkg" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bnlint.static"):
        cached = analyze(_files(root), search_roots=[root], cache_dir=cache)
    assert cached == analyze(_files(root), search_roots=[root])
    assert cached.modules
    return _kept(caplog.records)


def test_an_edit_costs_the_definitions_that_read_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, cache = _filled(tmp_path)
    # nets.py defines Net, net_small, net_wide, plain (in that order)
    assert _check_after(root, cache, caplog, "nets.py", *COMMENT_BELOW) == 4
    # the third is built again; the two before it did not read it
    assert _check_after(root, cache, caplog, "nets.py", "Net(32)", "Net(48)") == 2
    # a statement every definition of both files reads: nothing is kept
    assert _check_after(root, cache, caplog, "blocks.py", "bias=False", "bias=True") == 0
    # PreNorm's body: ConvBN (defined before it, reading only PreNorm's `class` line) stays
    body = ("nn.Conv2d(c, c, 1)", "nn.Linear(c, c)")
    assert _check_after(root, cache, caplog, "blocks.py", *body) == 1


def test_a_report_whose_contributions_say_the_same_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, cache = _filled(tmp_path)
    _check_after(root, cache, caplog, "nets.py", *COMMENT_BELOW)
    assert "2 reports kept: what they merge says what it said" in caplog.text
    # an edit that changes a verdict changes the reports that merge it
    _check_after(root, cache, caplog, "nets.py", "nn.BatchNorm2d(8)", "nn.GroupNorm(2, 8)")
    assert "0 reports kept" in caplog.text


def test_a_file_whose_every_definition_holds_is_not_analysed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """nets.py reads blocks.py: a comment below blocks.py's last class changes nothing
    nets.py read, so only blocks.py (whose own bytes changed) is analysed."""
    root, cache = _filled(tmp_path)
    last = "return self.conv(self.bn(x))\n"
    assert _check_after(root, cache, caplog, "blocks.py", last, f"{last}\n# a note\n") == 2
    assert "1 files to analyse" in caplog.text
    # and the next run, nothing changed, takes every report from the cache
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bnlint.static"):
        analyze(_files(root), search_roots=[root], cache_dir=cache)
    assert "2 files reported, 2 from the cache" in caplog.text


def test_a_line_moved_is_a_statement_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Verdicts name lines: a statement that moved is read again, not taken with old lines."""
    root, cache = _filled(tmp_path)
    kept = _check_after(root, cache, caplog, "nets.py", "def net_wide", "\ndef net_wide")
    assert kept == 2  # Net and net_small are above the new line


def test_a_layout_names_statements_by_lines_and_text() -> None:
    source = textwrap.dedent(NETS).encode()
    before = layout_of(source)
    assert before is not None
    appended = layout_of(source + b"\n# a comment\n")
    assert appended is not None
    assert (appended.bindings, appended.keys()) == (before.bindings, before.keys())
    edited = layout_of(source.replace(b"Net(32)", b"Net(48)"))
    assert edited is not None
    assert edited.bindings == before.bindings
    assert len(before.keys() - edited.keys()) == 1
    # a new binding is a new binding signature, whatever the statements
    added = layout_of(source + b"\ndef another():\n    return Net()\n")
    assert added is not None and added.bindings != before.bindings


def _mutate(path: Path, rng: random.Random) -> bool:
    """One edit of one top-level statement of `path`, of the kinds people make."""
    text = path.read_text()
    body = ast.parse(text).body
    if not body:
        return False
    lines = text.splitlines(keepends=True)
    statement = rng.choice(body)
    decorators = getattr(statement, "decorator_list", [])
    first = min([statement.lineno, *(d.lineno for d in decorators)])
    last = statement.end_lineno or statement.lineno
    kind = rng.choice(["number", "number", "norm", "bias", "blank", "comment", "delete"])
    if kind == "comment":
        path.write_text(text + "\n# edited\n")
        return True
    if kind == "blank":
        lines.insert(first - 1, "\n")
    elif kind == "delete":
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            return False
        lines[first - 1 : last] = ["pass\n"] + ["\n"] * (last - first)
    elif kind == "number":
        numbers = [
            n
            for n in ast.walk(statement)
            if isinstance(n, ast.Constant) and type(n.value) is int and n.lineno == n.end_lineno
        ]
        if not numbers:
            return False
        n = rng.choice(numbers)
        line = lines[n.lineno - 1].encode()
        changed = line[: n.col_offset] + str(n.value + 1).encode() + line[n.end_col_offset :]
        lines[n.lineno - 1] = changed.decode()
    else:
        old, new = {"norm": ("BatchNorm", "InstanceNorm"), "bias": ("bias=False", "bias=True")}[
            kind
        ]
        segment = "".join(lines[first - 1 : last])
        if old not in segment:
            return False
        lines[first - 1 : last] = [segment.replace(old, new, 1)]
    path.write_text("".join(lines))
    return True


def _random_edits(corpus: Path, tmp_path: Path, edits: int, seed: int) -> None:
    root = tmp_path / corpus.name
    shutil.copytree(corpus, root)
    cache = tmp_path / "cache"
    files = sorted(root.rglob("*.py"))
    analyze(files, search_roots=[root], cache_dir=cache)
    rng = random.Random(seed)
    done = 0
    while done < edits:
        target = rng.choice(files)
        if not _mutate(target, rng):
            continue
        done += 1
        cold = analyze(files, search_roots=[root])
        cached = analyze(files, search_roots=[root], cache_dir=cache)
        assert cold.modules
        assert cached == cold, f"edit {done} of {target.relative_to(root)} (seed {seed})"


CROSSFILE = Path(__file__).parents[1] / "fixtures" / "static" / "crossfile"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "static"


def test_after_random_edits_the_cached_report_is_the_fresh_one(tmp_path: Path) -> None:
    _random_edits(CROSSFILE, tmp_path, edits=12, seed=7)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_after_many_random_edits_of_the_fixtures_the_cached_report_is_the_fresh_one(
    tmp_path: Path, seed: int
) -> None:
    _random_edits(FIXTURES, tmp_path, edits=40, seed=seed)


def test_a_contribution_is_taken_only_with_the_entry_that_says_it_holds(tmp_path: Path) -> None:
    """Two runs sharing a cache may each have written one file's contribution or the entry
    saying whether it holds: a contribution not the one its entry speaks of is not taken."""
    import os

    from bnlint.static.memo import Memo

    root, cache = _filled(tmp_path)
    nets = os.path.realpath(root / "pkg" / "nets.py")
    memo = Memo.open(cache, [os.path.realpath(root)], os.getcwd())
    assert memo.contribution(nets) is not None
    memo._holding_table()[nets][3] = "the reads of another run"
    assert memo.contribution(nets) is None
