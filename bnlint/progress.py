"""Which step long runtime work is in (building, capturing, folding, verifying), for a person
watching a terminal.

The runtime half announces its steps with `step(...)`; nothing is shown unless a caller asks
with `shown_on(stream)`, and then only when that stream is a terminal: a library user's
program, a pipe and a CI log never get a line they did not ask for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_display: ContextVar[Callable[[str], None] | None] = ContextVar("bnlint_progress", default=None)

# Erase the line, so that each step replaces the last and the final output starts clean.
_CLEAR = "\r\033[K"


def step(name: str, subject: str | None = None) -> None:
    """Announce that work on `subject` (a model) has reached step `name`."""
    display = _display.get()
    if display is not None:
        display(f"{name} {subject}" if subject else name)


@contextmanager
def shown_on(stream: TextIO) -> Iterator[None]:
    """Show the steps announced inside the block on `stream`, if it is a terminal."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        yield
        return
    shown = False

    def display(text: str) -> None:
        nonlocal shown
        stream.write(f"{_CLEAR}bnlint: {text}...")
        stream.flush()
        shown = True

    token = _display.set(display)
    try:
        yield
    finally:
        _display.reset(token)
        if shown:
            stream.write(_CLEAR)
            stream.flush()
