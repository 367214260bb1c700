"""The roots of a file: the models the analysis builds on their own.

Every module class is a root, built with its constructor's defaults (an argument without
one is unknown): its own verdicts come from there, whoever else builds it. Every function
callable without arguments is a root too (a factory): the model it returns is built with the
arguments its code passes, which refine the verdicts of the classes it instantiates. So is
every entry of a module-level registry that pairs a module class with the keyword arguments
it is built with (`{"encoder": Cls, "params": {...}}`, built elsewhere by `Cls(**params)`):
a part of a model, whose input and output belong to its caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import libcst as cst

from bnlint.ftypes import NodeKind
from bnlint.static.forward import NORM_WORDS
from bnlint.static.frames import ABANDONING, abandonment
from bnlint.static.index import ProjectClass, ProjectFunction, ProjectValue
from bnlint.static.interp import Interpreter
from bnlint.static.project import Project
from bnlint.static.source import SourceFile
from bnlint.static.torch_api import TorchClass, torch_class
from bnlint.static.values import (
    Choice,
    ClassRef,
    Const,
    Mapping,
    ModuleInst,
    Seq,
    Tails,
    Unknown,
    Value,
)

log = logging.getLogger("bnlint.static.roots")

# A subclass of a layer is a layer: its verdicts belong to the modules that hold it.
_LAYERS = frozenset({NodeKind.CONV, NodeKind.CONV_TRANSPOSE, NodeKind.LINEAR, NodeKind.BATCHNORM})
# what stands for the model a factory given up part way was building
_SEQUENTIAL = torch_class("torch.nn.Sequential")
assert _SEQUENTIAL is not None
_CONTAINER = ClassRef(_SEQUENTIAL)


@dataclass
class Root:
    """A model the analysis builds on its own."""

    inst: ModuleInst
    origin: str  # "class Block" / "factory resnet18()"
    # The class analysed on its own (its forward() input comes from a caller and its output
    # goes back to one), or None for a factory's model (input and output are the model's).
    own_class: str | None
    # A class root whose class can be built without arguments may be the whole model: its
    # verdicts at the boundary then hold as for a factory's model.
    may_be_model: bool
    file: SourceFile  # where it is built
    built: list[ModuleInst] = field(default_factory=list)  # BatchNorms its construction made
    # A part of a model (a registry's encoder): built for real, but its forward() input comes
    # from a caller and its output goes back to one, as for a class on its own.
    part: bool = False
    # The class built with its norm-selecting arguments unknown, because its defaults build
    # no BatchNorm: its verdicts fill only the keys no other root reports.
    filler: bool = False
    # False for a class with no forward() (its other methods call its layers): what it holds
    # is run by code the analysis does not follow.
    has_forward: bool = True
    # Why the analysis gave up the class's construction part way, or "": it holds what
    # __init__ had built by then, and none of its verdicts can be certain.
    abandoned: str = ""


@dataclass(frozen=True)
class Share:
    """Which of a file's definitions one process builds, when several share a large file:
    every `count`-th from `index` on, in the order `definitions` gives them."""

    index: int = 0
    count: int = 1

    def takes(self, definition: int) -> bool:
        return definition % self.count == self.index


WHOLE = Share()


def definitions(
    project: Project, file: SourceFile, interp: Interpreter
) -> Iterator[tuple[str, Callable[[], Iterator[Root]]]]:
    """What builds the roots of each definition of `file`, in order, not yet called, each
    with its identity ("class pkg.m.Net"): each module class, then each factory, then each
    registry. Building one reads its statement (bnlint.static.footprint)."""
    symbols = project.loader.symbols(file)

    def reading(node: cst.CSTNode, build: Callable[[], Iterator[Root]]) -> Iterator[Root]:
        project.loader.statement_read(file, symbols.tops[id(node)])
        return build()

    for cls in project.module_classes(file):
        base = project.classes.torch_base(cls)
        if base is not None and base.kind not in _LAYERS:
            build = partial(_class_root, project, cls, interp)
            yield f"class {cls.qualname}", partial(reading, cls.node, build)
    for name, node in symbols.functions.items():
        if callable_without_arguments(node):
            function = ProjectFunction(file, node, f"{file.module_name}.{name}")
            build = partial(_factory_root, function, interp)
            yield f"factory {function.qualname}", partial(reading, node, build)
    for name, expr in symbols.values.items():
        if isinstance(expr, cst.Dict):
            build = partial(_registry_roots, project, file, name, expr, interp)
            yield f"registry {file.module_name}.{name}", partial(reading, expr, build)


def _registry_roots(
    project: Project, file: SourceFile, name: str, expr: cst.Dict, interp: Interpreter
) -> Iterator[Root]:
    """A module-level registry of models: each entry that pairs a module class with the
    keyword arguments it is built with (`{"encoder": Cls, "params": {...}}`), built so."""
    found = _guarded(
        interp,
        lambda: interp.symbol_value(ProjectValue(file, expr, f"{file.module_name}.{name}"), name),
    )
    if not isinstance(found.value, Mapping):
        return
    for key, entry in found.value.items.items():
        pair = _class_and_arguments(project, entry) if isinstance(entry, Mapping) else None
        if pair is None:
            continue
        built = _guarded(interp, partial(_build, interp, *pair, file, expr))
        for inst in module_instances(built.value):
            origin = f"registry {name}[{key!r}]"
            yield Root(inst, origin, None, False, file, built.batchnorms, part=True)


def _build(
    interp: Interpreter,
    cls: ProjectClass,
    arguments: dict[str, Value],
    file: SourceFile,
    node: cst.CSTNode,
) -> Value:
    return interp.instantiate(ClassRef(cls), [], arguments, file, node)


def _class_and_arguments(
    project: Project, entry: Mapping
) -> tuple[ProjectClass, dict[str, Value]] | None:
    classes = [
        v.cls
        for v in entry.items.values()
        if isinstance(v, ClassRef)
        and not v.args
        and not v.kwargs
        and isinstance(v.cls, ProjectClass)
        and project.classes.torch_base(v.cls) is not None
    ]
    if len(classes) != 1:
        return None
    cls = classes[0]
    accepted = _parameters(project, cls)
    candidates = [
        v
        for v in entry.items.values()
        if isinstance(v, Mapping)
        and v.complete
        and v.items
        and all(isinstance(k, str) and k in accepted for k in v.items)
    ]
    if len(candidates) != 1:
        return None
    return cls, {str(k): v for k, v in candidates[0].items.items()}


def _parameters(project: Project, cls: ProjectClass) -> set[str]:
    """The keyword names the class's constructors along its MRO take."""
    return {p.name.value for params in _constructors(project, cls) for p in params}


def _constructors(project: Project, cls: ProjectClass) -> Iterator[list[cst.Param]]:
    """The parameters (keywords included) of each `__init__` along the MRO, the one that runs
    first."""
    for entry in project.classes.mro(cls):
        if not isinstance(entry, ProjectClass):
            continue
        found = project.classes.method(entry, "__init__")
        if found is None or found[1] is None or found[0] is not entry:
            continue
        params = found[1].params
        yield [*params.params, *params.kwonly_params]


def named_root(project: Project, file: SourceFile, name: str, interp: Interpreter) -> Root | None:
    """The factory or module class `name` of `file`, built as `definitions` builds it."""
    node = project.loader.symbols(file).functions.get(name)
    if node is not None and callable_without_arguments(node):
        found = list(
            _factory_root(ProjectFunction(file, node, f"{file.module_name}.{name}"), interp)
        )
    else:
        classes = {cls.name: cls for cls in project.module_classes(file)}
        found = list(_class_root(project, classes[name], interp)) if name in classes else []
    return found[0] if found else None


def _class_root(project: Project, cls: ProjectClass, interp: Interpreter) -> Iterator[Root]:
    built = _guarded(interp, lambda: interp.instantiate_root(cls))
    init = project.classes.method(cls, "__init__")
    callable_instances = _callable_instances(project, cls)
    # a class whose instances cannot be called (no forward(): its other methods use its
    # layers) is never a whole model
    constructible = callable_instances and callable_without_arguments(
        init[1] if init is not None else None
    )
    instances = module_instances(built.value)
    for inst in instances:
        yield Root(
            inst,
            f"class {cls.name}",
            cls.qualname,
            constructible,
            cls.file,
            built.batchnorms,
            has_forward=callable_instances,
            abandoned=interp.abandoned.get(inst.uid, ""),
        )
    if all(inst.uid in interp.refused for inst in instances):
        # Its defaults do not build (`blocks_args=None`, which an assert refuses: only its
        # callers give real values): built with those None defaults not known.
        yield from _built_with_unknown(
            interp,
            cls,
            _none_defaults(project, cls),
            "'{}' is given by the callers (its default None)",
        )
    if built.batchnorms:
        return
    # Its defaults build no BatchNorm (a GroupNorm, say); a caller may choose one: every
    # BatchNorm it may then hold gets a verdict, never silence.
    yield from _built_with_unknown(
        interp,
        cls,
        _norm_parameters(project, cls),
        "'{}' may select another norm layer than its default",
    )


def _callable_instances(project: Project, cls: ProjectClass) -> bool:
    """False when calling an instance raises: neither `cls` nor a project class it derives
    from defines forward() or __call__, and its torch base has no forward() either
    (nn.Module, ModuleList, ModuleDict). True when a base the analysis cannot read may."""
    ends: list[TorchClass] = []
    for name in ("__call__", "forward"):
        found = project.classes.method(cls, name)
        if found is None or not isinstance(found[0], TorchClass):
            return True
        ends.append(found[0])
    return not (ends[-1].is_module_base or ends[-1].container in ("list", "dict"))


def _built_with_unknown(
    interp: Interpreter, cls: ProjectClass, names: list[str], why: str
) -> Iterator[Root]:
    """The class built again with the constructor parameters `names` not known (`why`, with
    the name in its braces, says so), so that the layers it may hold get verdicts: fillers,
    which what any caller builds replaces."""
    if not names:
        return
    unknown = {name: Unknown(why.format(name)) for name in names}
    built = _guarded(interp, partial(_build, interp, cls, dict(unknown), cls.file, cls.node))
    for inst in module_instances(built.value):
        origin = f"class {cls.name} (any {', '.join(names)})"
        yield Root(inst, origin, cls.qualname, False, cls.file, built.batchnorms, filler=True)


def _none_defaults(project: Project, cls: ProjectClass) -> list[str]:
    runs = next(_constructors(project, cls), [])
    return [
        p.name.value for p in runs if isinstance(p.default, cst.Name) and p.default.value == "None"
    ]


def _norm_parameters(project: Project, cls: ProjectClass) -> list[str]:
    """The constructor parameters that switch a norm layer on (`use_bn=False`) or choose it
    by name from a registry (`norm="group"`, `norm=("GROUP", {...})`): another value may
    choose a BatchNorm. A parameter whose default is a class (`norm_layer=nn.LayerNorm`)
    is not one: a caller may pass any layer there, and a LayerNorm slot is not a BatchNorm's."""
    runs = next(_constructors(project, cls), [])
    return [
        p.name.value
        for p in runs
        if p.default is not None
        and NORM_WORDS.search(p.name.value)
        and _chooses_by_name_or_flag(p.default)
    ]


def _factory_root(func: ProjectFunction, interp: Interpreter) -> Iterator[Root]:
    built = _guarded(interp, lambda: interp.call_root(func))
    name = func.node.name.value if isinstance(func.node, cst.FunctionDef) else "lambda"
    for inst in module_instances(built.value):
        if inst.torch_base.kind in _LAYERS:
            continue  # a helper that makes one layer (`build_norm()`): its users are the models
        yield Root(inst, f"factory {name}()", None, True, func.file, built.batchnorms)
    if built.abandoned and any(bn.built_by is None for bn in built.batchnorms):
        # Given up before it returned a model: the BatchNorms it built itself (not inside a
        # class, whose own root reports them) are held by no model the analysis has. They
        # are reported lost, in the model the factory was building.
        building = interp.instantiate(_CONTAINER, [], {}, func.file, func.node)
        assert isinstance(building, ModuleInst)
        yield Root(
            building,
            f"factory {name}()",
            None,
            True,
            func.file,
            built.batchnorms,
            abandoned=built.abandoned,
        )


@dataclass(frozen=True)
class _Built:
    value: Value
    batchnorms: list[ModuleInst]
    abandoned: str = ""  # why the construction was given up, if it was


def _guarded(interp: Interpreter, build: Callable[[], Value]) -> _Built:
    with interp.construction() as batchnorms:
        try:
            return _Built(build(), batchnorms)
        except ABANDONING as error:
            log.debug("construction abandoned: %s", abandonment(error))
            return _Built(Const(None), batchnorms, abandonment(error))
        except Exception as error:  # an analyzer bug must cost one model, never the whole run
            log.warning("internal error while building a model; it is skipped", exc_info=True)
            return _Built(Const(None), batchnorms, f"bnlint could not follow it ({error})")


def _chooses_by_name_or_flag(default: cst.BaseExpression) -> bool:
    if isinstance(default, cst.Tuple) and default.elements:
        default = default.elements[0].value
    if isinstance(default, cst.Name):
        return default.value in ("True", "False")
    return isinstance(default, (cst.SimpleString, cst.ConcatenatedString))


def callable_without_arguments(node: cst.FunctionDef | None) -> bool:
    if node is None:
        return True
    params = node.params
    positional = [*params.posonly_params, *params.params]
    if positional and positional[0].name.value in ("self", "cls"):
        positional = positional[1:]
    return all(p.default is not None for p in positional) and all(
        p.default is not None for p in params.kwonly_params
    )


def module_instances(value: Value) -> list[ModuleInst]:
    if isinstance(value, ModuleInst):
        return [value]
    if isinstance(value, Seq):
        return [v for v in value.items if isinstance(v, ModuleInst)]
    if isinstance(value, Choice):  # a factory that builds one model or another
        return [v for v in value.options if isinstance(v, ModuleInst)]
    return []


def walk(inst: ModuleInst, seen: set[int] | None = None) -> Iterator[ModuleInst]:
    """`inst` and every module it holds (registered or in plain lists and dicts), once."""
    seen = seen if seen is not None else set()
    if inst.uid in seen:
        return
    seen.add(inst.uid)
    yield inst
    for value in [*inst.children.values(), *inst.attrs.values()]:
        for member in _members(value):
            yield from walk(member, seen)


def _members(value: Value) -> Iterator[ModuleInst]:
    if isinstance(value, ModuleInst):
        yield value
    elif isinstance(value, Choice):  # modules, or lists of them, built on some paths
        for option in value.options:
            yield from _members(option)
    elif isinstance(value, Tails):
        for members in value.members():
            for member in members:
                yield from _members(member)
    elif isinstance(value, Seq):
        yield from (v for v in value.items if isinstance(v, ModuleInst))
    elif isinstance(value, Mapping):
        yield from (v for v in value.items.values() if isinstance(v, ModuleInst))
