"""A conv wrapped by `spectral_norm` / `weight_norm` recomputes its weight on every call: the
BatchNorm after it cannot fold into it (XBN114), and the wrapped conv is never mistaken for a
slot that may hold a norm layer because the wrapper's name says "norm"."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_SOURCE = """
from torch import nn
from torch.nn.utils import spectral_norm, weight_norm
from torch.nn.utils.parametrizations import weight_norm as parametrized_weight_norm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(3, 8, 3, bias=False))
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = weight_norm(nn.Conv2d(8, 8, 3, bias=False))
        self.bn2 = nn.BatchNorm2d(8)
        self.conv3 = parametrized_weight_norm(nn.Conv2d(8, 8, 3, bias=False))
        self.bn3 = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn3(self.conv3(self.bn2(self.conv2(self.bn1(self.conv1(x))))))
"""


def test_the_batchnorms_after_reparametrised_convs_are_unfoldable_and_nothing_else_is_one(
    tmp_path: Path,
) -> None:
    verdicts = verdicts_of(tmp_path, _SOURCE)
    assert set(verdicts) == {"Net: bn1", "Net: bn2", "Net: bn3"}
    assert all(status is Status.UNFOLDABLE for _, status, _ in verdicts.values())
    assert {code for _, _, code in verdicts.values()} == {"XBN114"}
