"""Conditions the analysis cannot decide, remembered on the paths that took them.

`__init__` often builds a layer under a condition on its arguments and `forward()` runs it
under the same condition:

    if self.expand_ratio != 1:                 # __init__
        self.conv = Conv2d(...); self.bn = BatchNorm2d(...)
    else:
        self.conv = self.bn = Identity()
    ...
    if self.expand_ratio != 1:                 # forward()
        x = self.bn(self.conv(x))

Neither `if` can be decided, but they are one condition on one value: on the path where
forward() takes it, `self.conv` is the Conv2d and `self.bn` the BatchNorm2d. A value merged
from branches remembers, for each option, the facts (condition, side taken) of the path that
made it; a path that takes a side of the same condition narrows such values to the options
that agree with it.

A condition is known by the value it tests (the very object, so two arguments never share a
condition) and the comparison made with a constant. The analysis denotes one runtime value
by one object only where it runs code once per value; in a loop of unknown length one object
stands for every item, so conditions met there are not remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from bnlint.static.evaluate import compare, is_data, truth
from bnlint.static.frames import Frame
from bnlint.static.values import Choice, Const, Fact, ModuleInst, ObjectInst, Unknown, Value

if TYPE_CHECKING:
    from bnlint.static.interp import Interpreter

# `x is None`: None stands for "no constant was written", so the key holds this instead
_NONE = object()

# a condition's key, and the facts one path of an `if` adds (the other path adds the opposites)
Key = Hashable
PathFacts = Mapping[Key, bool]


def of_condition(
    interp: Interpreter, test: cst.BaseExpression, frame: Frame, value: Value
) -> tuple[PathFacts, PathFacts] | None:
    """What the path where `test` holds, and the path where it does not, learn; None when
    the condition is not one the analysis can recognise elsewhere."""
    if isinstance(value, Choice):
        return _of_choice(value, truth)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        if _constant(comparison.comparator) is not None:
            subject = interp.eval(test.left, frame) if _plain(test.left) else None
            if isinstance(subject, Choice):
                constant = Const(_written(comparison.comparator))
                return _of_choice(
                    subject, lambda option: compare(comparison.operator, option, constant)
                )
    key = _key(interp, test, frame)
    if key is None:
        return None
    condition, holds = key
    return {condition: holds}, {condition: not holds}


def decided(assumed: PathFacts, learned: tuple[PathFacts, PathFacts] | None) -> bool | None:
    """True or False when a path already took a side of this condition."""
    if not learned or not assumed:
        return None
    when_true, when_false = learned
    if when_true and all(assumed.get(k) is v for k, v in when_true.items()):
        return True
    if when_false and all(assumed.get(k) is v for k, v in when_false.items()):
        return False
    return None


def narrow(value: Choice, assumed: PathFacts) -> Value:
    """The options of `value` the path's facts allow (the value itself when no fact bears on
    it)."""
    kept = [
        (option, facts)
        for option, facts in zip(value.options, value.facts, strict=True)
        if all(assumed.get(k, v) is v for k, v in facts)
    ]
    if not kept or len(kept) == len(value.options):
        return value
    if len(kept) == 1:
        return kept[0][0]
    options, facts = zip(*kept, strict=True)
    return Choice(tuple(options), value.reason, tuple(facts))


def tags(paths: Sequence[PathFacts]) -> list[frozenset[Fact]]:
    return [frozenset(p.items()) for p in paths]


def _of_choice(
    value: Choice, holds: Callable[[Value], bool | None]
) -> tuple[PathFacts, PathFacts] | None:
    """`if self.has_se:` where `has_se` was set to True on one path of `__init__` and False
    on another (or `if self.se is not None:`, `se` a layer on one path and None on the
    other): taking a side assumes what every option on that side was made under."""
    if not value.facts:
        return None
    sides: dict[bool, list[frozenset[Fact]]] = {True: [], False: []}
    for option, facts in zip(value.options, value.facts, strict=True):
        outcome = holds(option)
        if outcome is None:
            return None
        sides[outcome].append(facts)
    learned = tuple(
        dict(frozenset.intersection(*found)) if found else {}
        for found in (sides[True], sides[False])
    )
    return (learned[0], learned[1]) if any(learned) else None


def _key(interp: Interpreter, test: cst.BaseExpression, frame: Frame) -> tuple[Key, bool] | None:
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = _key(interp, test.expression, frame)
        return (inner[0], not inner[1]) if inner else None
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        constant = _constant(comparison.comparator)
        subject = test.left
        flipped = constant is None
        if flipped:
            constant, subject = _constant(test.left), comparison.comparator
        tested = _subject(interp, subject, frame)
        if tested is None or constant is None:
            return None
        operator = type(comparison.operator).__name__
        holds = operator not in _NEGATED
        operator = _NEGATED.get(operator, operator)
        return ("compare", tested, operator, flipped, type(constant), constant), holds
    tested = _subject(interp, test, frame)
    return (("truth", tested), True) if tested is not None else None


def _subject(interp: Interpreter, expr: cst.BaseExpression, frame: Frame) -> Hashable | None:
    """The value a condition tests, as the unknown object it starts from and the attribute
    names read from it (`cfg.use_se`: the analysis gives every attribute of an unknown `cfg`
    the one object `cfg`, so the names tell `cfg.use_se` from `cfg.use_bn`)."""
    names: list[str] = []
    while isinstance(expr, cst.Attribute):
        names.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    value = interp.eval(expr, frame)
    while True:
        if isinstance(value, Unknown):
            return None if is_data(value) else (value, tuple(reversed(names)))
        if not names or not isinstance(value, (ModuleInst, ObjectInst)):
            return None
        # what the object holds under that name (never a property run a second time)
        name = names.pop()
        if isinstance(value, ModuleInst) and interp.classes.switched_attributes(value.cls).get(
            name
        ):
            return None  # a method may set it after __init__ decided on it
        held = value.attrs.get(name)
        if held is None and isinstance(value, ModuleInst):
            held = value.children.get(name)
        if held is None:
            return None
        value = held


def _constant(expr: cst.BaseExpression) -> object:
    """The constant written in a comparison (`1`, `"batch"`; `None` as _NONE), or None."""
    written = _written(expr)
    return _NONE if written is None and isinstance(expr, cst.Name) else written


def _written(expr: cst.BaseExpression) -> object:
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString)):
        return expr.evaluated_value
    if isinstance(expr, cst.Name) and expr.value in _NAMED:
        return _NAMED[expr.value]
    return None


def _plain(expr: cst.BaseExpression) -> bool:
    """A name or attribute chain: evaluating it again has no effect and gives the same."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return isinstance(expr, cst.Name)


_NAMED = {"None": None, "True": True, "False": False}


# `a != b` is `not a == b`: one condition, the other side
_NEGATED = {"NotEqual": "Equal", "IsNot": "Is", "NotIn": "In"}
