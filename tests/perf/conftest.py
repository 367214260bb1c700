"""A small generated model zoo (the benchmark's generator at 30 files) and its verdicts from a
plain run: one process, no cache. Every other way of running must give exactly these."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.zoo import generate
from bnlint.ftypes import CheckResult
from bnlint.static import project as project_module
from bnlint.static.engine import analyze


@dataclass(frozen=True)
class Zoo:
    root: Path
    files: list[Path]
    reference: CheckResult  # analyze(files, search_roots=[root]) in one process, no cache


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    root = tmp_path_factory.mktemp("zoo")
    files = sorted(generate(root, files=30, seed=3).files)
    return Zoo(root, files, analyze(files, search_roots=[root], jobs=1))


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every file parsed (a run answered by the cache parses none)."""
    paths: list[Path] = []
    real = project_module.parse_source

    def recording(path: Path, data: bytes):  # type: ignore[no-untyped-def]
        paths.append(path)
        return real(path, data)

    monkeypatch.setattr(project_module, "parse_source", recording)
    return paths


@pytest.fixture(autouse=True)
def _restore_bnlint_logger():
    logger = logging.getLogger("bnlint")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def only(result: CheckResult, path: Path) -> tuple[tuple, tuple]:
    """What `result` says about one file."""
    shown = {str(path), str(path.resolve())}
    return (
        tuple(d for d in result.diagnostics if str(Path(d.path).resolve()) in shown),
        tuple(m for m in result.modules if str(Path(m.path).resolve()) in shown),
    )
