"""XBN303's fix: a plain list of modules becomes nn.ModuleList, a plain dict nn.ModuleDict,
spelled the way the file imports torch.nn, keeping the literal's comments and layout; and no
fix where the wrapper would not behave like the plain container."""

from __future__ import annotations

import textwrap

import pytest

from bnlint.ftypes import Applicability

from .helpers import fixed_text, fixes, project

HEADS = """
    {imports}


    class Net({base}):
        def __init__(self):
            super().__init__()
            self.conv = {nn}Conv2d(3, 8, 3, bias=False)
            self.bn = {nn}BatchNorm2d(8)
            self.heads = [{nn}Linear(8, n) for n in (2, 3)]

        def forward(self, x):
            feat = self.bn(self.conv(x)).mean((2, 3))
            return [head(feat) for head in self.heads]
"""


def heads(imports: str, nn: str, base: str = "") -> str:
    return HEADS.format(imports=imports, nn=nn, base=base or f"{nn}Module")


@pytest.mark.parametrize(
    "imports, nn, wrapped",
    [
        ("import torch.nn as nn", "nn.", "nn.ModuleList"),
        ("from torch import nn", "nn.", "nn.ModuleList"),
        ("import torch", "torch.nn.", "torch.nn.ModuleList"),
        ("import torch as th", "th.nn.", "th.nn.ModuleList"),
        ("import torch.nn", "torch.nn.", "torch.nn.ModuleList"),
        ("from torch import nn as tnn", "tnn.", "tnn.ModuleList"),
        ("from torch.nn import BatchNorm2d, Conv2d, Linear, Module, ModuleList", "", "ModuleList"),
        ("from torch.nn import *", "", "ModuleList"),
    ],
)
def test_the_wrapper_is_spelled_the_way_the_file_imports_torch_nn(tmp_path, imports, nn, wrapped):
    path = project(tmp_path, heads(imports, nn))
    after = fixed_text(path)
    assert f"self.heads = {wrapped}([{nn}Linear(8, n) for n in (2, 3)])" in after
    assert after.count("import") == heads(imports, nn).count("import")


def test_a_from_import_of_torch_nn_gains_the_wrapper(tmp_path):
    path = project(tmp_path, heads("from torch.nn import BatchNorm2d, Conv2d, Linear, Module", ""))
    after = fixed_text(path)
    assert after.startswith(
        "from torch.nn import BatchNorm2d, Conv2d, Linear, Module, ModuleList\n"
    )
    assert "self.heads = ModuleList([Linear(8, n) for n in (2, 3)])" in after


def test_a_file_that_does_not_import_torch_nn_gets_an_import(tmp_path):
    # The base class and the layers come from another module of the project; this file
    # never imports torch.
    (tmp_path / "layers.py").write_text(
        textwrap.dedent("""
        import torch.nn as nn


        class Base(nn.Module):
            pass


        def head(n):
            return nn.Linear(8, n)
    """)
    )
    path = project(
        tmp_path,
        '''
        """Task heads."""
        from __future__ import annotations

        import layers


        class Net(layers.Base):
            def __init__(self):
                super().__init__()
                self.heads = [layers.head(n) for n in (2, 3)]

            def forward(self, x):
                return [head(x) for head in self.heads]
    ''',
    )
    assert fixed_text(path) == textwrap.dedent('''\
        """Task heads."""
        from __future__ import annotations

        import layers
        from torch import nn


        class Net(layers.Base):
            def __init__(self):
                super().__init__()
                self.heads = nn.ModuleList([layers.head(n) for n in (2, 3)])

            def forward(self, x):
                return [head(x) for head in self.heads]
    ''')


def test_comments_and_layout_inside_the_literal_are_kept(tmp_path):
    path = project(
        tmp_path,
        """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, width=8):
                super().__init__()
                self.blocks = [  # one block a stage
                    nn.Sequential(
                        nn.Conv2d(width, width, 3, padding=1, bias=False),
                        nn.BatchNorm2d(width),  # folds into the conv
                    ),
                    nn.Sequential(
                        nn.Conv2d(width, width, 3, padding=1, bias=False),
                        nn.BatchNorm2d(width),
                    ),
                ]  # done

            def forward(self, x):
                for block in self.blocks:
                    x = block(x)
                return x
    """,
    )
    before = path.read_text()
    after = fixed_text(path)
    assert after == before.replace(
        "self.blocks = [  # one block a stage", "self.blocks = nn.ModuleList([  # one block a stage"
    ).replace("        ]  # done", "        ])  # done")


def test_a_dict_of_modules_becomes_a_module_dict(tmp_path):
    path = project(
        tmp_path,
        """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.heads = {"depth": nn.Linear(8, 1), 'normals': nn.Linear(8, 3)}

            def forward(self, x):
                feat = self.bn(self.conv(x)).mean((2, 3))
                return {name: head(feat) for name, head in self.heads.items()}
    """,
    )
    assert (
        "self.heads = nn.ModuleDict({\"depth\": nn.Linear(8, 1), 'normals': "
        "nn.Linear(8, 3)})" in fixed_text(path)
    )


def test_a_local_list_filled_in_a_loop_is_wrapped_where_it_is_stored(tmp_path):
    path = project(
        tmp_path,
        """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, depth=3):
                super().__init__()
                layers = []
                for _ in range(depth):
                    layers.append(nn.Sequential(nn.Conv2d(8, 8, 1, bias=False),
                                                nn.BatchNorm2d(8)))
                self.layers = layers

            def forward(self, x):
                for layer in self.layers:
                    x = layer(x)
                return x
    """,
    )
    assert "self.layers = nn.ModuleList(layers)" in fixed_text(path)


def test_the_fix_is_safe_and_says_what_it_does(tmp_path):
    path = project(tmp_path, heads("import torch.nn as nn", "nn."))
    [finding] = fixes(path, "XBN303")
    assert finding.fix.applicability is Applicability.SAFE
    assert finding.fix.message == "Wrap in nn.ModuleList"


@pytest.mark.parametrize(
    "container, use",
    [
        # ModuleList refuses members that are not modules.
        ("[nn.Linear(8, 2), None]", "return [h(x) for h in self.heads if h is not None]"),
        # Methods lists have and ModuleList lacks.
        (
            "[nn.Linear(8, 2), nn.Linear(8, 3)]",
            "self.heads.sort(key=id)\n            return [h(x) for h in self.heads]",
        ),
        ("[nn.Linear(8, 2), nn.Linear(8, 3)]", "return [h(x) for h in self.heads * 2]"),
        (
            "[nn.Linear(8, 2), nn.Linear(8, 3)]",
            "assert isinstance(self.heads, list)\n            return [h(x) for h in self.heads]",
        ),
        # ModuleDict keys must be strings that are not its own attribute names.
        ('{"train": nn.Linear(8, 2)}', "return self.heads['train'](x)"),
        ('{"a.b": nn.Linear(8, 2)}', "return self.heads['a.b'](x)"),
        ("{0: nn.Linear(8, 2)}", "return self.heads[0](x)"),
        ('{"a": nn.Linear(8, 2)}', "return self.heads.get('a')(x)"),
    ],
)
def test_no_fix_where_the_wrapper_would_not_behave_like_the_container(tmp_path, container, use):
    path = project(
        tmp_path,
        f"""
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = {container}

            def forward(self, x):
                {use}
    """,
    )
    found = fixes(path, "XBN303")
    assert found, "the plain container is still reported"
    assert found[0].fix is None
    assert fixed_text(path) is None


def test_columns_after_non_ascii_text_are_counted_in_characters(tmp_path):
    path = project(
        tmp_path,
        """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.têtes = [nn.Linear(8, n) for n in (2, 3)]  # « heads »

            def forward(self, x):
                return [tête(x) for tête in self.têtes]
    """,
    )
    assert (
        "self.têtes = nn.ModuleList([nn.Linear(8, n) for n in (2, 3)])  # « heads »"
        in fixed_text(path)
    )
