"""Every fixture model file states, in its comments, what bnlint must report on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.static.engine import analyze
from tests.static.expectations import actual_diagnostics, actual_folds, read_expectations

FIXTURES = Path(__file__).parent.parent / "fixtures" / "static"
SINGLE_FILES = sorted(FIXTURES.glob("*.py"))
CROSSFILE = FIXTURES / "crossfile"


def test_the_fixture_corpus_is_not_empty() -> None:
    assert len(SINGLE_FILES) >= 20


@pytest.mark.parametrize("fixture", SINGLE_FILES, ids=lambda p: p.stem)
def test_fixture_verdicts(fixture: Path) -> None:
    expected = read_expectations(fixture)
    result = analyze([fixture])
    assert actual_diagnostics(result, fixture) == expected.diagnostics
    assert actual_folds(result, fixture) == expected.folds


def _crossfile_sources() -> list[Path]:
    return sorted(p for p in CROSSFILE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("source", _crossfile_sources(), ids=lambda p: p.name)
def test_crossfile_verdicts_checked_with_the_whole_tree(source: Path) -> None:
    expected = read_expectations(source)
    result = analyze(_crossfile_sources(), search_roots=[CROSSFILE])
    assert actual_diagnostics(result, source) == expected.diagnostics
    assert actual_folds(result, source) == expected.folds


@pytest.mark.parametrize("source", _crossfile_sources(), ids=lambda p: p.name)
def test_crossfile_verdicts_checked_alone(source: Path) -> None:
    # pre-commit hands bnlint one file; the verdicts must not change.
    expected = read_expectations(source)
    result = analyze([source], search_roots=[CROSSFILE])
    assert actual_diagnostics(result, source) == expected.diagnostics
    assert actual_folds(result, source) == expected.folds
