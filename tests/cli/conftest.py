"""Fixtures for the command-line tests: a stand-in engine and an in-process `bnlint`."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

from bnlint import api, cli

from .helpers import FakeEngine, Run


@pytest.fixture(autouse=True)
def _restore_bnlint_logger():
    """`bnlint` configures the "bnlint" logger as a command line does; undo it after a test
    so that other tests see logging as they left it."""
    logger = logging.getLogger("bnlint")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine()
    monkeypatch.setattr(api, "_engine", lambda: engine)
    return engine


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def bnlint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `bnlint ARGS` in-process in a folder; returns exit code, stdout and stderr."""

    def run(*args: str, cwd: Path, tty: bool = False) -> Run:
        monkeypatch.chdir(cwd)
        if tty:
            terminal = _Terminal()
            with monkeypatch.context() as patch:
                patch.setattr(sys, "stdout", terminal)
                code = cli.main(list(args))
            return Run(code, terminal.getvalue(), capsys.readouterr().err)
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
