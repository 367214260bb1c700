"""Reading the expectations a fixture model file carries in its comments.

`# expect: XBN101, XBN401` at the end of a line: those diagnostics are reported on that line.
A trailing block lists every BatchNorm's verdict, one per line:

    # folds:
    #   Block: conv1 -> bn1 conv_bn foldable
    #   Block: - -> bn2 - unfoldable XBN101
    #   Block: - -> bn3 - unfoldable XBN101 @42

`@42` (`@42,57`, `@other.py:12`): the verdict holds for the instances of the class built at
those lines, where the class has several verdicts on one BatchNorm (its instances are built
with arguments that decide differently); the verdict without `@` is the class's own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bnlint.ftypes import CheckResult

_EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)\s*$")
_FOLD = re.compile(
    r"^#\s+(\S+):\s+(\S+)\s+->\s+(\S+)\s+(\S+)\s+(foldable|unfoldable|unknown)"
    r"(?:\s+(XBN\d+))?(?:\s+@(\S+))?\s*$"
)


@dataclass(frozen=True)
class Expectations:
    diagnostics: frozenset[tuple[int, str]]
    folds: frozenset[tuple[str, str, str, str, str, str, str]]


def read_expectations(path: Path) -> Expectations:
    diagnostics: set[tuple[int, str]] = set()
    folds: set[tuple[str, str, str, str, str, str, str]] = set()
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
                owner, conv, bn, direction, status, code, sites = fold.groups()
                folds.add((owner, conv, bn, direction, status, code or "", sites or ""))
            elif line.strip() and not line.strip().startswith("#"):
                in_folds = False
    return Expectations(frozenset(diagnostics), frozenset(folds))


def actual_diagnostics(result: CheckResult, path: Path) -> frozenset[tuple[int, str]]:
    return frozenset(
        (d.line, d.code) for d in result.diagnostics if Path(d.path).resolve() == path.resolve()
    )


def actual_folds(
    result: CheckResult, path: Path
) -> frozenset[tuple[str, str, str, str, str, str, str]]:
    found = set()
    for module in result.modules:
        if Path(module.path).resolve() != path.resolve():
            continue
        owner = module.class_name.rsplit(".", 1)[-1]
        several = Counter(entry.bn for entry in module.folds)
        for entry in module.folds:
            sites = (
                ",".join(_site(site, path) for site in entry.sites)
                if several[entry.bn] > 1 or entry.sites
                else ""
            )
            found.add(
                (
                    owner,
                    entry.conv or "-",
                    entry.bn,
                    entry.direction.value if entry.direction else "-",
                    entry.status.value,
                    entry.code or "",
                    sites,
                )
            )
    return frozenset(found)


def _site(site: str, fixture: Path) -> str:
    """`path:line` as a fixture writes it: the line alone in the fixture itself."""
    where, _, line = site.rpartition(":")
    return line if Path(where).resolve() == fixture.resolve() else f"{Path(where).name}:{line}"
