"""Research repositories keep their models in a folder without __init__.py (`models/`) and
import them from scripts run beside it (`from models.blocks import ConvBlock`): a namespace
package (PEP 420). Its modules resolve under that name too, so the analysis follows the
blocks a network imports from them instead of reporting them as an unread library."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bnlint.api import search_roots
from bnlint.ftypes import Status
from bnlint.static.engine import analyze

_BLOCKS = """
import torch.nn as nn


class Stem(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv(x)
"""

_NET = """
import torch.nn as nn
{imports}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = {stem}(3, 8)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.stem(x))
"""


@pytest.mark.parametrize(
    ("imports", "stem"),
    [
        ("from models.blocks import Stem", "Stem"),
        ("from models import blocks", "blocks.Stem"),
        ("import models.blocks", "models.blocks.Stem"),
    ],
)
def test_a_module_of_a_folder_without_init_is_followed(
    tmp_path: Path, imports: str, stem: str
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    models = tmp_path / "models"
    models.mkdir()
    (models / "blocks.py").write_text(textwrap.dedent(_BLOCKS))
    net = models / "net.py"
    net.write_text(textwrap.dedent(_NET.format(imports=imports, stem=stem)))
    result = analyze([net], search_roots=[tmp_path])
    folds = {(m.class_name, e.conv, e.bn): e for m in result.modules for e in m.folds}
    assert folds[("net.Net", "stem.conv", "bn")].status is Status.FOLDABLE
    assert not [d for d in result.diagnostics if d.code == "XBN402"]


def test_a_checked_folder_without_init_is_imported_from_its_parent(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    package = tmp_path / "vendor" / "tabular"
    package.mkdir(parents=True)
    assert search_roots([package]) == (tmp_path.resolve(), package.parent.resolve())
    # a package with __init__.py, or the project folder itself, adds nothing
    (package / "__init__.py").write_text("")
    assert search_roots([package]) == (tmp_path.resolve(),)
    assert search_roots([tmp_path]) == (tmp_path.resolve(),)
