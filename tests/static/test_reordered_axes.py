"""A BatchNorm after reshapes that only reorder axes (transpose, permute, contiguous) folds
into the layer whose channels they bring to axis 1; where the analysis cannot count the
axes, it says so; a wrapper that transposes its caller's tensor is judged by its callers."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = "from torch import nn\n\n"

_LINEAR_NORM = """
class LinearNorm(nn.Module):
    def __init__(self, size=8):
        super().__init__()
        self.fc = nn.Linear(size, size, bias=False)
        self.bn = nn.BatchNorm1d(size)

    def forward(self, x):
        return self.bn(self.fc(x).{reorder})
"""


def test_features_moved_to_axis_1_from_the_end_fold(tmp_path: Path) -> None:
    # transpose(-1, 1) swaps the last axis with axis 1 whatever the rank
    found = verdicts_of(tmp_path, _LINEAR_NORM.format(reorder="transpose(-1, 1)"), _HEADER)
    assert found == {"LinearNorm: bn": ("fc", Status.FOLDABLE, None)}


def test_a_permute_says_how_many_axes_there_are(tmp_path: Path) -> None:
    found = verdicts_of(tmp_path, _LINEAR_NORM.format(reorder="permute(0, 2, 1)"), _HEADER)
    assert found == {"LinearNorm: bn": ("fc", Status.FOLDABLE, None)}


def test_axes_counted_from_the_start_of_a_tensor_of_unknown_rank_are_unknown(
    tmp_path: Path,
) -> None:
    # transpose(1, 2) brings the last axis to axis 1 only on a 3-D tensor
    found = verdicts_of(tmp_path, _LINEAR_NORM.format(reorder="transpose(1, 2)"), _HEADER)
    assert found["LinearNorm: bn"][1:] == (Status.UNKNOWN, "XBN208")


def test_a_reorder_that_moves_the_channels_away_is_unfoldable(tmp_path: Path) -> None:
    found = verdicts_of(
        tmp_path,
        """
        class TimeNorm(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv1d(8, 8, 1, bias=False)
                self.bn = nn.BatchNorm1d(5)

            def forward(self, x):
                return self.bn(self.conv(x).transpose(1, 2))
        """,
        _HEADER,
    )
    assert found == {"TimeNorm: bn": (None, Status.UNFOLDABLE, "XBN102")}


def test_a_wrapper_transposing_its_callers_tensor_is_not_judged_alone(tmp_path: Path) -> None:
    # On its own the wrapper's input could be any layer's output: no certain XBN102.
    found = verdicts_of(
        tmp_path,
        """
        class BatchNorm1d(nn.Module):
            def __init__(self, size):
                super().__init__()
                self.norm = nn.BatchNorm1d(size)

            def forward(self, x):
                return self.norm(x.transpose(-1, 1)).transpose(1, -1)
        """,
        _HEADER,
    )
    assert found.get("BatchNorm1d: norm", (None, Status.UNKNOWN))[1] is Status.UNKNOWN


def test_a_reorder_no_layer_could_pass_through_stays_unfoldable(tmp_path: Path) -> None:
    # permute(0, 2, 3, 1) puts the height on axis 1: whatever the caller hands in, no
    # layer's channels land there.
    found = verdicts_of(
        tmp_path,
        """
        class ChannelsLastNorm(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(6)

            def forward(self, x):
                return self.bn(x.permute(0, 2, 3, 1))
        """,
        _HEADER,
    )
    assert found == {"ChannelsLastNorm: bn": (None, Status.UNFOLDABLE, "XBN102")}


def test_a_batchnorm_reaching_a_linear_through_a_transpose_folds_into_it(
    tmp_path: Path,
) -> None:
    # speechbrain's classifier head: activation, a BatchNorm1d wrapper, a Linear
    found = verdicts_of(
        tmp_path,
        """
        class Head(nn.Module):
            def __init__(self, size=8):
                super().__init__()
                self.act = nn.LeakyReLU()
                self.norm = nn.BatchNorm1d(size)
                self.fc = nn.Linear(size, 4)

            def forward(self, x):
                x = self.norm(self.act(x).transpose(-1, 1))
                return self.fc(x.transpose(1, -1))
        """,
        _HEADER,
    )
    assert found == {"Head: norm": ("fc", Status.FOLDABLE, None)}


def test_a_reorder_of_a_tensor_control_flow_picks_is_not_certain(tmp_path: Path) -> None:
    # The container keeps only the first of a tuple a layer returns: which tensor the
    # transpose reorders is the layer's output or a piece of it, not a barrier for sure.
    found = verdicts_of(
        tmp_path,
        """
        class Norm(nn.Module):
            def __init__(self):
                super().__init__()
                self.norm = nn.BatchNorm1d(8)

            def forward(self, x):
                return self.norm(x.transpose(-1, 1)).transpose(1, -1)


        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(8, 8), Norm()])

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                    if isinstance(x, tuple):
                        x = x[0]
                return x
        """,
        _HEADER,
    )
    assert all(status is not Status.UNFOLDABLE for _, status, _ in found.values()), found
