"""A BatchNorm after control flow the analysis cannot decide: when no path hands it a
Conv/Linear output (an activation on one, a sum of BatchNorms on the other), the path does
not matter and the verdict is certain (found by the differential fuzzer, seed 351)."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_MODEL = """
from torch import nn
from elsewhere import ratio


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.BatchNorm2d(3)
        self.b = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        self.conv2 = nn.Conv2d(3, 3, 1, bias=False)
        self.ratio = ratio(0)
        self.act = nn.ReLU() if self.ratio != 1 else nn.Identity()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        h = {summed}
        if self.ratio != 1:
            h = self.act(h)
        return self.bn(h)
"""


def test_a_sum_of_batchnorms_or_an_activation_of_it_is_no_layer_on_any_path(
    tmp_path: Path,
) -> None:
    verdicts = verdicts_of(tmp_path, _MODEL.format(summed="self.a(x) + self.b(x * 0.5)"))
    assert verdicts["Net: bn"][1] is Status.UNFOLDABLE


def test_a_sum_with_one_batchnorm_term_is_no_layer_either(tmp_path: Path) -> None:
    verdicts = verdicts_of(tmp_path, _MODEL.format(summed="self.a(x) + self.conv(x)"))
    assert verdicts["Net: bn"][1] is Status.UNFOLDABLE


def test_a_sum_of_convolutions_keeps_the_path_undecided(tmp_path: Path) -> None:
    """Without the activation the sum of two convolutions takes the fold; with it nothing
    does: the path decides."""
    verdicts = verdicts_of(tmp_path, _MODEL.format(summed="self.conv(x) + self.conv2(x)"))
    assert verdicts["Net: bn"][1] is Status.UNKNOWN


_TERM = """
from torch import nn
from elsewhere import reshaped


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 3, bias=False)
        self.fc2 = nn.Linear(3, 3, bias=False)
        self.fc3 = nn.Linear(3, 3, bias=False)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, x):
        x = x.flatten(1)
        return self.bn(reshaped({inner}) + self.fc1(x) + self.fc2(x))
"""


def test_a_term_an_outside_function_makes_of_no_layer_output_is_no_layer(
    tmp_path: Path,
) -> None:
    """The function hands back its input or a tensor of its own (seed 1769): neither is a
    layer's output when its input is none."""
    verdicts = verdicts_of(tmp_path, _TERM.format(inner="x"))
    assert verdicts["Net: bn"][1] is Status.UNFOLDABLE


def test_a_term_an_outside_function_makes_of_a_layer_output_stays_undecided(
    tmp_path: Path,
) -> None:
    verdicts = verdicts_of(tmp_path, _TERM.format(inner="self.fc3(x)"))
    assert verdicts["Net: bn"][1] is Status.UNKNOWN
