"""Whether Python can read a file's bytes as source: no NUL bytes, valid text in the encoding
it declares (else UTF-8), accepted by CPython's own parser.

This half of reading a file needs no libcst. bnlint.static.source runs it before handing a
file to libcst; the engine runs it on the checked files it never parses (those with no class
statement nor a function that may build a norm layer, see
bnlint.static.textscan.may_build_model), so that every file bnlint is asked
about and cannot read gets its finding, without loading libcst in a run the cache answers.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
import warnings
from dataclasses import dataclass

from bnlint import rules

# Larger files are refused unread: libcst parses 100-300 kB/s, so a 1 MB file already costs
# several seconds of a pre-commit hook, and the largest hand-written model files in the big
# model zoos are under 300 kB. Bigger ones are generated (unrolled graphs, weight tables).
MAX_BYTES = 1_000_000

# CPython's own nesting limits, reported as SyntaxError although the syntax is fine.
_PARSER_LIMITS = (
    "too many nested parentheses",
    "too many levels of indentation",
    "too many statically nested blocks",
    "too many nested f-strings",
)


@dataclass(frozen=True)
class Refusal:
    """Why a file is not analysed: a rule code (XBN001-XBN004), a one-line detail and the
    1-based position of the problem."""

    code: str
    detail: str
    line: int = 1
    column: int = 1


class Refused(Exception):
    def __init__(self, code: str, detail: str, line: int = 1, column: int = 1) -> None:
        super().__init__(detail)
        self.refusal = Refusal(code, detail, max(1, line), max(1, column))


def python_refusal(data: bytes, parse_limit: int) -> Refusal | None:
    """Why Python could not import `data`, or None if it could. Files larger than
    `parse_limit` bytes are decoded but not parsed: decoding costs milliseconds a megabyte,
    parsing a few hundred."""
    try:
        text = decode_source(data)
        if len(data) <= parse_limit:
            python_parse(text)
    except Refused as refused:
        return refused.refusal
    return None


def decode_source(data: bytes) -> str:
    """The text Python would read: PEP 263 declaration or BOM, else UTF-8."""
    if b"\x00" in data:
        line, column = _byte_position(data, data.index(b"\x00"))
        raise Refused(rules.DECODE_ERROR.code, "binary file (NUL bytes)", line, column)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:  # unknown encoding, or a declaration that contradicts a BOM
        detail = str(error)
        if detail.startswith("encoding problem"):
            detail = "the file starts with a UTF-8 byte-order mark but declares another encoding"
        raise Refused(rules.DECODE_ERROR.code, detail) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line, column = _byte_position(data, error.start)
        expected = (
            "UTF-8"
            if encoding in ("utf-8", "utf-8-sig")
            else f"{encoding}, the encoding the file declares"
        )
        raise Refused(
            rules.DECODE_ERROR.code,
            f"byte 0x{data[error.start]:02x} at line {line}, column {column} is not "
            f"valid {expected}",
            line,
            column,
        ) from None
    except LookupError as error:  # a codec that is not a text encoding (rot13, base64)
        raise Refused(rules.DECODE_ERROR.code, f"cannot decode as {encoding}: {error}") from None


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def python_parse(text: str) -> ast.Module:
    """CPython's tree; its limits are guarded (errors, not crashes), unlike libcst's."""
    try:
        with warnings.catch_warnings():
            # `"\d"` or `1if x` warn at every parse; they are the code's business, not bnlint's.
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except (RecursionError, MemoryError):
        raise Refused(rules.TOO_COMPLEX.code, "nested too deeply for Python's own parser") from None
    except SyntaxError as error:
        message = error.msg or "invalid syntax"
        line, column = error.lineno or 1, error.offset or 1
        if message.startswith(_PARSER_LIMITS):
            raise Refused(
                rules.TOO_COMPLEX.code, f"{message} (Python's parser limit)", line, column
            ) from None
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise Refused(
            rules.SYNTAX_ERROR.code,
            f"syntax error: {message} (read as Python {version})",
            line,
            column,
        ) from None
    except ValueError as error:  # e.g. a surrogate that cannot be encoded
        raise Refused(rules.DECODE_ERROR.code, f"cannot read as source: {error}") from None
