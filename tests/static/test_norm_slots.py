"""Norm layers chosen by name from a registry, as MONAI-style libraries build them: the
registry is filled by calls at the top of its module; a slot the analysis cannot resolve (a
layer a library outside the analysed files makes) is judged as the BatchNorm it may hold;
and a class whose default norm is not a BatchNorm still gives a verdict on every BatchNorm
another name would put there."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.ftypes import Status
from bnlint.static.engine import analyze
from tests.static.verdicts_of import verdicts_of

_REGISTRY = '''
import torch.nn as nn
from normlib import make_norm


class LayerFactory:
    def __init__(self):
        self.components = {}

    def add_factory_class(self, name, cls):
        self.components[name.upper()] = lambda dims=None: cls

    def add_factory_callable(self, name, func):
        self.components[name.upper()] = func

    def __getitem__(self, args):
        if isinstance(args, str):
            name, args = args, ()
        else:
            name, *args = args
        return self.components[name.upper()](*args)


Act = LayerFactory()
Act.add_factory_class("relu", nn.ReLU)
Act.add_factory_class("gelu", nn.GELU)

Norm = LayerFactory()
Norm.add_factory_callable("batch", lambda dims: (nn.BatchNorm1d, nn.BatchNorm2d)[dims - 1])
Norm.add_factory_callable("group", lambda dims: nn.GroupNorm)


def get_norm_layer(name, dims, channels):
    """A norm chosen by a name the analysis may not know: any layer some library makes."""
    if name == "group":
        return nn.GroupNorm(4, channels)
    return make_norm(name, dims, channels)
'''


def _analyze(tmp_path: Path, body: str) -> dict[str, tuple]:
    (tmp_path / "pyproject.toml").write_text("")
    package = tmp_path / "nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "factories.py").write_text(textwrap.dedent(_REGISTRY))
    return verdicts_of(tmp_path, body, module="nets/model.py", project=True)


def test_a_registry_filled_by_top_level_calls_resolves(tmp_path: Path) -> None:
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from nets.factories import Act, Norm


        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(4, 4, 1, bias=False)
                self.norm = Norm["batch", 2](4)
                self.act = Act["relu"]()
                self.after = nn.BatchNorm2d(4)

            def forward(self, x):
                return self.after(self.act(self.norm(self.conv(x))))
        """,
    )
    assert folds["Block: norm"] == ("conv", Status.FOLDABLE, None)
    assert folds["Block: after"][1:] == (Status.UNFOLDABLE, "XBN101")  # after a ReLU, known


def test_a_slot_the_analysis_cannot_resolve_is_judged_as_the_batchnorm_it_may_hold(
    tmp_path: Path,
) -> None:
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from nets.factories import get_norm_layer


        class PreAct(nn.Module):
            def __init__(self, norm):
                super().__init__()
                self.norm1 = get_norm_layer(norm, 2, 4)
                self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
                self.norm2 = get_norm_layer(norm, 2, 4)
                self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)

            def forward(self, x):
                identity = x
                x = self.conv1(self.norm1(x).relu())
                x = self.conv2(self.norm2(x).relu())
                return x + identity
        """,
    )
    # whatever the name, a BatchNorm there reads what the residual also reads: never folds
    assert folds["PreAct: norm1"][1:] == (Status.UNFOLDABLE, "XBN103")
    # after conv1 a BatchNorm would fold, if its arguments keep running statistics: unknown,
    # with the partner named
    assert folds["PreAct: norm2"] == ("conv1", Status.UNKNOWN, "XBN207")


def test_a_class_whose_default_norm_is_not_a_batchnorm_speaks_of_the_ones_it_may_hold(
    tmp_path: Path,
) -> None:
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from nets.factories import get_norm_layer


        class Stage(nn.Module):
            def __init__(self, norm="group"):
                super().__init__()
                self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
                self.norm = get_norm_layer(norm, 2, 4)
                self.head = nn.Conv2d(4, 4, 3, padding=1)

            def forward(self, x):
                y = self.conv(x)
                return self.head(self.norm(y)) + y
        """,
    )
    # the default builds a GroupNorm; another name may build a BatchNorm, which could fold
    # neither into the conv (whose output is also added to the result) nor into the head
    # (which pads its input)
    assert folds["Stage: norm"][1] is Status.UNFOLDABLE


def test_a_reader_on_some_paths_only_leaves_the_fold_possible_on_the_others(
    tmp_path: Path,
) -> None:
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from settings import use_aux


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1, bias=False)
                self.bn = nn.BatchNorm2d(4)
                self.aux = nn.Conv2d(4, 4, 1)
                self.use_aux = use_aux()

            def forward(self, x):
                y = self.conv(x)
                out = self.bn(y)
                if self.use_aux:
                    out = out + self.aux(y)
                return out

        class Always(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1, bias=False)
                self.bn = nn.BatchNorm2d(4)
                self.aux = nn.Conv2d(4, 4, 1)

            def forward(self, x):
                y = self.conv(x)
                return self.bn(y) + self.aux(y)
        """,
    )
    assert folds["Net: bn"][1] is Status.UNKNOWN
    assert folds["Always: bn"] == ("conv", Status.UNFOLDABLE, "XBN103")


def test_a_sequential_member_the_analysis_cannot_resolve_gets_a_verdict(tmp_path: Path) -> None:
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from normlib import make_norm


        class Head(nn.Module):
            def __init__(self, norm):
                super().__init__()
                self.left = nn.Conv2d(4, 4, 1)
                self.right = nn.Conv2d(4, 4, 1)
                self.final = nn.Sequential(make_norm(norm, 2, 4), nn.ReLU(), nn.Conv2d(4, 2, 1))

            def forward(self, x):
                return self.final(self.left(x) * self.right(x))
        """,
    )
    # whatever norm is chosen, a BatchNorm after a product of two convs cannot fold
    assert folds["Head: final.0"][1:] == (Status.UNFOLDABLE, "XBN104")


def test_an_output_a_branch_hands_on_unchanged_is_not_shared_with_the_batchnorm(
    tmp_path: Path,
) -> None:
    """The conv's output is read by the BatchNorm on one path and handed on unchanged on the
    other: the merge of the two reads it on the second path only."""
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from settings import flip


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1, bias=False)
                self.bn = nn.BatchNorm2d(4)
                self.flip = flip()

            def forward(self, x):
                y = self.conv(x)
                return self.bn(y) if self.flip else y
        """,
    )
    # where the BatchNorm runs, the conv's output goes to it alone
    assert folds["Net: bn"][1] is not Status.UNFOLDABLE


def test_a_sequential_member_built_as_one_norm_or_another_is_named_in_its_sequential(
    tmp_path: Path,
) -> None:
    folds = _analyze(
        tmp_path,
        """
        import torch.nn as nn
        from nets.factories import get_norm_layer


        class Tail(nn.Module):
            def __init__(self, norm):
                super().__init__()
                self.left = nn.Conv2d(4, 4, 1)
                self.final = nn.Sequential(
                    get_norm_layer(norm, 2, 4), nn.ReLU(), nn.Conv2d(4, 2, 1)
                )

            def forward(self, x):
                return self.final(self.left(x).relu())
        """,
    )
    # a GroupNorm or a layer a library makes: as a BatchNorm after a ReLU, it cannot fold
    assert folds["Tail: final.0"][1:] == (Status.UNFOLDABLE, "XBN101")


def test_a_slot_after_a_channel_cat_names_every_layer_of_the_cat(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            import torch.nn as nn
            from normlib import make_norm


            class Inception(nn.Module):
                def __init__(self, norm):
                    super().__init__()
                    self.convs = nn.ModuleList([nn.Conv1d(4, 4, k, padding=k // 2) for k in (1, 3)])
                    self.pool = nn.Sequential(nn.MaxPool1d(3, 1, 1), nn.Conv1d(4, 4, 1))
                    self.bn = make_norm(norm, 12)

                def forward(self, x):
                    return self.bn(torch.cat([c(x) for c in self.convs] + [self.pool(x)], 1))
            """
        )
    )
    result = analyze([path], search_roots=[tmp_path])
    (entry,) = [e for m in result.modules for e in m.folds if e.bn == "bn"]
    assert entry.status is Status.UNKNOWN
    assert "folds into the cat of 'convs.0' (line 10), 'convs.1' (line 10), 'pool.1'" in (
        entry.reason or ""
    ), entry.reason
