"""The class model: bases, MRO, the nearest torch base, class-body attributes."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import libcst as cst

from bnlint.static import enums
from bnlint.static.index import External, ProjectClass, ProjectValue, Resolver, Symbol, TorchName
from bnlint.static.source import SourceFile
from bnlint.static.torch_api import CATALOGUE, TorchClass, torch_class

AnyClass: TypeAlias = TorchClass | ProjectClass
# Where a method is found: a project class with its def, or the torch class that ends the
# search (torch's own methods have no def here).
FoundMethod: TypeAlias = tuple[TorchClass, None] | tuple[ProjectClass, cst.FunctionDef]
MODULE_BASE = CATALOGUE["torch.nn.Module"]


_AUTOGRAD_FUNCTIONS = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})


@lru_cache(maxsize=4096)
def _methods_of(node: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    """The defs in a class body by name; the last definition wins, as in Python
    (`@overload` stubs come first). Looked up millions of times in a zoo."""
    return {
        statement.name.value: statement
        for statement in node.body.body
        if isinstance(statement, cst.FunctionDef)
    }


# Standard-library bases that add nothing to what an instance does.
_MIXINS = frozenset({"abc.ABC", "typing.Generic", "typing.Protocol"})
_ALIAS_DEPTH = 8  # aliases of aliases followed at most this deep


class _Mixin:
    """Marks a written base that is one of _MIXINS."""


MIXIN = _Mixin()


@dataclass(frozen=True)
class WrittenBase:
    """One base of a class statement: the expression and what it resolves to."""

    written: cst.BaseExpression
    resolved: AnyClass | _Mixin | None


def _outside_framework(symbol: Symbol | None) -> bool:
    """A name bound outside the analysed files and outside the standard library."""
    return isinstance(symbol, External) and (
        symbol.qualname.split(".")[0] not in sys.stdlib_module_names
    )


def _builds_like_a_module(node: cst.ClassDef) -> bool:
    """The class defines forward(), or its __init__ calls super().__init__() and stores a
    torch.nn layer (`self.conv = nn.Conv2d(...)`)."""
    methods = _methods_of(node)
    if "forward" in methods:
        return True
    init = methods.get("__init__")
    if init is None:
        return False
    text = cst.Module([]).code_for_node(init.body)
    return "super(" in text and re.search(r"self\.\w+\s*=\s*(torch\.)?nn\.[A-Z]", text) is not None


class ClassModel:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._building: set[str] = set()  # classes whose MRO is being computed (cycles)
        self.mro = lru_cache(maxsize=None)(self._mro)
        self.switched_attributes = lru_cache(maxsize=None)(self._switched_attributes)
        self.enum_kind = lru_cache(maxsize=None)(self._enum_kind)
        # read on every construction (has_unresolved_base): resolved once per class
        self.written_bases = lru_cache(maxsize=None)(self._written_bases)
        self.bases = lru_cache(maxsize=None)(self._bases)
        # Classes taken to be modules although their base is defined outside the analysed
        # files (`pl.LightningModule`): qualname -> that base, for the note on their verdicts
        self.assumed_modules: dict[str, str] = {}
        # Module classes with a base the analysis cannot read, by qualname, with those bases
        # as written: taken to be mixins (forward() comes first), or whose forward() that
        # base may replace (built only as the class on its own, its verdicts unknown).
        self.assumed_mixins: dict[str, list[str]] = {}
        self.unread_forward: dict[str, list[str]] = {}

    def symbol_class(self, symbol: Symbol | None) -> AnyClass | None:
        if isinstance(symbol, ProjectClass):
            return symbol
        if isinstance(symbol, TorchName):
            return torch_class(symbol.qualname)
        return None

    def _written_bases(self, cls: ProjectClass) -> tuple[WrittenBase, ...]:
        """Each base as written in the class statement, with what it resolves to (None for a
        base the analysis knows nothing of; MIXIN for one that changes nothing a model does)."""
        found: list[WrittenBase] = []
        for arg in cls.node.bases:
            if arg.keyword is not None:
                continue  # metaclass=...
            written = arg.value.value if isinstance(arg.value, cst.Subscript) else arg.value
            symbol = self._resolve_expr(cls, written)  # `Generic[T]` is Generic
            if symbol is None and isinstance(written, cst.Name):
                symbol = self.resolver.from_outside_star(cls.file, written.value)
            if isinstance(symbol, External) and symbol.qualname in _MIXINS:
                found.append(WrittenBase(arg.value, MIXIN))
            elif _outside_framework(symbol) and _builds_like_a_module(cls.node):
                # A LightningModule or a library's base module that is not installed: the
                # class holds layers and runs them in forward(), as a module does.
                assert isinstance(symbol, External)
                self.assumed_modules.setdefault(cls.qualname, symbol.qualname)
                found.append(WrittenBase(arg.value, MODULE_BASE))
            else:
                found.append(WrittenBase(arg.value, self.symbol_class(symbol)))
        return tuple(found)

    def _bases(self, cls: ProjectClass) -> tuple[AnyClass | None, ...]:
        """Resolved bases, mixins left out; None for a base the analysis knows nothing of."""
        return tuple(
            base.resolved
            for base in self.written_bases(cls)
            if not isinstance(base.resolved, _Mixin)
        )

    def _resolve_expr(self, cls: ProjectClass, expr: cst.BaseExpression) -> Symbol | None:
        return self._resolve_in(cls.file, expr, depth=0)

    def _resolve_in(self, file: SourceFile, expr: cst.BaseExpression, depth: int) -> Symbol | None:
        """What a base expression names; a module-level alias (`Base = Stub`, or
        `A if FLAG else B` when both sides name the same class) is followed to its class."""
        symbol: Symbol | None = None
        if isinstance(expr, cst.Name):
            symbol = self.resolver.resolve_name(file, expr.value)
        elif isinstance(expr, cst.Attribute):
            base = self._resolve_in(file, expr.value, depth)
            symbol = self.resolver.attribute(base, expr.attr.value) if base is not None else None
        if not isinstance(symbol, ProjectValue) or depth >= _ALIAS_DEPTH:
            return symbol
        value = symbol.expr
        if isinstance(value, cst.IfExp):
            sides = {
                self._resolve_in(symbol.file, v, depth + 1) for v in (value.body, value.orelse)
            }
            return sides.pop() if len(sides) == 1 else None
        if isinstance(value, (cst.Name, cst.Attribute)):
            return self._resolve_in(symbol.file, value, depth + 1)
        return symbol

    def unread_bases(self, cls: AnyClass) -> list[str]:
        """The bases in `cls`'s ancestry the analysis cannot read, as written."""
        return [
            cst.Module([]).code_for_node(base.written)
            for entry in self.mro(cls)
            if isinstance(entry, ProjectClass)
            for base in self.written_bases(entry)
            if base.resolved is None
        ]

    def forward_before_unread_bases(self, cls: AnyClass) -> bool:
        """Whether forward() (or __call__) is defined by a project class that comes before
        every class with a base the analysis cannot read: such a base, a mixin, then cannot
        replace what calling the module runs."""
        mro = self.mro(cls)
        holders = [
            i for i, c in enumerate(mro) if isinstance(c, ProjectClass) and None in self.bases(c)
        ]
        for name in ("__call__", "forward"):
            found = self.method(cls, name)
            if found is not None and found[1] is not None:
                return mro.index(found[0]) <= min(holders, default=len(mro))
        return False

    def _mro(self, cls: AnyClass) -> tuple[AnyClass, ...]:
        """A depth-first, left-to-right linearisation (enough for model hierarchies); a class
        hierarchy that cycles through aliases stops at the repeated class. Bases are looked
        up through the cache, so a long chain of subclasses costs linear time."""
        if isinstance(cls, TorchClass):
            return (cls,) if cls.is_module_base else (cls, MODULE_BASE)
        if cls.qualname in self._building:
            return ()
        self._building.add(cls.qualname)
        try:
            order: dict[AnyClass, None] = {cls: None}
            for base in self.bases(cls):
                if base is None:
                    continue
                for entry in self.mro(base):
                    order.setdefault(entry, None)
            return tuple(order)
        finally:
            self._building.discard(cls.qualname)

    def is_autograd_function(self, cls: ProjectClass) -> bool:
        """Whether the class derives from torch.autograd.Function (its `apply` runs its
        static `forward(ctx, ...)`)."""
        for entry in self.mro(cls):
            if not isinstance(entry, ProjectClass):
                continue
            for arg in entry.node.bases:
                symbol = self._resolve_expr(entry, arg.value) if arg.keyword is None else None
                if isinstance(symbol, TorchName) and symbol.qualname in _AUTOGRAD_FUNCTIONS:
                    return True
        return False

    def has_unresolved_base(self, cls: AnyClass) -> bool:
        return any(isinstance(c, ProjectClass) and None in self.bases(c) for c in self.mro(cls))

    def torch_base(self, cls: AnyClass) -> TorchClass | None:
        """The first torch class in the MRO: what the class behaves like unless it overrides."""
        for entry in self.mro(cls):
            if isinstance(entry, TorchClass):
                return entry
        return None

    def is_module(self, cls: AnyClass) -> bool:
        return self.torch_base(cls) is not None

    def method(self, cls: AnyClass, name: str, after: AnyClass | None = None) -> FoundMethod | None:
        """The class that defines `name` first in the MRO (after `after`), and its def; a
        torch class in the MRO ends the search (returned with None as the def)."""
        mro = self.mro(cls)
        start = mro.index(after) + 1 if after is not None and after in mro else 0
        for entry in mro[start:]:
            if isinstance(entry, TorchClass):
                return entry, None
            found = _methods_of(entry.node).get(name)
            if found is not None:
                return entry, found
        return None

    def _enum_kind(self, cls: ProjectClass) -> str | None:
        """How members of `cls` compare when it derives from enum.Enum (bnlint.static.enums:
        "plain", or "int"/"str" for IntEnum, StrEnum and classes mixing in int or str); None
        for any other class."""
        kind = None
        mixin = None
        for arg in cls.node.bases:
            if arg.keyword is not None:
                continue
            if isinstance(arg.value, cst.Name) and arg.value.value in ("int", "str"):
                mixin = arg.value.value
                continue
            symbol = self._resolve_expr(cls, arg.value)
            if isinstance(symbol, External) and symbol.qualname in enums.BASES:
                kind = enums.BASES[symbol.qualname]
            elif isinstance(symbol, ProjectClass) and symbol.qualname not in self._building:
                self._building.add(symbol.qualname)
                try:
                    kind = self.enum_kind(symbol) or kind
                finally:
                    self._building.discard(symbol.qualname)
        if kind == "plain" and mixin is not None:
            return mixin
        return kind

    def class_attribute(
        self, cls: AnyClass, name: str
    ) -> tuple[ProjectClass, cst.BaseExpression] | None:
        """`expansion = 4` in a class body (searched along the MRO)."""
        for entry in self.mro(cls):
            if isinstance(entry, TorchClass):
                return None
            for statement in entry.node.body.body:
                if not isinstance(statement, cst.SimpleStatementLine):
                    continue
                for small in statement.body:
                    if isinstance(small, cst.Assign):
                        for target in small.targets:
                            if isinstance(target.target, cst.Name) and target.target.value == name:
                                return entry, small.value
                    elif (
                        isinstance(small, cst.AnnAssign)
                        and small.value is not None
                        and isinstance(small.target, cst.Name)
                        and small.target.value == name
                    ):
                        return entry, small.value
        return None

    def _switched_attributes(self, cls: AnyClass) -> dict[str, str]:
        """Attributes that a method other than construction or forward() assigns
        (`def switch_to_deploy(self): self.deploy = True`), mapped to that method's name: after
        __init__ their value is whatever the user last switched them to."""
        switched: dict[str, str] = {}
        for entry in self.mro(cls):
            if isinstance(entry, TorchClass):
                break
            methods = {
                s.name.value: s for s in entry.node.body.body if isinstance(s, cst.FunctionDef)
            }
            construction = _reached_from(methods, "__init__")
            for name, definition in methods.items():
                if name in construction or name == "forward":
                    continue
                for attribute in _self_assignments(definition):
                    switched.setdefault(attribute, name)
        return switched


def _reached_from(methods: dict[str, cst.FunctionDef], start: str) -> set[str]:
    """Methods `start` calls as `self.<name>(...)`, transitively."""
    reached, pending = set(), [start]
    while pending:
        name = pending.pop()
        if name in reached or name not in methods:
            continue
        reached.add(name)
        pending.extend(call for call in _self_calls(methods[name]))
    return reached


class _SelfUses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: set[str] = set()
        self.assigned: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        name = _self_attribute(node.func)
        if name is not None:
            self.calls.add(name)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def _target(self, target: cst.BaseExpression) -> None:
        name = _self_attribute(target)
        if name is not None:
            self.assigned.add(name)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value)


def _self_attribute(expr: cst.BaseExpression) -> str | None:
    if (
        isinstance(expr, cst.Attribute)
        and isinstance(expr.value, cst.Name)
        and expr.value.value == "self"
    ):
        return expr.attr.value
    return None


def _uses(definition: cst.FunctionDef) -> _SelfUses:
    uses = _SelfUses()
    definition.body.visit(uses)
    return uses


def _self_calls(definition: cst.FunctionDef) -> set[str]:
    return _uses(definition).calls


def _self_assignments(definition: cst.FunctionDef) -> set[str]:
    return _uses(definition).assigned
