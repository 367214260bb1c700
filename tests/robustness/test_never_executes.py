"""`bnlint check` reads code and never runs it: no import, class body, decorator, default
argument, metaclass or base-class expression of the checked files is executed.

Each hostile file would, if run, write a marker file (and some would end the process). The
files are checked by the real command line in a child process; no marker may appear and the
exit code must be an ordinary one (1: findings).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from .helpers import GOOD, GOOD_DIAGNOSTICS, run_cli, write_tree

HOSTILE = {
    "module_body.py": """
        import pathlib, sys
        from torch import nn
        pathlib.Path(MARKERS, "module_body").write_text("ran")
        sys.exit(3)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    "hard_exit.py": """
        import os
        from torch import nn
        open(os.path.join(MARKERS, "hard_exit"), "w").close()
        os._exit(7)

        class Net(nn.Module):
            pass
        """,
    "class_body.py": """
        import pathlib
        from torch import nn

        class Net(nn.Module):
            pathlib.Path(MARKERS, "class_body").write_text("ran")
            raise SystemExit(4)

            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    "decorator.py": """
        import pathlib
        from torch import nn

        def register(cls):
            pathlib.Path(MARKERS, "decorator").write_text("ran")
            return cls

        @register
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    "default_argument.py": """
        import pathlib
        from torch import nn

        def width():
            pathlib.Path(MARKERS, "default_argument").write_text("ran")
            return 8

        class Net(nn.Module):
            def __init__(self, channels=width()):
                super().__init__()
                self.conv = nn.Conv2d(3, channels, 3, bias=False)
                self.bn = nn.BatchNorm2d(channels)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    "metaclass.py": """
        import pathlib
        from torch import nn

        class Registering(type(nn.Module)):
            def __new__(mcs, name, bases, namespace):
                pathlib.Path(MARKERS, "metaclass").write_text("ran")
                return super().__new__(mcs, name, bases, namespace)

        class Base(nn.Module):
            def __init_subclass__(cls, **kwargs):
                pathlib.Path(MARKERS, "init_subclass").write_text("ran")

        class Net(Base, metaclass=Registering):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    "base_expression.py": """
        import pathlib
        from torch import nn

        def pick_base():
            pathlib.Path(MARKERS, "base_expression").write_text("ran")
            return nn.Module

        class Net(pick_base()):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
    "imports_a_hostile_module.py": """
        from torch import nn
        from pkg.layers import ConvBN

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = ConvBN()

            def forward(self, x):
                return self.block(x)

        if __name__ == "__main__":
            import pathlib
            pathlib.Path(MARKERS, "main_guard").write_text("ran")
        """,
    "pkg/__init__.py": """
        import pathlib
        pathlib.Path(MARKERS, "package_init").write_text("ran")
        """,
    "pkg/layers.py": """
        import pathlib
        from torch import nn
        pathlib.Path(MARKERS, "imported_module").write_text("ran")

        class ConvBN(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """,
}


def hostile_tree(root: Path, markers: Path) -> Path:
    prelude = f"MARKERS = {str(markers)!r}\n"
    files = {name: prelude + textwrap.dedent(text) for name, text in HOSTILE.items()}
    return write_tree(root, {"good.py": GOOD, **files})


def test_checking_hostile_files_runs_none_of_them(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    root = hostile_tree(tmp_path / "project", markers)
    run = run_cli(["check", ".", "--format", "json"], cwd=root)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert run.returncode == 1, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert [
        (d["code"], d["path"], d["line"]) for d in report["diagnostics"] if d["path"] == "good.py"
    ] == list(GOOD_DIAGNOSTICS)
    # The hostile files were analysed, not skipped: their models have verdicts.
    analysed = {m["class"] for m in report["modules"]}
    assert {"decorator.Net", "default_argument.Net", "pkg.layers.ConvBN"} <= analysed


def test_proof_that_the_markers_would_appear_if_the_files_ran(tmp_path):
    # Guards the test above against hostile files that would not run anyway.
    markers = tmp_path / "markers"
    markers.mkdir()
    root = hostile_tree(tmp_path / "project", markers)
    torch = root / "torch"  # a stand-in: these files need only nn.Module, Conv2d, BatchNorm2d
    torch.mkdir()
    (torch / "__init__.py").write_text("from . import nn\n")
    (torch / "nn.py").write_text(
        "class Module:\n    def __init__(self, *a, **k): pass\nConv2d = BatchNorm2d = Module\n"
    )
    for name in (
        "decorator",
        "default_argument",
        "metaclass",
        "base_expression",
        "imports_a_hostile_module",
    ):
        subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=root, check=True, capture_output=True
        )
    for name in ("module_body", "hard_exit", "class_body"):
        run = subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=root, capture_output=True
        )
        assert run.returncode != 0
    assert sorted(p.name for p in markers.iterdir()) == sorted(
        [
            "base_expression",
            "class_body",
            "decorator",
            "default_argument",
            "hard_exit",
            "imported_module",
            "init_subclass",
            "metaclass",
            "module_body",
            "package_init",
        ]
    )


def test_a_project_file_named_like_a_library_is_not_imported_by_python_dash_m(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    shadow = f"import pathlib\npathlib.Path({str(markers)!r}, 'shadowed').write_text('ran')\n"
    root = write_tree(
        tmp_path / "project",
        {"good.py": GOOD, "libcst.py": shadow, "pathspec.py": shadow, "networkx.py": shadow},
    )
    run = run_cli(["check", "."], cwd=root)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert run.returncode == 1
