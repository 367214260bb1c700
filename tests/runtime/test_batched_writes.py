"""The folds written into a private copy all at once (batched_writes.py) hold exactly what the
folds written one by one hold: the in-place fold of the user's model writes them one by one."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bnlint.matcher import match_folds  # noqa: E402
from bnlint.runtime.apply import apply_folds  # noqa: E402
from bnlint.runtime.capture import capture_graph  # noqa: E402

from .helpers import fold, folded, randomise  # noqa: E402

pytestmark = pytest.mark.runtime


class EveryKindOfWrite(nn.Module):
    """A layer folded from both sides (the order of its two writes shows in the last bit), a
    sum of two bias-free layers (one gains the shift, the other stays bias-free), a
    concatenation of a layer with a bias and one without, a transposed convolution (written one
    by one) and a float64 layer among float32 ones."""

    def __init__(self) -> None:
        super().__init__()
        self.bn_in, self.conv, self.bn_mid = (
            nn.BatchNorm2d(3),
            nn.Conv2d(3, 4, 1),
            nn.BatchNorm2d(4),
        )
        self.a = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.b = nn.Conv2d(4, 4, 1, bias=False)
        self.bn_sum = nn.BatchNorm2d(4)
        self.c, self.d = nn.Conv2d(4, 2, 1), nn.Conv2d(4, 3, 1, bias=False)
        self.bn_cat = nn.BatchNorm2d(5)
        self.up, self.bn_up = nn.ConvTranspose2d(5, 4, 2, stride=2), nn.BatchNorm2d(4)
        self.wide, self.bn_wide = nn.Conv2d(4, 4, 1).double(), nn.BatchNorm2d(4).double()

    def forward(self, x):
        x = self.bn_mid(self.conv(self.bn_in(x)))
        x = self.bn_sum(self.a(x) + self.b(x))
        x = self.bn_cat(torch.cat([self.c(x), self.d(x)], 1))
        x = self.bn_up(self.up(x))
        return self.bn_wide(self.wide(x.double()))


def test_folds_written_together_equal_folds_written_one_by_one_bit_for_bit():
    model, inputs = randomise(EveryKindOfWrite()).eval(), torch.randn(2, 3, 6, 6)
    together = fold(model, inputs)  # the returned copy: written together
    one_by_one = fold(copy.deepcopy(model), inputs, inplace=True)  # the user's model
    assert together.verified and one_by_one.verified
    assert folded(together) == folded(one_by_one)
    assert {bn for _, bn in folded(together)} == {
        "bn_in",
        "bn_mid",
        "bn_sum",
        "bn_cat",
        "bn_up",
        "bn_wide",
    }
    assert together.model is not None and one_by_one.model is not None
    mine, theirs = together.model.state_dict(), one_by_one.model.state_dict()
    assert mine.keys() == theirs.keys()
    for name, value in mine.items():
        assert value.dtype == theirs[name].dtype and torch.equal(value, theirs[name]), name
    assert together.model.b.bias is None or together.model.a.bias is None  # the shift once
    assert (together.model.a.bias is None) == (one_by_one.model.a.bias is None)


def test_a_layer_folded_again_is_written_in_the_order_of_its_folds():
    """The fold after `conv` made first and waiting, then the fold before it, which reads its
    weights: they must hold the first fold already, as when each is written at once."""
    model, inputs = randomise(EveryKindOfWrite()).eval(), (torch.randn(2, 3, 6, 6),)
    pairs = match_folds(capture_graph(copy.deepcopy(model), inputs).graph).folds
    assert [(p.conv.label, p.bn.label) for p in pairs[:2]] == [
        ("conv", "bn_in"),
        ("conv", "bn_mid"),
    ]
    backwards = list(reversed(pairs))
    together, one_by_one = copy.deepcopy(model), copy.deepcopy(model)
    assert len(apply_folds(together, backwards, reuse_storage=True).folds) == len(pairs)
    assert len(apply_folds(one_by_one, backwards).folds) == len(pairs)
    theirs = one_by_one.state_dict()
    for name, value in together.state_dict().items():
        assert torch.equal(value, theirs[name]), name


class TwoLayers(nn.Module):
    """Too few layers to join (written layer by layer): one with a bias, one without."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.head, self.bn_head = nn.Conv2d(4, 5, 1, bias=False), nn.BatchNorm2d(5)

    def forward(self, x):
        return self.bn_head(self.head(self.bn(self.conv(x))))


def test_a_group_too_small_to_join_is_written_as_folds_written_one_by_one():
    model, inputs = randomise(TwoLayers()).eval(), torch.randn(2, 3, 6, 6)
    alone = fold(model, inputs)  # the returned copy
    one_by_one = fold(copy.deepcopy(model), inputs, inplace=True)
    assert alone.verified and one_by_one.verified
    assert folded(alone) == folded(one_by_one) == {("conv", "bn"), ("head", "bn_head")}
    assert alone.model is not None and one_by_one.model is not None
    mine, theirs = alone.model.state_dict(), one_by_one.model.state_dict()
    assert mine.keys() == theirs.keys()
    for name, value in mine.items():
        assert value.dtype == theirs[name].dtype and torch.equal(value, theirs[name]), name
