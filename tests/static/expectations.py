"""Reading the expectations a fixture model file carries in its comments.

`# expect: XBN101, XBN401` at the end of a line: those diagnostics are reported on that line.
A trailing block lists every BatchNorm's verdict, one per line:

    # folds:
    #   Block: conv1 -> bn1 conv_bn foldable
    #   Block: - -> bn2 - unfoldable XBN101
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bnlint.ftypes import CheckResult

_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)\s*$")
_FOLD = re.compile(r"^#\s+(\S+):\s+(\S+)\s+->\s+(\S+)\s+(\S+)\s+(foldable|unfoldable|unknown)"
                   r"(?:\s+(XBN\d+))?\s*$")


@dataclass(frozen=True)
class Expectations:
    diagnostics: frozenset[tuple[int, str]]
    folds: frozenset[tuple[str, str, str, str, str, str]]


def read_expectations(path: Path) -> Expectations:
    diagnostics: set[tuple[int, str]] = set()
    folds: set[tuple[str, str, str, str, str, str]] = set()
    in_folds = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        found = _EXPECT.search(line)
        if found:
            for code in found.group(1).split(","):
                if code.strip():
                    diagnostics.add((number, code.strip()))
        if line.strip() == "# folds:":
            in_folds = True
            continue
        if in_folds:
            fold = _FOLD.match(line.strip())
            if fold:
                owner, conv, bn, direction, status, code = fold.groups()
                folds.add((owner, conv, bn, direction, status, code or ""))
            elif line.strip() and not line.strip().startswith("#"):
                in_folds = False
    return Expectations(frozenset(diagnostics), frozenset(folds))


def actual_diagnostics(result: CheckResult, path: Path) -> frozenset[tuple[int, str]]:
    return frozenset((d.line, d.code) for d in result.diagnostics
                     if Path(d.path).resolve() == path.resolve())


def actual_folds(result: CheckResult,
                 path: Path) -> frozenset[tuple[str, str, str, str, str, str]]:
    found = set()
    for module in result.modules:
        if Path(module.path).resolve() != path.resolve():
            continue
        owner = module.class_name.rsplit(".", 1)[-1]
        for entry in module.folds:
            found.add((owner, entry.conv or "-", entry.bn,
                       entry.direction.value if entry.direction else "-",
                       entry.status.value, entry.code or ""))
    return frozenset(found)
