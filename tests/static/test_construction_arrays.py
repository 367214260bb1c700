"""Arithmetic on tensors and numpy arrays made of constants while a model is built: the
stages of RegNet-style networks come out of it (bnlint.static.arrays)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bnlint.ftypes import Status
from bnlint.static.interp import Interpreter
from bnlint.static.project import Project
from bnlint.static.values import Const, Seq, Value
from tests.static.verdicts_of import verdicts_of

_WIDTHS = """
import math
import numpy as np
import torch
from torch import nn


def generate(slope, initial, mult, depth, quant=8):
    cont = torch.arange(depth, device="cpu", dtype=torch.float32) * slope + initial
    exps = torch.round(torch.log(cont / initial) / math.log(mult))
    widths = torch.round((initial * torch.pow(mult, exps)) / quant) * quant
    return widths.int().tolist(), len(torch.unique(widths)), int(exps.max().item()) + 1


class Widths(nn.Module):
    def __init__(self, slope=36.44, initial=24, mult=2.49, depth=13):
        super().__init__()
        widths, self.stages, self.top = generate(slope, initial, mult, depth)
        values, counts = torch.unique(torch.tensor(widths, device="cpu"), return_counts=True)
        self.widths, self.depths = values.tolist(), counts.tolist()
        total = sum(self.depths)
        self.rates = [x.tolist() for x in torch.linspace(0, 0.1, total).split(self.depths)]
        self.flat = [x.item() for x in torch.linspace(0, 0.0, total)]
        cont = np.arange(depth) * slope + initial
        self.np_exps = np.round(np.log(cont / initial) / np.log(mult)).astype(int).tolist()
        self.np_counts = np.unique(self.np_exps, return_counts=True)[1].tolist()
"""


def _attributes(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "widths.py"
    path.write_text(_WIDTHS)
    project = Project([tmp_path])
    project.fresh_models()
    with project.tracking():
        file = project.load(path.resolve(), explicit=True)
        assert file is not None
        interp = Interpreter(project.resolver, project.classes)
        cls = project.resolver.resolve_qualified("widths.Widths")
        with interp.construction():
            inst = interp.instantiate_root(cls)  # type: ignore[arg-type]
    return {name: _plain(value) for name, value in inst.attrs.items()}  # type: ignore[union-attr]


def _plain(value: Value) -> object:
    if isinstance(value, Seq):
        return [_plain(item) for item in value.items]
    return value.value if isinstance(value, Const) else value


def test_stage_widths_and_depths_are_computed_as_torch_computes_them(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    numpy = pytest.importorskip("numpy")
    namespace: dict[str, object] = {}
    exec(compile(_WIDTHS, "widths.py", "exec"), namespace)  # the real thing, for comparison
    real = namespace["Widths"]()  # type: ignore[operator]
    found = _attributes(tmp_path)
    assert torch is not None and numpy is not None
    for name in ("widths", "depths", "stages", "top", "np_exps", "np_counts", "flat"):
        assert found[name] == getattr(real, name), name
    assert found["depths"] == [1, 1, 4, 7]
    assert [len(r) for r in found["rates"]] == [1, 1, 4, 7]  # type: ignore[arg-type]
    flat_rates = [rate for stage in found["rates"] for rate in stage]  # type: ignore[attr-defined]
    assert flat_rates == pytest.approx([rate for stage in real.rates for rate in stage])


_PRE_ACTIVATION = """
import math
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        if cin != cout or stride != 1:
            self.downsample = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        else:
            self.downsample = nn.Identity()

    def forward(self, x):
        x = self.act(self.norm1(x))
        return self.conv(x) + self.downsample(x)


class Stage(nn.Module):
    def __init__(self, depth, cin, cout):
        super().__init__()
        for i in range(depth):
            self.add_module(f"b{i + 1}", Block(cin if i == 0 else cout, cout, 2 if i == 0 else 1))

    def forward(self, x):
        for block in self.children():
            x = block(x)
        return x


class Net(nn.Module):
    def __init__(self, depth=6):
        super().__init__()
        exps = torch.round(torch.log(torch.arange(depth) * 20.0 + 16) / math.log(2.0))
        widths, depths = torch.unique((torch.pow(2.0, exps)).int(), return_counts=True)
        self.stem = nn.Conv2d(3, 16, 3, bias=False)
        cin = 16
        for i, (width, depth) in enumerate(zip(widths.tolist(), depths.tolist())):
            self.add_module(f"s{i + 1}", Stage(depth, cin, width))
            cin = width

    def forward(self, x):
        x = self.stem(x)
        for stage in list(self.children())[1:]:
            x = stage(x)
        return x
"""


def test_a_network_whose_stages_come_from_unique_folds_across_its_blocks(
    tmp_path: Path,
) -> None:
    """Widths 16, 32, 64, 128 in stages of 1, 1, 2 and 2 blocks: the first norm reads the
    stem; a stage's first block reads the sum of two convolutions a first block makes, or a
    convolution plus the normalised input of a second block."""
    verdicts = verdicts_of(tmp_path, textwrap.dedent(_PRE_ACTIVATION))
    assert verdicts["Net: s1.b1.norm1"] == ("stem", Status.FOLDABLE, None)
    assert verdicts["Stage: b2.norm1"] == ("b1.conv+b1.downsample", Status.FOLDABLE, None)
    assert verdicts["Net: s3.b1.norm1"] == ("s2.b1.conv+s2.b1.downsample", Status.FOLDABLE, None)
    assert verdicts["Block: norm1"][1] is Status.UNFOLDABLE  # s4.b1: s3.b2 adds its input
