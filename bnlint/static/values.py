"""Abstract values of the static interpreter, and the journal that lets it explore branches.

Every mutation of interpreter state is a `Journal.set(dict, key, value)`, so a branch whose
condition is unknown can be run, undone, the other branch run, and the two outcomes merged.
"""

from __future__ import annotations

import builtins
import functools
import itertools
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeGuard, TypeVar

import libcst as cst

from bnlint.ftypes import LayerCall, SourceLocation
from bnlint.static.index import ProjectClass, ProjectFunction
from bnlint.static.source import SourceFile
from bnlint.static.torch_api import TorchClass

_ids = itertools.count(1)


def new_uid() -> int:
    return next(_ids)


class Value:
    """Base of all abstract values."""


# Seq.why_incomplete of x.chunk(n), x.unbind(0) and friends: as many pieces as the analysis
# cannot count, every one the same piece node
PIECES = "pieces of a tensor"


@dataclass(eq=False)
class Const(Value):
    value: Any  # int, float, str, bool, None, bytes


def all_const(values: Sequence[Value]) -> TypeGuard[Sequence[Const]]:
    return all(isinstance(v, Const) for v in values)


@dataclass(eq=False)
class Unknown(Value):
    reason: str
    code: str | None = None  # the XBN2xx rule that explains it, when one does
    # The builtin type the code declares for it (`kernel_size: int`), when it does: a
    # class analysed on its own takes its arguments to be what their annotations say.
    python_type: str = ""


@dataclass(eq=False)
class Outside(Unknown):
    """A name bound outside the analysed files (an installed package)."""

    qualname: str = ""


@dataclass(eq=False)
class OutsideBuilt(Unknown):
    """What a call of a name from outside the analysed files gave back while a model was
    built (`torchvision.models.resnet18()`): a layer or a whole network nobody here reads.
    `node` is the call, in `file` (a SourceFile), for the note that says so."""

    qualname: str = ""
    node: cst.CSTNode | None = None
    file: Any = None


@dataclass(eq=False)
class Raised(Unknown):
    """What calling a function that raises on every path gives (an `__init__` whose
    defaults an assert refuses)."""


@dataclass(eq=False)
class Spread(Unknown):
    """`*args` or `**kwargs` of a call whose contents are not known: any argument from its
    position on (positional) or any keyword not written out (`**`) may be supplied by it.
    A call's keyword arguments hold it under the key SPREAD."""


SPREAD = "**"


def entry_view(key: Hashable, value: Value, kind: str) -> Value:
    """One entry of a dict as its `keys()`, `values()` or `items()` lists it; the entry where
    undecidable branches part (Tails) as each path's entries."""
    if isinstance(value, Tails):
        return value.view(kind)
    if kind == "keys":
        return Const(key)
    if kind == "items":
        return Seq((Const(key), value), True)
    return value


# What a tensor depends on once the members of a Tails ran on their paths.
BUILT_APART = (
    "which layers a container holds, built differently on paths the analysis cannot tell apart"
)


@dataclass(eq=False)
class Tails(Unknown):
    """Where the paths of undecidable control flow built a list or dict differently: what
    each path holds from here on. Read as a whole it is unknown; a loop over the members, or
    a Sequential holding them, runs each path's members (`options`: tuples of members, or of
    (key, member) pairs when `keyed`)."""

    options: tuple[tuple[Any, ...], ...] = ()
    keyed: bool = False

    def view(self, kind: str) -> Tails:
        """The tails as a dict's `values()`, `keys()` or `items()` would list them."""
        if not self.keyed:
            return self
        options = tuple(tuple(entry_view(k, v, kind) for k, v in option) for option in self.options)
        return Tails(self.reason, self.code, options=options)

    def members(self) -> tuple[tuple[Value, ...], ...]:
        """Each path's members, without their keys."""
        return self.view("values").options

    def apart(self) -> bool:
        """Whether no module is a member on two paths. Only then can a loop or a Sequential
        over the members follow each path: a module on two of them would be called at two
        places of which only one exists in any model built."""
        seen: set[int] = set()
        for members in self.members():
            here = {id(m) for m in _modules_in(members)}
            if here & seen:
                return False
            seen |= here
        return True


def _modules_in(values: Sequence[Value]) -> Iterator[Value]:
    for value in values:
        if isinstance(value, Choice):
            yield from _modules_in(value.options)
        elif isinstance(value, Tails):
            for members in value.members():
                yield from _modules_in(members)
        elif isinstance(value, ModuleInst):
            yield value


@dataclass(eq=False)
class Seq(Value):
    """A list or tuple. `complete` is False when the analysis lost track of some elements."""

    items: tuple[Value, ...]
    is_tuple: bool = False
    complete: bool = True
    why_incomplete: str = ""
    fields: tuple[str, ...] = ()  # a namedtuple's field names, which attributes read


@dataclass(eq=False)
class TupleType(Value):
    """A class made by collections.namedtuple(): calling it makes a tuple with named fields."""

    name: str
    fields: tuple[str, ...]


@dataclass(eq=False)
class EnumClass(Value):
    """An enumeration (bnlint.static.enums): its members by name, each a constant."""

    qualname: str
    members: dict[str, Const]
    kind: str = "plain"  # how its members compare: "plain", "int" or "str"


@dataclass(eq=False)
class Mapping(Value):
    items: dict[Any, Value]  # keys are python constants, in insertion order
    complete: bool = True
    ordered_dict: bool = False
    # A types.SimpleNamespace (or argparse.Namespace): its entries are read and written as
    # attributes (`defaults.activation`), by their names.
    namespace: bool = False


@dataclass(eq=False)
class ClassRef(Value):
    """A class used as a value (`norm_layer=nn.BatchNorm2d`), possibly with bound arguments
    from functools.partial."""

    cls: TorchClass | ProjectClass
    args: tuple[Value, ...] = ()
    kwargs: tuple[tuple[str, Value], ...] = ()
    is_partial: bool = False  # a functools.partial object, not the class itself


@dataclass(eq=False)
class FunctionRef(Value):
    func: ProjectFunction
    bound_self: Value | None = None
    args: tuple[Value, ...] = ()
    kwargs: tuple[tuple[str, Value], ...] = ()
    closure: dict[str, Value] | None = None
    is_partial: bool = False  # a functools.partial object, not the function itself


@dataclass(eq=False)
class BuiltinRef(Value):
    name: str  # "range", "len", "partial", "OrderedDict", "super", "torch:<qualname>" ...


@dataclass(eq=False)
class ModuleRef(Value):
    """A Python module used as a value: `torch`, `nn`, `F`, or a project module."""

    qualname: str
    file: SourceFile | None = None


@dataclass(eq=False)
class SuperRef(Value):
    instance: ModuleInst | ObjectInst
    after: ProjectClass  # look up the MRO after this class


@dataclass(frozen=True)
class DerivedWeight:
    """Why a layer's weight is not its own to rewrite. `certain` is False when only some paths
    of construction made it so (`weight_norm(conv) if flag else conv` with an unknown flag):
    the fold is then possible on the others."""

    why: str
    certain: bool = True

    @staticmethod
    def merge(options: Sequence[DerivedWeight | None]) -> DerivedWeight:
        """What the paths of construction left: certain only when every path derived it."""
        derived = [o for o in options if o is not None]
        return DerivedWeight(
            derived[0].why, len(derived) == len(options) and all(o.certain for o in derived)
        )


@dataclass(eq=False)
class ModuleInst(Value):
    """One nn.Module object built by the interpreted code."""

    cls: TorchClass | ProjectClass
    torch_base: TorchClass  # nearest torch class in the MRO (nn.Module for plain modules)
    ancestry: tuple[TorchClass | ProjectClass, ...]  # the MRO
    construction: SourceLocation | None
    attrs: dict[str, Value] = field(default_factory=dict)
    children: dict[str, Value] = field(default_factory=dict)  # registered, in order
    layer_args: dict[str, Value] = field(default_factory=dict)  # torch layer constructor args
    uid: int = field(default_factory=lambda: next(_ids))
    incomplete: str = ""  # why the children are not fully known, if they are not
    # Where, in the order of `children`, modules the analysis does not know were added: the
    # number of known children before them; None when they may sit anywhere.
    unknown_at: tuple[int, ...] | None = ()
    plain_containers: dict[str, SourceLocation] = field(default_factory=dict)
    # The project class whose __init__ built it (helpers it calls included); None when
    # built by a factory or module-level code.
    built_by: str | None = None
    # Handed to code the analysis cannot follow during construction (why, and the rule):
    # where it ends up is that code's business.
    escaped: Unknown | None = None
    # A Conv/Linear whose weight is not its own to rewrite (`weight_norm(conv)`, the weight
    # also registered under another module's name): why, and whether on every path.
    weight_derived: DerivedWeight | None = None
    # The project code that led to its construction (file, call node): the construction
    # itself when it is in the project, else the call of a model library the project made
    placed: tuple[Any, cst.CSTNode] | None = None

    @property
    def class_name(self) -> str:
        return self.cls.qualname

    def state(self) -> tuple[dict[str, Any], ...]:
        """The dicts the interpreter changes as the module is built."""
        return self.attrs, self.children, self.layer_args, self.plain_containers

    def mark_incomplete(self, reason: str, anywhere: bool = False) -> None:
        """Modules the analysis does not know were added here, after the children so far
        (or at places it cannot tell)."""
        # reasons quote code, which may span lines; messages are one line
        self.incomplete = self.incomplete or " ".join(reason.split())
        if anywhere or self.unknown_at is None:
            self.unknown_at = None
        elif len(self.children) not in self.unknown_at:
            self.unknown_at = (*self.unknown_at, len(self.children))

    @property
    def is_plain_container(self) -> bool:
        return isinstance(self.cls, TorchClass) and self.cls.container is not None


@dataclass(eq=False)
class ObjectInst(Value):
    """An object of a project class that is not an nn.Module (a config, a registry)."""

    cls: ProjectClass
    ancestry: tuple[TorchClass | ProjectClass, ...]  # the MRO
    attrs: dict[str, Value] = field(default_factory=dict)
    uid: int = field(default_factory=lambda: next(_ids))


@dataclass(eq=False)
class Tensor(Value):
    node: LayerCall


@dataclass(eq=False)
class Choice(Value):
    """One of several values, decided by a condition the analysis cannot evaluate."""

    options: tuple[Value, ...]
    reason: str
    # for each option, the conditions the path that made it took (see facts.py); empty when
    # no option's path is known
    facts: tuple[frozenset[Fact], ...] = ()


ModuleLike: TypeAlias = ModuleInst | Choice

# A condition the analysis cannot decide (its key, see facts.py) and the side a path took.
Fact: TypeAlias = tuple[Hashable, bool]
_NO_FACTS: frozenset[Fact] = frozenset()


# Past this many possibilities a value is reported as unknown: the options of a value that
# every branch of a long elif chain changes would otherwise grow without bound.
MAX_OPTIONS = 32


def choice(
    values: list[Value], reason: str, facts: Sequence[frozenset[Fact]] | None = None
) -> Value:
    """One value for `values`, one per path; `facts`, when given, what each path took."""
    flat: dict[object, tuple[Value, frozenset[Fact]]] = {}
    for position, value in enumerate(values):
        taken = facts[position] if facts else _NO_FACTS
        for option, made in _options(value):
            key = _identity(option)
            if key in flat:  # made on either path: only what both took is sure
                flat[key] = (option, flat[key][1] & (taken | made))
            else:
                flat[key] = (option, taken | made)
    if len(flat) == 1:
        return next(iter(flat.values()))[0]
    if len(flat) > MAX_OPTIONS:
        return Unknown(f"{reason} (more than {MAX_OPTIONS} possible values)")
    options = tuple(option for option, _ in flat.values())
    made_under = tuple(made for _, made in flat.values())
    return Choice(options, reason, made_under if any(made_under) else ())


def _options(value: Value) -> Iterator[tuple[Value, frozenset[Fact]]]:
    if not isinstance(value, Choice):
        yield value, _NO_FACTS
        return
    yield from zip(value.options, value.facts or [_NO_FACTS] * len(value.options), strict=True)


def _identity(value: Value) -> object:
    """Equal constants are one option; any other value is its own."""
    if isinstance(value, Const):
        try:
            hash(value.value)
        except TypeError:
            return id(value)
        return (type(value.value), value.value)
    return id(value)


MISSING = object()

_Key = TypeVar("_Key", bound=Hashable)
_Item = TypeVar("_Item")
# The journal records mutations of every kind of dict the interpreter keeps (variables,
# children, an abstract value's __dict__): one frame holds dicts of many types at once.
_AnyDict: TypeAlias = dict[Any, Any]
# What a rolled-back frame had written: {(id(dict), key): (dict, key, the value it had)}.
Outcome: TypeAlias = dict[tuple[int, Hashable], tuple[_AnyDict, Hashable, Any]]


class Journal:
    """Records every state mutation so that a branch can be undone and its effect merged.

    A frame keeps, per dict and key, only the value it had when the frame began: undoing
    needs nothing else, and a loop that rewrites one variable a thousand times stays one
    entry. The variables of a call that has returned are forgotten: nothing reads them again,
    so a branch neither undoes nor merges them."""

    def __init__(self) -> None:
        # per frame: id(dict) -> (the dict, {key: the value it had when the frame began})
        self._frames: list[dict[int, tuple[_AnyDict, _AnyDict]]] = []
        # per frame: the ids of the dicts made on it (see born)
        self._born: list[builtins.set[int]] = []

    def born(self, *targets: _AnyDict) -> None:
        """`targets` belong to an object made on the innermost frame's path: no other path
        has the object, so what this path does to them is neither undone nor merged (a
        Sequential built on one branch keeps its layers, not "its layers or nothing")."""
        if self._born:
            self._born[-1].update(id(target) for target in targets)

    def _record(self, target: _AnyDict, key: Hashable) -> None:
        if self._frames and id(target) not in self._born[-1]:
            _, kept = self._frames[-1].setdefault(id(target), (target, {}))
            if key not in kept:
                kept[key] = target.get(key, MISSING)

    def set(self, target: dict[_Key, _Item], key: _Key, value: _Item) -> None:
        self._record(target, key)
        target[key] = value

    def delete(self, target: dict[_Key, Any], key: _Key) -> None:
        if key in target:
            self._record(target, key)
            del target[key]

    def forget(self, target: dict[Any, Any]) -> None:
        """`target` (the variables of a finished call) is never read again."""
        for frame in self._frames:
            frame.pop(id(target), None)

    def begin(self) -> None:
        self._frames.append({})
        self._born.append(set())

    # `builtins.set`: inside the class body `set` names the method above.
    def commit(self) -> builtins.set[int]:
        """End the innermost frame, keeping its changes (an outer frame can still undo
        them); the ids of the dicts it changed."""
        entries = self._frames.pop()
        born = self._born.pop()
        self._hand_outward(entries)
        if self._born:
            self._born[-1].update(born)
        return set(entries)

    def _hand_outward(self, entries: dict[int, tuple[_AnyDict, _AnyDict]]) -> None:
        """The outer frame can undo what the inner one changed (or what its merge will
        write), except on dicts made on the outer frame's own path."""
        if not self._frames:
            return
        outer, outer_born = self._frames[-1], self._born[-1]
        for index, (target, kept) in entries.items():
            if index in outer_born:
                continue
            _, outer_kept = outer.setdefault(index, (target, {}))
            for key, old in kept.items():
                outer_kept.setdefault(key, old)

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Changes made inside are not undone by any branch around them: what a module's
        top level computes holds on every path."""
        frames, self._frames = self._frames, []
        born, self._born = self._born, []
        try:
            yield
        finally:
            self._frames, self._born = frames, born

    def rollback(self) -> Outcome:
        """Undo the innermost frame; return {(id(dict), key): (dict, key, value it had)}."""
        entries = self._frames.pop()
        self._born.pop()
        outcome: Outcome = {}
        for index, (target, kept) in entries.items():
            for key, old in kept.items():
                outcome[(index, key)] = (target, key, target.get(key, MISSING))
                if old is MISSING:
                    target.pop(key, None)
                else:
                    target[key] = old
        self._hand_outward(entries)
        return outcome


_TEXT_MODULE = cst.Module(body=[])


@functools.lru_cache(maxsize=65536)
def node_text(node: cst.CSTNode) -> str:
    """Source text of a small expression, for labels (`self.bn2`, `F.relu`). Cached: the
    interpreter asks for the same condition's text on every pass through a loop."""
    try:
        return _TEXT_MODULE.code_for_node(node)
    except Exception:  # code generation of a detached node can fail on odd trees
        return type(node).__name__


def as_positional(
    args: list[Value], kwargs: dict[str, Value], names: tuple[str, ...]
) -> tuple[list[Value], dict[str, Value]]:
    """`F.conv2d(input=x, weight=self.weight, ...)` as `F.conv2d(x, self.weight, ...)`: the
    leading parameters (`names`, in order) passed by name moved into place, as far as they
    run unbroken."""
    args, kwargs = list(args), dict(kwargs)
    for name in names[len(args) :]:
        if name not in kwargs:
            break
        args.append(kwargs.pop(name))
    return args, kwargs
