"""A list of layers changed in place before it becomes a Sequential: `reverse()` and
`sort()` reorder it as Python does, and a method the analysis does not follow leaves it
unknown, never as it was (fastai's ConvLayer reverses [act, bn] to put the norm first)."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = "from torch import nn\n\n"

_BLOCK = """
class ConvNorm(nn.Sequential):
    def __init__(self):
        after = [nn.ReLU(), nn.BatchNorm2d(8)]
        {change}
        super().__init__(nn.Conv2d(3, 8, 3, bias=False), *after)
"""


def _verdicts(tmp_path: Path, change: str) -> dict[str, tuple]:
    return verdicts_of(tmp_path, _BLOCK.format(change=change), _HEADER)


def test_a_reversed_list_puts_the_norm_first(tmp_path: Path) -> None:
    assert _verdicts(tmp_path, "after.reverse()") == {"ConvNorm: 1": ("0", Status.FOLDABLE, None)}


def test_the_list_as_written_keeps_the_activation_first(tmp_path: Path) -> None:
    verdicts = _verdicts(tmp_path, "pass")
    assert verdicts == {"ConvNorm: 2": (None, Status.UNFOLDABLE, "XBN101")}


def test_a_list_sorted_by_a_key_is_not_known_any_more(tmp_path: Path) -> None:
    verdicts = _verdicts(tmp_path, "after.sort(key=lambda m: type(m).__name__)")
    assert all(status is Status.UNKNOWN for _, status, _ in verdicts.values()), verdicts


def test_a_list_of_constants_sorts_as_python_sorts(tmp_path: Path) -> None:
    source = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [8, 16]
            widths.sort(reverse=True)
            self.conv = nn.Conv2d(3, widths[1], 1, bias=False)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(self.conv(x))
    """
    assert verdicts_of(tmp_path, source, _HEADER) == {"Net: bn": ("conv", Status.FOLDABLE, None)}
