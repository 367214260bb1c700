"""Attributes a method other than construction switches (`prune_to_tap()`, `disable_bn()`,
`reset_classifier()`): a certain verdict must hold in every state, and a verdict those states
leave unknown is given for the model as built, the one its factory makes, with the states as a
note."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.ftypes import FoldEntry, Status
from bnlint.static.engine import analyze

_HEADER = "import torch\nfrom torch import nn\n\n"


def _entries(tmp_path: Path, body: str) -> dict[str, FoldEntry]:
    path = tmp_path / "model.py"
    path.write_text(_HEADER + textwrap.dedent(body))
    return {
        f"{module.class_name.rpartition('.')[2]}: {entry.bn}": entry
        for module in analyze([path]).modules
        for entry in module.folds
    }


def test_a_switch_that_skips_the_batchnorm_leaves_it_foldable_as_built(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        """
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.use_bn = True
                self._init_flags()

            def _init_flags(self):
                self.fused = False  # construction, reached from __init__: a constant

            def disable_bn(self):
                self.use_bn = False

            def forward(self, x):
                x = self.conv(x)
                if self.use_bn and not self.fused:
                    x = self.bn(x)
                return x
        """,
    )
    entry = entries["Block: bn"]
    assert (entry.conv, entry.status) == ("conv", Status.FOLDABLE)
    assert any("disable_bn()" in note and "self.use_bn" in note for note in entry.notes)


_PRE_ACTIVATION = """
class Stage(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.no_skip = False
        if cin != cout or stride != 1:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride)
        else:
            self.shortcut = nn.Identity()
        self.norm = nn.BatchNorm2d(cin)
        self.act = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=stride, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.act(self.norm(x))
        out = self.conv2(self.conv1(x))
        if not self.no_skip:
            out = out + self.shortcut(x)
        return out
{method}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3)
        self.s1 = Stage(16, 32, 2)
        self.s2 = Stage(32, 32)
        self.s3 = Stage(32, 64, 2)

    def forward(self, x):
        return self.s3(self.s2(self.s1(self.stem(x))))
"""

_PRUNE = """
    def prune_to_tap(self):
        self.shortcut = nn.Identity()
        self.no_skip = True
"""


def test_a_pre_activation_norm_folds_into_the_sum_before_it_as_built(tmp_path: Path) -> None:
    """Each stage's norm reads the sum the stage before returns: two convolutions (it folds
    into both) or a convolution and the stage's own input (it cannot). prune_to_tap() drops
    the sum, so over every state the first is unknown; as built it folds."""
    pruned = _entries(tmp_path, _PRE_ACTIVATION.format(method=_PRUNE))
    plain = _entries(tmp_path, _PRE_ACTIVATION.format(method=""))
    for entries in (pruned, plain):
        assert entries["Net: s2.norm"].conv == "s1.conv2+s1.shortcut"
        assert entries["Net: s2.norm"].status is Status.FOLDABLE
        assert entries["Stage: norm"].status is Status.UNFOLDABLE  # s3 reads conv2 + s2's input
    assert any("prune_to_tap()" in note for note in pruned["Net: s2.norm"].notes)
    assert not plain["Net: s2.norm"].notes


def test_a_certain_verdict_in_every_state_carries_no_note(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        """
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.act = nn.ReLU()
                self.checkpointing = False

            def set_checkpointing(self, enable=True):
                self.checkpointing = enable

            def forward(self, x):
                x = self.conv(x)
                if self.checkpointing:
                    x = self.act(x)
                    return self.bn(x)
                return self.bn(self.act(x))
        """,
    )
    entry = entries["Block: bn"]
    assert entry.status is Status.UNFOLDABLE
    assert not entry.notes


def test_a_verdict_unknown_as_built_too_stays_unknown(tmp_path: Path) -> None:
    entries = _entries(
        tmp_path,
        """
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.use_bn = True

            def disable_bn(self):
                self.use_bn = False

            def forward(self, x):
                x = self.conv(x)
                if self.use_bn and x.sum() > 0:
                    x = self.bn(x)
                return x
        """,
    )
    assert entries["Block: bn"].status is Status.UNKNOWN


def test_the_class_as_the_whole_model_is_judged_as_built_too(tmp_path: Path) -> None:
    """Its BatchNorm reads the model input on every path as built: nothing before it can
    take it, whatever skip_stage() may later do (fuzzer seed 4134)."""
    entries = _entries(
        tmp_path,
        """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stage = nn.Sequential(nn.BatchNorm1d(3))
                self.use = True

            def forward(self, x):
                if self.use:
                    x = self.stage(x)
                return x

            def skip_stage(self):
                self.use = False
        """,
    )
    entry = entries["Net: stage.0"]
    assert entry.status is Status.UNFOLDABLE
    assert any("skip_stage()" in note for note in entry.notes)
