"""The static fixtures and the example zoo are real PyTorch models, and the truth written in
them holds in PyTorch.

Each fixture states what the static analyzer must report, in comments: `# expect: CODE` on
the line a diagnostic goes to, and a `# folds:` block at the end of the file with every
BatchNorm's verdict (`Owner: conv -> bn direction status [code]`, paths relative to the
owner as named_modules() prints them). The analyzer's own tests compare against those
comments; this file proves the comments are about real, runnable models and are right where
PyTorch can tell:

- every root model (top-level factories, and classes that no other root contains, built with
  default arguments) builds and runs one forward pass; the roots a fixture marks as broken
  really fail, as the bug it shows says they must;
- every registered BatchNorm of every root has a verdict, and every verdict names modules that
  exist, of the right kinds, on the owner the fold key defines;
- folding every pair called foldable leaves the output unchanged (with random statistics);
  the fold a shared producer or a padded consumer blocks would change it;
- `# expect` comments agree with the verdicts: the same rule codes, a redundant-bias finding
  exactly on the construction line of each biased layer that folds, never-called BatchNorms
  really never called.

The analyzer is not run here.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import inspect
import re
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.runtime
torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: E402
from torch.nn.modules.conv import _ConvNd  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "static"
CROSSFILE_SRC = FIXTURES / "crossfile" / "src"
# Stands in for installed third-party packages: importable at run time, never analysed
# (the analyzer skips hidden directories and resolves imports only among analysed files).
EXTERNAL = FIXTURES / ".site-packages"
EXAMPLES = REPO / "examples"

PLAIN_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
PRODUCERS = (_ConvNd, nn.Linear)
# Layers a BatchNorm before them can fold into (a transposed conv spreads the shift unevenly).
FOLLOWERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
# Skips whose partner layer comes after the BatchNorm.
PARTNER_FOLLOWS = {"XBN109", "XBN110"}
# Codes an `# expect` line may carry without any BatchNorm verdict carrying them: findings
# about other things (an F.batch_norm call, a plain container, a redundant bias, a module
# from a library the analyzer does not read).
FINDING_CODES = {"XBN108", "XBN303", "XBN401", "XBN402"}
# Unfoldable verdicts whose partner fold exists in PyTorch and would change the output.
BLOCKED_FOLDS = {"XBN103", "XBN106", "XBN109"}

_EXPECT = re.compile(r"#\s*expect:\s*(XBN\d{3}(?:\s*,\s*XBN\d{3})*)\s*$")
_VERDICT = re.compile(
    r"^#\s+(?P<owner>\w+): (?P<conv>\S+) -> (?P<bn>\S+) (?P<direction>conv_bn|bn_conv|-) "
    r"(?P<status>foldable|unfoldable|unknown)(?: (?P<code>XBN\d{3}))?(?: @(?P<sites>\S+))?$"
)


# ---------------------------------------------------------------------------------------------
# Reading the expectations


@dataclass(frozen=True)
class Verdict:
    module: str  # dotted module that defines the owner class
    owner: str
    conv: str | None
    bn: str
    direction: str | None
    status: str
    code: str | None
    # Where the instances this verdict holds for are built ("file.py:61"), when the class
    # has several verdicts on the BatchNorm; () for the class's own verdict.
    sites: tuple[str, ...] = ()

    def __str__(self) -> str:
        at = f" @{','.join(self.sites)}" if self.sites else ""
        return (
            f"{self.module}.{self.owner}: {self.conv or '-'} -> {self.bn} "
            f"{self.direction or '-'} {self.status} {self.code or ''}"
        ).rstrip() + at


@dataclass(frozen=True)
class FileTruth:
    path: Path
    module: str
    expects: dict[int, frozenset[str]]  # line -> codes
    verdicts: tuple[Verdict, ...] | None  # None: the file has no `# folds:` block


def read_truth(path: Path, module: str) -> FileTruth:
    lines = path.read_text(encoding="utf-8").splitlines()
    expects: dict[int, frozenset[str]] = {}
    for number, line in enumerate(lines, start=1):
        match = _EXPECT.search(line)
        if match:
            expects[number] = frozenset(c.strip() for c in match.group(1).split(","))
    if "# folds:" not in lines:
        return FileTruth(path, module, expects, None)
    start = lines.index("# folds:")
    verdicts = []
    for line in lines[start + 1 :]:
        match = _VERDICT.match(line)
        assert match, f"{path}: not a verdict line in the trailing # folds: block: {line!r}"
        verdict = Verdict(
            module=module,
            owner=match["owner"],
            conv=None if match["conv"] == "-" else match["conv"],
            bn=match["bn"],
            direction=None if match["direction"] == "-" else match["direction"],
            status=match["status"],
            code=match["code"],
            sites=tuple(
                s if ":" in s else f"{path.name}:{s}"
                for s in (match["sites"] or "").split(",")
                if s
            ),
        )
        assert (verdict.status == "foldable") == (verdict.code is None), (
            f"{path}: foldable verdicts carry no code, the others one: {line}"
        )
        assert (verdict.status == "foldable") == (verdict.direction is not None), (
            f"{path}: a direction is given for folds only: {line}"
        )
        assert verdict.status != "foldable" or verdict.conv is not None, line
        verdicts.append(verdict)
    return FileTruth(path, module, expects, tuple(verdicts))


# ---------------------------------------------------------------------------------------------
# The analysis units: one fixture file, the cross-file package, the example zoo


@dataclass(frozen=True)
class Unit:
    name: str
    files: dict[str, Path]  # module name -> file, as the analyzer names modules
    sys_path: tuple[Path, ...] = ()
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # module -> input shape
    factories: dict[str, tuple[int, ...]] = field(default_factory=dict)  # "mod:fn" -> shape


def _package_files(src: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


def _zoo_unit() -> Unit:
    config = tomllib.loads((EXAMPLES / "pyproject.toml").read_text(encoding="utf-8"))
    factories = {
        spec["factory"]: tuple(spec["input-shape"])
        for spec in config["tool"]["bnlint"]["models"].values()
    }
    shapes = {ref.split(":")[0]: shape for ref, shape in factories.items()}
    return Unit(
        "examples", _package_files(EXAMPLES / "src"), (EXAMPLES / "src",), shapes, factories
    )


def _units() -> list[Unit]:
    units = [Unit(path.stem, {path.stem: path}) for path in sorted(FIXTURES.glob("*.py"))]
    units.append(Unit("crossfile", _package_files(CROSSFILE_SRC), (CROSSFILE_SRC,)))
    units.append(_zoo_unit())
    return units


UNITS = _units()


@dataclass
class LoadedUnit:
    unit: Unit
    modules: dict[str, ModuleType]
    truths: dict[str, FileTruth]

    @property
    def verdicts(self) -> list[Verdict]:
        return [v for t in self.truths.values() for v in (t.verdicts or ())]


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Unit], LoadedUnit]]:
    imported: list[str] = []

    def load_unit(unit: Unit) -> LoadedUnit:
        for path in (EXTERNAL, *unit.sys_path):
            monkeypatch.syspath_prepend(str(path))
        modules = {}
        for name, path in unit.files.items():
            if unit.sys_path:
                modules[name] = importlib.import_module(name)
            else:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
                modules[name] = module
            imported.append(name)
        truths = {name: read_truth(path, name) for name, path in unit.files.items()}
        return LoadedUnit(unit, modules, truths)

    yield load_unit
    # Forget the unit's modules (and the stand-in third-party package) so that the next test
    # imports fresh copies; torch's own modules stay.
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in (*imported, "extlayers")):
            del sys.modules[name]


# ---------------------------------------------------------------------------------------------
# Roots: what the analyzer analyses as models, built the way it assumes


@dataclass
class Root:
    name: str  # "module:attribute"
    build: Callable[[], nn.Module]
    inputs: Callable[[], tuple[Any, ...]]
    broken: bool


def _buildable(func: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not inspect.Parameter.empty
        or p.name in kwargs
        or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in list(signature.parameters.values())
    )


def _inputs_for(loaded: LoadedUnit, module: ModuleType) -> Callable[[], tuple[Any, ...]]:
    make_inputs = getattr(module, "make_inputs", None)
    if make_inputs is not None:

        def made() -> tuple[Any, ...]:
            value = make_inputs()
            return value if isinstance(value, tuple) else (value,)

        return made
    shape = getattr(module, "INPUT_SHAPE", None) or loaded.unit.shapes.get(module.__name__)
    assert shape is not None, f"{module.__name__} defines a root model but no INPUT_SHAPE"
    return lambda: (torch.randn(*shape),)


def find_roots(loaded: LoadedUnit) -> list[Root]:
    candidates: list[Root] = []
    for name, module in loaded.modules.items():
        test_kwargs = getattr(module, "TEST_KWARGS", {})
        broken = set(getattr(module, "BROKEN_ROOTS", ()))
        for attr, value in vars(module).items():
            if getattr(value, "__module__", None) != name or attr.startswith("_"):
                continue
            if inspect.isclass(value) and issubclass(value, nn.Module):
                kwargs = test_kwargs.get(attr, {})
                if not _buildable(value, kwargs):
                    continue
                build = functools.partial(value, **kwargs)
            elif inspect.isfunction(value) and attr != "make_inputs":
                if not _buildable(value, {}):
                    continue
                build = value
            else:
                continue
            candidates.append(Root(f"{name}:{attr}", build, lambda: (), attr in broken))

    models = {}
    for candidate in candidates:
        torch.manual_seed(0)
        model = candidate.build()
        # a function that makes one layer (`build_norm()`) is a helper, as for the analysis
        if isinstance(model, nn.Module) and not isinstance(model, (*PRODUCERS, _BatchNorm)):
            models[candidate.name] = model
    contained = {type(m) for model in models.values() for m in list(model.modules())[1:]}
    roots = []
    for candidate in candidates:
        model = models.get(candidate.name)
        if model is None:
            continue
        built_by_class = inspect.isclass(_attribute(loaded, candidate.name))
        if built_by_class and type(model) in contained:
            continue
        module = loaded.modules[candidate.name.split(":")[0]]
        candidate.inputs = _inputs_for(loaded, module)
        roots.append(candidate)
    return roots


def _attribute(loaded: LoadedUnit, ref: str) -> Any:
    module, attr = ref.split(":")
    return getattr(loaded.modules[module], attr)


def run(model: nn.Module, inputs: tuple[Any, ...]) -> list[torch.Tensor]:
    model.eval()
    with torch.no_grad():
        return _tensors(model(*inputs))


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for key in sorted(value) for t in _tensors(value[key])]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


@contextmanager
def construction_sites() -> Iterator[weakref.WeakKeyDictionary[nn.Module, tuple[str, int]]]:
    """Record, for every module built inside the block, the file and first line of the
    expression that built it (the caller of the outermost __init__ running on it)."""
    sites: weakref.WeakKeyDictionary[nn.Module, tuple[str, int]] = weakref.WeakKeyDictionary()
    original = nn.Module.__init__

    def recording_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        frame = sys._getframe(1)
        # skip the __init__s running on it and a metaclass's __call__ that made it (`res`)
        while frame is not None and any(v is self for v in frame.f_locals.values()):
            frame = frame.f_back
        if frame is not None and self not in sites:
            sites[self] = (str(Path(frame.f_code.co_filename).resolve()), frame.f_lineno)

    nn.Module.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield sites
    finally:
        nn.Module.__init__ = original  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------
# Resolving verdicts against built models


@dataclass(frozen=True)
class Resolved:
    verdict: Verdict
    conv: nn.Module | None
    bn: nn.Module
    conv_path: str | None  # from the root; None when the module is not registered
    bn_path: str | None


def _direction(verdict: Verdict) -> str:
    """The direction of a verdict's fold; for a blocked one, where its partner sits."""
    if verdict.direction is not None:
        return verdict.direction
    return "bn_conv" if verdict.code in PARTNER_FOLLOWS else "conv_bn"


def _walk(start: Any, path: str) -> Any:
    """Follow a dotted path through registered children, and through plain lists and dicts
    (how a verdict names modules that PyTorch does not register)."""
    obj = start
    for part in path.split("."):
        if isinstance(obj, nn.Module) and part in obj._modules:
            obj = obj._modules[part]
        elif isinstance(obj, nn.Module) and isinstance(vars(obj).get(part), (list, tuple, dict)):
            obj = vars(obj)[part]
        elif isinstance(obj, (list, tuple)) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return None
    return obj


def _expected_owner(model: nn.Module, *paths: str) -> str:
    """DESIGN.md's owner: the innermost module containing all layers whose class is not
    exactly Sequential/ModuleList/ModuleDict; a layer's own frame is never its owner."""
    split = [p.split(".") for p in paths]
    common = 0
    limit = min(len(s) for s in split) - 1
    while common < limit and len({s[common] for s in split}) == 1:
        common += 1
    parts = split[0][:common]
    while parts and type(model.get_submodule(".".join(parts))) in PLAIN_CONTAINERS:
        parts.pop()
    return ".".join(parts)


def _as_seen_from(owner_path: str, registered: str, relative: str | None) -> str:
    """A layer's path for the owner check. named_modules() lists a shared module once, under
    its first path; where the owner holds it too (a conv handed from unit to unit), the
    owner's own attribute is where its forward() calls it."""
    prefix = f"{owner_path}." if owner_path else ""
    if registered.startswith(prefix) or relative is None:
        return registered
    return prefix + relative


def _defined_in(cls: type, verdict: Verdict) -> bool:
    """The owner class is the fixture's own, or a torch container (a factory's Sequential)."""
    return cls.__module__ == verdict.module or cls.__module__.startswith("torch.nn.")


def resolve(
    model: nn.Module,
    verdicts: list[Verdict],
    sites: weakref.WeakKeyDictionary[nn.Module, tuple[str, int]],
) -> list[Resolved]:
    """Every place in `model` where a verdict applies: an instance of its owner class whose
    relative paths lead to a BatchNorm (and a layer of the direction's kind), built where the
    verdict says when it names sites (`sites`: where each module of the model was built)."""
    paths = {id(m): p for p, m in model.named_modules()}
    claimed: dict[tuple[str, str, str], set[str]] = {}
    for verdict in verdicts:
        claimed.setdefault((verdict.module, verdict.owner, verdict.bn), set()).update(verdict.sites)
    found = []
    for owner_path, owner in model.named_modules():
        file, line = sites.get(owner, ("?", 0))
        built_at = f"{Path(file).name}:{line}"
        for verdict in verdicts:
            if type(owner).__name__ != verdict.owner or not _defined_in(type(owner), verdict):
                continue
            if verdict.sites and built_at not in verdict.sites:
                continue
            if (
                not verdict.sites
                and built_at in claimed[(verdict.module, verdict.owner, verdict.bn)]
            ):
                continue
            bn = _walk(owner, verdict.bn)
            conv = _walk(owner, verdict.conv) if verdict.conv else None
            if not isinstance(bn, _BatchNorm):
                continue
            if verdict.conv is not None:
                wanted = FOLLOWERS if _direction(verdict) == "bn_conv" else PRODUCERS
                if not isinstance(conv, wanted):
                    continue
            found.append(
                Resolved(
                    verdict, conv, bn, paths.get(id(conv)) if conv else None, paths.get(id(bn))
                )
            )
            registered = [
                _as_seen_from(owner_path, p, relative)
                for p, relative in (
                    (found[-1].conv_path, verdict.conv),
                    (found[-1].bn_path, verdict.bn),
                )
                if p is not None
            ]
            if len(registered) == (2 if conv is not None else 1):
                owner_is = _expected_owner(model, *registered)
                assert owner_is == owner_path, (
                    f"{verdict}: at '{owner_path}' its owner is '{owner_is}' "
                    f"({type(model.get_submodule(owner_is)).__name__})"
                )
    return found


# ---------------------------------------------------------------------------------------------
# Folding, to check the verdicts numerically (float64 arithmetic, written back as float32)


def _affine(bn: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    scale = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


def _write(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> None:
    layer.weight.data.copy_(weight.to(layer.weight.dtype))
    if layer.bias is None:
        layer.bias = nn.Parameter(bias.to(layer.weight.dtype))
    else:
        layer.bias.data.copy_(bias.to(layer.bias.dtype))


def _neutralise(bn: _BatchNorm) -> None:
    """Make the normalisation an exact identity, keeping whatever a subclass adds after it."""
    bn.eps = 0.0
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    if bn.weight is not None:
        bn.weight.data.fill_(1.0)
        bn.bias.data.zero_()


def _bias(layer: nn.Module, size: int) -> torch.Tensor:
    return layer.bias.double() if layer.bias is not None else torch.zeros(size, dtype=torch.double)


def fold_into_preceding(layer: nn.Module, bn: _BatchNorm) -> None:
    scale, shift = _affine(bn)
    weight = layer.weight.double()
    if isinstance(layer, _ConvNd) and layer.transposed:
        # (in, out / groups, *k): the output channel of group g, index j is g * out_g + j.
        groups = layer.groups
        grouped = weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])
        view = scale.reshape(groups, 1, weight.shape[1], *[1] * (weight.dim() - 2))
        weight = (grouped * view).reshape(weight.shape)
        out_channels = weight.shape[1] * groups
    else:
        weight = weight * scale.reshape(-1, *[1] * (weight.dim() - 1))
        out_channels = weight.shape[0]
    _write(layer, weight, _bias(layer, out_channels) * scale + shift)
    _neutralise(bn)


def fold_into_following(bn: _BatchNorm, layer: nn.Module) -> None:
    """Exact only when `layer` adds no padding: the padded zeros do not get the shift."""
    scale, shift = _affine(bn)
    weight = layer.weight.double()
    out_channels = weight.shape[0]
    groups = layer.groups if isinstance(layer, _ConvNd) else 1
    in_group = weight.shape[1]
    grouped = weight.reshape(groups, out_channels // groups, in_group, -1)
    shift_term = (grouped * shift.reshape(groups, 1, in_group, 1)).sum((2, 3)).reshape(-1)
    weight = (grouped * scale.reshape(groups, 1, in_group, 1)).reshape(weight.shape)
    _write(layer, weight, _bias(layer, out_channels) + shift_term)
    _neutralise(bn)


def _channels_line_up(
    model: nn.Module, conv_path: str | None, bn_path: str, direction: str
) -> bool:
    if conv_path is None:  # no layer named: nothing to fold into
        return False
    conv, bn = model.get_submodule(conv_path), model.get_submodule(bn_path)
    weight = conv.weight
    if direction == "conv_bn":
        transposed = isinstance(conv, _ConvNd) and conv.transposed
        channels = weight.shape[1] * conv.groups if transposed else weight.shape[0]
    else:
        channels = weight.shape[1] * (conv.groups if isinstance(conv, _ConvNd) else 1)
    return channels == bn.num_features


def apply_fold(model: nn.Module, conv_path: str, bn_path: str, direction: str) -> None:
    conv, bn = model.get_submodule(conv_path), model.get_submodule(bn_path)
    with torch.no_grad():
        if direction == "conv_bn":
            fold_into_preceding(conv, bn)
        else:
            fold_into_following(bn, conv)


def randomise_statistics(model: nn.Module, seed: int = 0) -> None:
    """Trained-looking BatchNorms: a fold that is only right for fresh statistics (mean 0,
    variance 1, identity affine) must show."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _BatchNorm) or module.running_mean is None:
                continue
            # each tensor's own length (a subclass may keep statistics per split)
            n = module.running_mean.numel()
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
            if module.weight is not None:
                n = module.weight.numel()
                sign = torch.where(torch.rand(n, generator=generator) < 0.2, -1.0, 1.0)
                module.weight.copy_((torch.rand(n, generator=generator) + 0.5) * sign)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.5)


def max_relative_change(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    assert len(before) == len(after)
    worst = 0.0
    for a, b in zip(before, after, strict=True):
        scale = 1.0 + a.abs().max().item()
        worst = max(worst, (a - b).abs().max().item() / scale)
    return worst


# ---------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # The models are tiny: spreading each op over threads only costs synchronisation.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=UNITS, ids=[u.name for u in UNITS])
def unit(request: pytest.FixtureRequest) -> Unit:
    return request.param


def test_every_root_model_builds_and_runs(unit: Unit, load: Callable[[Unit], LoadedUnit]):
    loaded = load(unit)
    roots = find_roots(loaded)
    assert roots, f"{unit.name} defines no model that can be built with default arguments"
    for root in roots:
        torch.manual_seed(0)
        model = root.build()
        inputs = root.inputs()
        if root.broken:
            # The bug this fixture shows is real: PyTorch rejects the model at run time.
            with pytest.raises((RuntimeError, ValueError)):
                run(model, inputs)
            continue
        outputs = run(model, inputs)
        assert outputs, f"{root.name} returned no tensor"
        assert all(torch.isfinite(t).all() for t in outputs), root.name


def build(root: Root) -> tuple[nn.Module, weakref.WeakKeyDictionary[nn.Module, tuple[str, int]]]:
    torch.manual_seed(0)
    with construction_sites() as sites:
        model = root.build()
    return model, sites


def test_every_batchnorm_has_one_verdict_naming_real_modules(
    unit: Unit, load: Callable[[Unit], LoadedUnit]
):
    loaded = load(unit)
    for name, module in loaded.modules.items():
        defines_model = any(
            inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == name
            for v in vars(module).values()
        )
        if defines_model:
            assert loaded.truths[name].verdicts is not None, f"{name} has no # folds: block"
    verdicts = loaded.verdicts
    assert len({str(v) for v in verdicts}) == len(verdicts), "a verdict is listed twice"
    used: set[Verdict] = set()
    for root in find_roots(loaded):
        model, sites = build(root)
        resolved = resolve(model, verdicts, sites)
        used.update(r.verdict for r in resolved)
        named = {id(r.bn): r.verdict for r in resolved}
        unread = _inside_unread_libraries(model)
        for path, module in model.named_modules():
            if isinstance(module, _BatchNorm) and id(module) not in unread:
                assert id(module) in named, f"{root.name}: BatchNorm '{path}' has no verdict"
        by_bn: dict[int, set[str]] = {}
        for r in resolved:
            by_bn.setdefault(id(r.bn), set()).add(r.verdict.status)
        for r in resolved:
            # Two keys can reach one BatchNorm (a class-level key and a cross-module one);
            # they never disagree about whether it folds.
            statuses = by_bn[id(r.bn)]
            assert len(statuses) == 1 or "foldable" not in statuses, (
                f"{root.name}: '{r.bn_path}' is both foldable and not: {statuses}"
            )
    unused = [str(v) for v in verdicts if v not in used]
    assert not unused, f"verdicts naming no module of any root: {unused}"


def _inside_unread_libraries(model: nn.Module) -> set[int]:
    """The modules inside a module whose class a library the analyzer never reads defines:
    their BatchNorms have no verdict, XBN402 says so where the library module is built."""
    inside: set[int] = set()
    for module in model.modules():
        if type(module).__module__.split(".")[0] == "extlayers":
            inside.update(id(m) for m in module.modules())
    return inside


def test_expectations_agree_with_verdicts(unit: Unit, load: Callable[[Unit], LoadedUnit]):
    loaded = load(unit)
    expected_codes = {
        c for t in loaded.truths.values() for codes in t.expects.values() for c in codes
    }
    verdict_codes = {v.code for v in loaded.verdicts if v.code}
    assert verdict_codes <= expected_codes, (
        f"verdict codes with no # expect line: {verdict_codes - expected_codes}"
    )
    assert expected_codes - FINDING_CODES <= verdict_codes, (
        f"# expect codes no verdict carries: {expected_codes - FINDING_CODES - verdict_codes}"
    )

    bias_sites: set[tuple[str, int]] = set()
    plain_containers: set[tuple[type, str]] = set()
    for root in find_roots(loaded):
        model, sites = build(root)
        resolved = resolve(model, loaded.verdicts, sites)
        for r in resolved:
            if (
                r.verdict.status == "foldable"
                and r.verdict.direction == "conv_bn"
                and r.conv.bias is not None
            ):
                bias_sites.add(sites[r.conv])
        for module in model.modules():
            for attr, value in vars(module).items():
                if attr.startswith("_"):
                    continue
                items = value.values() if isinstance(value, dict) else value
                if isinstance(value, (list, tuple, dict)) and any(
                    isinstance(item, nn.Module) for item in items
                ):
                    plain_containers.add((type(module), attr))
        if root.broken:
            continue
        calls: dict[int, int] = {}
        for r in resolved:
            calls[id(r.bn)] = 0
            r.bn.register_forward_pre_hook(
                lambda m, args, calls=calls: calls.__setitem__(id(m), calls[id(m)] + 1)
            )
        run(model, root.inputs())
        for r in resolved:
            if r.verdict.status == "unknown":
                continue  # which module runs may depend on the inputs, as the verdict says
            never = r.verdict.code == "XBN112"
            assert (calls[id(r.bn)] == 0) == never, (
                f"{root.name}: '{r.bn_path}' is called {calls[id(r.bn)]} times, {r.verdict}"
            )

    expected_bias = {
        (str(t.path.resolve()), line)
        for t in loaded.truths.values()
        for line, codes in t.expects.items()
        if "XBN401" in codes
    }
    assert bias_sites == expected_bias, (
        f"biased layers that fold, without # expect: XBN401: {bias_sites - expected_bias}; "
        f"# expect: XBN401 where no biased layer folds: {expected_bias - bias_sites}"
    )
    plain_lines = [
        line
        for t in loaded.truths.values()
        for line, codes in t.expects.items()
        if "XBN303" in codes
    ]
    assert len(plain_lines) == len(plain_containers), (
        f"plain containers holding modules: {plain_containers}; # expect: XBN303 {plain_lines}"
    )


def test_foldable_verdicts_fold_exactly(unit: Unit, load: Callable[[Unit], LoadedUnit]):
    loaded = load(unit)
    for root in find_roots(loaded):
        if root.broken:
            continue
        model, sites = build(root)
        randomise_statistics(model)
        inputs = root.inputs()
        before = run(model, inputs)
        folds = {
            (r.conv_path, r.bn_path, r.verdict.direction)
            for r in resolve(model, loaded.verdicts, sites)
            if r.verdict.status == "foldable"
        }
        if not folds:
            continue
        folded = copy.deepcopy(model)
        for conv_path, bn_path, direction in sorted(folds):
            apply_fold(folded, conv_path, bn_path, direction)
        change = max_relative_change(before, run(folded, inputs))
        assert change < 1e-4, f"{root.name}: folding {sorted(folds)} changes the output by {change}"


def test_blocked_folds_would_change_the_output(unit: Unit, load: Callable[[Unit], LoadedUnit]):
    loaded = load(unit)
    for root in find_roots(loaded):
        if root.broken:
            continue
        model, sites = build(root)
        randomise_statistics(model)
        inputs = root.inputs()
        before = run(model, inputs)
        for r in resolve(model, loaded.verdicts, sites):
            if r.verdict.code not in BLOCKED_FOLDS:
                continue
            if not _channels_line_up(model, r.conv_path, r.bn_path, _direction(r.verdict)):
                continue  # no layer named, or a part of a concatenation: no fold to write
            folded = copy.deepcopy(model)
            apply_fold(folded, r.conv_path, r.bn_path, _direction(r.verdict))
            change = max_relative_change(before, run(folded, inputs))
            assert change > 1e-3, (
                f"{root.name}: {r.verdict} yet folding it changes the output by only {change}"
            )


def test_examples_declare_every_model_they_define(load: Callable[[Unit], LoadedUnit]):
    zoo = next(u for u in UNITS if u.name == "examples")
    loaded = load(zoo)
    factories = {
        root.name
        for root in find_roots(loaded)
        if inspect.isfunction(_attribute(loaded, root.name))
    }
    assert factories == set(zoo.factories)
