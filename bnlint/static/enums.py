"""Enumerations, as model code uses them to choose a layer: `norm_type=NormType.Batch`, then
`if norm_type in (NormType.Batch, NormType.BatchZero):`.

A member of a plain Enum is a constant of its own (EnumMember: equal only to itself, `.name`
and `.value` known); a member of an IntEnum or StrEnum (or a class mixing in int or str) is
its value, which is what it compares equal to. Both spellings are followed: a class deriving
from enum.Enum (its members the class body's assignments, `auto()` numbered as Python
numbers them) and the functional `Enum("NormType", "Batch BatchZero")`.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import libcst as cst

from bnlint.static.values import Const, EnumClass, Mapping, Seq, Unknown, Value, all_const

# enum's classes, and how their members compare
BASES = {
    "enum.Enum": "plain",
    "enum.Flag": "plain",
    "enum.IntEnum": "int",
    "enum.IntFlag": "int",
    "enum.StrEnum": "str",
}
# The classes whose call makes an enumeration, as the builtins bnlint.static.calls evaluates
FUNCTIONAL = {"enum.Enum": "Enum", "enum.IntEnum": "IntEnum", "enum.StrEnum": "StrEnum"}


@dataclass(frozen=True)
class EnumMember:
    """A member of a plain Enum: equal to itself only (its class and name say which)."""

    owner: str
    name: str
    value: Hashable

    def __repr__(self) -> str:
        return f"{self.owner.rsplit('.', 1)[-1]}.{self.name}"


def member(owner: str, kind: str, name: str, value: Hashable) -> Const:
    if kind in ("int", "str"):
        return Const(value)
    return Const(EnumMember(owner, name, value))


def member_attribute(value: EnumMember, name: str) -> Value:
    if name == "name":
        return Const(value.name)
    if name == "value":
        return Const(value.value)
    return Unknown(f"'{name}' of the enum member {value!r}")


def auto_value(kind: str, name: str, position: int) -> Hashable:
    """What `auto()` gives the member `name`, the `position`-th (from 1) of its class."""
    return name.lower() if kind == "str" else position


def is_auto(expr: cst.BaseExpression) -> bool:
    """`auto()` or `enum.auto()` (read by its spelling: a class body's own `auto`)."""
    if not isinstance(expr, cst.Call) or expr.args:
        return False
    func = expr.func
    return (isinstance(func, cst.Name) and func.value == "auto") or (
        isinstance(func, cst.Attribute) and func.attr.value == "auto"
    )


def body_members(node: cst.ClassDef) -> list[tuple[str, cst.BaseExpression]]:
    """The members a class body assigns, in order (`Batch = 1`, `GN = auto()`); names with
    underscores at both ends and methods are not members."""
    found = []
    for statement in node.body.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if (
                isinstance(small, cst.Assign)
                and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
            ):
                name = small.targets[0].target.value
                if not (name.startswith("_") and name.endswith("_")):
                    found.append((name, small.value))
    return found


def functional(args: list[Value], kwargs: dict[str, Value], kind: str) -> Value:
    """`Enum("NormType", "Batch BatchZero")`, or with a list of names, of (name, value)
    pairs, or a dict of them; members numbered from 1 as Python numbers them."""
    name = args[0] if args else kwargs.get("value")
    names = args[1] if len(args) > 1 else kwargs.get("names")
    if not (isinstance(name, Const) and isinstance(name.value, str)):
        return Unknown("Enum() with a name not known")
    pairs = _pairs(names, kind)
    if pairs is None:
        return Unknown(f"Enum '{name.value}' with members not known")
    return EnumClass(
        name.value, {n: member(name.value, kind, n, value) for n, value in pairs}, kind
    )


def _pairs(names: Value | None, kind: str) -> list[tuple[str, Hashable]] | None:
    if isinstance(names, Const) and isinstance(names.value, str):
        split = names.value.replace(",", " ").split()
        return [(n, auto_value(kind, n, i)) for i, n in enumerate(split, start=1)]
    if isinstance(names, Mapping) and names.complete and all_const(list(names.items.values())):
        return [(str(k), v.value) for k, v in names.items.items() if isinstance(v, Const)]
    if not (isinstance(names, Seq) and names.complete):
        return None
    pairs: list[tuple[str, Hashable]] = []
    for position, item in enumerate(names.items, start=1):
        if isinstance(item, Const) and isinstance(item.value, str):
            pairs.append((item.value, auto_value(kind, item.value, position)))
        elif (
            isinstance(item, Seq)
            and len(item.items) == 2
            and all_const(item.items)
            and isinstance(item.items[0].value, str)
        ):
            pairs.append((item.items[0].value, item.items[1].value))
        else:
            return None
    return pairs


def lookup(enum: EnumClass, key: Value, by: str) -> Value:
    """`NormType["Batch"]` (by name) or `NormType(1)` (by value)."""
    if not isinstance(key, Const):
        return Unknown(f"a member of {enum.qualname} chosen by a value not known")
    for name, found in enum.members.items():
        value = found.value.value if isinstance(found.value, EnumMember) else found.value
        if (by == "name" and name == key.value) or (by == "value" and value == key.value):
            return found
    return Unknown(f"{enum.qualname} has no member {key.value!r}")
