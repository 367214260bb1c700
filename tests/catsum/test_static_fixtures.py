"""The catsum fixtures state what `bnlint check` reports on folds through a concatenation or a
sum; each file is checked here without torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.static.engine import analyze
from tests.static.expectations import actual_diagnostics, actual_folds, read_expectations

FIXTURES = Path(__file__).parent / "fixtures"
# catsum_*: both halves agree (test_fixture_agreement.py); static_*: the static half only.
FILES = sorted(FIXTURES.glob("catsum_*.py")) + sorted(FIXTURES.glob("static_*.py"))

# Fixtures with a fold through a merge: `bnlint check` names it by all its layers only once
# bnlint/static/build.py names folds with foldkey.pair_key (requested from the lead in
# /work/notes/requests.md). strict: the marks go as soon as it does.
NAMED_BY_FIRST_LAYER = "build.py names a fold through a merge by its first layer only"
MERGE_FOLDS = {
    p.stem
    for p in FILES
    if any(
        "(" in fold[1] or "+" in fold[1]
        for fold in read_expectations(p).folds
        if fold[4] == "foldable"
    )
}


def _by_batchnorm(folds: frozenset[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """The verdicts without the partner's name: owner, BatchNorm, direction, status, code."""
    return {
        (owner, bn, direction, status, code) for owner, _, bn, direction, status, code, _ in folds
    }


def test_the_fixtures_cover_both_merges_folding_and_not() -> None:
    folds = set().union(*(read_expectations(p).folds for p in FILES))
    convs = {fold[1] for fold in folds if fold[4] == "foldable"}
    assert any(c.startswith("cat(") for c in convs) and any("+" in c for c in convs)
    assert {fold[5] for fold in folds} >= {"XBN103", "XBN104", "XBN115"}


@pytest.mark.parametrize("fixture", FILES, ids=lambda p: p.stem)
def test_diagnostics_land_where_the_fixture_says(fixture: Path) -> None:
    result = analyze([fixture])
    assert actual_diagnostics(result, fixture) == read_expectations(fixture).diagnostics


@pytest.mark.parametrize("fixture", FILES, ids=lambda p: p.stem)
def test_every_batchnorm_gets_the_verdict_the_fixture_says(fixture: Path) -> None:
    result = analyze([fixture])
    expected = read_expectations(fixture).folds
    assert _by_batchnorm(actual_folds(result, fixture)) == _by_batchnorm(expected)


@pytest.mark.parametrize("fixture", FILES, ids=lambda p: p.stem)
def test_folds_are_named_by_all_their_layers(fixture: Path) -> None:
    result = analyze([fixture])
    assert actual_folds(result, fixture) == read_expectations(fixture).folds
