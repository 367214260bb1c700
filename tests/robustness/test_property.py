"""Property: whatever bytes a file holds, `bnlint check` ends normally (no traceback, exit
code 0, 1 or 2), says at most one line of file error about it, and every other file keeps
exactly the verdicts it gets in a clean run.

The inputs are the project's own model files (the static fixtures and the example zoo),
truncated and mutated, and random bytes. The default run is small and calls the engine in
the test process; a few command-line runs check the exit code and the output; the slow
variant (`-m slow`) runs many more examples.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnlint.rules import RULES
from bnlint.static.engine import analyze

from .helpers import (
    GOOD,
    GOOD_DIAGNOSTICS,
    GOOD_FOLDS,
    REPO_ROOT,
    Verdicts,
    run_cli,
    verdicts,
    write_tree,
)

SEEDS = sorted(
    [
        *(REPO_ROOT / "tests" / "fixtures" / "static").glob("*.py"),
        *(REPO_ROOT / "examples" / "src" / "zoo").glob("*.py"),
    ]
)
FILE_ERRORS = {"XBN001", "XBN002", "XBN003", "XBN004"}
# Fragments that make a parser's life hard when dropped in anywhere.
FRAGMENTS = [
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b"\n",
    b"\r",
    b"\t",
    b"    ",
    b"\\",
    b"'",
    b'"""',
    b"#",
    b"class ",
    b"def ",
    b"lambda ",
    b" and ",
    b"**",
    b".",
    b"@",
    b"\x00",
    b"\xff",
    b"\xe9",
    b"\xef\xbb\xbf",
    b"# -*- coding: latin-1 -*-\n",
    b"# coding: klingon\n",
    b"nn.Module",
    b"nn.BatchNorm2d(8)",
    b"super().__init__()",
    b"self",
    b"=",
    b"yield",
    b"return",
    b"*",
    b"f'{",
    b"}'",
    b"async ",
    b"await ",
]

Mutation = Callable[[bytes, random.Random], bytes]


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _delete(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data) + 1)
    return data[:start] + data[start + rng.randrange(1, 200) :]


def _insert(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data) + 1)
    return data[:at] + rng.choice(FRAGMENTS) + data[at:]


def _duplicate(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data) + 1)
    piece = data[start : start + rng.randrange(1, 400)]
    at = rng.randrange(len(data) + 1)
    return data[:at] + piece + data[at:]


def _swap_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def _flip_byte(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]


_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(rb"(?<![A-Za-z_0-9.])[0-9]+(?:\.[0-9]+)?")


def _replace_word(data: bytes, rng: random.Random) -> bytes:
    """A name where another name of the file was: mostly still valid Python."""
    words = list(_WORD.finditer(data))
    if not words:
        return data
    target, source = rng.choice(words), rng.choice(words)
    return data[: target.start()] + source.group() + data[target.end() :]


def _replace_number(data: bytes, rng: random.Random) -> bytes:
    numbers = list(_NUMBER.finditer(data))
    if not numbers:
        return data
    target = rng.choice(numbers)
    value = rng.choice([b"0", b"1", b"-1", b"3", b"2**64", b"1e308", b"0.5", b"None", b"'8'"])
    return data[: target.start()] + value + data[target.end() :]


def _repeat_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    at = rng.randrange(len(lines))
    lines[at:at] = [lines[rng.randrange(len(lines))]] * rng.randrange(1, 4)
    return b"\n".join(lines)


def _drop_line(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


# Most mutations keep the file parseable, so that the analysis itself meets odd models;
# the byte-level ones test the reading and parsing.
MUTATIONS: list[Mutation] = (
    [_replace_word] * 4
    + [_replace_number] * 3
    + [_repeat_line, _drop_line, _swap_lines, _duplicate, _truncate, _delete, _insert, _flip_byte]
)


def mutate(seed: Path, steps: int, rng: random.Random) -> bytes:
    data = seed.read_bytes()
    for _ in range(steps):
        data = rng.choice(MUTATIONS)(data, rng)
    return data


@st.composite
def hostile_sources(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:  # one in ten: bytes that were never Python
        prefix = draw(st.sampled_from([b"", b"class Net:\n", b"from torch import nn\n"]))
        return prefix + draw(st.binary(max_size=2000))
    seed = draw(st.sampled_from(SEEDS))
    steps = draw(st.integers(1, 4))
    return mutate(seed, steps, random.Random(draw(st.integers(0, 2**32 - 1))))


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def assert_well_behaved(result, path: str) -> None:
    """The hostile file: codes from the catalogue, one line each, a file error alone."""
    found = [d for d in result.diagnostics if d.path == path]
    for diagnostic in found:
        assert diagnostic.code in RULES
        assert "\n" not in diagnostic.message
        assert diagnostic.line >= 1 and diagnostic.column >= 1
    if any(d.code in FILE_ERRORS for d in found):
        assert len(found) == 1, found
        assert verdicts(result, path).folds == ()
    assert verdicts(result, "good.py") == Verdicts(GOOD_DIAGNOSTICS, GOOD_FOLDS)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("property"), {"good.py": GOOD})


def check_hostile(project: Path, data: bytes) -> None:
    (project / "hostile.py").write_bytes(data)
    with inside(project):
        result = analyze([project / "good.py", project / "hostile.py"], search_roots=[project])
    assert_well_behaved(result, "hostile.py")


_PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@settings(_PROPERTY, max_examples=50)
@given(data=hostile_sources())
def test_mutated_and_random_sources_never_break_the_engine(project, data):
    check_hostile(project, data)


@pytest.mark.slow
@settings(_PROPERTY, max_examples=2000, derandomize=False)
@given(data=hostile_sources())
def test_mutated_and_random_sources_never_break_the_engine_at_length(project, data):
    check_hostile(project, data)


def test_the_command_line_ends_normally_on_mutated_sources(tmp_path):
    rng = random.Random(20261126)
    hostile = {
        f"mutant_{i}.py": mutate(rng.choice(SEEDS), rng.randrange(1, 6), rng) for i in range(12)
    }
    hostile["noise.py"] = b"class Net:\n" + bytes(rng.randrange(256) for _ in range(3000))
    root = write_tree(tmp_path, {"good.py": GOOD, **hostile})
    run = run_cli(["check", ".", "--format", "full"], cwd=root, timeout=300)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    run = run_cli(["check", ".", "--format", "json"], cwd=root, timeout=300)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    report = json.loads(run.stdout)
    assert [
        (d["code"], d["path"], d["line"]) for d in report["diagnostics"] if d["path"] == "good.py"
    ] == list(GOOD_DIAGNOSTICS)
    for name in hostile:
        errors = [
            d for d in report["diagnostics"] if d["path"] == name and d["code"] in FILE_ERRORS
        ]
        assert len(errors) <= 1
