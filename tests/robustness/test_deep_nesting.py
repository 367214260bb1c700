"""Code nested deeper than bnlint follows is refused with XBN004, never a crash or a hang.

libcst's native parser has no recursion guard: an `and` chain of about 7000 operands or a
dotted import of about 6000 names kills the process with a segmentation fault, so these
tests run bnlint in a child process. Below the limit (bnlint.static.source.MAX_NESTING)
files are analysed as usual.
"""

from __future__ import annotations

import ast
import json
import subprocess
import textwrap

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from bnlint.static.positions import compute_spans
from bnlint.static.source import MAX_NESTING

from .helpers import (
    GOOD,
    GOOD_DIAGNOSTICS,
    GOOD_FOLDS,
    Verdicts,
    check,
    run_cli,
    verdicts,
    write_tree,
)

MODEL = textwrap.dedent("""\
    from torch import nn


    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, bias=False)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(self.conv(x))
    """)
STEM_FOLDS = (("conv", "bn", "foldable"),)


def nested_classes(levels: int) -> str:
    lines = [MODEL]
    for level in range(levels):
        lines.append("    " * level + f"class Level{level}:")
    lines.append("    " * levels + "pass")
    return "\n".join(lines) + "\n"


# name: (source, where XBN004 points). bnlint's own limit names the statement that crosses
# it; CPython's parser limits give their own position; where CPython's parser runs out of
# stack it gives none, and the finding is on line 1.
TOO_DEEP = {
    # Each would crash libcst (process killed) or take minutes in it.
    "sum_over_limit": (
        MODEL + "TOTAL = " + " + ".join(["1"] * (MAX_NESTING + 100)) + "\n",
        (12, 1),
    ),
    "sum_of_3000": (MODEL + "TOTAL = " + " + ".join(["1"] * 3000) + "\n", (1, 1)),
    "and_chain": (MODEL + "READY = " + " and ".join(["True"] * 8000) + "\n", (12, 1)),
    "dotted_import": (MODEL + "import " + ".".join(["pkg"] * 6000) + "\n", (12, 1)),
    "from_import": (MODEL + "from " + ".".join(["pkg"] * 6000) + " import x\n", (12, 1)),
    "attribute_chain": (MODEL + "VALUE = nn" + ".weight" * 6000 + "\n", (1, 1)),
    "call_chain": (MODEL + "VALUE = nn.Identity()" + "(1)" * 3000 + "\n", (1, 1)),
    "elif_chain": (
        MODEL
        + "if READY:\n    pass\n"
        + "".join(f"elif STAGE == {i}:\n    pass\n" for i in range(9000)),
        (1, 1),
    ),
    "nested_parentheses": (MODEL + "VALUE = " + "(" * 5000 + "1" + ")" * 5000 + "\n", (12, 209)),
    "string_concatenation": (MODEL + "TEXT = " + " ".join(["'ab'"] * 5000) + "\n", (12, 1)),
    "nested_classes": (nested_classes(101), (113, 1)),
}


def test_deep_code_is_refused_by_the_command_line_and_the_rest_checked(tmp_path):
    root = write_tree(
        tmp_path, {"good.py": GOOD, **{f"{name}.py": src for name, (src, _) in TOO_DEEP.items()}}
    )
    run = run_cli(["check", ".", "--format", "json"], cwd=root, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    report = json.loads(run.stdout)
    found = {
        d["path"]: (d["code"], d["line"], d["column"])
        for d in report["diagnostics"]
        if d["path"] != "good.py"
    }
    assert found == {f"{name}.py": ("XBN004", *where) for name, (_, where) in TOO_DEEP.items()}
    good = [
        ("good.py", d["code"], d["line"]) for d in report["diagnostics"] if d["path"] == "good.py"
    ]
    assert good == [(path, code, line) for code, path, line in GOOD_DIAGNOSTICS]
    assert [m["class"] for m in report["modules"]] == ["good.SentinelBlock"]


def test_the_refusal_says_why(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD, "deep.py": TOO_DEEP["and_chain"][0]})
    [finding] = [d for d in check(root).diagnostics if d.path == "deep.py"]
    assert finding.message == (
        f"cannot analyse file: code nested more than {MAX_NESTING} "
        "levels deep (a chain of that many operators, calls, attributes "
        "or elif branches)"
    )


JUST_UNDER = {
    "long_sum": MODEL + "TOTAL = " + " + ".join(["1"] * (MAX_NESTING - 10)) + "\n",
    "long_and_chain": MODEL + "READY = " + " and ".join(["True"] * (MAX_NESTING - 10)) + "\n",
    "long_elif_chain": MODEL
    + "if READY:\n    pass\n"
    + "".join(f"elif STAGE == {i}:\n    pass\n" for i in range(MAX_NESTING - 10)),
    "long_import": "import " + ".".join(["os"] * (MAX_NESTING - 10)) + "\n" + MODEL,
    "nested_classes": nested_classes(97),
}


@pytest.mark.parametrize("name", JUST_UNDER)
def test_deep_code_within_the_limit_is_analysed(tmp_path, name):
    root = write_tree(tmp_path, {"good.py": GOOD, f"{name}.py": JUST_UNDER[name]})
    result = check(root)
    assert verdicts(result, f"{name}.py") == Verdicts((), ((f"{name}.Stem", STEM_FOLDS),))
    assert verdicts(result, "good.py") == Verdicts(GOOD_DIAGNOSTICS, GOOD_FOLDS)


def test_positions_never_raise_where_libcst_cannot_compute_them():
    # CPython's tree does not pair with libcst's (it has one call more), so positions fall
    # back to libcst's PositionProvider, which recurses per level and fails on this chain.
    text = "if a:\n    f()\n" + "".join(
        f"elif a == {i}:\n    g()\n" for i in range(MAX_NESTING - 20)
    )
    tree = cst.parse_module(text)
    with pytest.raises((RecursionError, KeyError)):
        MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    spans = compute_spans(tree, ast.parse(text + "h()\n"), text)
    ifs = [span for node, span in spans.items() if isinstance(node, cst.If)]
    assert ifs[0] == (1, 0, text.count("\n"), 7)  # the kinds that paired keep their spans
    assert not any(isinstance(node, cst.Call) for node in spans)


def test_positions_fall_back_to_libcst_when_the_trees_do_not_pair():
    text = "x = f(1)\ny = g(2)\n"
    tree = cst.parse_module(text)
    spans = compute_spans(tree, ast.parse("x = f(1)\n"), text)
    calls = sorted(span for node, span in spans.items() if isinstance(node, cst.Call))
    assert calls == [(1, 4, 1, 8), (2, 4, 2, 8)]


def test_a_long_inheritance_chain_is_analysed_in_seconds(tmp_path):
    chain = MODEL + "".join(
        f"\n\nclass Stem{i}(Stem{i - 1 if i else ''}):\n    pass\n" for i in range(200)
    )
    root = write_tree(tmp_path, {"good.py": GOOD, "chain.py": chain})
    try:
        run = run_cli(["check", ".", "--format", "json"], cwd=root, timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("200 classes, each inheriting the one before, take more than 6 s")
    report = json.loads(run.stdout)
    assert run.returncode == 1
    assert len([m for m in report["modules"] if m["path"] == "chain.py"]) == 201
