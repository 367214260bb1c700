"""`bnlint check` on a run longer than a second: the files done so far on a terminal's stderr,
nothing on a pipe; `--timing` names the slowest files and classes of the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.zoo import generate
from tests.cli.test_runtime_commands import _run_in_pty

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = generate(tmp_path_factory.mktemp("progress") / "zoo", files=60, seed=5)
    return corpus.root


def _check(zoo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bnlint", "check", ".", *args],
        cwd=zoo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_terminal_sees_the_files_done_and_the_line_is_erased(zoo: Path) -> None:
    code, shown = _run_in_pty(["check", ".", "--no-cache", "--jobs", "1"], zoo)
    assert code in (0, 1)
    assert "bnlint: analysing " in shown and " files, " in shown
    assert shown.endswith("\r\x1b[K")


def test_a_pipe_sees_no_progress(zoo: Path) -> None:
    done = _check(zoo, "--no-cache", "--jobs", "1", "--format", "json")
    assert done.returncode in (0, 1)
    assert done.stderr == ""


def test_timing_names_the_slowest_files_and_roots(zoo: Path) -> None:
    done = _check(zoo, "--no-cache", "--timing", "--format", "concise")
    assert "files analysed in" in done.stderr and "the slowest files:" in done.stderr
    assert "and the slowest classes and factories:" in done.stderr
    listed = [
        line.split(" s  ", 1)[1]
        for line in done.stderr.splitlines()
        if " s  " in line and "(" not in line
    ]
    assert listed and all((zoo / path).is_file() for path in listed)


def test_timing_on_a_warm_cache_says_nothing_was_analysed(zoo: Path, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    _check(zoo, *cache)
    done = _check(zoo, *cache, "--timing", "--format", "concise")
    assert "no file was analysed in this run" in done.stderr
