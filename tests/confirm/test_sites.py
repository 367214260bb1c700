"""Where each module of a model was built, as `bnlint check --confirm` records it while the
factory runs: the file and line of the expression that built it, so that a static verdict on
the instances built at one place can be set against those instances only."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.runtime
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bnlint.confirm.sites import construction_sites  # noqa: E402

HERE = str(Path(__file__).resolve())


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)


class WideBlock(Block):
    def __init__(self) -> None:
        super().__init__()  # another __init__ on the same module: not where it was built


class PrePostInitMeta(type):
    """Runs `__pre_init__` (which calls nn.Module.__init__) before `__init__`."""

    def __call__(cls, *args, **kwargs):
        res = cls.__new__(cls)
        res.__pre_init__(*args, **kwargs)
        res.__init__(*args, **kwargs)
        return res


class MetaBlock(nn.Module, metaclass=PrePostInitMeta):
    def __pre_init__(self, *args, **kwargs):
        super().__init__()

    def __init__(self) -> None:
        self.bn = nn.BatchNorm2d(4)


def _line_of(text: str) -> int:
    return Path(HERE).read_text().splitlines().index(text) + 1


def test_each_module_is_built_where_the_expression_that_builds_it_is():
    with construction_sites() as sites:
        model = nn.Sequential(
            Block(),
            WideBlock(),
        )
    assert sites.of(model) == f"{HERE}:{_line_of('        model = nn.Sequential(')}"
    assert sites.of(model[0]) == f"{HERE}:{_line_of('            Block(),')}"
    assert sites.of(model[1]) == f"{HERE}:{_line_of('            WideBlock(),')}"
    conv_line = _line_of("        self.conv = nn.Conv2d(3, 4, 3)")
    assert sites.of(model[0].conv) == sites.of(model[1].conv) == f"{HERE}:{conv_line}"


def test_modules_built_outside_the_block_have_no_site_and_init_is_restored():
    original = nn.Module.__init__
    with pytest.raises(RuntimeError), construction_sites() as sites:
        raise RuntimeError("the factory failed")
    assert nn.Module.__init__ is original
    assert sites.of(Block()) is None


def test_a_module_a_metaclass_builds_is_built_where_the_class_is_called():
    with construction_sites() as sites:
        block = MetaBlock()
    assert sites.of(block) == f"{HERE}:{_line_of('        block = MetaBlock()')}"
