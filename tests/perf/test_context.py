"""Which files a file's verdicts depend on, read from the text without parsing: the files
that import its module (directly, through packages or re-exports) and name what it defines."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.static.callers import CallerGraph
from bnlint.static.scan import scan_project
from bnlint.static.textscan import import_targets, scan_text


def test_the_text_says_what_a_file_defines_and_imports() -> None:
    facts = scan_text(
        textwrap.dedent("""\
        import os, torch.nn as nn
        from .blocks import (BasicBlock,
                             Bottleneck as Neck)  # a comment
        from .. import *
        if TYPE_CHECKING:
            from typing import Any
        class ResNet(nn.Module):
            def forward(self, x): ...
        def resnet18(): ...
        CFG: dict = {}
        LIMIT == 3
        """).encode()
    )
    assert facts.names == {"ResNet", "resnet18", "CFG"}
    assert facts.bound == {"os", "nn", "BasicBlock", "Neck", "Any"}
    exact, subtree = import_targets(facts, "zoo.models.resnet", is_package=False)
    assert exact == {"zoo.models.blocks", "typing"}
    assert subtree == {
        "os",
        "torch.nn",
        "zoo.models.blocks.BasicBlock",
        "zoo.models.blocks.Bottleneck",
        "typing.Any",
        "zoo",
    }


def _project(tmp_path: Path, files: dict[str, str]) -> dict[str, list[str]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    scan = scan_project([], [str(tmp_path)], {})
    graph = CallerGraph(scan.facts, scan.words, scan.attributes)
    root = str(tmp_path.resolve())
    return {
        name: [str(Path(p).relative_to(root)) for p in graph.context(f"{root}/{name}")]
        for name in files
    }


def test_the_context_is_every_file_that_imports_and_names_it_transitively(tmp_path: Path) -> None:
    contexts = _project(
        tmp_path,
        {
            "pkg/__init__.py": "from .blocks import Block\n",
            "pkg/blocks.py": "class Block: ...\nclass Other: ...\n",
            "pkg/net.py": "from pkg import Block\nclass Net:\n    b = Block\n",
            "train.py": "from pkg.net import Net\nmodel = Net()\n",
            "unrelated.py": "from pkg.net import something_else\n",
            "same_name.py": "class Block: ...\n",  # a Block, but not the one in pkg.blocks
            "uses_same_name.py": "from same_name import Block\n",
        },
    )
    assert contexts["pkg/blocks.py"] == [
        "pkg/__init__.py",
        "pkg/blocks.py",
        "pkg/net.py",
        "train.py",
    ]
    assert contexts["same_name.py"] == ["same_name.py", "uses_same_name.py"]


def test_a_star_import_re_exports_everything(tmp_path: Path) -> None:
    """A name taken from a package that star-imports it leads to the file defining it; the
    package itself only re-exports, and is no caller. A star import whose names the file
    uses is one."""
    contexts = _project(
        tmp_path,
        {
            "layers/__init__.py": "from .conv import *\n",
            "layers/conv.py": "class ConvBN: ...\nlogger = None\n",
            "model.py": "from layers import ConvBN\n",
            "star_user.py": "from layers.conv import *\nclass Net:\n    b = ConvBN\n",
            "own_logger.py": "from layers.conv import *\nlogger = 1\nprint(logger, __all__)\n",
        },
    )
    assert contexts["layers/conv.py"] == ["layers/conv.py", "model.py", "star_user.py"]


def test_a_package_star_importing_every_model_is_no_caller_of_them(tmp_path: Path) -> None:
    """transformers' `__init__` star-imports `.models`, which reaches every model module:
    it made each model file part of every file's context that imports anything from the
    package (checking one model folder analysed 2,907 files)."""
    contexts = _project(
        tmp_path,
        {
            "zoo/__init__.py": "from .models import *\n__version__ = '1'\n",
            "zoo/models/__init__.py": "",
            "zoo/models/bit.py": "__all__ = ['BitModel']\nclass BitModel: ...\n",
            "zoo/tokenizer.py": "from zoo import __version__\n__all__ = []\n",
        },
    )
    assert contexts["zoo/models/bit.py"] == ["zoo/models/bit.py"]


def test_a_name_a_package_only_re_exports_leads_to_the_file_defining_it(tmp_path: Path) -> None:
    """A package `__init__` that re-exports every model: a file taking one name from it
    calls into the file defining that name, not into every model the package re-exports
    (checking one model file analysed the whole package)."""
    contexts = _project(
        tmp_path,
        {
            "zoo/__init__.py": "from .version import __version__\nfrom .models import *\n",
            "zoo/version.py": "__version__ = '1.0'\n",
            "zoo/models/__init__.py": "from .resnet import *\nfrom .vit import *\n",
            "zoo/models/resnet.py": "import torch\nclass ResNet: ...\n",
            "zoo/models/vit.py": "import torch\nclass ViT: ...\n",
            "zoo/hub.py": "import torch\nfrom zoo import __version__\n",
            "train_vit.py": "import torch\nfrom zoo.models import ViT\nmodel = ViT()\n",
            "train_resnet.py": "import zoo\nmodel = zoo.models.ResNet()\n",
            "aliased.py": "from zoo.models import ResNet as Net\nmodel = Net()\n",
            "module_object.py": "from zoo.models import resnet\nmodel = resnet.ResNet()\n",
        },
    )
    assert contexts["zoo/models/resnet.py"] == [
        "aliased.py",
        "module_object.py",
        "train_resnet.py",
        "zoo/models/resnet.py",
    ]
    assert contexts["zoo/models/vit.py"] == [
        "train_vit.py",
        "zoo/models/vit.py",
    ]  # the packages' `__init__` files only re-export: no callers


def test_a_module_held_as_an_object_gives_only_what_is_read_of_it(tmp_path: Path) -> None:
    """`import zoo` inside a function, and a word in a string that a model file defines as
    a function (`"openai/clip-vit"` and a `clip()` helper): no use of that model file."""
    contexts = _project(
        tmp_path,
        {
            "zoo/__init__.py": "",
            "zoo/models/__init__.py": "",
            "zoo/models/vit.py": "def clip(v): ...\nclass ViT: ...\n",
            "pipelines.py": 'NAMES = {"default": "openai/clip-vit"}\ndef f():\n    import zoo\n',
            "train.py": "import zoo.models.vit\nmodel = zoo.models.vit.ViT()\n",
        },
    )
    assert contexts["zoo/models/vit.py"] == ["train.py", "zoo/models/vit.py"]
