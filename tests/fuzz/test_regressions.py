"""Bugs the differential fuzzer found, each as the minimal model it shrank to."""

from __future__ import annotations

import warnings

import pytest

pytestmark = pytest.mark.runtime
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from bnlint.runtime.fold import fold  # noqa: E402


def _randomised(model: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1.0, 1.0)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval().double()


class InPlaceAfterTheFold(nn.Module):
    """Fuzzer seed 500: the conv's input is rewritten in place after the conv has read it."""

    def __init__(self) -> None:
        super().__init__()
        self.bn0 = nn.BatchNorm2d(3)
        self.conv2 = nn.Conv2d(3, 3, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(3)

    def forward(self, x):
        x = self.bn0(x)
        h6 = self.bn5(self.conv2(x))
        h7 = F.relu(x, inplace=True)
        return torch.cat([h6, h7], dim=1)


class InPlaceOnTheFoldOutput(nn.Module):
    """The mirror: the folded BatchNorm's output is rewritten in place, as in every ResNet."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        out = self.bn(self.conv(x))
        out.relu_()
        return out


@pytest.mark.parametrize("model", [InPlaceAfterTheFold, InPlaceOnTheFoldOutput])
def test_a_fold_site_changed_in_place_later_still_verifies(model):
    inputs = (torch.randn(2, 3, 4, 4, dtype=torch.float64),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fold(_randomised(model()), inputs)
    assert result.verified, result.verification.failures
    assert len(result.folds) == 1
    assert result.folds[0].max_error is not None and result.folds[0].max_error < 1e-12
