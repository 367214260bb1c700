"""einops, the axis rearrangements model code writes beside torch: its layers and functions
are known without reading einops (installed or not), hold no BatchNorm, and a pattern that only
reorders axes moves a layer's channels as `permute` does; one that groups axes is a reshape."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.ftypes import Status
from bnlint.static.engine import analyze
from bnlint.static.ranks import rearranged_axes
from bnlint.static.values import Const
from tests.static.verdicts_of import verdicts_of

HEADER = """
import torch
from einops import rearrange, reduce
from einops.layers.torch import Rearrange, Reduce
from torch import nn
"""

MODELS = """
class ChannelsLastMlp(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.to_last = Rearrange("b c h w -> b h w c")
        self.fc = nn.Linear(c, c)
        self.to_first = Rearrange("b h w c -> b c h w")
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.to_first(self.fc(self.to_last(x))))


class ConvTransposed(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.conv = nn.Conv1d(c, c, 1)
        self.bn = nn.BatchNorm1d(c)

    def forward(self, x):
        y = rearrange(self.conv(x), "b c t -> b t c")
        return self.bn(rearrange(y, "b t c -> b c t"))


class PatchTokens(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 4, 4)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x):
        return self.bn(rearrange(self.conv(x), "b c h w -> b (h w) c"))


class PooledHead(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3)
        self.bn = nn.BatchNorm2d(c)
        self.pool = Reduce("b c h w -> b c", "mean")
        self.fc = nn.Linear(c, 10)
        self.bn2 = nn.BatchNorm1d(10)

    def forward(self, x):
        return self.bn2(self.fc(self.pool(self.bn(self.conv(x)))))
"""


@pytest.fixture
def verdicts(tmp_path: Path) -> dict[str, tuple]:
    return verdicts_of(tmp_path, MODELS, HEADER)


def test_a_reordering_pattern_moves_the_channels_back(verdicts):
    assert verdicts["ChannelsLastMlp: bn"][:2] == ("fc", Status.FOLDABLE)
    assert verdicts["ConvTransposed: bn"][:2] == ("conv", Status.FOLDABLE)


def test_a_grouping_pattern_is_a_reshape(verdicts):
    assert verdicts["PatchTokens: bn"][1:] == (Status.UNFOLDABLE, "XBN102")


def test_a_reduced_pattern_gives_the_linear_a_two_dimensional_input(verdicts):
    assert verdicts["PooledHead: bn"][:2] == ("conv", Status.FOLDABLE)
    assert verdicts["PooledHead: bn2"][:2] == ("fc", Status.FOLDABLE)


def test_einops_layers_are_not_reported_as_unread(tmp_path: Path):
    path = tmp_path / "model.py"
    path.write_text(HEADER + MODELS)
    assert not [d for d in analyze([path]).diagnostics if d.code == "XBN402"]


@pytest.mark.parametrize(
    ("pattern", "rank", "expected"),
    [
        ("b c h w -> b h w c", None, (((1, 2), (2, 3), (3, 1)), 4)),
        ("b c t -> b c t", None, ((), 3)),
        ("b c ... -> b ... c", 4, (((1, 2), (2, 3), (3, 1)), 4)),
        ("b c ... -> b ... c", None, None),  # where `c` lands depends on the rank
        ("b c h w -> b (h w) c", None, None),  # a group: a reshape
        ("b (h w) c -> b h w c", None, None),
        ("b c -> b c 1", None, None),
        ("b c c -> b c c", None, None),
        ("b c h w", None, None),
    ],
)
def test_the_axes_a_pattern_moves(pattern: str, rank: int | None, expected: object):
    assert rearranged_axes(Const(pattern), rank) == expected
