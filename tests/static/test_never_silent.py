"""Every BatchNorm the source builds gets a verdict, even when the analysis loses track of
where __init__ stores it: silence would read as "nothing to fold here"."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

from benchmarks.zoo import generate
from bnlint.ftypes import Status
from bnlint.static.engine import analyze

_LAYER_TABLE = """
    import os
    import torch.nn as nn

    CFG = [(8, 3), "M", (16, 3)]

    class Darknet(nn.Module):
        def __init__(self, cfg=CFG, in_channels=3):
            super().__init__()
            layers = []
            for v in cfg:
                if {condition}:
                    layers.append(nn.MaxPool2d(2))
                else:
                    out_channels, kernel = v
                    layers += [nn.Conv2d(in_channels, out_channels, kernel, bias=False),
                               nn.BatchNorm2d(out_channels)]
                    in_channels = out_channels
            self.features = nn.Sequential(*layers)

        def forward(self, x):
            return self.features(x)
"""


def _analyse(tmp_path: Path, condition: str):
    path = tmp_path / "darknet.py"
    path.write_text(textwrap.dedent(_LAYER_TABLE.format(condition=condition)))
    return analyze([path])


def test_a_cfg_table_mixing_tuples_and_strings_is_followed(tmp_path: Path) -> None:
    result = _analyse(tmp_path, 'v == "M"')
    (model,) = result.modules
    assert [(e.conv, e.bn, e.status) for e in model.folds] == [
        ("features.0", "features.1", Status.FOLDABLE),
        ("features.3", "features.4", Status.FOLDABLE),
    ]


def test_a_batchnorm_in_a_list_built_under_an_undecidable_condition_is_unknown(
    tmp_path: Path,
) -> None:
    result = _analyse(tmp_path, 'os.environ.get("POOL") == str(v)')
    (model,) = result.modules
    assert model.folds, "the BatchNorm the source builds must get a verdict"
    assert all(e.status is Status.UNKNOWN for e in model.folds)
    assert {d.code for d in result.diagnostics} == {"XBN207"}
    assert {d.line for d in result.diagnostics} == {17}  # nn.BatchNorm2d(out_channels)


# ---- every class that may hold a norm layer says something about it -------------------------

_REPO = Path(__file__).resolve().parents[2]
# The name of a BatchNorm class or of a norm factory that may build one (`norm_layer`,
# `make_norm`, `Norm[...]`, `bn_act`), not LayerNorm/GroupNorm or a block like ConvNorm.
_NORM_SLOT = re.compile(r"(?i)^(norm|bn)|batchnorm|_norm")


def _norm_slots(paths: list[Path]) -> set[tuple[str, str, str]]:
    """(file, class, slot) for every `self.<slot> = <norm>(...)` in a module class, where
    <norm> names a BatchNorm or a norm factory (`nn.BatchNorm2d`, `norm_layer`,
    `Norm[...]`), read from the text (not through bnlint)."""
    found: set[tuple[str, str, str]] = set()
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in paths}
    # blocks of the corpus itself (`NormLinear(...)` builds a block, not a norm layer)
    blocks = {
        node.name
        for tree in trees.values()
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and not any("Norm" in ast.unparse(base) for base in node.bases)
    }
    for path, tree in trees.items():
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or not any(
                isinstance(item, ast.FunctionDef) and item.name in ("forward", "__call__")
                for item in node.body
            ):
                continue
            if any("Norm" in ast.unparse(base) for base in node.bases):
                continue  # a norm layer itself: its verdicts belong to who holds it
            for item in ast.walk(node):
                if isinstance(item, ast.Assign) and len(item.targets) == 1:
                    target = item.targets[0]
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                        and isinstance(item.value, ast.Call)
                        and _callee(item.value.func) not in blocks
                        and _callee(item.value.func) not in _PARAMETRIZING
                        and _NORM_SLOT.search(_callee(item.value.func))
                    ):
                        found.add((path.name, node.name, target.attr))
    return found


# `spectral_norm(nn.Conv2d(...))` hands back the conv, its weight parametrized: no norm layer.
_PARAMETRIZING = frozenset({"weight_norm", "spectral_norm"})


def _callee(node: ast.expr) -> str:
    """The last name of what a call calls: `nn.BatchNorm2d` -> BatchNorm2d, `Norm[...]` ->
    Norm, `make_norm(...)(c)` -> make_norm."""
    while isinstance(node, (ast.Subscript, ast.Call)):
        node = node.value if isinstance(node, ast.Subscript) else node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def test_every_slot_that_may_hold_a_batchnorm_gets_a_verdict(tmp_path: Path) -> None:
    """Wherever the fold key puts it (on the class, or on a class of the same file that
    calls it after a conv), a BatchNorm slot is named by some verdict."""
    zoo = generate(tmp_path / "zoo", files=120, seed=3)
    corpora = [
        (_REPO / "examples", sorted((_REPO / "examples" / "src").rglob("*.py"))),
        (
            _REPO / "tests" / "fixtures" / "static",
            sorted((_REPO / "tests" / "fixtures" / "static").glob("*.py")),
        ),
        (zoo.root, sorted(zoo.files)),
    ]
    for root, paths in corpora:
        paths = [p for p in paths if p.suffix == ".py"]
        result = analyze(paths, search_roots=[root])
        named = {
            (Path(m.path).name, part)
            for m in result.modules
            for f in m.folds
            for part in f.bn.split(".")
        }
        silent = sorted(
            f"{file}::{cls}.{slot}"
            for file, cls, slot in _norm_slots(paths)
            if (file, slot) not in named
        )
        assert not silent, f"BatchNorm slots no verdict names: {silent}"


def test_a_batchnorm_handed_to_a_torch_function_not_modelled_is_unknown(tmp_path: Path) -> None:
    """`torch.jit.script(block)` in __init__: the analysis does not know what it gives back,
    and the BatchNorm built inside the block was silent."""
    path = tmp_path / "scripted.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.stem = torch.jit.script(
                        nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
                    )
                    self.conv = nn.Conv2d(8, 8, 1, bias=False)
                    self.bn = nn.BatchNorm2d(8)

                def forward(self, x):
                    return self.bn(self.conv(self.stem(x)))
            """
        )
    )
    (module,) = analyze([path]).modules
    verdicts = {(entry.bn, entry.status) for entry in module.folds}
    assert ("bn", Status.FOLDABLE) in verdicts
    (lost,) = [entry for entry in module.folds if entry.bn != "bn"]
    assert lost.status is Status.UNKNOWN and "torch.jit.script" in lost.reason


def test_a_batchnorm_made_in_a_file_without_classes_is_reported_there(tmp_path: Path) -> None:
    # MobileNet-style helpers and a factory that assembles torch layers itself: neither file
    # defines a class, and a BatchNorm that cannot fold there must still be reported.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def act_bn(channels):
                return nn.Sequential(nn.ReLU(), nn.BatchNorm2d(channels))
            """
        )
    )
    (package / "net.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            from .helpers import act_bn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = act_bn(8)
                    self.head = nn.Conv2d(8, 8, 3, padding=1)

                def forward(self, x):
                    return self.head(self.body(x))
            """
        )
    )
    (package / "factory.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def vgg_like():
                return nn.Sequential(nn.ReLU(), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, padding=1))
            """
        )
    )
    files = sorted(package.glob("*.py"))
    result = analyze(files, search_roots=[tmp_path])
    assert {(Path(d.path).name, d.line, d.code) for d in result.diagnostics} == {
        ("helpers.py", 5, "XBN109"),
        ("factory.py", 5, "XBN109"),
    }
    # the factory's model is listed under its torch class, where the factory builds it
    (model,) = [m for m in result.modules if Path(m.path).name == "factory.py"]
    assert (model.class_name, model.line) == ("torch.nn.Sequential", 5)
    assert [(e.conv, e.bn, e.code) for e in model.folds] == [("2", "1", "XBN109")]


def test_a_batchnorm_built_in_a_comprehension_of_unknown_length_is_judged(tmp_path: Path) -> None:
    """One projection per level, levels the callers choose: the comprehension's length is
    unknown, and its element (the BatchNorm with it) was never evaluated, so the class had
    no verdict at all."""
    path = tmp_path / "levels.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn

            class LevelProjection(nn.Module):
                def __init__(self, ch, hidden=16):
                    super().__init__()
                    self.input_proj = nn.ModuleList(
                        nn.Sequential(nn.Conv2d(c, hidden, 1, bias=False), nn.BatchNorm2d(hidden))
                        for c in ch
                    )

                def forward(self, feats):
                    return [proj(feat) for proj, feat in zip(self.input_proj, feats)]
            """
        )
    )
    result = analyze([path])
    (module,) = result.modules
    assert [(e.bn, e.status) for e in module.folds] == [("input_proj.0.1", Status.UNKNOWN)]
    assert [(d.line, d.code) for d in result.diagnostics] == [(8, "XBN206")]


_TABULAR = """
    import torch
    from torch import nn

    class LinBnDrop(nn.Sequential):
        def __init__(self, n_in, n_out, bn=True, act=None, lin_first=False):
            layers = [nn.BatchNorm1d(n_out if lin_first else n_in)] if bn else []
            lin = [nn.Linear(n_in, n_out, bias=not bn)]
            if act is not None:
                lin.append(act)
            super().__init__(*(lin + layers if lin_first else layers + lin))

    class Tabular(nn.Module):
        def __init__(self, n_in, sizes, ps=None):
            super().__init__()
            ps = {ps}
            blocks = [LinBnDrop(8, 8, act=nn.ReLU(), lin_first=True) for p in ps]
            self.layers = nn.Sequential(*blocks)

        def forward(self, x):
            return self.layers(x)

    def tabular():
        return Tabular(8, [8, 8])
"""


def test_blocks_in_a_sequential_of_unknown_length_keep_their_batchnorms(tmp_path: Path) -> None:
    """fastai's TabularModel: LinBnDrop blocks built in a comprehension over a list a call
    the analysis cannot follow made; `nn.Sequential(*blocks)` then holds an unknown number
    of them. Each block holds its BatchNorm, but the model lost the blocks: its verdict on
    them was silence."""
    path = tmp_path / "tabular.py"
    path.write_text(textwrap.dedent(_TABULAR.format(ps="torch.zeros(len(sizes)).tolist()")))
    result = analyze([path])
    tabular = next(m for m in result.modules if m.class_name.endswith("Tabular"))
    (lost,) = tabular.folds
    assert lost.status is Status.UNKNOWN and lost.bn == "<BatchNorm built at line 7>"
    assert "the comprehension over `ps` has unknown length" in (lost.reason or "")


def test_blocks_in_a_sequential_of_known_length_are_placed(tmp_path: Path) -> None:
    path = tmp_path / "tabular.py"
    path.write_text(textwrap.dedent(_TABULAR.format(ps="[0.0] * len(sizes)")))
    result = analyze([path])
    block = next(m for m in result.modules if m.class_name.endswith("LinBnDrop"))
    # the factory's two blocks: the first one's BatchNorm may fold into the next Linear
    # (its input's rank comes from the caller), the last one's has nothing after it
    sites = {(e.bn, e.code, tuple(s.rsplit("/", 1)[-1] for s in e.sites)) for e in block.folds}
    assert sites >= {("2", "XBN208", ("tabular.py:17",)), ("2", "XBN101", ("tabular.py:17",))}
    assert all(not e.bn.startswith("<") for m in result.modules for e in m.folds)


def test_a_norm_slot_called_in_a_closure_of_forward_is_judged(tmp_path: Path) -> None:
    """OpenMMLab's blocks run their layers in `_inner_forward`, a function nested in
    forward(); a norm slot the analysis cannot resolve (built by a registry from an unread
    library) was judged in forward() itself and silent in the closure."""
    path = tmp_path / "block.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn
            import torch.utils.checkpoint as cp

            from outside.registry import MODELS

            def build_norm_layer(cfg, num_features, postfix=""):
                with MODELS.switch_scope_and_registry(None) as registry:
                    norm_layer = registry.get(cfg["type"])
                return "bn" + str(postfix), norm_layer(num_features)

            class BasicBlock(nn.Module):
                def __init__(self, channels, with_cp=False, norm_cfg=dict(type="BN")):
                    super().__init__()
                    self.with_cp = with_cp
                    self.norm1_name, norm1 = build_norm_layer(norm_cfg, channels, postfix=1)
                    self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                    self.add_module(self.norm1_name, norm1)

                @property
                def norm1(self):
                    return getattr(self, self.norm1_name)

                def forward(self, x):
                    def _inner_forward(x):
                        return self.norm1(self.conv1(x))

                    if self.with_cp and x.requires_grad:
                        return cp.checkpoint(_inner_forward, x)
                    return _inner_forward(x)
            """
        )
    )
    result = analyze([path])
    (module,) = result.modules
    assert [(e.conv, e.bn, e.status) for e in module.folds] == [("conv1", "norm1", Status.UNKNOWN)]
    (diagnostic,) = result.diagnostics
    assert diagnostic.line == 26  # self.norm1(...) in the closure
    # the `with ... as registry` name is bound: the reason says what is not known
    assert "switch_scope_and_registry" in diagnostic.message


def test_a_class_whose_defaults_do_not_build_is_judged_with_what_callers_give(
    tmp_path: Path,
) -> None:
    """EfficientNet-PyTorch's model: `blocks_args=None` by default, refused by an assert, and
    built only by a classmethod its users call. Built with its defaults the class raised
    before any layer existed, and its stem and head BatchNorms had no verdict at all."""
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Block(nn.Module):
                def __init__(self, args):
                    super().__init__()
                    self.conv = nn.Conv2d(args.filters, args.filters, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(args.filters)

                def forward(self, x):
                    return self.bn(self.conv(x))

            class Net(nn.Module):
                def __init__(self, blocks_args=None, width=32):
                    super().__init__()
                    assert isinstance(blocks_args, list), "blocks_args should be a list"
                    self._conv_stem = nn.Conv2d(3, width, 3, stride=2, bias=False)
                    self._bn0 = nn.BatchNorm2d(width)
                    self._blocks = nn.ModuleList([Block(a) for a in blocks_args])
                    self._swish = nn.SiLU()

                @classmethod
                def from_name(cls, name):
                    return cls(load_blocks(name))

                def forward(self, x):
                    x = self._swish(self._bn0(self._conv_stem(x)))
                    for block in self._blocks:
                        x = block(x)
                    return x
            """
        )
    )
    result = analyze([path])
    (net,) = [m for m in result.modules if m.class_name.endswith(".Net")]
    assert [(e.conv, e.bn, e.status) for e in net.folds] == [
        ("_conv_stem", "_bn0", Status.FOLDABLE)
    ]


def test_a_slot_built_by_a_function_named_like_a_norm_factory_is_judged(tmp_path: Path) -> None:
    """`self.other = norm_for("BN", 8)`: the slot's name says nothing, the factory's does;
    what it returns is not known (a registry from an unread library), so the slot may hold
    a BatchNorm. It was silent: the reason the analysis kept named neither."""
    path = tmp_path / "net.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn

            from outside.registry import MODELS

            def norm_for(name, channels):
                return MODELS.get(name)(channels)

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 8, 3, bias=False)
                    self.other = norm_for("BN", 8)

                def forward(self, x):
                    return self.other(self.conv(x))
            """
        )
    )
    result = analyze([path])
    (module,) = result.modules
    assert [(e.bn, e.status) for e in module.folds] == [("other", Status.UNKNOWN)]
    (diagnostic,) = result.diagnostics
    assert "norm_for()" in diagnostic.message


def test_a_plain_list_assigned_on_two_undecidable_paths_is_reported_once(tmp_path: Path) -> None:
    """Two branches the analysis cannot decide each keep layers in a plain list under one
    name: where the list was assigned was merged into a choice of places, and reporting it
    raised (one class of transformers stopped a whole run)."""
    path = tmp_path / "net.py"
    path.write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Net(nn.Module):
                def __init__(self, wide):
                    super().__init__()
                    if wide:
                        self.blocks = [nn.Conv2d(3, 8, 1, bias=False), nn.BatchNorm2d(8)]
                    else:
                        self.blocks = [nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8)]

                def forward(self, x):
                    for block in self.blocks:
                        x = block(x)
                    return x
            """
        )
    )
    result = analyze([path])
    assert {(d.line, d.code) for d in result.diagnostics if d.code == "XBN303"} == {(8, "XBN303")}
    (module,) = result.modules
    assert module.folds, "the BatchNorms in the list get verdicts"


def test_norm_members_of_a_list_iterated_by_forward_are_judged(tmp_path: Path) -> None:
    """torch_geometric's MLP: a norm resolved by name (from a registry the analysis cannot
    read) is appended to a ModuleList per hidden layer, and forward() zips the Linear
    layers with the norms. The members were silent: the value forward() called had lost
    where it came from. Each is now a slot of the list, judged as the BatchNorm it may be."""
    path = tmp_path / "mlp.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            from outside.registry import resolve_norm

            class MLP(nn.Module):
                def __init__(self, channels=(8, 16, 16), norm="batch_norm"):
                    super().__init__()
                    self.lins = nn.ModuleList()
                    self.norms = nn.ModuleList()
                    for cin, cout in zip(channels[:-1], channels[1:]):
                        self.lins.append(nn.Conv2d(cin, cout, 1, bias=False))
                        self.norms.append(resolve_norm(norm, cout))

                def forward(self, x):
                    for lin, norm in zip(self.lins, self.norms):
                        x = torch.relu(norm(lin(x)))
                    return x
            """
        )
    )
    result = analyze([path])
    (module,) = result.modules
    assert [(e.conv, e.bn, e.status) for e in module.folds] == [
        ("lins.0", "norms.0", Status.UNKNOWN),
        ("lins.1", "norms.1", Status.UNKNOWN),
    ]


def test_a_class_whose_base_comes_from_an_outside_star_import_is_judged(tmp_path: Path) -> None:
    """tsai's models derive from fastai's `Module`, reached through `from fastai.basics
    import *`; where fastai is not installed beside bnlint the name was bound to nothing and
    the class, although it builds a conv and a BatchNorm and runs them, had no entry. Like a
    base imported by name from an uninstalled library, it is now taken to be a module."""
    path = tmp_path / "fcn.py"
    path.write_text(
        textwrap.dedent(
            """
            from outside_framework.basics import *
            import torch.nn as nn

            class ConvBN(Module):
                def __init__(self, ni=3, nf=8):
                    super().__init__()
                    self.conv = nn.Conv1d(ni, nf, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm1d(nf)

                def forward(self, x):
                    return self.bn(self.conv(x))
            """
        )
    )
    result = analyze([path])
    (module,) = result.modules
    assert [(e.conv, e.bn, e.status) for e in module.folds] == [("conv", "bn", Status.FOLDABLE)]
