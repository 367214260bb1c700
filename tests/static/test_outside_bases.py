"""A module class whose base is defined outside the analysed files (a LightningModule, a
library's base module that is not installed) is still a module: its BatchNorms get verdicts,
each noting the assumption, instead of silence."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from bnlint.static.engine import analyze

_LIT = """
import pytorch_lightning as pl
import torch
from torch import nn


class LitClassifier(pl.LightningModule):
    def __init__(self, lr=1e-3):
        super().__init__()
        self.save_hyperparameters()
        self.conv = nn.Conv2d(3, 16, 3, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.bn2(torch.relu(self.conv2(x)))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class Settings(some_library.Config):
    def __init__(self):
        super().__init__()
        self.width = 16
"""


def _modules(tmp_path: Path, source: str) -> dict:
    path = tmp_path / "lit.py"
    path.write_text(source)
    return {m.class_name: m for m in analyze([path]).modules}


def test_a_lightning_module_gets_verdicts_with_the_assumption_noted(tmp_path: Path) -> None:
    modules = _modules(tmp_path, _LIT)
    folds = {entry.bn: entry for entry in modules["lit.LitClassifier"].folds}
    assert (folds["bn"].conv, folds["bn"].status) == ("conv", Status.FOLDABLE)
    assert (folds["bn2"].status, folds["bn2"].code) == (Status.UNFOLDABLE, "XBN101")
    for entry in folds.values():
        assert any("pytorch_lightning.LightningModule" in note for note in entry.notes)


def test_a_class_with_an_outside_base_and_no_layers_is_no_module(tmp_path: Path) -> None:
    assert "lit.Settings" not in _modules(tmp_path, _LIT)


def test_a_module_with_a_standard_library_mixin_has_no_note(tmp_path: Path) -> None:
    source = """
import abc
from torch import nn


class Block(nn.Module, abc.ABC):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))
"""
    (entry,) = _modules(tmp_path, source)["lit.Block"].folds
    assert entry.status is Status.FOLDABLE and not entry.notes


def test_a_value_from_outside_may_be_none_or_a_number(tmp_path: Path) -> None:
    """A name from an installed package nobody analyses is a value the analysis does not
    know: whether it is None, or an int, is undecided (it was decided False, which built
    no BatchNorm here and left it silent)."""
    source = """
from extlib import DEFAULT_NORM, WIDTH
from torch import nn


class Net(nn.Module):
    def __init__(self, norm=DEFAULT_NORM, width=WIDTH):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1, bias=False)
        self.bn = nn.BatchNorm2d(8) if norm is None else nn.Identity()
        self.bn2 = nn.BatchNorm2d(8) if isinstance(width, int) else nn.Identity()

    def forward(self, x):
        return self.bn2(self.bn(self.conv(x)))
"""
    folds = {entry.bn: entry for entry in _modules(tmp_path, source)["lit.Net"].folds}
    assert set(folds) == {"bn", "bn2"}
    assert all(entry.status is Status.UNKNOWN for entry in folds.values())


def test_a_plain_object_with_a_mixin_builds(tmp_path: Path) -> None:
    """A helper object whose class names a standard-library mixin (`class Chooser(abc.ABC)`)
    is built like any object: the mixin, left out of the resolved bases, made the check of
    its written bases fail, and every model that built one was skipped."""
    source = """
import abc
from torch import nn


class Chooser(abc.ABC):
    def __init__(self, kind):
        self.kind = kind

    def make(self, channels):
        return nn.BatchNorm2d(channels) if self.kind == "batch" else nn.Identity()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1, bias=False)
        self.bn = Chooser("batch").make(8)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))
"""
    (entry,) = _modules(tmp_path, source)["lit.Net"].folds
    assert (entry.bn, entry.conv, entry.status) == ("bn", "conv", Status.FOLDABLE)
