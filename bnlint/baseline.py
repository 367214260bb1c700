"""Baselines: record today's findings once, then fail only on new ones.

A finding is matched by its fingerprint: the rule code, the file (relative to the baseline
file's folder), the owning class, the flagged source line with its whitespace normalised, and
its index among identical findings. The line *number* is left out, so adding an import above a
known finding does not turn it into a new one; editing the flagged line does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bnlint.ftypes import Diagnostic
from bnlint.suppression import read_source, split_lines

FORMAT_VERSION = 1


class BaselineError(Exception):
    """The baseline file is missing or not a bnlint baseline."""


@dataclass(frozen=True)
class BaselineEntry:
    path: str  # posix, relative to the baseline file's folder
    code: str
    owner: str | None
    fingerprint: str
    line: int  # informational: where the finding was when it was recorded
    message: str


@dataclass(frozen=True)
class Baseline:
    entries: tuple[BaselineEntry, ...]


def fingerprints(
    diagnostics: Sequence[Diagnostic], *, root: Path, cwd: Path | None = None
) -> list[str]:
    """One fingerprint per diagnostic (same order); paths are taken relative to `root`."""
    cwd = cwd or Path.cwd()
    lines = _SourceLines(cwd)
    seen: Counter[tuple[str, ...]] = Counter()
    result: dict[int, str] = {}
    order = sorted(
        range(len(diagnostics)),
        key=lambda i: (
            diagnostics[i].path,
            diagnostics[i].line,
            diagnostics[i].column,
            diagnostics[i].code,
        ),
    )
    for i in order:
        diagnostic = diagnostics[i]
        text = " ".join(lines.get(diagnostic.path, diagnostic.line).split())
        key = (
            diagnostic.code,
            relative_path(diagnostic.path, root, cwd),
            diagnostic.owner or "",
            text,
        )
        index = seen[key]
        seen[key] += 1
        digest = hashlib.sha256("\0".join((*key, str(index))).encode("utf-8"))
        result[i] = digest.hexdigest()[:20]
    return [result[i] for i in range(len(diagnostics))]


def relative_path(path: str, root: Path, cwd: Path | None = None) -> str:
    """`path` (as a diagnostic names it) relative to `root`, with forward slashes."""
    absolute = os.path.abspath(os.path.join(cwd or Path.cwd(), path))
    try:
        return Path(os.path.relpath(absolute, os.path.abspath(root))).as_posix()
    except ValueError:  # another drive on Windows
        return Path(absolute).as_posix()


def build(
    diagnostics: Sequence[Diagnostic], baseline_file: Path, cwd: Path | None = None
) -> Baseline:
    root = baseline_file.resolve().parent
    prints = fingerprints(diagnostics, root=root, cwd=cwd)
    entries = [
        BaselineEntry(relative_path(d.path, root, cwd), d.code, d.owner, fp, d.line, d.message)
        for d, fp in zip(diagnostics, prints, strict=True)
    ]
    entries.sort(key=lambda e: (e.path, e.line, e.code, e.fingerprint))
    return Baseline(tuple(entries))


def dumps(baseline: Baseline) -> str:
    findings = [
        {
            "path": e.path,
            "line": e.line,
            "code": e.code,
            "owner": e.owner,
            "fingerprint": e.fingerprint,
            "message": e.message,
        }
        for e in baseline.entries
    ]
    document = {"version": FORMAT_VERSION, "tool": "bnlint", "findings": findings}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def load(baseline_file: Path) -> Baseline:
    try:
        document = json.loads(baseline_file.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineError(
            f"{baseline_file}: cannot read baseline: {error.strerror or error}"
        ) from error
    except ValueError as error:
        raise BaselineError(f"{baseline_file}: not a JSON baseline: {error}") from error
    if not isinstance(document, dict) or document.get("tool") != "bnlint":
        raise BaselineError(
            f"{baseline_file}: not a bnlint baseline (write one with --write-baseline)"
        )
    if document.get("version") != FORMAT_VERSION:
        raise BaselineError(
            f"{baseline_file}: baseline version {document.get('version')!r} "
            f"is not supported (expected {FORMAT_VERSION})"
        )
    try:
        entries = tuple(
            BaselineEntry(
                f["path"],
                f["code"],
                f.get("owner"),
                f["fingerprint"],
                int(f.get("line", 0)),
                f.get("message", ""),
            )
            for f in document["findings"]
        )
    except (KeyError, TypeError, ValueError) as error:
        raise BaselineError(f"{baseline_file}: malformed findings entry: {error}") from error
    return Baseline(entries)


def new_findings(
    diagnostics: Sequence[Diagnostic],
    baseline: Baseline,
    baseline_file: Path,
    cwd: Path | None = None,
) -> list[Diagnostic]:
    """The diagnostics the baseline does not account for (each entry absorbs one finding)."""
    root = baseline_file.resolve().parent
    budget = Counter((e.path, e.fingerprint) for e in baseline.entries)
    prints = fingerprints(diagnostics, root=root, cwd=cwd)
    fresh = []
    for diagnostic, fingerprint in zip(diagnostics, prints, strict=True):
        key = (relative_path(diagnostic.path, root, cwd), fingerprint)
        if budget[key] > 0:
            budget[key] -= 1
        else:
            fresh.append(diagnostic)
    return fresh


class _SourceLines:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._files: dict[str, list[str]] = {}

    def get(self, path: str, line: int) -> str:
        if path not in self._files:
            text = read_source(self.cwd / path)
            self._files[path] = split_lines(text) if text is not None else []
        lines = self._files[path]
        return lines[line - 1] if 0 < line <= len(lines) else ""


def write(baseline: Baseline, baseline_file: Path) -> None:
    baseline_file.write_text(dumps(baseline), encoding="utf-8")
