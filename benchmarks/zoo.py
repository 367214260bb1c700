"""A seeded synthetic model zoo, written the way real PyTorch repositories are written.

The corpus mixes what a model repository holds: shared layer files that every model imports
(the hubs), model families in their own packages (blocks with residual and concat branches,
`_make_layer` builders, Sequential subclasses, `norm_layer` arguments, cfg tables, factories,
subclasses of a network defined in another file), and the ordinary code around them: data
sets and transforms, training loops, schedulers, configs, scripts with a `main()`, tests.
Block names collide across families (`BasicBlock`, `Bottleneck`, `ConvBNAct`, `main`) the way
they do in real zoos, because that is what makes cross-file analysis expensive.

`generate(root, files=1000, seed=0)` writes about `files` files and 150 lines a file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import zoo_templates as t

PACKAGE = "zoobench"
ARCHS = ("resnet", "mobilenet", "vgg", "densenet", "regnet", "unet")
NON_MODEL_KINDS = (
    "train_loop",
    "script",
    "test",
    "dataset",
    "transforms",
    "scheduler",
    "config",
    "metrics",
    "io_utils",
)


@dataclass
class Corpus:
    root: Path
    files: list[Path] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(p.read_bytes().count(b"\n") for p in self.files)

    def model_files(self) -> list[Path]:
        return [p for p in self.files if "/models/" in p.as_posix() and p.name != "__init__.py"]


def generate(root: Path, files: int = 1000, seed: int = 0) -> Corpus:
    """Write the corpus under `root` (created; must be empty or missing)."""
    rng = random.Random(seed)
    corpus = Corpus(root)
    writer = _Writer(root, corpus)
    writer.write("pyproject.toml", '[project]\nname = "zoobench"\nversion = "0.0.0"\n')
    _hubs(writer)
    # A family is 5 files; non-model code is about 40 % of a real repository.
    families = max(1, round((files - len(corpus.files)) * 0.6 / 5))
    names: list[tuple[str, str, str]] = []  # (module, factory, arch)
    for index in range(families):
        arch = ARCHS[index % len(ARCHS)]
        names.extend(_family(writer, rng, arch, index))
    _package_inits(writer, families)
    kind = 0
    while len(corpus.files) < files:
        _non_model(writer, rng, NON_MODEL_KINDS[kind % len(NON_MODEL_KINDS)], kind, names)
        kind += 1
    return corpus


class _Writer:
    def __init__(self, root: Path, corpus: Corpus) -> None:
        self.root = root
        self.corpus = corpus

    def write(self, relative: str, text: str, extra: str = "") -> None:
        path = self.root / relative
        text += extra
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if path.suffix == ".py":
            self.corpus.files.append(path)


def _src(relative: str) -> str:
    return f"src/{PACKAGE}/{relative}"


# ---- the hubs: shared layers every family imports -------------------------------------------


def _hubs(writer: _Writer) -> None:
    writer.write(_src("__init__.py"), '"""A synthetic model zoo for benchmarking bnlint."""\n')
    writer.write(
        _src("layers/__init__.py"),
        "from .attention import SqueezeExcite\n"
        "from .conv import ConvBNAct, ConvBNReLU, conv1x1, conv3x3, make_divisible\n"
        "from .norm import BatchNorm2dTF, BatchNormAct2d, get_norm_layer\n",
    )
    writer.write(_src("layers/conv.py"), t.CONV)
    writer.write(_src("layers/norm.py"), t.NORM)
    writer.write(_src("layers/attention.py"), t.ATTENTION)
    writer.write(_src("registry.py"), t.REGISTRY)


def _package_inits(writer: _Writer, families: int) -> None:
    writer.write(_src("models/__init__.py"), '"""Every model family."""\n')
    for folder in ("data", "train", "configs", "utils"):
        writer.write(_src(f"{folder}/__init__.py"), "")


# ---- model families ----------------------------------------------------------------------------


def _family(
    writer: _Writer, rng: random.Random, arch: str, index: int
) -> list[tuple[str, str, str]]:
    name = f"{arch}{index}"
    package = f"models/{name}"
    width = rng.choice((16, 24, 32, 48, 64))
    blocks = _blocks_file(rng, arch)
    net, factories = _net_file(rng, arch, name, width)
    variants, more = _variants_file(rng, arch, name, factories[0])
    heads = _heads_file(rng, name)
    writer.write(_src(f"{package}/blocks.py"), blocks)
    writer.write(_src(f"{package}/{arch}.py"), net)
    writer.write(_src(f"{package}/variants.py"), variants)
    writer.write(_src(f"{package}/heads.py"), heads)
    writer.write(
        _src(f"{package}/__init__.py"),
        f'"""The {name} family."""\n\n'
        f"from .{arch} import {', '.join(sorted(factories))}\n"
        f"from .variants import {', '.join(sorted(more))}\n",
    )
    module = f"{PACKAGE}.models.{name}"
    return [(module, f, arch) for f in factories + more]


def _blocks_file(rng: random.Random, arch: str) -> str:
    text = t.BLOCK_HEADER.format(package=PACKAGE)
    own = t.BLOCKS_BY_ARCH[arch]
    # Real block files carry blocks of other architectures too (copied, adapted, kept).
    every = {block for blocks in t.BLOCKS_BY_ARCH.values() for block in blocks}
    others = sorted(every - set(own))
    for template in own + tuple(rng.sample(others, 2)):
        text += template.format(use_se=rng.choice(("False", "True")), group=rng.choice((8, 16, 24)))
    text += t.PREACT.format(branch=rng.choice((16, 32, 64)), stem=rng.choice((32, 64)))
    return _license(rng) + text + t.HELPERS


def _extras(cls: str) -> str:
    return t.EXTRAS.format(cls=cls) + t.FEATURES.format(cls=cls, lower=cls.lower())


def _license(rng: random.Random) -> str:
    return t.LICENSE.format(year=rng.choice((2019, 2020, 2021, 2022))) if rng.random() < 0.6 else ""


def _factory_call(arch: str, cls: str, rng: random.Random) -> str:
    if arch == "resnet":
        block = rng.choice(("BasicBlock", "Bottleneck"))
        layers = [rng.randint(1, 4) for _ in range(4)]
        return f"{cls}({block}, {layers}, **kwargs)"
    if arch == "vgg":
        table, batch_norm = rng.choice("ABD"), rng.choice(("True", "False"))
        return f'{cls}(make_layers(CFGS["{table}"], batch_norm={batch_norm}), **kwargs)'
    if arch == "mobilenet":
        return f"{cls}(width_mult={rng.choice(('0.5', '0.75', '1.0'))}, **kwargs)"
    return f"{cls}(**kwargs)"


def _net_file(rng: random.Random, arch: str, name: str, width: int) -> tuple[str, list[str]]:
    cls = f"{name.capitalize()}Net"
    text = t.NETS[arch].format(
        name=name,
        package=PACKAGE,
        cls=cls,
        classes=rng.choice((10, 100, 1000)),
        width=width,
        width2=width * 2,
        width4=width * 4,
        width8=width * 8,
        n2=rng.randint(1, 3),
        n4=rng.randint(2, 4),
        b1=rng.randint(1, 3),
        b2=rng.randint(2, 4),
        b3=rng.randint(2, 6),
    )
    sizes = rng.sample(
        (
            "tiny",
            "small",
            "base",
            "large",
            "xlarge",
            "wide",
            "deep",
            "slim",
            "nano",
            "medium",
            "huge",
            "lite",
        ),
        rng.randint(5, 10),
    )
    text += _extras(cls)
    text += (
        '\n\ndef _cfg(url: str = "", **kwargs) -> dict:\n    return {\n'
        + "".join(
            f'        "{key}": {value},\n'
            for key, value in (
                ("url", "url"),
                ("num_classes", "1000"),
                ("input_size", "(3, 224, 224)"),
                ("pool_size", "(7, 7)"),
                ("crop_pct", "0.875"),
                ("interpolation", '"bilinear"'),
                ("mean", "(0.485, 0.456, 0.406)"),
                ("std", "(0.229, 0.224, 0.225)"),
                ("first_conv", '"conv1"'),
                ("classifier", '"fc"'),
            )
        )
        + "        **kwargs,\n    }\n"
    )
    text += (
        "\n\ndefault_cfgs = {\n"
        + "".join(
            f'    "{name}_{size}": _cfg(\n        url="https://example.invalid/{name}_{size}.pth",\n'
            f"        input_size=(3, {rng.choice((224, 256, 288))}, "
            f"{rng.choice((224, 256, 288))}),\n"
            f"        crop_pct={rng.choice(('0.875', '0.9', '0.95', '1.0'))},\n    ),\n"
            for size in sizes
        )
        + "}\n\n"
    )
    factories = []
    for size in sizes:
        factory = f"{name}_{size}"
        factories.append(factory)
        text += (
            f"\n@register_model\ndef {factory}(**kwargs) -> {cls}:\n"
            f'    """{name} at the {size} size.\n\n'
            f"    Args:\n        **kwargs: passed to {cls} (num_classes, norm_layer...).\n\n"
            f"    Returns:\n"
            f"        The network, randomly initialised; pretrained weights are\n"
            f'        described by default_cfgs["{factory}"].\n    """\n'
            f"    return {_factory_call(arch, cls, rng)}\n\n"
        )
    return _license(rng) + text, factories


def _variants_file(rng: random.Random, arch: str, name: str, factory: str) -> tuple[str, list[str]]:
    cls = f"{name.capitalize()}Net"
    text = t.VARIANTS.format(
        name=name,
        package=PACKAGE,
        arch=arch,
        cls=cls,
        width=rng.choice((16, 32)),
        dim=rng.choice((128, 256)),
        members=rng.choice((2, 3)),
        classes=rng.choice((10, 100)),
        factory=factory,
    )
    text = text.replace(f"from .{arch} import {cls}\n", f"from .{arch} import {cls}, {factory}\n")
    return _license(rng) + text, [f"{name}_stem", f"{name}_projection"]


def _heads_file(rng: random.Random, name: str) -> str:
    return _license(rng) + t.HEADS.format(
        name=name,
        dropout=rng.choice(("0.0", "0.2", "0.5")),
        levels=rng.choice((3, 4, 5)),
        width=rng.choice((64, 128, 256)),
        hidden=rng.choice((128, 256, 512)),
    )


# ---- the code around the models ----------------------------------------------------------------


def _snippets(rng: random.Random, k: int) -> str:
    return "".join(rng.choice(t.SNIPPETS).format(k=k, j=j) for j in range(rng.randint(7, 14)))


def _non_model(
    writer: _Writer, rng: random.Random, kind: str, k: int, names: list[tuple[str, str, str]]
) -> None:
    module, factory, _ = rng.choice(names)
    common = dict(
        k=k,
        package=PACKAGE,
        module=module,
        factory=factory,
        epochs=rng.choice((90, 120, 300)),
        lr=rng.choice(("0.1", "0.05", "0.01")),
        batch=rng.choice((64, 128, 256)),
        classes=rng.choice((10, 100, 1000)),
    )
    extra = _snippets(rng, k)
    if kind == "dataset":
        writer.write(
            _src(f"data/dataset_{k}.py"), t.DATASET.format(cls=f"ImageList{k}", **common), extra
        )
    elif kind == "transforms":
        writer.write(
            _src(f"data/transforms_{k}.py"),
            t.TRANSFORMS.format(pad=rng.choice((0, 2, 4)), **common),
            extra,
        )
    elif kind == "train_loop":
        writer.write(
            _src(f"train/loop_{k}.py"),
            t.TRAIN.format(
                clip=rng.choice(("0.0", "1.0", "5.0")), smooth=rng.choice(("0.0", "0.1")), **common
            ),
            extra,
        )
    elif kind == "scheduler":
        writer.write(
            _src(f"train/scheduler_{k}.py"),
            t.SCHEDULER.format(
                warmup=rng.choice((500, 1000)), total=rng.choice((10000, 50000)), **common
            ),
            extra,
        )
    elif kind == "config":
        writer.write(
            f"configs/exp_{k}.py", t.CONFIG.format(size=rng.choice((160, 224, 288)), **common)
        )
    elif kind == "metrics":
        writer.write(
            _src(f"utils/metrics_{k}.py"),
            t.METRICS.format(topk=rng.choice((3, 5)), **common),
            extra,
        )
    elif kind == "script":
        # train_loop comes before script in NON_MODEL_KINDS, so a loop exists.
        loops = sorted(
            int(p.stem.split("_")[1])
            for p in writer.corpus.files
            if p.parent.name == "train" and p.stem.startswith("loop_")
        )
        writer.write(
            f"scripts/train_{k}.py", t.SCRIPT.format(loop=rng.choice(loops), **common), extra
        )
    elif kind == "test":
        writer.write(f"tests/test_{factory}_{k}.py", t.TEST.format(**common))
    else:
        writer.write(
            _src(f"utils/io_{k}.py"),
            t.IO.format(chunk=rng.choice((1 << 16, 1 << 20)), **common),
            extra,
        )
