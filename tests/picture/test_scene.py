"""What a picture says: every BatchNorm coloured by its verdict, fold edges marked, and runs of
identical blocks drawn once with their count."""

from __future__ import annotations

import textwrap
from pathlib import Path

import networkx as nx

from bnlint.picture.scene import Scene, Style, build_scene
from bnlint.picture.static_graph import static_root_graph

HEADER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
"""

BLOCK = """
class Block(nn.Module):
    def __init__(self, width, downsample=False, stats=True):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width, track_running_stats=stats)
        self.down = nn.Conv2d(width, width, 1, bias=False) if downsample else None

    def forward(self, x):
        out = F.relu(self.bn(self.conv(x)))
        return out + (self.down(x) if self.down is not None else x)
"""


def scene_of(tmp_path: Path, body: str, name: str = "Net", collapse: bool = True) -> Scene:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'pictures'\n")
    path = tmp_path / "models.py"
    path.write_text(HEADER + BLOCK + textwrap.dedent(body))
    root = static_root_graph(path, name)
    return build_scene(root.title, root.graph, root.plan, collapse=collapse)


def boxes(scene: Scene) -> dict[str, tuple[str, ...]]:
    """First line of every box -> all its lines."""
    return {box.lines[0]: box.lines for box in scene.boxes}


def style(scene: Scene, first_line: str) -> Style:
    return next(box.style for box in scene.boxes if box.lines[0] == first_line)


def fold_arrows(scene: Scene) -> set[tuple[str, str]]:
    names = {box.key: box.lines[0] for box in scene.boxes}
    return {(names[a.tail], names[a.head]) for a in scene.arrows if a.fold}


def test_each_batchnorm_is_coloured_by_its_verdict_and_folds_are_marked(tmp_path):
    scene = scene_of(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.after_relu = nn.BatchNorm2d(8)
                self.gate = nn.BatchNorm2d(8)
                self.sometimes = nn.Conv2d(8, 8, 1)

            def forward(self, x):
                x = F.relu(self.bn(self.conv(x)))
                x = self.after_relu(x)
                if x.sum() > 0:
                    x = self.sometimes(x)
                return self.gate(x)
    """,
    )
    shown = boxes(scene)
    assert shown["bn"] == ("bn", "BatchNorm2d", "folded into conv")
    assert style(scene, "bn") is Style.FOLDED
    assert shown["after_relu"][2:] == ("unfoldable XBN101", "(bn-after-activation)")
    assert style(scene, "after_relu") is Style.UNFOLDABLE
    assert shown["gate"][2] == "unknown XBN203"
    assert style(scene, "gate") is Style.UNKNOWN
    assert style(scene, "conv") is Style.LAYER
    assert fold_arrows(scene) == {("conv", "bn")}
    assert scene.title == "models.Net: 1 folded, 1 unfoldable, 1 unknown"


def test_a_batchnorm_folded_into_the_following_layer_says_so(tmp_path):
    scene = scene_of(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm1d(8)
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                return self.fc(self.bn(F.relu(x.flatten(1))))
    """,
    )
    assert boxes(scene)["bn"][2] == "folded into following fc"
    assert fold_arrows(scene) == {("bn", "fc")}


STAGE = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential({blocks})

    def forward(self, x):
        return F.relu(self.blocks(x))
"""


def test_identical_consecutive_blocks_are_drawn_once_with_their_count(tmp_path):
    scene = scene_of(tmp_path, STAGE.format(blocks=", ".join(["Block(8)"] * 4)))
    [group] = scene.groups
    assert group.title == "×4 blocks.[0-3] Block"
    assert {line[0] for line in boxes(scene).values()} >= {"blocks.[0-3].conv", "blocks.[0-3].bn"}
    assert not any(name.startswith("blocks.1") for name in boxes(scene))
    assert boxes(scene)["blocks.[0-3].bn"][2] == "folded into blocks.[0-3].conv"
    assert fold_arrows(scene) == {("blocks.[0-3].conv", "blocks.[0-3].bn")}
    # Block k feeding block k+1 is not drawn as a loop: the picture stays a DAG.
    drawn = nx.DiGraph([(a.tail, a.head) for a in scene.arrows])
    assert nx.is_directed_acyclic_graph(drawn)


def test_a_different_first_block_is_drawn_on_its_own(tmp_path):
    scene = scene_of(
        tmp_path, STAGE.format(blocks="Block(8, downsample=True), " + ", ".join(["Block(8)"] * 3))
    )
    [group] = scene.groups
    assert group.title == "×3 blocks.[1-3] Block"
    assert {"blocks.0.conv", "blocks.0.down", "blocks.[1-3].conv"} <= set(boxes(scene))


def test_blocks_whose_verdicts_differ_are_not_merged(tmp_path):
    scene = scene_of(
        tmp_path, STAGE.format(blocks="Block(8), Block(8), Block(8, stats=False), Block(8)")
    )
    [group] = scene.groups
    assert group.title == "×2 blocks.[0-1] Block"
    assert boxes(scene)["blocks.2.bn"][2] == "unfoldable XBN107"
    assert "blocks.3.bn" in boxes(scene)


def test_no_collapse_draws_every_block(tmp_path):
    scene = scene_of(tmp_path, STAGE.format(blocks=", ".join(["Block(8)"] * 4)), collapse=False)
    assert scene.groups == ()
    assert {f"blocks.{i}.bn" for i in range(4)} <= set(boxes(scene))


def test_runs_nest(tmp_path):
    scene = scene_of(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stages = nn.Sequential(
                    nn.Sequential(Block(8), Block(8), Block(8)),
                    nn.Sequential(Block(8), Block(8), Block(8)),
                )

            def forward(self, x):
                return self.stages(x)
    """,
    )
    outer, inner = scene.groups
    assert outer.title == "×2 stages.[0-1] Sequential"
    assert inner.title == "×3 stages.[0-1].[0-2] Block"
    assert inner.parent == outer.key
    assert {"stages.[0-1].[0-2].conv", "stages.[0-1].[0-2].bn"} <= set(boxes(scene))
    assert len([b for b in scene.boxes if b.lines[1:2] == ("BatchNorm2d",)]) == 1


def test_a_fold_through_a_concatenation_marks_every_branch(tmp_path):
    scene = scene_of(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 4, 1, bias=False)
                self.b = nn.Conv2d(3, 4, 3, padding=1, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(torch.cat([self.a(x), self.b(x)], dim=1))
    """,
    )
    assert boxes(scene)["bn"][2] == "folded into cat(a,b)"
    assert fold_arrows(scene) == {("a", "torch.cat"), ("b", "torch.cat"), ("torch.cat", "bn")}
