"""Fixtures for the autofix tests: a project folder and an in-process `bnlint`."""

from __future__ import annotations

import logging
import sys

import pytest

from bnlint import cli
from tests.cli.helpers import Run


@pytest.fixture(autouse=True)
def _restore_bnlint_logger():
    logger = logging.getLogger("bnlint")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.fixture(autouse=True)
def _in_project(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """Every test works in its own project folder, as a user runs bnlint from the root."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def bnlint(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `bnlint ARGS` in-process in a folder; returns exit code, stdout and stderr."""

    def run(*args: str, cwd) -> Run:
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["bnlint", *args])
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
