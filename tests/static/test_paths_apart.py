"""Verdicts where the model's dataflow has several possible paths: members a branch the
analysis cannot decide adds to a list or dict of layers, a gradient-checkpointing switch that
runs the same stage either way, a function outside the analysed files. Each path is
followed; a verdict is certain only when every path gives it."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = """
import random
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
"""


def _verdicts(tmp_path: Path, body: str) -> dict[str, tuple]:
    return verdicts_of(tmp_path, body, _HEADER)


def test_a_stage_run_directly_or_through_checkpoint_folds_into_what_follows(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.grad_checkpointing = False
                self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False))
                self.bn = nn.BatchNorm2d(8)
                self.stages = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(8))
                self.head = nn.Conv2d(8, 4, 1)

            def set_grad_checkpointing(self, enable=True):
                self.grad_checkpointing = enable

            def forward(self, x):
                if self.grad_checkpointing:
                    x = checkpoint(self.stem, x, use_reentrant=False)
                else:
                    x = self.stem(x)
                x = self.bn(x)
                if self.grad_checkpointing:
                    x = checkpoint(self.stages, x, use_reentrant=False)
                else:
                    x = self.stages(x)
                return self.head(x)
        """,
    )
    assert folds["Net: bn"] == ("stem.0", Status.FOLDABLE, None)
    assert folds["Net: stages.1"] == ("head", Status.FOLDABLE, None)


def test_members_a_hidden_branch_adds_are_run_on_their_own_path(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        def tail(extra):
            layers = OrderedDict()
            layers["pool"] = nn.MaxPool2d(2)
            layers["bn0"] = nn.BatchNorm2d(8)
            layers["bn1"] = nn.BatchNorm2d(8)
            if extra:
                layers["act"] = nn.ReLU()
            return layers


        class SequentialNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(tail(random.random() < 0.5))

            def forward(self, x):
                return self.body(x)


        class DictNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.parts = nn.ModuleDict(tail(random.random() < 0.5))

            def forward(self, x):
                for layer in self.parts.values():
                    x = layer(x)
                return x


        class ListNet(nn.Module):
            def __init__(self):
                super().__init__()
                layers = [nn.MaxPool2d(2), nn.BatchNorm2d(8), nn.BatchNorm2d(8)]
                if random.random() < 0.5:
                    layers.append(nn.ReLU())
                self.body = nn.Sequential(*layers)

            def forward(self, x):
                return self.body(x)
        """,
    )
    # Whether a ReLU follows or nothing does, the second BatchNorm reads the first's output
    # and nothing after it can take a fold.
    assert folds["SequentialNet: body.bn1"] == (None, Status.UNFOLDABLE, "XBN102")
    assert folds["DictNet: parts.bn1"] == (None, Status.UNFOLDABLE, "XBN102")
    assert folds["ListNet: body.2"] == (None, Status.UNFOLDABLE, "XBN102")


def test_a_batchnorm_whose_next_layer_depends_on_a_hidden_branch_is_unknown(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                layers = OrderedDict()
                layers["bn0"] = nn.BatchNorm2d(8)
                layers["bn1"] = nn.BatchNorm2d(8)
                if random.random() < 0.5:
                    layers["act"] = nn.ReLU()
                self.body = nn.Sequential(layers)
                self.head = nn.Conv2d(8, 4, 1, bias=False)

            def forward(self, x):
                return self.head(self.body(x))
        """,
    )
    # Without the ReLU, bn1 folds into the head; with it, it does not.
    assert folds["Net: body.bn1"][1:] == (Status.UNKNOWN, "XBN207")


def test_a_layer_on_every_path_of_a_hidden_choice_keeps_the_verdicts_that_need_it(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn0 = nn.BatchNorm2d(8)
                self.bn1 = nn.BatchNorm2d(8)
                self.head = nn.Conv2d(8, 8, 3, padding=1, bias=False)

            def forward(self, x):
                x = self.bn0(x)
                if x.mean() > 0:
                    x = x * 2
                return self.head(self.bn1(x))
        """,
    )
    # Whichever path runs, what reaches bn1 is a BatchNorm's output or a product; the
    # padded head cannot take it either.
    assert folds["Net: bn1"][1:] == (Status.UNFOLDABLE, "XBN109")


def test_known_groups_refuse_a_fold_whatever_arguments_are_not_known(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        from conv_options import conv_args


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(6)
                self.conv = nn.Conv2d(6, 6, *conv_args(), groups=2, bias=False)

            def forward(self, x):
                return self.conv(self.bn(F.relu(x)))
        """,
    )
    assert folds["Net: bn"] == ("conv", Status.UNFOLDABLE, "XBN110")


def test_a_function_outside_the_analysed_files_handed_tensors_alone(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        from tensorkit import rearrange  # a library outside the analysed files


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.after = nn.BatchNorm2d(8)

            def forward(self, x):
                x = rearrange(self.conv(x), "n c h w -> n c h w")
                x = self.bn(x)
                return rearrange(self.after(F.relu(x)), "n c h w -> n (c h w)")
        """,
    )
    # It may hand back its input unchanged: the conv may or may not reach bn.
    assert folds["Net: bn"][1] is Status.UNKNOWN
    # It runs no layer of the model, and the model's output is all that follows it.
    assert folds["Net: after"] == (None, Status.UNFOLDABLE, "XBN101")


def test_a_layer_output_an_outside_function_also_reads_is_shared_on_every_path(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        from tensorkit import rearrange  # a library outside the analysed files


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 3, bias=False)
                self.bn = nn.BatchNorm1d(3)

            def forward(self, x):
                y = self.fc(x.flatten(1))
                z = rearrange(y, "n c -> n c")  # y itself, or an op on it: y is read again
                return torch.cat([z, self.bn(y)], dim=1)
        """,
    )
    assert folds["Net: bn"] == ("fc", Status.UNFOLDABLE, "XBN103")


def test_a_model_input_or_a_hidden_activation_before_a_batchnorm_is_no_layer(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                layers = {"drop": nn.Dropout(0.1)}
                if random.random() < 0.5:
                    layers["act"] = nn.ReLU()
                layers["bn"] = nn.BatchNorm2d(3)
                self.parts = nn.ModuleDict(layers)

            def forward(self, x):
                for layer in self.parts.values():
                    x = layer(x)
                return x
        """,
    )
    assert folds["Net: parts.bn"][1] is Status.UNFOLDABLE


def test_a_checkpoint_switch_in_a_block_used_twice_after_a_concatenation(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(3, 3, bias=False)
                self.fc2 = nn.Linear(3, 3, bias=False)
                self.up = nn.ConvTranspose2d(3, 3, 1, bias=False)
                self.grad_checkpointing = False
                self.norm = nn.Sequential(nn.BatchNorm1d(6))
                self.stage = nn.Sequential(nn.BatchNorm2d(3))

            def set_grad_checkpointing(self, enable=True):
                self.grad_checkpointing = enable

            def forward(self, x):
                y = self.up(x)
                if self.grad_checkpointing:
                    y = checkpoint(self.stage, y, use_reentrant=False)
                else:
                    y = self.stage(y)
                f = y.mean((2, 3))
                h = torch.cat((self.fc1(f), self.fc2(f)), 1)
                if self.grad_checkpointing:
                    h = checkpoint(self.norm, h, use_reentrant=False)
                else:
                    h = self.norm(h)
                return y, h


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()

            def forward(self, x):
                y, h = self.block(x)
                y, h2 = self.block(F.relu(y))
                return h + h2
        """,
    )
    # Each BatchNorm runs on both paths of each switch, in both calls of the block: the
    # same module reads the same layers' output every time.
    assert folds["Block: stage.0"] == ("up", Status.FOLDABLE, None)
    assert folds["Block: norm.0"][1:] == (Status.FOLDABLE, None)


def test_members_a_loop_of_unknown_length_adds_are_no_alternatives(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self, stages):
                super().__init__()
                layers = [nn.ReLU()]
                for _ in range(stages):
                    layers += [nn.BatchNorm2d(3), nn.Conv2d(3, 3, 1, bias=False)]
                self.body = nn.Sequential(*layers)

            def forward(self, x):
                return self.body(x)
        """,
    )
    # Not "one BatchNorm and conv after the ReLU, or none": with two stages the second
    # BatchNorm reads the first conv, and how many there are is not known.
    assert [verdict[1] for verdict in folds.values()] == [Status.UNKNOWN]


# conv0's output goes to the BatchNorm and, depending on configuration the analysis cannot
# read, to `proj` as well.
_SHARED_BY_CONFIG = """
import os


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 3, 1, bias=False)
        self.proj = nn.Conv2d(3, 3, 1, bias=False)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        x = self.conv0(x)
{body}
"""


def test_a_slot_read_on_one_side_of_two_separate_hidden_branches_is_not_every_path(
    tmp_path: Path,
) -> None:
    body = """
        early = late = 0
        if os.environ.get("EARLY"):
            early = self.proj(x)
        if os.environ.get("SKIP_LATE"):
            pass
        else:
            late = self.proj(x)
        return self.bn(x) + early + late"""
    folds = _verdicts(tmp_path, _SHARED_BY_CONFIG.format(body=body.strip("\n")))
    # `proj` reads conv0's output on one side of each branch; with EARLY unset and SKIP_LATE
    # set, nothing but the BatchNorm does, and the fold holds: not certain either way.
    assert folds["Net: bn"][1] is Status.UNKNOWN


def test_a_slot_read_on_every_side_of_one_hidden_branch_is_every_path(tmp_path: Path) -> None:
    body = """
        if os.environ.get("DOUBLE"):
            out = self.proj(x) * 2
        else:
            out = self.proj(x)
        return self.bn(x) + out"""
    folds = _verdicts(tmp_path, _SHARED_BY_CONFIG.format(body=body.strip("\n")))
    assert folds["Net: bn"] == ("conv0", Status.UNFOLDABLE, "XBN103")
