"""A file bnlint cannot analyse gets one line with a dedicated code (XBN001-XBN004), at the
position of the problem where there is one, and every other file keeps its verdicts."""

from __future__ import annotations

import gc
import random
import textwrap
import time

import pytest

from bnlint.rules import RULES
from bnlint.static.engine import analyze
from bnlint.static.source import MAX_BYTES

from .helpers import GOOD, check, good_verdicts_unchanged, run_cli, verdicts, write_tree

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


def only_finding(result, path: str):
    found = [d for d in result.diagnostics if d.path == path]
    assert len(found) == 1, found
    finding = found[0]
    assert "\n" not in finding.message
    assert finding.severity == RULES[finding.code].severity
    return finding


def position_of(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column of the first `marker` in `text`."""
    before = text[: text.index(marker)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


@pytest.mark.parametrize(
    "source, marker, words",
    [
        pytest.param(
            MODEL.replace("def forward(self, x):", "def forward(self, x:"),
            "(self, x:",
            "'(' was never closed",
            id="unclosed-bracket",
        ),
        pytest.param(
            MODEL.replace("bias=False)", "bias=False, name='stem)"),
            "'stem)",
            "unterminated string literal",
            id="tokenizer-error",
        ),
        pytest.param(
            MODEL.replace(
                "        self.bn = nn.BatchNorm2d(8)\n",
                "<<<<<<< HEAD\n        self.bn = nn.BatchNorm2d(8)\n=======\n"
                "        self.bn = nn.BatchNorm2d(8, eps=1e-3)\n>>>>>>> tune\n",
            ),
            "<<<<<<<",
            "invalid syntax",
            id="merge-conflict",
        ),
    ],
)
def test_a_syntax_error_is_reported_where_it_is(tmp_path, source, marker, words):
    result = check(write_tree(tmp_path, {"good.py": GOOD, "broken.py": source}))
    finding = only_finding(result, "broken.py")
    assert (finding.code, finding.line, finding.column) == ("XBN001", *position_of(source, marker))
    assert words in finding.message
    assert verdicts(result, "broken.py").folds == ()
    good_verdicts_unchanged(result)


def byte_position(data: bytes, marker: bytes) -> tuple[int, int]:
    """1-based line and byte column of the first `marker` in `data`."""
    before = data[: data.index(marker)]
    return before.count(b"\n") + 1, len(before) - before.rfind(b"\n")


@pytest.mark.parametrize(
    "data, marker, words",
    [
        pytest.param(
            MODEL.replace("super()", "super()  # café").encode("latin-1"),
            b"\xe9",
            "byte 0xe9 at line 6, column 23 is not valid UTF-8",
            id="latin-1-without-declaration",
        ),
        pytest.param(
            ("# -*- coding: ascii -*-\n" + MODEL.replace("(3, 8", "(3, 8  # σ²\n")).encode("utf-8"),
            "σ".encode(),
            "is not valid ascii, the encoding the file declares",
            id="declared-ascii-holds-utf-8",
        ),
        pytest.param(
            b"# coding: klingon\n" + MODEL.encode(),
            b"#",
            "unknown encoding: klingon",
            id="unknown-encoding",
        ),
        pytest.param(
            b"# coding: rot13\n" + MODEL.encode(),
            b"#",
            "not a text encoding",
            id="codec-that-is-no-text-encoding",
        ),
        pytest.param(
            b"\xef\xbb\xbf# coding: latin-1\n" + MODEL.encode(),
            b"\xef",
            "byte-order mark",
            id="bom-contradicts-declaration",
        ),
        pytest.param(
            b"\x80\x04\x95\nclass Net:\n\x00\x00\x8c\x05torch",
            b"\x00",
            "binary file",
            id="binary-file-that-mentions-class",
        ),
    ],
)
def test_a_file_python_cannot_decode_is_reported(tmp_path, data, marker, words):
    result = check(write_tree(tmp_path, {"good.py": GOOD, "garbled.py": data}))
    finding = only_finding(result, "garbled.py")
    assert (finding.code, finding.line, finding.column) == ("XBN002", *byte_position(data, marker))
    assert words in finding.message
    good_verdicts_unchanged(result)


def test_a_binary_file_named_py_is_reported_even_when_no_class_is_in_it(tmp_path):
    payload = bytes(random.Random(7).randrange(256) for _ in range(4096))
    result = check(write_tree(tmp_path, {"good.py": GOOD, "weights.py": b"PK\x03\x04" + payload}))
    assert only_finding(result, "weights.py").code == "XBN002"
    good_verdicts_unchanged(result)


# Files with no class statement: the engine never parses them with libcst (no model can be
# defined there), but Python could not import them either, and the check says so.
SCRIPT = textwrap.dedent("""\
    import torch


    def main(steps=10):
        for step in range(steps):
            print(step, torch.zeros(1))
    """)


@pytest.mark.parametrize(
    "data, code, marker, words",
    [
        pytest.param(
            SCRIPT.replace("zeros(1))", "zeros(1)"),
            "XBN001",
            b"(step,",
            "'(' was never closed",
            id="syntax-error",
        ),
        pytest.param(
            SCRIPT.replace("print(", "print('café', ").encode("latin-1"),
            "XBN002",
            b"\xe9",
            "is not valid UTF-8",
            id="latin-1-without-declaration",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "XBN002",
            b"\x00",
            "binary file (NUL bytes)",
            id="binary",
        ),
        pytest.param(
            "VALUE = " + "(" * 250 + "1" + ")" * 250 + "\n",
            "XBN004",
            None,
            "too many nested parentheses",
            id="past-python-nesting-limit",
        ),
    ],
)
@pytest.mark.parametrize("checked", [".", "script.py"])
def test_a_file_without_a_class_that_python_cannot_read_is_reported(
    tmp_path, data, code, marker, words, checked
):
    result = check(write_tree(tmp_path, {"good.py": GOOD, "script.py": data}), [checked])
    finding = only_finding(result, "script.py")
    assert (finding.code, words in finding.message) == (code, True), finding
    if marker is not None:
        raw = data if isinstance(data, bytes) else data.encode()
        assert (finding.line, finding.column) == byte_position(raw, marker)
    if checked == ".":
        good_verdicts_unchanged(result)


def test_a_file_without_a_class_is_reported_like_one_with_a_class(tmp_path):
    # The same broken statement, once in a model file and once in a script: one finding each,
    # the same code, message and position.
    broken = "x = [1,\n"
    result = check(
        write_tree(
            tmp_path, {"good.py": GOOD, "script.py": SCRIPT + broken, "model.py": MODEL + broken}
        )
    )
    script, model = only_finding(result, "script.py"), only_finding(result, "model.py")
    assert (script.code, script.message, script.column) == (model.code, model.message, model.column)
    assert script.line == SCRIPT.count("\n") + 1
    assert model.line == MODEL.count("\n") + 1


def test_a_declared_encoding_is_honoured_and_columns_count_characters(tmp_path):
    latin = (
        "# -*- coding: latin-1 -*-\n"
        + MODEL.replace(
            "return self.bn(self.conv(x))", "é = ñ = x; return self.bn(self.conv(é)).relu_()"
        )
    ).encode("latin-1")
    result = check(write_tree(tmp_path, {"good.py": GOOD, "latin.py": latin}))
    assert verdicts(result, "latin.py").folds == (("latin.Stem", (("conv", "bn", "foldable"),)),)
    assert [d for d in result.diagnostics if d.path == "latin.py"] == []
    good_verdicts_unchanged(result)


def test_an_in_place_activation_after_unicode_text_is_located_by_character(tmp_path):
    # A finding after non-ASCII text on its line: its column counts characters, as editors do.
    source = MODEL.replace(
        "return self.bn(self.conv(x))", "ß = self.bn(self.conv(x)); return self.bn2(ß)"
    ).replace(
        "self.bn = nn.BatchNorm2d(8)",
        "self.bn = nn.BatchNorm2d(8)\n        self.bn2 = nn.BatchNorm2d(8)",
    )
    result = check(write_tree(tmp_path, {"good.py": GOOD, "sharp.py": source}))
    finding = only_finding(result, "sharp.py")
    line = source.splitlines()[finding.line - 1]
    assert line[finding.column - 1 :].startswith("self.bn2(ß)"), (finding, line)


def test_an_empty_file_gets_no_finding(tmp_path):
    result = check(write_tree(tmp_path, {"good.py": GOOD, "empty.py": "", "pkg/__init__.py": ""}))
    assert verdicts(result, "empty.py").diagnostics == ()
    assert verdicts(result, "pkg/__init__.py").diagnostics == ()
    good_verdicts_unchanged(result)


def generated_models(size: int) -> str:
    count = size // len(MODEL) + 1
    return "\n\n".join(MODEL.replace("class Stem", f"class Stem{i}") for i in range(count))


def test_a_5_mb_generated_model_file_is_refused_unparsed_as_too_large(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD, "generated.py": generated_models(5_000_000)})
    started = time.perf_counter()
    result = analyze([root / "good.py", root / "generated.py"], search_roots=[root])
    assert time.perf_counter() - started < 5
    assert [
        (d.code, "file too large" in d.message)
        for d in result.diagnostics
        if d.path.endswith("generated.py")
    ] == [("XBN004", True)]


def test_a_too_large_file_costs_the_whole_check_little_more_than_the_engine(tmp_path):
    # Compared with the engine's own time, so that a loaded machine does not decide the
    # outcome; 2 MB, so that the test costs little while the gap is open.
    # Each is timed after a first call (imports, first-call setup) with the collector off
    # (as timeit keeps it): in a long test run a full collection of what earlier tests
    # left would otherwise land in one of them at random.
    root = write_tree(tmp_path, {"good.py": GOOD, "generated.py": generated_models(2_000_000)})
    files = [root / "good.py", root / "generated.py"]
    analyze(files, search_roots=[root])
    check(root)
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        analyze(files, search_roots=[root])
        engine = time.perf_counter() - started
        started = time.perf_counter()
        result = check(root)
        whole = time.perf_counter() - started
    finally:
        gc.enable()
    assert only_finding(result, "generated.py").code == "XBN004"
    good_verdicts_unchanged(result)
    assert whole < 2 * engine + 0.3, (whole, engine)


def test_a_5_mb_generated_table_without_models_costs_nothing_and_says_nothing(tmp_path):
    table = "WEIGHTS = [\n" + "".join(f"    {i * 1e-3:.6f},\n" for i in range(400_000)) + "]\n"
    assert len(table) > 5_000_000
    started = time.perf_counter()
    result = check(write_tree(tmp_path, {"good.py": GOOD, "table.py": table}))
    assert time.perf_counter() - started < 5
    assert verdicts(result, "table.py").diagnostics == ()
    good_verdicts_unchanged(result)


def test_a_model_file_just_under_the_size_limit_is_analysed(tmp_path):
    padding = "# " + "x" * 97 + "\n"
    source = MODEL + padding * ((MAX_BYTES - 1000 - len(MODEL)) // len(padding))
    result = check(write_tree(tmp_path, {"good.py": GOOD, "padded.py": source}))
    assert verdicts(result, "padded.py").folds == (("padded.Stem", (("conv", "bn", "foldable"),)),)
    good_verdicts_unchanged(result)


def test_code_that_makes_python_warn_is_checked_without_noise(tmp_path):
    # `"\d"` and `1if x` make every parse warn (SyntaxWarning/DeprecationWarning); that is
    # the code's business, and bnlint's output stays its own.
    source = MODEL + 'PATTERN = "\\d+"\nLIMIT = 1if True else 2\n'
    root = write_tree(tmp_path, {"good.py": GOOD, "noisy.py": source})
    run = run_cli(["check", "noisy.py"], cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""
