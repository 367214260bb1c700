"""A layer's output that control flow reads whichever path runs, directly on one path and
through an op on it on another (DenseNet-style decoders trim the skip tensor to the new
one's size before concatenating them), is shared on every path: a BatchNorm reading it as
well cannot fold into that layer."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_MODEL = """
import torch
from torch import nn


class Dense(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.layers = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3))

    def forward(self, x):
        x1 = self.layers(x)
{tail}


class Decoder(nn.Sequential):
    def __init__(self):
        super().__init__()
        self.add_module("conva", nn.Conv2d(8, 8, 3, bias=False))
        self.add_module("d1", Dense(8, 4))
"""

_TRIMMED = """\
        if x1.shape[-1] != x.shape[-1]:
            trim = (x.shape[-1] - x1.shape[-1]) // 2
            x = x[:, :, trim:-trim, trim:-trim]
        return torch.cat([x, x1], 1)"""

_TRIMMED_ON_ONE_PATH = """\
        if x1.shape[-1] != x.shape[-1]:
            return torch.cat([x[:, :, 1:-1, 1:-1], x1], 1)
        return x1"""


def test_a_skip_tensor_trimmed_on_some_paths_is_read_on_every_path(tmp_path: Path) -> None:
    verdicts = verdicts_of(tmp_path, _MODEL.format(tail=_TRIMMED))
    assert verdicts["Decoder: d1.layers.0"] == ("conva", Status.UNFOLDABLE, "XBN103")


def test_a_skip_tensor_read_on_one_path_only_leaves_the_fold_unknown(tmp_path: Path) -> None:
    verdicts = verdicts_of(tmp_path, _MODEL.format(tail=_TRIMMED_ON_ONE_PATH))
    assert [v[1] for k, v in verdicts.items() if k.endswith("layers.0")] == [Status.UNKNOWN]
