"""A layer `__init__` builds under a condition the analysis cannot decide, run by `forward()`
under the same condition (EfficientNet's `if self.expand_ratio != 1`, a `has_se` flag, an
optional projection): on the path where forward() takes the condition, the layer is the one
__init__ built on that side. Different conditions stay apart."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = """
import torch.nn as nn
"""


def _verdicts(tmp_path: Path, body: str) -> dict[str, tuple]:
    """Each entry's (conv, status)."""
    return {key: found[:2] for key, found in verdicts_of(tmp_path, body, _HEADER).items()}


def test_an_expansion_built_and_run_under_one_comparison_folds(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class MBConv(nn.Module):
            def __init__(self, cin, expand_ratio, se_ratio=None):
                super().__init__()
                self.expand_ratio = expand_ratio
                oup = cin * expand_ratio
                if expand_ratio != 1:
                    self._expand_conv = nn.Conv2d(cin, oup, 1, bias=False)
                    self._bn0 = nn.BatchNorm2d(oup)
                else:
                    self._expand_conv = nn.Identity()
                    self._bn0 = nn.Identity()
                self._dw = nn.Conv2d(oup, oup, 3, padding=1, groups=oup, bias=False)
                self._bn1 = nn.BatchNorm2d(oup)
                self._act = nn.ReLU()

            def forward(self, inputs):
                x = inputs
                if self.expand_ratio != 1:
                    x = self._expand_conv(x)
                    x = self._bn0(x)
                    x = self._act(x)
                return self._act(self._bn1(self._dw(x)))
        """,
    )
    assert folds["MBConv: _bn0"] == ("_expand_conv", Status.FOLDABLE)
    assert folds["MBConv: _bn1"] == ("_dw", Status.FOLDABLE)


def test_the_other_side_of_a_comparison_is_the_same_condition(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Block(nn.Module):
            def __init__(self, cin, ratio):
                super().__init__()
                self.ratio = ratio
                if ratio == 1:
                    self.conv = nn.ReLU()
                else:
                    self.conv = nn.Conv2d(cin, cin, 1)
                self.bn = nn.BatchNorm2d(cin)

            def forward(self, x):
                if self.ratio != 1:
                    return self.bn(self.conv(x))
                return x
        """,
    )
    assert folds["Block: bn"] == ("conv", Status.FOLDABLE)


def test_a_flag_set_on_both_paths_and_a_config_attribute_are_conditions_too(
    tmp_path: Path,
) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Flagged(nn.Module):
            def __init__(self, cin, use_proj):
                super().__init__()
                if use_proj:
                    self.proj = nn.Sequential(nn.Conv2d(cin, cin, 1), nn.BatchNorm2d(cin))
                    self.has_proj = True
                else:
                    self.proj = nn.Identity()
                    self.has_proj = False

            def forward(self, x):
                if self.has_proj:
                    x = self.proj(x)
                return x

        class Configured(nn.Module):
            def __init__(self, cfg, cin):
                super().__init__()
                self.cfg = cfg
                self.conv = nn.Conv2d(cin, cin, 1) if cfg.use_conv else nn.ReLU()
                self.bn = nn.BatchNorm2d(cin)

            def forward(self, x):
                if self.cfg.use_conv:
                    return self.bn(self.conv(x))
                return x
        """,
    )
    assert folds["Flagged: proj.1"] == ("proj.0", Status.FOLDABLE)
    assert folds["Configured: bn"] == ("conv", Status.FOLDABLE)


def test_different_conditions_are_not_confused(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class OtherConstant(nn.Module):
            def __init__(self, cin, ratio):
                super().__init__()
                self.ratio = ratio
                self.conv = nn.Conv2d(cin, cin, 1) if ratio != 1 else nn.ReLU()
                self.bn = nn.BatchNorm2d(cin)

            def forward(self, x):
                if self.ratio != 2:
                    return self.bn(self.conv(x))
                return x

        class OtherAttribute(nn.Module):
            def __init__(self, cfg, cin):
                super().__init__()
                self.cfg = cfg
                self.conv = nn.Conv2d(cin, cin, 1) if cfg.use_conv else nn.ReLU()
                self.bn = nn.BatchNorm2d(cin)

            def forward(self, x):
                if self.cfg.use_other:
                    return self.bn(self.conv(x))
                return x

        class OtherArgument(nn.Module):
            def __init__(self, cin, a, b):
                super().__init__()
                self.b = b
                self.conv = nn.Conv2d(cin, cin, 1) if a else nn.ReLU()
                self.bn = nn.BatchNorm2d(cin)

            def forward(self, x):
                if self.b:
                    return self.bn(self.conv(x))
                return x
        """,
    )
    for name in ("OtherConstant", "OtherAttribute", "OtherArgument"):
        assert folds[f"{name}: bn"][1] is Status.UNKNOWN, name


def test_conditions_met_in_a_loop_of_unknown_length_are_not_kept(tmp_path: Path) -> None:
    """One value stands for every item of such a loop: a block built for one item is not
    known to be run under another item's condition."""
    folds = _verdicts(
        tmp_path,
        """
        class Stages(nn.Module):
            def __init__(self, cin, ratios):
                super().__init__()
                self.ratios = ratios
                self.blocks = nn.ModuleList()
                for r in ratios:
                    if r != 1:
                        self.blocks.append(nn.Conv2d(cin, cin, 1))
                    else:
                        self.blocks.append(nn.ReLU())
                self.bn = nn.BatchNorm2d(cin)

            def forward(self, x):
                for r, block in zip(self.ratios, self.blocks):
                    if r != 1:
                        x = block(x)
                return self.bn(x)
        """,
    )
    assert folds["Stages: bn"][1] is Status.UNKNOWN


def test_a_stage_run_under_a_condition_may_take_the_fold_of_what_precedes_it(
    tmp_path: Path,
) -> None:
    """The BatchNorm's output reaches the stage's conv on one path and passes the `if` on
    the other: which layer may absorb it depends on the path, so it is unknown, not "nothing
    after it can absorb it"."""
    folds = _verdicts(
        tmp_path,
        """
        from settings import expansion

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.bn0 = nn.BatchNorm2d(3)
                self.ratio = expansion()
                self.stage = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU())

            def forward(self, x):
                x = self.bn0(x)
                if self.ratio != 1:
                    x = self.stage(x)
                return x
        """,
    )
    assert folds["Net: bn0"][1] is Status.UNKNOWN


def test_an_attribute_a_method_may_switch_is_not_the_condition_init_met(tmp_path: Path) -> None:
    folds = _verdicts(
        tmp_path,
        """
        class Switchable(nn.Module):
            def __init__(self, cin, fused):
                super().__init__()
                self.fused = fused
                if fused:
                    self.conv = nn.Conv2d(cin, cin, 1)
                else:
                    self.conv = nn.Sequential(nn.Conv2d(cin, cin, 1), nn.ReLU())
                self.bn = nn.BatchNorm2d(cin)

            def fuse(self):
                self.fused = True

            def forward(self, x):
                if self.fused:
                    return self.bn(self.conv(x))
                return x
        """,
    )
    assert folds["Switchable: bn"][1] is Status.UNKNOWN
