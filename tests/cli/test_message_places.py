"""Messages name places the reader can find: a layer in another file by that file's name, and
XBN401 by the lines where the layers are built, the line it is reported on first."""

from __future__ import annotations

from .helpers import write

LAYERS = """
from torch import nn


def stem():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU())
"""

NET = """
from torch import nn

from layers import stem


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.input_norm = nn.BatchNorm2d(3)
        self.stem = stem()
        self.conv = nn.Conv2d(8, 8, 1, bias=True)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        x = self.stem(self.input_norm(x))
        return self.bn(self.conv(x))
"""


def test_a_layer_in_another_file_is_named_with_that_file(bnlint, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "layers.py": LAYERS, "net.py": NET})
    run = bnlint("check", "net.py", "--format", "concise", "--no-cache", cwd=tmp_path)
    (finding,) = [line for line in run.out.splitlines() if "XBN109" in line]
    assert finding.startswith("net.py:15:23: XBN109")
    assert "BatchNorm 'self.input_norm' (line 15)" in finding
    assert "the following 'stem.0' (layers.py:6)" in finding


def test_redundant_bias_names_the_lines_where_it_is_reported(bnlint, tmp_path):
    write(tmp_path, {"pyproject.toml": "", "layers.py": LAYERS, "net.py": NET})
    run = bnlint("check", "net.py", "--format", "concise", "--no-cache", cwd=tmp_path)
    (finding,) = [line for line in run.out.splitlines() if "XBN401" in line]
    assert finding.startswith("net.py:11:21: XBN401")
    assert "'self.conv' (line 11) has bias=True but feeds BatchNorm 'self.bn' (line 12)" in finding
