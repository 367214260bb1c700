"""Plain-text pieces shared by the `full` and `concise` formats: the finding line and colour."""

from __future__ import annotations

from bnlint.ftypes import Diagnostic, Severity

_RESET = "\033[0m"
_BOLD = "\033[1m"
_SEVERITY_COLOR = {
    Severity.ERROR: "\033[1;31m",
    Severity.WARNING: "\033[1;33m",
    Severity.INFO: "\033[1;36m",
}
_DIM = "\033[2m"


class Painter:
    """Wraps text in ANSI codes when colour is on, and leaves it alone otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self._wrap(_BOLD, text)

    def dim(self, text: str) -> str:
        return self._wrap(_DIM, text)

    def severity(self, severity: Severity, text: str) -> str:
        return self._wrap(_SEVERITY_COLOR[severity], text)


def finding_line(diagnostic: Diagnostic, paint: Painter, fixable: bool = False) -> str:
    """`path:line:col: CODE [name] message`, with `[*]` after the code when --fix fixes it
    (as ruff marks fixable findings)."""
    where = paint.bold(f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}:")
    code = paint.severity(diagnostic.severity, diagnostic.code)
    mark = " [*]" if fixable else ""
    return f"{where} {code}{mark} [{diagnostic.name}] {diagnostic.message}"
