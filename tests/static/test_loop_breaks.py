"""A loop over members built on undecidable branches is followed path by path only when no
`break` could end it on one path: the check for a `break` in its body (which spares every run
the import of libcst.matchers) answers as libcst's matchers do, on every loop of the
fixtures, the examples and the analyzer's own code."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import libcst.matchers as m

from bnlint.static.interp import _holds_break

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "tests" / "fixtures" / "static").rglob("*.py")),
    *sorted((ROOT / "examples").rglob("*.py")),
    *sorted((ROOT / "bnlint" / "static").glob("*.py")),
]


def test_a_break_is_found_wherever_the_matchers_find_one() -> None:
    loops = with_break = 0
    for path in SOURCES:
        for loop in m.findall(cst.parse_module(path.read_text()), m.For()):
            assert isinstance(loop, cst.For)
            expected = bool(m.findall(loop.body, m.Break()))
            assert _holds_break(loop.body) is expected, (
                f"{path}: {cst.Module([]).code_for_node(loop)[:80]}"
            )
            loops += 1
            with_break += expected
    assert loops > 100 and with_break >= 5  # both answers are exercised
