"""Modules that star-import each other in a lattice, as fastai's `from .imports import *`
chains do: a name is searched for once per module, not once per path through the lattice.
Each level below multiplied the search by three: a 25-line model at the top of 13 levels
took 37 s to check, one of tsai's model files 135 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.ftypes import Status
from bnlint.static import index
from bnlint.static.engine import analyze

LEVELS, WIDTH = 10, 3

MODEL = """
from .imports import *


class FCN(Module):
    def __init__(self, c_in=3, c_out=4):
        super().__init__()
        self.conv = nn.Conv1d(c_in, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm1d(8)
        self.head = nn.Linear(8, c_out)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.head(x.mean(-1))
"""


def _lattice(root: Path) -> Path:
    package = root / "starpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for j in range(WIDTH):
        (package / f"l0_{j}.py").write_text(
            "import torch\nimport torch.nn as nn\nfrom torch.nn import Module\n"
            if j == WIDTH - 1
            else f"VALUE_{j} = {j}\n"
        )
    for k in range(1, LEVELS):
        for j in range(WIDTH):
            imports = "".join(f"from .l{k - 1}_{i} import *\n" for i in range(WIDTH))
            (package / f"l{k}_{j}.py").write_text(imports)
    top = "".join(f"from .l{LEVELS - 1}_{i} import *\n" for i in range(WIDTH))
    (package / "imports.py").write_text(top)
    model = package / "fcn.py"
    model.write_text(MODEL)
    return model


def test_a_lattice_of_star_imports_is_searched_once_per_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _lattice(tmp_path)
    calls = 0
    resolve = index.Resolver.resolve_name

    def counted(self: index.Resolver, file: object, name: str) -> object:
        nonlocal calls
        calls += 1
        return resolve(self, file, name)  # type: ignore[arg-type]

    monkeypatch.setattr(index.Resolver, "resolve_name", counted)
    result = analyze([model], search_roots=[tmp_path])
    (module,) = result.modules
    assert [(e.conv, e.bn, e.status) for e in module.folds] == [("conv", "bn", Status.FOLDABLE)]
    # one search per module and name: a few thousand; per path it was 3**10 per name
    assert calls < 5_000, calls
