"""Applying edits: fixes that collide are left for another run, positions follow the edits,
line endings and non-ASCII columns stay right."""

from __future__ import annotations

from bnlint.fix.edits import apply_edits, compatible, moved, unified_diff
from bnlint.ftypes import Applicability, Edit, Fix


def fix(*edits: Edit) -> Fix:
    return Fix(Applicability.SAFE, "a fix", edits)


def test_edits_apply_from_the_end_so_earlier_positions_stay_valid():
    text = "a = [x]\nb = {y}\n"
    edits = [
        Edit("L(", 1, 5, 1, 5),
        Edit(")", 1, 8, 1, 8),
        Edit("D(", 2, 5, 2, 5),
        Edit(")", 2, 8, 2, 8),
    ]
    assert apply_edits(text, edits) == "a = L([x])\nb = D({y})\n"


def test_columns_count_characters_and_every_line_ending_counts():
    text = "é = [x]\r\nb = 1\rc = [y]\n"
    assert (
        apply_edits(text, [Edit("L(", 1, 5, 1, 5), Edit("M(", 3, 5, 3, 5)])
        == "é = L([x]\r\nb = 1\rc = M([y]\n"
    )


def test_a_fix_that_overlaps_a_chosen_one_waits_but_shared_edits_are_fine():
    shared_import = Edit("import torch\n", 1, 1, 1, 1)
    first = fix(shared_import, Edit("False", 3, 10, 3, 14))
    overlapping = fix(Edit("0", 3, 12, 3, 13))
    same_import = fix(shared_import, Edit("x", 5, 1, 5, 2))
    other_insertion_there = fix(Edit("y", 1, 1, 1, 1))
    assert compatible([first, overlapping, same_import, other_insertion_there]) == [
        first,
        same_import,
    ]


def test_positions_move_with_the_edits_before_them():
    text = "import os\nself.x = [1]\n"
    edits = [Edit("import torch\n", 2, 1, 2, 1), Edit("L(", 2, 10, 2, 10)]
    assert moved(text, edits, 2, 1) == (3, 1)
    assert moved(text, edits, 2, 10) == (3, 12)


def test_the_diff_is_unified_and_names_the_file():
    diff = unified_diff("src/m.py", "a\nb\n", "a\nc\n")
    assert diff.splitlines() == [
        "--- src/m.py",
        "+++ src/m.py",
        "@@ -1,2 +1,2 @@",
        " a",
        "-b",
        "+c",
    ]
