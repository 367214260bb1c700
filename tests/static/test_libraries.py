"""Installed model libraries: a project class that derives from, or builds, a class of a
library outside the checked folder is analysed with that library's source (read, never
reported on); only libraries that require torch are read from site-packages."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint import cli
from bnlint.ftypes import Status
from bnlint.static.engine import analyze
from bnlint.static.libraries import LibraryRoot, library_roots, torch_libraries

_LIBRARY = {
    "visionlib/__init__.py": "",
    "visionlib/models/__init__.py": "from .resnet import ResNet\n",
    "visionlib/models/resnet.py": """
        import torch.nn as nn


        def conv3x3(cin, cout, stride=1):
            return nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)


        class ResNet(nn.Module):
            def __init__(self, width=8, depth=2):
                super().__init__()
                self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
                self.bn1 = nn.BatchNorm2d(width)
                self.relu = nn.ReLU(inplace=True)
                blocks = []
                for _ in range(depth):
                    blocks.append(nn.Sequential(conv3x3(width, width), nn.BatchNorm2d(width)))
                self.layer1 = nn.Sequential(*blocks)

            def forward(self, x):
                return self.layer1(self.relu(self.bn1(self.conv1(x))))
    """,
}

_PROJECT = {
    "pyproject.toml": "",
    "seg/__init__.py": "",
    "seg/encoders.py": """
        from visionlib.models import ResNet


        class ResNetEncoder(ResNet):
            def __init__(self, depth=2):
                super().__init__(depth=depth)
                del self.relu

            def forward(self, x):
                x = self.bn1(self.conv1(x))
                return self.layer1(x.relu())
    """,
}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def _folds(result) -> dict[str, tuple]:
    return {
        f"{module.class_name}: {entry.conv} -> {entry.bn}": entry.status
        for module in result.modules
        for entry in module.folds
    }


def test_a_class_deriving_from_a_library_class_is_analysed_with_its_source(
    tmp_path: Path,
) -> None:
    library = _write(tmp_path / "site", _LIBRARY)
    project = _write(tmp_path / "project", _PROJECT)
    checked = [project / "seg" / "encoders.py"]

    alone = analyze(checked, search_roots=[project])
    assert not _folds(alone)  # the base class is outside: nothing to say

    with_library = analyze(checked, search_roots=[project], libraries=[LibraryRoot(str(library))])
    folds = _folds(with_library)
    assert folds["seg.encoders.ResNetEncoder: conv1 -> bn1"] is Status.FOLDABLE
    assert folds["seg.encoders.ResNetEncoder: layer1.1.0 -> layer1.1.1"] is Status.FOLDABLE
    # the library is read, never reported on
    assert all(d.path.startswith("seg") for d in with_library.diagnostics)
    assert {m.class_name for m in with_library.modules} == {"seg.encoders.ResNetEncoder"}


def test_a_cached_result_holds_until_the_library_changes(tmp_path: Path) -> None:
    library = _write(tmp_path / "site", _LIBRARY)
    project = _write(tmp_path / "project", _PROJECT)
    checked = [project / "seg" / "encoders.py"]
    roots = [LibraryRoot(str(library))]
    cache = tmp_path / "cache"

    cold = analyze(checked, search_roots=[project], libraries=roots, cache_dir=cache)
    warm = analyze(checked, search_roots=[project], libraries=roots, cache_dir=cache)
    assert cold.timings and not warm.timings  # nothing analysed again
    assert _folds(warm) == _folds(cold)

    resnet = library / "visionlib" / "models" / "resnet.py"
    block = "nn.Sequential(conv3x3(width, width), nn.BatchNorm2d(width))"
    assert block in resnet.read_text()
    resnet.write_text(
        resnet.read_text().replace(block, block.replace("), nn.B", "), nn.ReLU(), nn.B"))
    )
    changed = analyze(checked, search_roots=[project], libraries=roots, cache_dir=cache)
    assert changed.timings
    assert "seg.encoders.ResNetEncoder: layer1.1.0 -> layer1.1.1" not in _folds(changed)


def test_site_packages_offer_only_the_libraries_that_require_torch(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    _write(
        site,
        {
            "modellib-1.0.dist-info/METADATA": "Name: modellib\nRequires-Dist: torch>=2.0\n",
            "modellib-1.0.dist-info/top_level.txt": "modellib\n",
            "arraylib-1.0.dist-info/METADATA": "Name: arraylib\nRequires-Dist: numpy\n",
            "arraylib-1.0.dist-info/top_level.txt": "arraylib\n",
            "lintlib-1.0.dist-info/METADATA": (
                "Name: lintlib\nRequires-Dist: torch>=2; extra == 'runtime'\n"
            ),
            "lintlib-1.0.dist-info/RECORD": "lintlib/__init__.py,,\nlintlib/api.py,,\n",
            "torch-2.0.dist-info/METADATA": "Name: torch\nRequires-Dist: sympy\n",
            "torch-2.0.dist-info/top_level.txt": "torch\n",
        },
    )
    assert torch_libraries(str(site)) == {"modellib"}
    given = library_roots([tmp_path], installed=False)
    assert given == (LibraryRoot(str(tmp_path.resolve())),)
    assert not given[0].answers("torch")  # modelled, never read
    assert given[0].answers("anything")


def test_check_reads_the_library_path_it_is_given(tmp_path: Path, monkeypatch, capsys) -> None:
    library = _write(tmp_path / "site", _LIBRARY)
    project = _write(tmp_path / "project", _PROJECT)
    monkeypatch.chdir(project)
    arguments = ["check", "seg", "--no-cache", "--format", "json", "--no-site-packages"]
    cli.main(arguments)
    assert '"conv": "conv1"' not in capsys.readouterr().out
    cli.main([*arguments, "--library-path", str(library)])
    assert '"conv": "conv1"' in capsys.readouterr().out


_HOLDER = {
    "pyproject.toml": "",
    "app/__init__.py": "",
    "app/heads.py": """
        import torch.nn as nn
        from visionlib.models import ResNet


        def backbone():
            return ResNet(depth=2)


        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = backbone()
                self.act = nn.ReLU()
                self.extra = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.extra(self.act(self.backbone(x)))
    """,
}


def test_a_library_network_the_project_holds_is_reported_on_the_project_class(
    tmp_path: Path,
) -> None:
    """Its folds are keyed under the project class holding it, by their paths from there,
    and a diagnostic about one goes to the project's call that built the network."""
    library = _write(tmp_path / "site", _LIBRARY)
    project = _write(tmp_path / "project", _HOLDER)
    checked = [project / "app" / "heads.py"]
    result = analyze(checked, search_roots=[project], libraries=[LibraryRoot(str(library))])
    folds = _folds(result)
    assert folds["app.heads.Classifier: backbone.conv1 -> backbone.bn1"] is Status.FOLDABLE
    assert (
        folds["app.heads.Classifier: backbone.layer1.1.0 -> backbone.layer1.1.1"] is Status.FOLDABLE
    )
    assert folds["app.heads.Classifier: None -> extra"] is Status.UNFOLDABLE

    # the same network with a BatchNorm the library places after an activation
    resnet = library / "visionlib" / "models" / "resnet.py"
    resnet.write_text(
        resnet.read_text().replace(
            "self.layer1(self.relu(self.bn1(self.conv1(x))))",
            "self.layer1(self.bn1(self.relu(self.conv1(x))))",
        )
    )
    broken = analyze(checked, search_roots=[project], libraries=[LibraryRoot(str(library))])
    (verdict,) = [v for k, v in _folds(broken).items() if k.endswith("-> backbone.bn1")]
    assert verdict is Status.UNFOLDABLE
    # said at the project's call that built the network, naming where the library has it
    (inside,) = [d for d in broken.diagnostics if "resnet.py" in d.message]
    source = (project / "app" / "heads.py").read_text().splitlines()
    assert inside.path.endswith("heads.py") and "ResNet(depth=2)" in source[inside.line - 1]


_REGISTRY_LIBRARY = {
    "zoo/__init__.py": "from .models import create_model\n",
    "zoo/models/__init__.py": (
        "from ._registry import create_model\nfrom .tiny import *\nfrom .wide import *\n"
    ),
    "zoo/models/_registry.py": """
        _entrypoints = {}


        def register_model(name=None):
            def wrap(fn):
                _entrypoints[name or fn.__name__] = fn
                return fn

            return wrap


        def create_model(model_name, **kwargs):
            if model_name not in _entrypoints:
                raise RuntimeError(f"unknown model {model_name}")
            return _entrypoints[model_name](**kwargs)
    """,
    "zoo/models/tiny.py": """
        import torch.nn as nn
        from ._registry import register_model


        class Tiny(nn.Module):
            def __init__(self, act_first=False):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.act = nn.ReLU()
                self.bn = nn.BatchNorm2d(8)
                self.act_first = act_first

            def forward(self, x):
                x = self.conv(x)
                if self.act_first:
                    x = self.act(x)
                return self.bn(x)


        @register_model()
        def tiny(**kwargs):
            return Tiny(**kwargs)


        @register_model(name="tiny_act")
        def _tiny_act(**kwargs):
            return Tiny(act_first=True, **kwargs)
    """,
    "zoo/models/wide.py": """
        from ._registry import register_model
        from .tiny import Tiny


        @register_model()
        def wide():
            return Tiny()
    """,
}

_REGISTRY_USER = {
    "pyproject.toml": "",
    "app/__init__.py": "",
    "app/net.py": """
        import torch.nn as nn
        import zoo


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.plain = zoo.create_model("tiny")
                self.act_first = zoo.create_model("tiny_act")

            def forward(self, x):
                return self.plain(x) + self.act_first(x)
    """,
}


def test_a_library_model_built_by_name_from_a_registry_is_found(tmp_path: Path) -> None:
    """The library's model modules fill its registry with decorators as importing the
    package would; only the modules that mention the name asked for are read."""
    library = _write(tmp_path / "site", _REGISTRY_LIBRARY)
    project = _write(tmp_path / "project", _REGISTRY_USER)
    result = analyze(
        [project / "app" / "net.py"], search_roots=[project], libraries=[LibraryRoot(str(library))]
    )
    folds = _folds(result)
    assert folds["app.net.Net: plain.conv -> plain.bn"] is Status.FOLDABLE
    assert folds["app.net.Net: None -> act_first.bn"] is Status.UNFOLDABLE
