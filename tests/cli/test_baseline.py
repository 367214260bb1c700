"""Adopting bnlint on an existing codebase: record today's findings, fail only on new ones."""

from __future__ import annotations

import json

from bnlint.baseline import build, fingerprints, new_findings

from .helpers import diagnostic, write

LEGACY = """
class Net(nn.Module):
    def forward(self, x):
        x = self.bn_act(self.act(x))
        return self.bn_act(x)
"""


def test_write_baseline_records_findings_and_exits_0(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"pkg/net.py": LEGACY})
    run = bnlint("check", ".", "--write-baseline", "bnlint-baseline.json", cwd=tmp_path)
    assert run.code == 0
    assert run.err == "bnlint: recorded 2 findings in bnlint-baseline.json\n"
    recorded = json.loads((tmp_path / "bnlint-baseline.json").read_text())
    assert recorded["version"] == 1 and recorded["tool"] == "bnlint"
    assert [(f["path"], f["line"], f["code"]) for f in recorded["findings"]] == [
        ("pkg/net.py", 3, "XBN101"),
        ("pkg/net.py", 4, "XBN101"),
    ]


def test_known_findings_pass_even_after_unrelated_lines_move(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"pkg/net.py": LEGACY})
    bnlint("check", ".", "--write-baseline", "baseline.json", cwd=tmp_path)
    assert bnlint("check", ".", "--baseline", "baseline.json", cwd=tmp_path).code == 0

    write(tmp_path, {"pkg/net.py": "import torch\nimport torch.nn as nn\n\n" + LEGACY})
    shifted = bnlint("check", ".", "--baseline", "baseline.json", cwd=tmp_path)
    assert shifted.code == 0, shifted.out
    # From a subfolder, too: baseline paths are relative to the baseline file.
    inside = bnlint("check", ".", "--baseline", "../baseline.json", cwd=tmp_path / "pkg")
    assert inside.code == 0, inside.out


def test_a_new_finding_fails_and_is_the_only_one_reported(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"pkg/net.py": LEGACY})
    bnlint("check", ".", "--write-baseline", "baseline.json", cwd=tmp_path)
    write(
        tmp_path,
        {
            "pkg/net.py": LEGACY + "        return self.bn_act(x)\n",
            "pkg/new.py": "y = self.conv_bias(x)\n",
        },
    )
    run = bnlint("check", ".", "--baseline", "baseline.json", "--format", "concise", cwd=tmp_path)
    assert run.code == 1
    assert [line.split(" [")[0] for line in run.out.splitlines()[:-1]] == [
        "pkg/net.py:5:16: XBN101",
        "pkg/new.py:1:5: XBN401",
    ]


def test_editing_the_flagged_line_makes_it_new(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": "a = self.bn_act(x)\n"})
    bnlint("check", ".", "--write-baseline", "baseline.json", cwd=tmp_path)
    write(tmp_path, {"net.py": "a = self.bn_act(y)\n"})
    assert bnlint("check", ".", "--baseline", "baseline.json", cwd=tmp_path).code == 1


def test_fingerprints_ignore_whitespace_and_line_numbers_but_count_repeats(tmp_path):
    (tmp_path / "a.py").write_text("x = self.bn_act(x)\nx = self.bn_act(x)\n")
    (tmp_path / "b.py").write_text("\n\n\nx  =  self.bn_act(x)   \nx = self.bn_act(x)\n")
    before = fingerprints(
        [diagnostic("XBN101", "a.py", 1), diagnostic("XBN101", "a.py", 2)],
        root=tmp_path,
        cwd=tmp_path,
    )
    after = fingerprints(
        [diagnostic("XBN101", "b.py", 5), diagnostic("XBN101", "b.py", 4)],
        root=tmp_path,
        cwd=tmp_path,
    )
    assert len(set(before)) == 2  # identical lines are told apart by their order
    # b.py has the same two lines further down: the paths differ, so the prints do too.
    assert set(before).isdisjoint(after)
    (tmp_path / "a.py").write_text("\n\nx  =  self.bn_act(x)   \nx = self.bn_act(x)\n")
    moved = fingerprints(
        [diagnostic("XBN101", "a.py", 4), diagnostic("XBN101", "a.py", 3)],
        root=tmp_path,
        cwd=tmp_path,
    )
    assert moved == before[::-1]


def test_each_baseline_entry_absorbs_one_finding(tmp_path):
    write(tmp_path, {"a.py": "x = self.bn_act(x)\n"})
    one = [diagnostic("XBN101", "a.py", 1)]
    recorded = build(one, tmp_path / "baseline.json", cwd=tmp_path)
    write(tmp_path, {"a.py": "x = self.bn_act(x)\nx = self.bn_act(x)\n"})
    two = [diagnostic("XBN101", "a.py", 1), diagnostic("XBN101", "a.py", 2)]
    assert new_findings(two, recorded, tmp_path / "baseline.json", cwd=tmp_path) == [two[1]]


def test_a_broken_baseline_is_a_one_line_error(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": LEGACY, "bad.json": "[1, 2]", "garbled.json": "{"})
    missing = bnlint("check", ".", "--baseline", "none.json", cwd=tmp_path)
    assert missing.code == 2 and missing.err.startswith("bnlint: error: none.json: cannot read")
    wrong = bnlint("check", ".", "--baseline", "bad.json", cwd=tmp_path)
    assert wrong.code == 2 and "bad.json: not a bnlint baseline" in wrong.err
    garbled = bnlint("check", ".", "--baseline", "garbled.json", cwd=tmp_path)
    assert garbled.code == 2 and "garbled.json: not a JSON baseline" in garbled.err
