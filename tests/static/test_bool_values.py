"""`a or b` and `a and b` as values: where `a`'s truth is not known the value is `a` or `b`
(never the truth of the test), and a test that one side decides stays decided."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = "from torch import nn\n\n"


def test_a_norm_chosen_on_some_paths_or_a_default_is_built_for_certain(tmp_path: Path) -> None:
    # `use_sync` has no default: the left side is a BatchNorm class or None, and either way
    # the slot holds a BatchNorm (the value was True, which cannot be called).
    found = verdicts_of(
        tmp_path,
        """
        class ConvNorm(nn.Module):
            def __init__(self, use_sync, cin=3, cout=8):
                super().__init__()
                norm_layer = (nn.SyncBatchNorm if use_sync else None) or nn.BatchNorm2d
                self.conv = nn.Conv2d(cin, cout, 3, bias=False)
                self.bn = norm_layer(cout)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
        _HEADER,
    )
    assert found == {"ConvNorm: bn": ("conv", Status.FOLDABLE, None)}


def test_a_layer_built_when_an_unknown_flag_holds_is_conditional(tmp_path: Path) -> None:
    # `(pre and nn.BatchNorm2d(cout)) or nn.Identity()`: a BatchNorm where `pre` holds, as
    # in `nn.BatchNorm2d(cout) if pre else nn.Identity()` (the value was True, and calling
    # it left the slot unresolved, XBN204).
    found = verdicts_of(
        tmp_path,
        """
        class ConvNorm(nn.Module):
            def __init__(self, pre, cin=3, cout=8):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, bias=False)
                self.bn = (pre and nn.BatchNorm2d(cout)) or nn.Identity()

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
        _HEADER,
    )
    assert found["ConvNorm: bn"][1:] == (Status.UNKNOWN, "XBN207")


def test_a_test_one_side_decides_stays_decided(tmp_path: Path) -> None:
    found = verdicts_of(
        tmp_path,
        """
        class ConvNorm(nn.Module):
            def __init__(self, width, cin=3, cout=8):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, bias=False)
                self.act = nn.ReLU() if not (width or True) else nn.Identity()
                self.gate = nn.ReLU() if width and False else nn.Identity()
                self.bn = nn.BatchNorm2d(cout)

            def forward(self, x):
                return self.bn(self.gate(self.act(self.conv(x))))
        """,
        _HEADER,
    )
    assert found == {"ConvNorm: bn": ("conv", Status.FOLDABLE, None)}
