"""`Function.apply(...)` of a custom torch.autograd.Function runs its static forward(): a
reversible block hands its two halves to one (pytorchcv's RevNet), and the folds inside
them are the model's."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_MODEL = """
import torch
from torch import nn


class ReversibleFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fm, gm, *params):
        with torch.no_grad():
            x1, x2 = torch.chunk(x, chunks=2, dim=1)
            y1 = x1 + fm(x2)
            y2 = x2 + gm(y1)
            y = torch.cat((y1, y2), dim=1)
            x1.set_()
        ctx.save_for_backward(x, y)
        ctx.fm = fm
        return y

    @staticmethod
    def backward(ctx, grad_y):
        return grad_y, None, None


def pre_conv(c):
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False))


class Half(nn.Module):
    def __init__(self, c, preactivate):
        super().__init__()
        if preactivate:
            self.conv1 = pre_conv(c)
        else:
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv2 = pre_conv(c)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class Reversible(nn.Module):
    def __init__(self, c=8, preactivate=False):
        super().__init__()
        self.fm = Half(c // 2, preactivate)
        self.gm = Half(c // 2, preactivate)
        self.rev = ReversibleFunction.apply

    def forward(self, x):
        params = [w for w in self.fm.parameters()] + [w for w in self.gm.parameters()]
        y = self.rev(x, self.fm, self.gm, *params)
        x.data.set_()
        return y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3)
        self.block = Reversible()

    def forward(self, x):
        return self.block(self.stem(x))
"""


def test_the_halves_a_reversible_function_runs_fold_as_built(tmp_path: Path) -> None:
    verdicts = verdicts_of(tmp_path, _MODEL)
    assert verdicts["Half: conv2.0"] == ("conv1", Status.FOLDABLE, None)


def test_a_function_without_a_readable_forward_stays_unknown(tmp_path: Path) -> None:
    hidden = _MODEL.replace(
        "class ReversibleFunction(torch.autograd.Function):",
        "from elsewhere import ReversibleFunction\n\n\nclass Unused(torch.autograd.Function):",
    )
    verdicts = verdicts_of(tmp_path, hidden)
    assert verdicts["Half: conv2.0"][1] is Status.UNKNOWN
