"""Both halves, one matcher: `bnlint.fold` on the catsum fixtures reaches exactly the verdicts
the fixtures state for `bnlint check`, names merge folds the same way, and every folded model
computes what the original computes."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from tests.runtime.helpers import fold, randomise  # noqa: E402
from tests.static.expectations import read_expectations  # noqa: E402

pytestmark = pytest.mark.runtime

FIXTURES = Path(__file__).parent / "fixtures"
FILES = sorted(FIXTURES.glob("catsum_*.py"))


def _import(path: Path) -> ModuleType:
    name = f"_catsum_fixture_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _models(module: ModuleType) -> list[nn.Module]:
    """Every nn.Module class of the fixture that builds without arguments."""
    built = []
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, nn.Module)
            and value.__module__ == module.__name__
        ):
            params = list(inspect.signature(value.__init__).parameters.values())[1:]
            if all(p.default is not p.empty for p in params):
                built.append(value())
    return built


@pytest.mark.parametrize("fixture", FILES, ids=lambda p: p.stem)
def test_bnlint_fold_agrees_with_the_fixture(fixture: Path) -> None:
    module = _import(fixture)
    found: set[tuple[str, str, str, str, str, str, str]] = set()
    for model in _models(module):
        randomise(model)
        result = fold(model, torch.randn(*module.INPUT_SHAPE))
        assert result.verified, (type(model).__name__, result.verification.failures)
        for record in result.folds:
            key = record.key
            found.add(
                (
                    key.owner.rsplit(".", 1)[-1],
                    key.conv,
                    key.bn,
                    record.direction.value,
                    "foldable",
                    "",
                    "",
                )
            )
        for skip in result.skipped:
            key = skip.key
            found.add(
                (
                    key.owner.rsplit(".", 1)[-1],
                    key.conv or "-",
                    key.bn,
                    "-",
                    skip.status.value,
                    skip.code,
                    "",
                )
            )
    # The runtime keys a verdict by class, not by where each instance was built.
    assert found == {(*fold[:6], "") for fold in read_expectations(fixture).folds}
