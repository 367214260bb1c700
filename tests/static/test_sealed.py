"""A sealed file (nothing its callers pass, and no subclass, can put a BatchNorm in its classes
or at its lines) is reported from its own analysis: checked alone it costs about its parse,
not an analysis of every model that uses it, and its report is the one the whole tree gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bnlint.static.engine import analyze
from bnlint.static.sealed import sealed

# Layers in the style of the zoos' utility files, which every network builds.
SEALED = {
    "drop path": """
        import torch
        import torch.nn as nn

        def drop_path(x, drop_prob: float = 0.0, training: bool = False):
            if drop_prob == 0.0 or not training:
                return x
            keep = 1 - drop_prob
            shape = (x.shape[0],) + (1,) * (x.ndim - 1)
            mask = x.new_empty(shape).bernoulli_(keep)
            return x * mask.div_(keep)

        class DropPath(nn.Module):
            def __init__(self, drop_prob: float = 0.0):
                super().__init__()
                self.drop_prob = drop_prob

            def forward(self, x):
                return drop_path(x, self.drop_prob, self.training)

            def extra_repr(self):
                return f"drop_prob={round(self.drop_prob, 3):0.3f}"
        """,
    "activations with their own helpers": """
        from torch import nn
        from torch.nn import functional as F

        def hard_sigmoid(x, inplace: bool = False):
            return F.relu6(x + 3.0, inplace=inplace) / 6.0

        class HardSigmoid(nn.Module):
            def __init__(self, inplace: bool = False):
                super().__init__()
                self.inplace = inplace

            def forward(self, x):
                return hard_sigmoid(x, self.inplace)

        class GELUTanh(nn.GELU):
            def __init__(self, inplace: bool = False):
                super().__init__(approximate="tanh")
        """,
    "a layer scale with weight init": """
        import torch
        from torch import nn

        class LayerScale(nn.Module):
            def __init__(self, dim: int, init_values: float = 1e-5, inplace: bool = False):
                super().__init__()
                self.inplace = inplace
                self.gamma = nn.Parameter(init_values * torch.ones(dim))
                nn.init.trunc_normal_(self.gamma, std=0.02)

            def forward(self, x):
                return x.mul_(self.gamma) if self.inplace else x * self.gamma
        """,
    "a flatten chosen by a flag, and a logger": """
        import logging

        import torch
        from torch import nn

        _logger = logging.getLogger(__name__)

        class Pool(nn.Module):
            def __init__(self, flatten: bool = False, pool_type: str = "avg"):
                super().__init__()
                _logger.info(f"pool {pool_type.lower()}")
                self.flatten = nn.Flatten(1) if flatten else nn.Identity()
                self.compiler = getattr(getattr(torch, "compiler", None), "disable", None)

            def forward(self, x):
                return self.flatten(x.mean((2, 3), keepdim=True))
        """,
    "a module that freezes what it is given": """
        from torch import nn

        def freeze(module):
            for parameter in module.parameters():
                parameter.requires_grad_(False)
        """,
    # what callers file in the module's own state is never called or handed back
    "a registry that keeps what it is given": """
        _LAYERS = {}

        def register(name, layer):
            _LAYERS[name] = layer
            return layer

        def is_registered(layer):
            return layer in _LAYERS.values() or layer in _LAYERS
        """,
    "a flag set by its callers": """
        _EXPORTABLE = False

        def set_exportable(mode=True):
            global _EXPORTABLE
            _EXPORTABLE = mode

        def is_exportable():
            return _EXPORTABLE

        def pad(x):
            return x if is_exportable() else x.contiguous()
        """,
    "an autograd function with its ONNX symbolic": """
        import torch
        from torch import nn

        class SwishFn(torch.autograd.Function):
            @staticmethod
            def symbolic(g, x):
                return g.op("Mul", x, g.op("Sigmoid", x))

            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.mul(torch.sigmoid(x))

            @staticmethod
            def backward(ctx, grad_output):
                x = ctx.saved_tensors[0]
                sigmoid = torch.sigmoid(x)
                return grad_output * (sigmoid * (1 + x * (1 - sigmoid)))

        class Swish(nn.Module):
            def forward(self, x):
                return SwishFn.apply(x)
        """,
    "a convolution without a bias": """
        from torch import nn

        class Project(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 1, bias=False)

            def forward(self, x):
                return self.conv(x)
        """,
}

# Each lets a caller's value in: the file's verdicts depend on who builds it.
OPEN = {
    "a norm layer argument": """
        from torch import nn

        class ConvNorm(nn.Module):
            def __init__(self, c, norm_layer=nn.Identity):
                super().__init__()
                self.conv = nn.Conv2d(c, c, 3)
                self.norm = norm_layer(c)
        """,
    "an activation factory kept and called later": """
        from torch import nn

        class Act(nn.Module):
            def __init__(self, act):
                super().__init__()
                self.act = act

            def forward(self, x):
                return self.act(x)
        """,
    "a block handed in and appended": """
        from torch import nn

        class Stack(nn.Module):
            def __init__(self, blocks):
                super().__init__()
                self.blocks = nn.ModuleList()
                for block in blocks:
                    self.blocks.append(block)
        """,
    "a Sequential subclass": """
        from torch import nn

        class Stage(nn.Sequential):
            pass
        """,
    "a BatchNorm named": """
        from torch import nn

        class Norm(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.bn = nn.BatchNorm2d(c)
        """,
    "a layer looked up by name": """
        from torch import nn

        def make(name, c):
            layer = getattr(nn, name)
            return layer(c)
        """,
    "a helper of the package": """
        from torch import nn
        from .helpers import to_2tuple
        """,
    "a configuration that builds": """
        from torch import nn

        class Head(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.pool = cfg.build_pool()
        """,
    "a registry whose entries the file builds": """
        _LAYERS = {}

        def register(name, layer):
            _LAYERS[name] = layer

        def build(name, channels):
            return _LAYERS[name](channels)
        """,
    "a lookup handing back what callers registered, called": """
        _LAYERS = {}

        def register(name, layer):
            _LAYERS[name] = layer

        def lookup(name):
            return _LAYERS[name]

        def default_norm(channels):
            return lookup("norm")(channels)
        """,
    "a closure calling what the instance keeps": """
        from torch import nn

        class Wrap(nn.Module):
            def __init__(self, fn):
                super().__init__()
                self.fn = fn

            def forward(self, x):
                def run(y):
                    return self.fn(y)
                return run(x)
        """,
    "a checkpointed call": """
        import torch.utils.checkpoint as cp

        def run(block, x):
            return cp.checkpoint(block, x)
        """,
    "a registry class handing back what callers registered": """
        _LAYERS = {}

        class Registry:
            @staticmethod
            def register(name, layer):
                _LAYERS[name] = layer

            @staticmethod
            def get(name):
                return _LAYERS[name]

        def build(channels):
            return Registry.get("norm")(channels)
        """,
    "a global set to a caller's value, called": """
        _ACTIVATION = None

        def set_activation(layer):
            global _ACTIVATION
            _ACTIVATION = layer

        def make_activation():
            return _ACTIVATION()
        """,
    "a convolution a caller's BatchNorm may follow": """
        from torch import nn

        def create_conv(in_chs, out_chs, kernel_size, **kwargs):
            return nn.Conv2d(in_chs, out_chs, kernel_size, **kwargs)
        """,
    "a Linear subclass built at the file's lines": """
        from torch import nn

        class Dense(nn.Linear):
            pass

        class Head(nn.Module):
            def __init__(self, c, n):
                super().__init__()
                self.fc = Dense(c, n)

            def forward(self, x):
                return self.fc(x)
        """,
    "a metaclass": """
        from torch import nn

        class Layer(nn.Module, metaclass=Meta):
            pass
        """,
}


@pytest.mark.parametrize("name", sorted(SEALED))
def test_layers_that_take_no_module_from_their_callers_are_sealed(name: str) -> None:
    assert sealed(textwrap.dedent(SEALED[name]).encode())


@pytest.mark.parametrize("name", sorted(OPEN))
def test_a_value_a_caller_controls_opens_the_file(name: str) -> None:
    assert not sealed(textwrap.dedent(OPEN[name]).encode())


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


NETWORK = """
    from torch import nn

    from zoo.layers.drop import DropPath

    class Block(nn.Module):
        def __init__(self, c, drop=0.1, norm_layer=nn.BatchNorm2d):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.bn = norm_layer(c)
            self.drop_path = DropPath(drop)

        def forward(self, x):
            return x + self.drop_path(self.bn(self.conv(x)))

    def net():
        return nn.Sequential(*[Block(8, drop=0.1 * i) for i in range(3)])
    """

# a sealed layer file and a model file that builds it
DROP_PATH_ZOO = {
    "zoo/__init__.py": "",
    "zoo/layers/__init__.py": "",
    "zoo/layers/drop.py": SEALED["drop path"],
    "zoo/models/__init__.py": "",
    "zoo/models/net.py": NETWORK,
}


def test_a_sealed_file_checked_alone_is_its_own_analysis(tmp_path: Path) -> None:
    _tree(tmp_path, DROP_PATH_ZOO)
    drop = tmp_path / "zoo/layers/drop.py"
    alone = analyze([drop], search_roots=[tmp_path])
    assert [t.path for t in alone.timings] == [str(Path(alone.files[0]))]  # no caller analysed
    everything = sorted(tmp_path.rglob("*.py"))
    whole = analyze(everything, search_roots=[tmp_path])
    assert [t.path for t in whole.timings if t.path.endswith("net.py")]  # the caller is
    drop_modules = [m for m in whole.modules if m.path == alone.files[0]]
    assert alone.modules == tuple(drop_modules)
    assert [m.class_name for m in alone.modules] == ["zoo.layers.drop.DropPath"]
    assert alone.diagnostics == ()


def test_a_subclass_elsewhere_keeps_the_callers(tmp_path: Path) -> None:
    """The class's own syntax lets no caller in, but a subclass chooses the layer its
    constructor builds: the BatchNorm is built at the base's line and reported there."""
    slot = """
        import torch
        from torch import nn

        class NormSlot(nn.Module):
            norm_layer = nn.Identity

            def __init__(self, channels: int):
                super().__init__()
                self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                self.norm = self.norm_layer(channels)

            def forward(self, x):
                return self.norm(torch.relu(self.conv(x)))
        """
    _tree(
        tmp_path,
        {
            "zoo/__init__.py": "",
            "zoo/layers/__init__.py": "",
            "zoo/layers/slot.py": slot,
            "zoo/models/__init__.py": "",
            "zoo/models/net.py": """
                from torch import nn

                from zoo.layers.slot import NormSlot

                class WithBatchNorm(NormSlot):
                    norm_layer = nn.BatchNorm2d

                def net():
                    return WithBatchNorm(8)
                """,
        },
    )
    assert sealed(textwrap.dedent(slot).encode())
    alone = analyze([tmp_path / "zoo/layers/slot.py"], search_roots=[tmp_path])
    assert [(d.code, d.line) for d in alone.diagnostics] == [("XBN101", 14)]


HELPERS = """
    def to_2tuple(x):
        return x if isinstance(x, tuple) else (x, x)
    """

POOL = """
    from torch import nn
    from torch.nn import functional as F

    from .helpers import to_2tuple

    class MaxPool2dSame(nn.Module):
        def __init__(self, kernel_size=3, stride=1):
            super().__init__()
            self.kernel_size = to_2tuple(kernel_size)
            self.stride = to_2tuple(stride)

        def forward(self, x):
            return F.max_pool2d(x, self.kernel_size, self.stride)
    """

POOLED_NETWORK = """
    from torch import nn

    from zoo.layers.pool import MaxPool2dSame

    def net():
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), MaxPool2dSame())
    """


@pytest.mark.parametrize(
    ("helpers", "narrowed"),
    [(HELPERS, True), ("def to_2tuple(x):\n    return x()\n", False)],
    ids=["sealed helper", "helper that calls its argument"],
)
def test_a_file_is_sealed_with_the_project_files_it_imports(
    tmp_path: Path, helpers: str, narrowed: bool
) -> None:
    _tree(
        tmp_path,
        {
            "zoo/__init__.py": "",
            "zoo/layers/__init__.py": "",
            "zoo/layers/helpers.py": helpers,
            "zoo/layers/pool.py": POOL,
            "zoo/models/__init__.py": "",
            "zoo/models/net.py": POOLED_NETWORK,
        },
    )
    alone = analyze([tmp_path / "zoo/layers/pool.py"], search_roots=[tmp_path])
    analysed = sorted(Path(t.path).name for t in alone.timings)
    assert analysed == (["pool.py"] if narrowed else ["net.py", "pool.py"])
    whole = analyze(sorted(tmp_path.rglob("*.py")), search_roots=[tmp_path])
    assert alone.modules == tuple(m for m in whole.modules if m.path == alone.files[0])


def test_an_expression_nested_too_deep_to_follow_is_not_sealed() -> None:
    # generated tables (sympy's resolvent lookups) nest hundreds of levels deep: the check
    # gives up on them (not sealed), it does not stop the run
    def chain(terms: int) -> bytes:
        return f"def table(x):\n    y = {' + '.join(['x'] * terms)}\n    return y\n".encode()

    assert sealed(chain(100))
    assert not sealed(chain(600))


def test_a_failure_deciding_costs_the_shortcut_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bnlint.static import sealed_files

    def broken(tree: object, project: object = None) -> bool:
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(sealed_files, "closure_of", broken)
    _tree(tmp_path, DROP_PATH_ZOO)
    alone = analyze([tmp_path / "zoo/layers/drop.py"], search_roots=[tmp_path])
    assert sorted(Path(t.path).name for t in alone.timings) == ["drop.py", "net.py"]
    assert [m.class_name for m in alone.modules] == ["zoo.layers.drop.DropPath"]


# A file of tracing helpers: it hands models to a library the analysis cannot read (so it is
# not sealed itself), and defines the registration its layers are decorated with.
TRACING = """
    try:
        from torchvision.models.feature_extraction import create_feature_extractor as _extract
    except ImportError:
        _extract = None

    _leaf_modules = set()

    def register_notrace_module(module):
        _leaf_modules.add(module)
        return module

    def is_notrace_module(module):
        return module in _leaf_modules

    def get_notrace_modules():
        return list(_leaf_modules)

    def create_feature_extractor(model, nodes):
        return _extract(model, nodes, tracer_kwargs={"leaf_modules": list(_leaf_modules)})
    """

TRACED_POOL = """
    from torch import nn
    from torch.nn import functional as F

    from .tracing import register_notrace_module

    @register_notrace_module
    class MaxPool2dSame(nn.Module):
        def __init__(self, kernel_size=3):
            super().__init__()
            self.kernel_size = kernel_size

        def forward(self, x):
            return F.max_pool2d(x, self.kernel_size)
    """


@pytest.mark.parametrize(
    ("pool", "narrowed"),
    [
        (TRACED_POOL, True),
        (
            TRACED_POOL.replace("register_notrace_module", "get_notrace_modules").replace(
                "@get_notrace_modules", "@get_notrace_modules()[0]"
            ),
            False,
        ),
    ],
    ids=["a registration that only files", "a lookup of what others registered"],
)
def test_a_file_needs_only_the_definitions_it_imports_closed(
    tmp_path: Path, pool: str, narrowed: bool
) -> None:
    """The tracing helpers' file is not sealed (a library it cannot read builds from the
    models it is given), but the registration a layer imports from it runs nothing of a
    caller's: the layer stays sealed. What a lookup hands back was registered by others."""
    _tree(
        tmp_path,
        {
            "zoo/__init__.py": "",
            "zoo/layers/__init__.py": "",
            "zoo/layers/tracing.py": TRACING,
            "zoo/layers/pool.py": pool,
            "zoo/models/__init__.py": "",
            "zoo/models/net.py": POOLED_NETWORK,
        },
    )
    assert not sealed(textwrap.dedent(TRACING).encode())
    alone = analyze([tmp_path / "zoo/layers/pool.py"], search_roots=[tmp_path])
    analysed = sorted(Path(t.path).name for t in alone.timings)
    assert analysed == (["pool.py"] if narrowed else ["net.py", "pool.py"])
    whole = analyze(sorted(tmp_path.rglob("*.py")), search_roots=[tmp_path])
    assert alone.modules == tuple(m for m in whole.modules if m.path == alone.files[0])


def test_a_convolution_built_for_callers_keeps_them(tmp_path: Path) -> None:
    """A conv built at the file's line with its caller's arguments feeds the caller's
    BatchNorm: its redundant bias is reported at the file's line, alone as in the tree."""
    _tree(
        tmp_path,
        {
            "zoo/__init__.py": "",
            "zoo/layers/__init__.py": "",
            "zoo/layers/conv.py": """
                from torch import nn

                class Conv2dSame(nn.Conv2d):
                    def forward(self, x):
                        return super().forward(x)

                def create_conv(in_chs, out_chs, kernel_size, **kwargs):
                    kwargs.setdefault("bias", False)
                    return Conv2dSame(in_chs, out_chs, kernel_size, **kwargs)
                """,
            "zoo/models/__init__.py": "",
            "zoo/models/net.py": """
                from torch import nn

                from zoo.layers.conv import create_conv

                def net():
                    return nn.Sequential(create_conv(3, 8, 3, bias=True), nn.BatchNorm2d(8))
                """,
        },
    )
    conv = tmp_path / "zoo/layers/conv.py"
    alone = analyze([conv], search_roots=[tmp_path])
    whole = analyze(sorted(tmp_path.rglob("*.py")), search_roots=[tmp_path])
    expected = [d for d in whole.diagnostics if d.path == alone.files[0]]
    assert [(d.code, d.line) for d in expected] == [("XBN401", 10)]
    assert list(alone.diagnostics) == expected


def test_each_file_is_read_once_to_decide_sealing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file both checked and imported from (the helpers of the pooling layer) is read once
    for its own seal and for the names it gives its importers: one reading, so one decision
    however an import cycle is entered."""
    from bnlint.static import sealed as sealed_module
    from bnlint.static import sealed_files

    _tree(
        tmp_path,
        {
            "zoo/__init__.py": "",
            "zoo/layers/__init__.py": "",
            # a layer too, so that it is checked as well as imported from
            "zoo/layers/helpers.py": HELPERS + SEALED["drop path"],
            "zoo/layers/pool.py": POOL,
            "zoo/models/__init__.py": "",
            "zoo/models/net.py": POOLED_NETWORK.replace(
                "from zoo.layers.pool import",
                "from zoo.layers.helpers import DropPath\nfrom zoo.layers.pool import",
            ).replace("MaxPool2dSame())", "MaxPool2dSame(), DropPath())"),
        },
    )
    readings: list[bytes] = []
    real = sealed_files.parsed

    def counted(source: bytes) -> object:
        readings.append(source)
        return real(source)

    monkeypatch.setattr(sealed_files, "parsed", counted)
    monkeypatch.setattr(sealed_module, "parsed", counted)
    files = sorted(tmp_path.rglob("*.py"))
    analyze(files, search_roots=[tmp_path])
    assert readings, "no file was asked whether it is sealed"
    assert len(readings) == len(set(readings))


def test_a_closure_is_computed_again_only_when_its_code_or_imports_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closures are kept between runs (memo): the same code, even under other bytes (a
    comment, lines moved), and the same answers for what it imports give the same one."""
    from bnlint.static import sealed_files

    computed: list[object] = []
    real = sealed_files.closure_of

    def counted(tree: object, project: object = None) -> object:
        computed.append(tree)
        return real(tree, project)  # type: ignore[arg-type]

    monkeypatch.setattr(sealed_files, "closure_of", counted)
    _tree(tmp_path, DROP_PATH_ZOO)
    files = sorted(tmp_path.rglob("*.py"))
    cache = tmp_path / "cache"
    first = analyze(files, search_roots=[tmp_path], cache_dir=cache)
    assert computed
    drop = tmp_path / "zoo/layers/drop.py"
    drop.write_text("# moved down a line\n" + drop.read_text() + "\n# and a note\n")
    computed.clear()
    moved = analyze(files, search_roots=[tmp_path], cache_dir=cache)
    assert computed == []
    assert moved.modules != first.modules  # the lines moved with the code
    assert moved == analyze(files, search_roots=[tmp_path])
    # new code in drop.py: its closure again; net.py gets the same answers from it
    drop.write_text(drop.read_text() + "\nLIMIT = 3\n")
    computed.clear()
    analyze(files, search_roots=[tmp_path], cache_dir=cache)
    assert len(computed) == 1
