"""A tensor method that ends in `_` changes the tensor itself: every name bound to it reads
the op's result from then on (found by the differential fuzzer, seed 1148)."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = "import torch\nfrom torch import nn\n\n"

_BLOCK = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
{body}
"""


def _verdict(tmp_path: Path, body: str) -> tuple:
    source = _BLOCK.format(body="\n".join(f"        {line}" for line in body.splitlines()))
    return verdicts_of(tmp_path, source, _HEADER)["Net: bn"]


def test_a_batchnorm_after_an_in_place_activation_reads_the_activation(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "x = self.conv(x)\nx.relu_()\nreturn self.bn(x)")
    assert verdict[1:] == (Status.UNFOLDABLE, "XBN101")


def test_another_name_for_the_tensor_reads_the_change_too(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "x = self.conv(x)\ny = x\nx.add_(1.0)\nreturn self.bn(y)")
    assert verdict[1] is Status.UNFOLDABLE


def test_a_change_on_some_paths_only_leaves_the_fold_unknown(tmp_path: Path) -> None:
    body = "x = self.conv(x)\nif x.sum() > 0:\n    x.relu_()\nreturn self.bn(x)"
    assert _verdict(tmp_path, body)[1] is Status.UNKNOWN


def test_an_in_place_activation_after_the_batchnorm_keeps_the_fold(tmp_path: Path) -> None:
    verdict = _verdict(tmp_path, "x = self.bn(self.conv(x))\nx.relu_()\nreturn x")
    assert verdict == ("conv", Status.FOLDABLE, None)
