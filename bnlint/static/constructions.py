"""A class built with the same arguments builds the same module tree: built once, copied after.
The same holds for a plain function called while a model is built.

Model zoos build the same block with the same arguments over and over (every block of a
stage after the first, every model of a family that shares a stage). The interpreter keeps
what a construction built, keyed by the class and a fingerprint of the arguments, and hands
out a fresh copy (new identities, same structure) when the key comes again. A construction
is kept only when it is pure: it wrote nothing but the objects it created (not an argument,
not a module-level registry), so that the copy stands for running it again.

Keeping means copying what was built (the model may change it later), and most
constructions are never repeated (a network's own construction, a block whose drop-path rate
differs from its neighbours'): a key is kept the second time it is built, so only what
repeats pays for the copy.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, overload

from bnlint.static.torch_api import TorchClass
from bnlint.static.values import (
    BuiltinRef,
    Choice,
    ClassRef,
    Const,
    FunctionRef,
    Mapping,
    ModuleInst,
    ModuleRef,
    ObjectInst,
    Seq,
    Tails,
    Unknown,
    Value,
    new_uid,
)

_BUDGET = 4000  # values a fingerprint may visit; larger arguments are not worth keeping


class _TooLarge(Exception):
    pass


# Nesting past this is a value that holds itself (an object whose method, kept in a dict it
# holds, closes over it): no fingerprint.
_DEPTH = 40


def fingerprint(cls: object, args: list[Value], kwargs: dict[str, Value]) -> Hashable | None:
    """A key equal for two constructions only if they are given equal arguments; None when
    an argument holds something a copy could not stand for (a module, a tensor)."""
    budget = [_BUDGET]
    try:
        return (
            _identity(cls),
            tuple(_print(a, budget) for a in args),
            tuple(sorted((k, _print(v, budget)) for k, v in kwargs.items())),
        )
    except _TooLarge:
        return None


def _identity(cls: object) -> Hashable:
    """A class by its definition (a torch class by its name): the same class is looked up
    more than once, each time as a new object, and must give one key."""
    if isinstance(cls, TorchClass):
        return cls.qualname
    return id(getattr(cls, "node", cls))


def _print(value: Value, budget: list[int], depth: int = 0) -> Hashable:
    budget[0] -= 1
    if budget[0] < 0 or depth > _DEPTH:  # too large, or a value that holds itself
        raise _TooLarge
    if isinstance(value, Const):
        try:
            hash(value.value)
        except TypeError:
            raise _TooLarge from None
        return ("c", type(value.value).__name__, value.value)
    if isinstance(value, Tails):
        raise _TooLarge  # holds modules: identities a copy would not keep
    if isinstance(value, Unknown):
        # By what it says: a loop building the same block makes a new unknown each time.
        # Conditions on it are remembered by the object, though (facts.py): what holds such
        # a condition is not kept (`Constructions.keep`).
        return ("u", type(value).__name__, value.reason, value.code)
    if isinstance(value, ClassRef):
        return (
            "class",
            _identity(value.cls),
            value.is_partial,
            tuple(_print(a, budget, depth + 1) for a in value.args),
            tuple((k, _print(v, budget, depth + 1)) for k, v in value.kwargs),
        )
    if isinstance(value, FunctionRef):
        if value.bound_self is not None:
            raise _TooLarge  # a bound method reads its object, which may change
        closure = tuple(
            sorted(
                (k, _print(v, budget, depth + 1))
                for k, v in (value.closure or {}).items()
                if not isinstance(v, (ModuleRef,))
            )
        )
        return (
            "function",
            id(value.func.node),
            value.is_partial,
            tuple(_print(a, budget, depth + 1) for a in value.args),
            tuple((k, _print(v, budget, depth + 1)) for k, v in value.kwargs),
            closure,
        )
    if isinstance(value, (BuiltinRef, ModuleRef)):
        return (
            "ref",
            type(value).__name__,
            getattr(value, "name", None) or getattr(value, "qualname", None),
        )
    if isinstance(value, Seq):
        return (
            "seq",
            value.is_tuple,
            value.complete,
            value.why_incomplete,
            value.fields,
            tuple(_print(v, budget, depth + 1) for v in value.items),
        )
    if isinstance(value, Mapping):
        return (
            "map",
            value.complete,
            value.ordered_dict,
            value.namespace,
            tuple((repr(k), _print(v, budget, depth + 1)) for k, v in value.items.items()),
        )
    if isinstance(value, ObjectInst):
        return (
            "object",
            _identity(value.cls),
            tuple(sorted((k, _print(v, budget, depth + 1)) for k, v in value.attrs.items())),
        )
    if isinstance(value, Choice):
        return (
            "choice",
            value.reason,
            tuple(_print(o, budget, depth + 1) for o in value.options),
            # the conditions each option was made under, on the very objects they test: a
            # caller's path decides them by those objects (facts.py)
            value.facts,
        )
    raise _TooLarge  # modules, tensors, methods: identities a copy would not keep


def containers(value: Value, found: set[int] | None = None, budget: int = _BUDGET) -> set[int]:
    """The ids of every dict a construction could write through `value` (its own, and those
    of everything it holds)."""
    found = found if found is not None else set()
    pending = [value]
    while pending and budget > 0:
        budget -= 1
        current = pending.pop()
        if isinstance(current, (Seq, Mapping)):
            if id(current.__dict__) in found:
                continue
            found.add(id(current.__dict__))
            pending.extend(
                current.items.values() if isinstance(current, Mapping) else current.items
            )
        elif isinstance(current, ObjectInst):
            if id(current.attrs) in found:
                continue
            found.add(id(current.attrs))
            pending.extend(current.attrs.values())
        elif isinstance(current, ModuleInst):
            if id(current.children) in found:
                continue
            found.update(
                (
                    id(current.children),
                    id(current.attrs),
                    id(current.layer_args),
                    id(current.plain_containers),
                )
            )
            pending.extend([*current.children.values(), *current.attrs.values()])
        elif isinstance(current, FunctionRef) and current.closure is not None:
            pending.extend(current.closure.values())
        elif isinstance(current, Choice):
            pending.extend(current.options)
    return found


@dataclass
class Kept:
    prototype: Value  # what the construction (or call) built or returned
    batchnorms: list[ModuleInst]  # built by the construction, copied alongside


@dataclass
class Constructions:
    """What each pure construction (class, arguments) or call built."""

    kept: dict[Hashable, Kept] = field(default_factory=dict)
    built_once: set[Hashable] = field(default_factory=set)  # keys not yet worth a copy

    def copy_of(self, key: Hashable) -> tuple[Value, list[ModuleInst]] | None:
        found = self.kept.get(key)
        if found is None:
            return None
        copies: dict[int, Value] = {}
        instance = clone(found.prototype, copies)
        return instance, [clone(bn, copies) for bn in found.batchnorms]

    def keep(
        self,
        key: Hashable,
        instance: Value,
        batchnorms: list[ModuleInst],
        arguments: Sequence[Value] = (),
    ) -> None:
        if key not in self.built_once:
            self.built_once.add(key)
            return
        if _conditions_on(instance, _unknowns_in(arguments)):
            # A branch it took on an unknown argument is remembered by that object: a copy
            # given to another caller would hold conditions on the first caller's unknown.
            return
        copies: dict[int, Value] = {}
        self.kept[key] = Kept(clone(instance, copies), [clone(bn, copies) for bn in batchnorms])


def _unknowns_in(arguments: Sequence[Value]) -> set[int]:
    """The ids of the unknown values the arguments hold."""
    found: set[int] = set()
    for value in _values_in(list(arguments)):
        if isinstance(value, Unknown):
            found.add(id(value))
    return found


def _conditions_on(value: Value, unknowns: set[int]) -> bool:
    """Whether a value merged from branches in `value` remembers a condition on one of
    `unknowns` (or `value` is too large to tell)."""
    if not unknowns:
        return False
    try:
        return any(
            isinstance(held, Choice)
            and any(_names(fact, unknowns) for f in held.facts for fact in f)
            for held in _values_in([value])
        )
    except _TooLarge:
        return True


def _names(fact: object, unknowns: set[int], depth: int = 0) -> bool:
    """Whether a condition's key (nested tuples, see facts.py) holds one of `unknowns`."""
    if id(fact) in unknowns:
        return True
    return (
        depth < 4
        and isinstance(fact, tuple)
        and any(_names(part, unknowns, depth + 1) for part in fact)
    )


def _values_in(pending: list[Value]) -> Iterator[Value]:
    """Every value reachable from `pending` through modules, objects, containers, options
    and references' arguments, each once; _TooLarge past the budget."""
    seen: set[int] = set()
    budget = _BUDGET * 5
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        budget -= 1
        if budget < 0:
            raise _TooLarge
        yield value
        if isinstance(value, ModuleInst):
            pending.extend([*value.attrs.values(), *value.children.values()])
            pending.extend(value.layer_args.values())
        elif isinstance(value, ObjectInst):
            pending.extend(value.attrs.values())
        elif isinstance(value, Seq):
            pending.extend(value.items)
        elif isinstance(value, Mapping):
            pending.extend(value.items.values())
        elif isinstance(value, Choice):
            pending.extend(value.options)
        elif isinstance(value, (ClassRef, FunctionRef)):
            pending.extend([*value.args, *(v for _, v in value.kwargs)])
            if isinstance(value, FunctionRef) and value.closure:
                pending.extend(value.closure.values())


@overload
def clone(value: ModuleInst, copies: dict[int, Value]) -> ModuleInst: ...
@overload
def clone(value: Value, copies: dict[int, Value]) -> Value: ...
def clone(value: Value, copies: dict[int, Value]) -> Value:
    """A copy of `value` with every module, object, list and dict it holds copied (new
    identities, same sharing among them); constants and references are shared."""
    if id(value) in copies:
        return copies[id(value)]
    if isinstance(value, ModuleInst):
        twin = _shallow(value)
        twin.plain_containers = dict(value.plain_containers)
        twin.uid = new_uid()
        copies[id(value)] = twin
        twin.attrs = {k: clone(v, copies) for k, v in value.attrs.items()}
        twin.children = {k: clone(v, copies) for k, v in value.children.items()}
        twin.layer_args = {k: clone(v, copies) for k, v in value.layer_args.items()}
        return twin
    if isinstance(value, ObjectInst):
        obj = _shallow(value)
        obj.uid = new_uid()
        copies[id(value)] = obj
        obj.attrs = {k: clone(v, copies) for k, v in value.attrs.items()}
        return obj
    if isinstance(value, Seq):
        seq = _shallow(value)
        copies[id(value)] = seq
        seq.items = tuple(clone(v, copies) for v in value.items)
        return seq
    if isinstance(value, Mapping):
        mapping = _shallow(value)
        copies[id(value)] = mapping
        mapping.items = {k: clone(v, copies) for k, v in value.items.items()}
        return mapping
    if isinstance(value, Choice):
        options = _shallow(value)
        options.options = tuple(clone(o, copies) for o in value.options)
        copies[id(value)] = options
        return options
    return value


_V = TypeVar("_V", bound=Value)


def _shallow(value: _V) -> _V:
    """A new object with `value`'s fields (a dataclass copy without running __init__ and
    its default factories again: clones are made by the million)."""
    twin = object.__new__(type(value))
    twin.__dict__.update(value.__dict__)
    return twin
