"""A certain static verdict is never contradicted by the runtime checker on the same model.

`bnlint check` may say *unknown*, and may say nothing about a layer; what it may never do is
call a BatchNorm foldable that `bnlint fold` finds unfoldable, or unfoldable where `bnlint fold`
folds it. This holds over every model the project's own fixtures build (the static fixtures,
the cross-file package, the catsum fixtures, the example zoo) and over generated programs: the
differential fuzzer's default mix, at seeds the fixed fuzz run does not use. The comparison is
`bnlint check --confirm`'s (bnlint.confirm.compare); a disagreement row is a contradiction.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime
torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bnlint.confirm.compare import compare_model  # noqa: E402
from bnlint.confirm.observe import observation_of  # noqa: E402
from bnlint.confirm.sites import construction_sites  # noqa: E402
from bnlint.ftypes import Agreement, CheckResult, ModelAgreement, Status  # noqa: E402
from bnlint.runtime.fold import fold  # noqa: E402
from bnlint.static.engine import analyze  # noqa: E402
from tests.fuzz.oracle import check_programs, single_threaded  # noqa: E402
from tests.fuzz.program import generate  # noqa: E402
from tests.runtime.helpers import randomise  # noqa: E402
from tests.static.test_fixtures_truth import (  # noqa: E402,F401  (load: a fixture)
    CROSSFILE_SRC,
    EXAMPLES,
    FIXTURES,
    UNITS,
    Unit,
    find_roots,
    load,
)

CATSUM = Path(__file__).resolve().parents[1] / "catsum" / "fixtures"
CATSUM_UNITS = [Unit(path.stem, {path.stem: path}) for path in sorted(CATSUM.glob("*.py"))]


def _static(unit: Unit) -> CheckResult:
    """The analysis as the fixture tests run it, naming modules as the runtime imports them."""
    if unit.name == "crossfile":
        return analyze(sorted(CROSSFILE_SRC.rglob("*.py")), search_roots=[CROSSFILE_SRC.parent])
    if unit.name == "examples":
        return analyze(sorted(unit.files.values()), search_roots=[EXAMPLES])
    return analyze(list(unit.files.values()))


def _contradictions(table: ModelAgreement) -> list[str]:
    """Disagreements between two certain verdicts: silence claims nothing, and neither does
    an unknown on either side (the runtime checker leaves alone what it cannot prove)."""
    return [
        f"{table.factory}: {row.runtime.owner}: {row.runtime.conv or '-'} -> "
        f"{row.runtime.bn}: {row.detail}"
        for row in table.rows
        if row.agreement is Agreement.DISAGREEMENT
        and row.static is not None
        and Status.UNKNOWN not in (row.static.status, row.runtime.status)
    ]


@pytest.mark.parametrize("unit", UNITS + CATSUM_UNITS, ids=lambda u: u.name)
def test_no_fixture_model_contradicts_a_certain_static_verdict(unit, load):  # noqa: F811
    static = _static(unit)
    loaded = load(unit)
    contradicted = []
    with single_threaded(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for root in find_roots(loaded):
            if root.broken:
                continue
            torch.manual_seed(0)
            with construction_sites() as sites:  # a verdict on some instances meets those
                model = root.build().eval()
            randomise(model)  # statistics far from the defaults: a wrong fold shows
            result = fold(model, root.inputs(), random_inputs=1)
            observation = observation_of(model, result, sites)
            table = compare_model(root.name, root.name, static, observation)
            contradicted += _contradictions(table)
    assert contradicted == []


def test_the_fixtures_give_certain_verdicts_to_compare():
    assert len(UNITS) > 40 and len(CATSUM_UNITS) >= 4
    assert FIXTURES.is_dir() and CATSUM.is_dir()


# Seeds past the fixed fuzz runs' (0-4999): the same property on programs no test has seen.
_FRESH_SEEDS = st.integers(min_value=1_000_000, max_value=2**31)


def _no_contradiction(seed: int) -> None:
    logging.getLogger("bnlint").setLevel(logging.ERROR)
    (outcome,) = check_programs([generate(seed)])
    problems = [p for p in outcome.problems if p.kind in ("disagreement", "unverified")]
    assert problems == [], f"seed {seed}: python -m tests.fuzz.run --seed {seed} --count 1"


@settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(seed=_FRESH_SEEDS)
def test_no_generated_program_contradicts_a_certain_static_verdict(seed):
    _no_contradiction(seed)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=_FRESH_SEEDS)
def test_no_generated_program_contradicts_a_certain_static_verdict_long(seed):
    _no_contradiction(seed)
