"""Finding the fix for each finding bnlint knows how to fix: one fixer per rule code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bnlint import rules
from bnlint.fix.bias import bias_fix
from bnlint.fix.containers import batchnorm_in_container_fix, container_fix
from bnlint.fix.memo import FixMemo
from bnlint.fix.source import FixSource, parse_fix_source
from bnlint.ftypes import CheckResult, Diagnostic, Fix

log = logging.getLogger("bnlint.fix")

Fixer = Callable[[FixSource, Diagnostic], "Fix | None"]

FIXERS: dict[str, Fixer] = {
    rules.UNREGISTERED_CONTAINER_UNKNOWN.code: batchnorm_in_container_fix,
    rules.UNREGISTERED_MODULES.code: container_fix,
    rules.REDUNDANT_BIAS.code: bias_fix,
}


def attach_fixes(
    result: CheckResult, cwd: Path | None = None, cache_dir: Path | None = None
) -> CheckResult:
    """`result` with a `fix` on every diagnostic bnlint can fix; files are read (relative to
    `cwd`) only when they carry such a diagnostic, and parsed only when `cache_dir` keeps
    no fix found before for the same finding in the same bytes."""
    cwd = cwd or Path.cwd()
    memo = FixMemo(cache_dir, cwd)
    files: dict[str, bytes | None] = {}
    sources: dict[str, FixSource | None] = {}
    diagnostics = []
    for diagnostic in result.diagnostics:
        fixer = FIXERS.get(diagnostic.code)
        if fixer is None or diagnostic.fix is not None:
            diagnostics.append(diagnostic)
            continue
        if diagnostic.path not in files:
            files[diagnostic.path] = _read(cwd / diagnostic.path)
        data = files[diagnostic.path]
        if data is None:
            diagnostics.append(diagnostic)
            continue
        key = memo.key(data, diagnostic)
        known, fix = memo.get(key)
        if not known:
            if diagnostic.path not in sources:
                sources[diagnostic.path] = parse_fix_source(data)
            source = sources[diagnostic.path]
            fix = _guarded(fixer, source, diagnostic) if source is not None else None
            memo.put(key, fix)
        diagnostics.append(replace(diagnostic, fix=fix) if fix is not None else diagnostic)
    memo.save()
    return replace(result, diagnostics=tuple(diagnostics))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _guarded(fixer: Fixer, source: FixSource, diagnostic: Diagnostic) -> Fix | None:
    try:
        return fixer(source, diagnostic)
    except Exception:  # a fixer bug must cost one fix, never the report
        log.warning(
            "internal error while looking for a fix of %s at %s:%d",
            diagnostic.code,
            diagnostic.path,
            diagnostic.line,
            exc_info=True,
        )
        return None
