"""The fixes found before, kept in the cache directory beside the analysis results.

A fix depends only on the bytes of its file and on the finding it fixes, so it is kept under
the digest of both: a `bnlint check` where nothing changed finds every fix without parsing a
file (measured on timm 1.0.31: 13 files carry a fixable finding, and parsing them was a fifth
of a warm run). What one run did not ask for is dropped when it saves, so the store holds
the project as it is now, not its history.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from bnlint.cache import Cache, decode, encode
from bnlint.ftypes import Diagnostic, Fix

log = logging.getLogger("bnlint.fix")

_NAME = "fixes"


class FixMemo:
    """Fixes by (file bytes, finding): those of the last run, and those of this one."""

    def __init__(self, directory: Path | None, cwd: Path) -> None:
        self._cache = Cache(directory, _NAME, os.fspath(cwd)) if directory is not None else None
        self._kept: dict[str, Any] | None = None
        self._used: dict[str, Any] = {}

    @staticmethod
    def key(data: bytes, diagnostic: Diagnostic) -> str:
        digest = hashlib.blake2b(data, digest_size=16)
        for part in (diagnostic.code, diagnostic.line, diagnostic.column, diagnostic.message):
            digest.update(b"\0" + str(part).encode())
        return digest.hexdigest()

    def get(self, key: str) -> tuple[bool, Fix | None]:
        """(True, the fix or None) when this finding in these bytes was looked at before."""
        if self._kept is None:
            loaded = self._cache.load(_NAME) if self._cache is not None else None
            self._kept = loaded if isinstance(loaded, dict) else {}
        if key not in self._kept:
            return False, None
        try:
            fix = decode(Fix, self._kept[key]) if self._kept[key] is not None else None
        except ValueError as error:
            log.info("kept fix unusable (%s)", error)
            return False, None
        self._used[key] = self._kept[key]
        return True, fix

    def put(self, key: str, fix: Fix | None) -> None:
        self._used[key] = encode(fix) if fix is not None else None

    def save(self) -> None:
        if self._cache is not None and self._used != self._kept:
            self._cache.save(_NAME, self._used)
