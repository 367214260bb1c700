"""Expression evaluation for the interpreter: literals, names, attributes, calls, builtins.

Split from interp.py so that each file reads in one sitting: interp.py holds statements,
control flow and construction; this file holds what a single expression evaluates to.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import libcst as cst

from bnlint import rules
from bnlint.ftypes import NodeKind
from bnlint.static import enums, objects
from bnlint.static.frames import Frame, Method, Param
from bnlint.static.index import ProjectClass, ProjectFunction
from bnlint.static.torch_api import NON_TENSOR_ATTRIBUTES, torch_class
from bnlint.static.values import (
    PIECES,
    SPREAD,
    BuiltinRef,
    Choice,
    ClassRef,
    Const,
    EnumClass,
    FunctionRef,
    Mapping,
    ModuleInst,
    ModuleRef,
    ObjectInst,
    Seq,
    Spread,
    SuperRef,
    Tensor,
    Unknown,
    Value,
    all_const,
    choice,
    node_text,
)

if TYPE_CHECKING:
    from bnlint.static.facts import PathFacts
    from bnlint.static.interp import Interpreter


class _Handler(Protocol):
    """Evaluates one kind of expression (the table below dispatches on the node's type)."""

    def __call__(self, interp: Interpreter, expr: Any, frame: Frame, /) -> Value: ...


BUILTIN_NAMES = frozenset(
    {
        "range",
        "len",
        "enumerate",
        "zip",
        "list",
        "tuple",
        "dict",
        "int",
        "float",
        "str",
        "bool",
        "min",
        "max",
        "sum",
        "abs",
        "round",
        "isinstance",
        "getattr",
        "setattr",
        "hasattr",
        "super",
        "print",
        "reversed",
        "sorted",
        "any",
        "all",
        "map",
        "filter",
        "type",
        "callable",
        "iter",
        "next",
        "OrderedDict",
        "partial",
        "set",
        "frozenset",
        "divmod",
        "pow",
        "id",
        "hash",
        "repr",
        "format",
        "NotImplementedError",
        "ValueError",
        "TypeError",
        "RuntimeError",
        "AssertionError",
        "KeyError",
        "Exception",
        "object",
        "issubclass",
        "dir",
        "locals",
        "globals",
        "staticmethod",
    }
)
_MAX_LENGTH = 100_000  # no constant list or string the analysis builds may exceed this
_DATA = "data"  # Unknown.code for values computed from tensor data


def expression(interp: Interpreter, expr: cst.BaseExpression, frame: Frame) -> Value:
    handler = _HANDLERS.get(type(expr))
    if handler is None:
        return Unknown(f"unsupported expression `{node_text(expr)}`")
    return handler(interp, expr, frame)


def _integer(interp: Interpreter, expr: cst.Integer, frame: Frame) -> Value:
    try:
        return Const(int(expr.value, 0))
    except ValueError:  # "00" and friends
        return Const(int(expr.value.replace("_", "")))


def _float(interp: Interpreter, expr: cst.Float, frame: Frame) -> Value:
    return Const(float(expr.value.replace("_", "")))


@functools.lru_cache(maxsize=4096)
def _string_value(written: str) -> str | bytes:
    """What a string literal says: libcst's `evaluated_value` compiles it anew on every
    call, and the same few literals (dict keys, layer names) are read over and over."""
    value: str | bytes = ast.literal_eval(written)
    return value


def _string(interp: Interpreter, expr: cst.BaseString, frame: Frame) -> Value:
    if isinstance(expr, cst.SimpleString):
        try:
            return Const(_string_value(expr.value))
        except Exception:  # malformed escapes in odd files
            return Unknown("string literal")
    if isinstance(expr, cst.ConcatenatedString):
        left = _string(interp, expr.left, frame)
        right = _string(interp, expr.right, frame)
        if (
            isinstance(left, Const)
            and isinstance(right, Const)
            and isinstance(left.value, str)
            and isinstance(right.value, str)
        ):
            return Const(left.value + right.value)
        return Unknown("string")
    if isinstance(expr, cst.FormattedString):
        parts = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(part.value)
                continue
            assert isinstance(part, cst.FormattedStringExpression)  # the other kind of part
            value = interp.eval(part.expression, frame)
            if not isinstance(value, Const) or part.format_spec or part.conversion:
                return Unknown(f"f-string `{node_text(expr)}` with a value not known")
            parts.append(str(value.value))
        return Const("".join(parts))
    return Unknown("string")


def _name(interp: Interpreter, expr: cst.Name, frame: Frame) -> Value:
    if expr.value in ("True", "False", "None"):
        return Const({"True": True, "False": False, "None": None}[expr.value])
    return interp.lookup(expr.value, frame)


def _sequence(interp: Interpreter, expr: cst.List | cst.Tuple | cst.Set, frame: Frame) -> Value:
    items: list[Value] = []
    complete, why = True, ""
    for element in expr.elements:
        value = interp.eval(element.value, frame)
        if isinstance(element, cst.StarredElement):
            expanded = interp.iterate(value, frame)
            if expanded is None:
                complete, why = False, getattr(value, "reason", "a starred value is not known")
                continue
            items.extend(expanded)
        else:
            items.append(value)
    return Seq(tuple(items), isinstance(expr, cst.Tuple), complete, why)


def _dict(interp: Interpreter, expr: cst.Dict, frame: Frame) -> Value:
    items: dict[Any, Value] = {}
    complete = True
    for element in expr.elements:
        if isinstance(element, cst.StarredDictElement):
            value = interp.eval(element.value, frame)
            if isinstance(value, Mapping):
                items.update(value.items)
                complete = complete and value.complete
            else:
                complete = False
            continue
        assert isinstance(element, cst.DictElement)  # a dict element is starred or a pair
        key = interp.eval(element.key, frame)
        if isinstance(key, Const) and _hashable(key.value):
            items[key.value] = interp.eval(element.value, frame)
        else:
            complete = False
    return Mapping(items, complete)


def _comprehension(interp: Interpreter, expr: Any, frame: Frame) -> Value:

    scope = Frame(
        frame.file, {}, frame.self_inst, frame.cls, {**(frame.closure or {}), **frame.env}
    )
    results: list[Value] = []
    pairs: dict[Any, Value] = {}
    complete = [True, ""]

    def loop(clause: cst.CompFor | None) -> None:
        if clause is None:
            if isinstance(expr, cst.DictComp):
                key = interp.eval(expr.key, scope)
                if isinstance(key, Const) and _hashable(key.value):
                    pairs[key.value] = interp.eval(expr.value, scope)
                else:
                    complete[0] = False
            else:
                results.append(interp.eval(expr.elt, scope))
            return
        iterable = interp.eval(clause.iter, scope)
        items = interp.iterate(iterable, scope)
        if items is None:
            reason = f"the comprehension over `{node_text(clause.iter)}` has unknown length"
            complete[0], complete[1] = False, reason
            # Its element is still evaluated, once, on a path of its own (as a for loop of
            # unknown length runs its body): the layers it builds or calls exist for any
            # length but zero, and must not go unseen.
            interp.branches(
                [
                    functools.partial(run, clause, interp.some_element(iterable, reason)),
                    lambda: None,
                ],
                reason,
                scope,
                data_dependent=is_data(iterable) or interp.forward is not None,
                repeated=True,
            )
            return
        for item in items:
            run(clause, item)

    def run(clause: cst.CompFor, item: Value) -> None:
        interp.tick()
        interp.assign(clause.target, item, scope, clause)
        skip = False
        for condition in clause.ifs:
            truth_value = test_truth(interp, condition.test, scope)[1]
            if truth_value is None:
                complete[0], complete[1] = False, "a comprehension filter is not known"
                skip = True
            elif not truth_value:
                skip = True
        if not skip:
            loop(clause.inner_for_in)

    loop(expr.for_in)
    if isinstance(expr, cst.DictComp):
        return Mapping(pairs, bool(complete[0]))
    return Seq(tuple(results), False, bool(complete[0]), str(complete[1]))


def _attribute(interp: Interpreter, expr: cst.Attribute, frame: Frame) -> Value:
    base = interp.eval(expr.value, frame)
    return attribute(interp, base, expr.attr.value, frame, expr)


def attribute(
    interp: Interpreter, base: Value, name: str, frame: Frame, node: cst.CSTNode
) -> Value:

    if isinstance(base, ModuleRef):
        if base.file is not None:
            symbol = interp.resolver.resolve_name(base.file, name)
            if symbol is None:
                symbol = interp.resolver.resolve_qualified(f"{base.qualname}.{name}")
            return interp.symbol_value(symbol, f"{base.qualname}.{name}")
        stdlib = interp.stdlib_attribute(base.qualname, name)
        if stdlib is not None:
            return stdlib
        return interp.symbol_value(
            interp.resolver.resolve_qualified(f"{base.qualname}.{name}"), name
        )
    if isinstance(base, ModuleInst):
        if name in base.attrs:
            value = base.attrs[name]
            switch = interp.classes.switched_attributes(base.cls).get(name)
            if switch is not None and interp.forward is not None and isinstance(value, Const):
                interp.switches_read.setdefault(f"self.{name}", switch)
                if interp.as_built:
                    return value
                return Unknown(
                    f"'self.{name}' is set by {switch}(), so forward() may see "
                    "another value than __init__ gave it"
                )
            return value
        if name in base.children:
            return base.children[name]
        if name == "training":
            return Const(False)  # folding is about eval mode
        if name == "_modules":
            return _registry_view(base)
        if name in base.layer_args:
            return base.layer_args[name]
        if (
            name in ("in_features", "out_features", "in_channels", "out_channels", "num_features")
            and base.layer_args
        ):
            return Unknown(f"'{name}' of a layer")
        found = interp.classes.method(base.cls, name)
        if found is not None and found[1] is not None:
            owner = found[0]
            assert isinstance(owner, ProjectClass)
            method = FunctionRef(
                ProjectFunction(owner.file, found[1], f"{owner.qualname}.{name}"), bound_self=base
            )
            if _is_property(found[1]):  # mmdet's `self.norm1` -> getattr(self, self.norm1_name)
                return interp.call_function(method, [], {}, node)
            return method
        class_attr = interp.classes.class_attribute(base.cls, name)
        if class_attr is not None:
            owner, value_expr = class_attr
            return interp.eval(value_expr, Frame(owner.file, {}))
        if name in (
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
            "eps",
            "momentum",
        ):
            return Param(base, name)
        if base.uid in interp.abandoned:
            # __init__ may have set it after the point where its analysis stopped
            return Unknown(
                f"the analysis stopped before __init__ set 'self.{name}' "
                f"({interp.abandoned[base.uid]})",
                rules.UNKNOWN_CALL.code,
            )
        return Method(base, name, node_text(node))
    if isinstance(base, EnumClass):
        if name in base.members:
            return base.members[name]
        return Unknown(f"'{name}' of the enum {base.qualname}")
    if isinstance(base, Const) and isinstance(base.value, enums.EnumMember):
        return enums.member_attribute(base.value, name)
    if isinstance(base, (ClassRef, FunctionRef)):
        introspected = _introspect(base, name)
        if introspected is not None:
            return introspected
    if isinstance(base, ClassRef):
        if isinstance(base.cls, ProjectClass):
            class_attr = interp.classes.class_attribute(base.cls, name)
            if class_attr is not None:
                owner, value_expr = class_attr
                return interp.eval(value_expr, Frame(owner.file, {}))
            found = interp.classes.method(base.cls, name)
            if found is not None and found[1] is not None:
                owner = found[0]
                return FunctionRef(
                    ProjectFunction(owner.file, found[1], f"{owner.qualname}.{name}")
                )
            if name == "apply" and interp.classes.is_autograd_function(base.cls):
                return _autograd_apply(interp, base.cls)
            if name == "__dataclass_fields__":
                return objects.dataclass_fields(interp, base.cls)
        return Unknown(f"attribute '{name}' of class {base.cls.qualname}")
    if isinstance(base, ObjectInst):
        return objects.attribute(interp, base, name, frame, node)
    if isinstance(base, SuperRef):
        return Method(base, name, node_text(node))
    if isinstance(base, Tensor):
        if name in NON_TENSOR_ATTRIBUTES:
            return Unknown(f"'{name}' of a tensor", _DATA)
        if name in ("T", "mT"):
            assert interp.forward is not None
            return interp.forward.method_op(base, "transpose", [], {}, frame, node)
        if name in ("real", "imag"):
            # the real or imaginary part of a complex tensor: a tensor an op made (an
            # attribute has no place of its own in the index of positions: none is named)
            assert interp.forward is not None
            return interp.forward.add(NodeKind.OTHER, f"Tensor.{name}", [base], None)
        return Method(base, name, node_text(node))
    if isinstance(base, Choice):
        return choice(
            [attribute(interp, option, name, frame, node) for option in base.options], base.reason
        )
    if isinstance(base, Seq) and name in base.fields:
        return base.items[base.fields.index(name)]
    if isinstance(base, Mapping) and base.namespace:
        if name in base.items:
            return base.items[name]
        return Unknown(f"attribute '{name}' of a namespace that does not hold it")
    if isinstance(base, (Seq, Mapping, Const, Param)):
        return Method(base, name, node_text(node))
    if isinstance(base, Unknown):
        return base
    return Unknown(f"attribute '{name}'")


def _introspect(ref: ClassRef | FunctionRef, name: str) -> Value | None:
    """What model code asks of a class or function value: its name, and what a
    functools.partial of it holds."""
    if name in ("__name__", "__qualname__") and not ref.is_partial:
        qualname = ref.cls.qualname if isinstance(ref, ClassRef) else ref.func.qualname
        return Const(qualname.rsplit(".", 1)[-1])
    if ref.is_partial and name == "func":
        if isinstance(ref, ClassRef):
            return ClassRef(ref.cls)
        return FunctionRef(ref.func, ref.bound_self, closure=ref.closure)
    if ref.is_partial and name == "args":
        return Seq(ref.args, is_tuple=True)
    if ref.is_partial and name == "keywords":
        return Mapping(dict(ref.kwargs))
    return None


def _subscript(interp: Interpreter, expr: cst.Subscript, frame: Frame) -> Value:
    base = interp.eval(expr.value, frame)
    if len(expr.slice) != 1:
        if isinstance(base, Tensor) and interp.forward is not None:
            return interp.forward.method_op(base, "__getitem__", [], {}, frame, expr)
        indices = [e.slice for e in expr.slice if isinstance(e.slice, cst.Index)]
        if len(indices) != len(expr.slice):
            return Unknown("a subscript with several slices")
        # `registry[name, dims]`: one tuple key
        parts = [interp.eval(index.value, frame) for index in indices]
        key: Value = (
            Const(tuple(p.value for p in parts)) if all_const(parts) else Seq(tuple(parts), True)
        )
        return item(interp, base, key, frame, expr)
    element = expr.slice[0].slice
    if isinstance(element, cst.Slice):
        lower = interp.eval(element.lower, frame) if element.lower else Const(None)
        upper = interp.eval(element.upper, frame) if element.upper else Const(None)
        step = interp.eval(element.step, frame) if element.step else Const(None)
        return _slice(interp, base, lower, upper, step, frame, expr)
    assert isinstance(element, cst.Index)  # a subscript element is a slice or an index
    key = interp.eval(element.value, frame)
    return item(interp, base, key, frame, expr)


def item(interp: Interpreter, base: Value, key: Value, frame: Frame, node: cst.CSTNode) -> Value:
    if isinstance(base, EnumClass):  # `NormType["Batch"]`
        return enums.lookup(base, key, "name")
    if isinstance(base, ObjectInst):
        hook = objects.dunder(interp, base, "__getitem__")
        if hook is not None:
            return interp.call_function(hook, [key], {}, node)
        return Unknown(f"`{node_text(node)}`: a {base.cls.name} object cannot be indexed")
    if isinstance(base, Tensor):
        assert interp.forward is not None
        return interp.forward.method_op(base, "__getitem__", [], {}, frame, node)
    if isinstance(key, Unknown) or not isinstance(key, Const):
        table = _table_choice(base, key, node)
        if table is not None:
            return table
        if isinstance(base, ModuleInst) or _holds_modules(base):
            return Unknown(
                f"`{node_text(node)}` picks a module by an index the analysis cannot compute",
                rules.DYNAMIC_ATTRIBUTE.code,
            )
        return Unknown(f"`{node_text(node)}` with an unknown index")
    if isinstance(base, Seq):
        if isinstance(key.value, int) and -len(base.items) <= key.value < len(base.items):
            if base.complete or key.value >= 0:
                return base.items[key.value]
        if base.why_incomplete == PIECES and base.items and isinstance(key.value, int):
            return base.items[0]  # every piece of a split tensor is the same piece node
        return Unknown(f"index {key.value} of a list not fully known")
    if isinstance(base, Mapping):
        if _hashable(key.value) and (
            key.value in base.items or interp.look_for_key(base, key.value)
        ):
            return base.items[key.value]
        return Unknown(f"key {key.value!r} not known")
    if isinstance(base, ModuleInst):
        children = [(k, v) for k, v in base.children.items()]
        if base.torch_base.container == "dict" or isinstance(key.value, str):
            found = base.children.get(str(key.value))
            return found if found is not None else Unknown(f"no module '{key.value}'")
        if (
            isinstance(key.value, int)
            and not base.incomplete
            and -len(children) <= key.value < len(children)
        ):
            return children[key.value][1]
        return Unknown(f"index {key.value} of a container not fully known")
    if isinstance(base, Const) and isinstance(base.value, (str, tuple, bytes)):
        try:
            return Const(base.value[key.value])
        except Exception:
            return Unknown("index out of range")
    if isinstance(base, Choice):
        return choice([item(interp, o, key, frame, node) for o in base.options], base.reason)
    return base if isinstance(base, Unknown) else Unknown(f"`{node_text(node)}`")


def _table_choice(base: Value, key: Value, node: cst.CSTNode) -> Value | None:
    """A table of classes or constants looked up by a key the analysis cannot compute
    (`(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1]`, `NORMS[name]`): one of its
    entries, each kept as an option."""
    if is_data(key):
        return None
    entries = (
        list(base.items)
        if isinstance(base, Seq) and base.complete
        else list(base.items.values())
        if isinstance(base, Mapping) and base.complete
        else None
    )
    if not entries or not all(isinstance(e, (ClassRef, FunctionRef, Const)) for e in entries):
        return None
    return choice(
        entries, f"`{node_text(node)}` looks up a table by a key the analysis cannot compute"
    )


def _registry_view(inst: ModuleInst) -> ModuleInst:
    """`module._modules`: the registered children by name, as a ModuleDict over the very
    same dict (what is added to one shows in the other)."""
    registry = torch_class("torch.nn.ModuleDict")
    assert registry is not None
    return ModuleInst(
        cls=registry,
        torch_base=registry,
        ancestry=(registry,),
        construction=inst.construction,
        children=inst.children,
        incomplete=inst.incomplete,
        unknown_at=inst.unknown_at,
    )


def _slice(
    interp: Interpreter,
    base: Value,
    lower: Value,
    upper: Value,
    step: Value,
    frame: Frame,
    node: cst.CSTNode,
) -> Value:
    if isinstance(base, Tensor):
        assert interp.forward is not None
        return interp.forward.method_op(base, "__getitem__", [], {}, frame, node)
    bounds = [v.value if isinstance(v, Const) else Ellipsis for v in (lower, upper, step)]
    if Ellipsis in bounds:
        return Unknown("slice with unknown bounds")
    window: slice[Any, Any, Any] = slice(*bounds)
    if isinstance(base, Seq) and base.complete:
        return Seq(base.items[window], base.is_tuple)
    if isinstance(base, Const) and isinstance(base.value, (str, tuple)):
        return Const(base.value[window])
    if (
        isinstance(base, ModuleInst)
        and base.torch_base.container in ("sequential", "list")
        and not base.incomplete
    ):
        # Slicing a Sequential builds a new container around the same modules.
        sliced = ModuleInst(
            cls=base.cls,
            torch_base=base.torch_base,
            ancestry=base.ancestry,
            construction=base.construction,
        )
        for index, (_, child) in enumerate(list(base.children.items())[window]):
            sliced.children[str(index)] = child
        return sliced
    return Unknown("slice of a value not fully known")


def _call(interp: Interpreter, expr: cst.Call, frame: Frame) -> Value:
    func = interp.eval(expr.func, frame)
    args: list[Value] = []
    kwargs: dict[str, Value] = {}
    for arg in expr.args:
        value = interp.eval(arg.value, frame)
        if arg.star == "*":
            expanded = interp.iterate(value, frame)
            if expanded is None:
                args.append(
                    Spread(
                        getattr(value, "why_incomplete", "")
                        or getattr(value, "reason", "")
                        or f"`*{node_text(arg.value)}` is not fully known",
                        getattr(value, "code", None),
                    )
                )
            else:
                args.extend(expanded)
        elif arg.star == "**":
            if isinstance(value, Mapping):
                kwargs.update({str(k): v for k, v in value.items.items()})
            if not isinstance(value, Mapping) or not value.complete:
                # Any keyword the call does not write out may come from it.
                why = getattr(value, "reason", "") or "its keys are not all known"
                kwargs[SPREAD] = Spread(
                    f"`**{node_text(arg.value)}` may supply any argument ({why})",
                    getattr(value, "code", None),
                )
        elif arg.keyword is not None:
            kwargs[arg.keyword.value] = value
        else:
            args.append(value)
    if frame.file.library:
        return interp.call(func, args, kwargs, frame, expr)
    outer, interp.project_call = interp.project_call, (frame.file, expr)
    try:
        return interp.call(func, args, kwargs, frame, expr)
    finally:
        interp.project_call = outer


def _autograd_apply(interp: Interpreter, cls: ProjectClass) -> Value:
    """`Function.apply(*args)` runs the class's static `forward(ctx, *args)` (a reversible
    block's two halves, a memory-efficient activation); `ctx` is what backward() will read,
    which the fold never depends on."""
    found = interp.classes.method(cls, "forward")
    if found is None or found[1] is None:
        return Unknown(f"{cls.qualname}.apply() without a forward() the analysis can read")
    owner, definition = found
    return FunctionRef(
        ProjectFunction(owner.file, definition, f"{owner.qualname}.forward"),
        args=(Unknown(f"the autograd context of {cls.name}.apply()"),),
    )


def _binary(interp: Interpreter, expr: cst.BinaryOperation, frame: Frame) -> Value:
    left = interp.eval(expr.left, frame)
    right = interp.eval(expr.right, frame)
    return interp.binary(expr.operator, left, right, frame, expr)


_BINARY = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
    cst.Power: operator.pow,
    cst.BitAnd: operator.and_,
    cst.BitOr: operator.or_,
    cst.BitXor: operator.xor,
    cst.LeftShift: operator.lshift,
    cst.RightShift: operator.rshift,
    cst.AddAssign: operator.add,
    cst.SubtractAssign: operator.sub,
    cst.MultiplyAssign: operator.mul,
    cst.DivideAssign: operator.truediv,
    cst.FloorDivideAssign: operator.floordiv,
    cst.ModuloAssign: operator.mod,
    cst.PowerAssign: operator.pow,
}


def binary_constant(op_node: cst.CSTNode, left: Value, right: Value) -> Value:
    function = _BINARY.get(type(op_node))
    if (
        isinstance(left, Seq)
        and isinstance(right, Const)
        and isinstance(right.value, int)
        and function is operator.mul
        and left.complete
    ):
        if len(left.items) * max(right.value, 0) > _MAX_LENGTH:
            return Unknown("list too long")
        return Seq(left.items * right.value, left.is_tuple)
    if function is operator.mul and (isinstance(left, Seq) or isinstance(right, Seq)):
        # `[1] * kernel_count` with the count not known: a list of unknown length, never
        # the count itself (an Unknown declared `int` would pass for no list at all)
        sequence = left if isinstance(left, Seq) else right
        assert isinstance(sequence, Seq)
        return Seq((), sequence.is_tuple, False, "repeated a number of times not known")
    if function is None or not isinstance(left, Const) or not isinstance(right, Const):
        return _unknown_from(left, right, "arithmetic on values not known")
    a, b = left.value, right.value
    if function is operator.pow and isinstance(b, (int, float)) and abs(b) > 64:
        return Unknown("exponent too large")
    if function in (operator.mul, operator.lshift) and _too_big(a, b):
        return Unknown("value too large")
    try:
        return Const(function(a, b))
    except Exception as error:
        return Unknown(f"arithmetic fails: {error}")


def _too_big(a: Any, b: Any) -> bool:
    for x, y in ((a, b), (b, a)):
        if isinstance(x, (str, bytes, tuple)) and isinstance(y, int) and len(x) * y > _MAX_LENGTH:
            return True
    return isinstance(b, int) and isinstance(a, int) and b > 4096


def _unknown_from(left: Value, right: Value, default: str) -> Unknown:
    for value in (left, right):
        if isinstance(value, Unknown):
            return value
    return Unknown(default)


def _unary(interp: Interpreter, expr: cst.UnaryOperation, frame: Frame) -> Value:
    if isinstance(expr.operator, cst.Not):
        return test_truth(interp, expr, frame)[0]
    value = interp.eval(expr.expression, frame)
    if isinstance(value, Tensor) and interp.forward is not None:
        return interp.forward.method_op(value, "neg", [], {}, frame, expr)
    if not isinstance(value, Const):
        return _undecided(value)
    try:
        if isinstance(expr.operator, cst.Minus):
            return Const(-value.value)
        if isinstance(expr.operator, cst.Plus):
            return Const(+value.value)
        return Const(~value.value)
    except Exception:
        return Unknown("unary operation fails")


def _undecided(value: Value) -> Unknown:
    if isinstance(value, Unknown):
        return value
    if isinstance(value, Tensor):
        return Unknown("depends on tensor data", _DATA)
    return Unknown("not known")


def _bool_op(interp: Interpreter, expr: cst.BooleanOperation, frame: Frame) -> Value:
    return _bool_op_and_truth(interp, expr, frame)[0]


def test_truth(
    interp: Interpreter, expr: cst.BaseExpression, frame: Frame
) -> tuple[Value, bool | None]:
    """The value of a test (an `if`, `while`, `assert`, filter or guard) and whether it
    holds. An `or`/`and` is decided by its parts where its value cannot say: `x or True`
    holds whatever `x` is, though its value may be `x`."""
    if isinstance(expr, cst.BooleanOperation):
        return _bool_op_and_truth(interp, expr, frame)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        value, decided = test_truth(interp, expr.expression, frame)
        if decided is None:
            return _undecided(value), None
        return Const(not decided), not decided
    value = interp.eval(expr, frame)
    return value, truth(value)


def _bool_op_and_truth(
    interp: Interpreter, expr: cst.BooleanOperation, frame: Frame
) -> tuple[Value, bool | None]:
    """`a or b` is `a` where `a` is true and `b` elsewhere; `a and b` is `b` where `a` is
    true and `a` elsewhere (`(SyncBatchNorm if sync else None) or BatchNorm2d` is one of
    the two classes). A value whose truth is not known stands for itself, as an unknown
    argument stands for what the caller passes, except where the right side settles the
    test (`norm_layer or LayerNorm`: that unknown, or LayerNorm). The test holds as far as
    either side decides it."""
    left, decided = test_truth(interp, expr.left, frame)
    is_and = isinstance(expr.operator, cst.And)
    if decided is not None:
        if decided is not is_and:  # `true or ...`, `false and ...`: the left side
            return left, decided
        return test_truth(interp, expr.right, frame)
    right, right_truth = test_truth(interp, expr.right, frame)
    settles = right_truth is (not is_and)  # `x or <true>`, `x and <false>`
    holds = right_truth if settles else None
    results: list[Value] = []
    for option in left.options if isinstance(left, Choice) else (left,):
        kept = truth(option)
        if kept is None:
            results.append(option)
            if settles:
                results.append(right)
        else:
            results.append(option if kept is not is_and else right)
    value = choice(results, f"`{node_text(expr)}` cannot be decided")
    options = value.options if isinstance(value, Choice) else (value,)
    if all(_flag(option) for option in options):
        # A flag (`use_ident = cin == cout and stride == 1`): only its truth is read of it,
        # and an unknown flag stays one object, so every test of it is one condition
        # (bnlint.static.facts).
        return (Const(holds), holds) if holds is not None else (_undecided(left), None)
    if any(isinstance(option, Tensor) for option in options):
        return _undecided(left), holds  # a tensor's truth is its data: no value to pick
    return value, holds


def _flag(value: Value) -> bool:
    return isinstance(value, Unknown) or (
        isinstance(value, Const) and isinstance(value.value, bool)
    )


_COMPARE = {
    cst.Equal: operator.eq,
    cst.NotEqual: operator.ne,
    cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le,
    cst.GreaterThan: operator.gt,
    cst.GreaterThanEqual: operator.ge,
}


def _compare(interp: Interpreter, expr: cst.Comparison, frame: Frame) -> Value:
    left = interp.eval(expr.left, frame)
    result = True
    for target in expr.comparisons:
        right = interp.eval(target.comparator, frame)
        if (
            isinstance(target.operator, (cst.In, cst.NotIn))
            and isinstance(right, Mapping)
            and isinstance(left, Const)
            and _hashable(left.value)
            and left.value not in right.items
        ):
            interp.look_for_key(right, left.value)  # a registry other modules fill
        outcome = compare(target.operator, left, right)
        if outcome is None:
            return _undecided(left if not isinstance(left, Const) else right)
        result = result and outcome
        left = right
    return Const(result)


def _registered_names(module: ModuleInst, key: Value) -> list[Any] | None:
    """The names a ModuleDict holds, as far as `key in module` needs them: all of them when
    they are known, the key itself when it is among those known."""
    if not module.incomplete:
        return list(module.children)
    if isinstance(key, Const) and isinstance(key.value, str) and key.value in module.children:
        return [key.value]
    return None


def compare(op_node: cst.CSTNode, left: Value, right: Value) -> bool | None:
    if isinstance(op_node, (cst.Is, cst.IsNot)):
        same = _identity_equal(left, right)
        if same is None:
            return None
        return same if isinstance(op_node, cst.Is) else not same
    if isinstance(op_node, (cst.In, cst.NotIn)) and isinstance(left, (ClassRef, FunctionRef)):
        found = _member_of(left, right)
        if found is None:
            return None
        return found if isinstance(op_node, cst.In) else not found
    if isinstance(op_node, (cst.In, cst.NotIn)):
        members: Collection[Any] | None = None
        if isinstance(right, Seq) and right.complete and all_const(right.items):
            members = [i.value for i in right.items]
        elif isinstance(right, Mapping) and right.complete:
            members = list(right.items)
        elif isinstance(right, Const) and isinstance(right.value, (str, tuple)):
            members = right.value
        elif isinstance(right, ModuleInst) and right.torch_base.container == "dict":
            # `name in self` of a ModuleDict: its registered names (speechbrain's Sequential
            # checks a layer's name before adding it)
            members = _registered_names(right, left)
        if (
            members is None
            and isinstance(right, Seq)
            and isinstance(left, Const)
            and any(isinstance(i, Const) and i.value == left.value for i in right.items)
        ):
            members = [left.value]  # found among the items known: present, whatever the rest
        if members is None or not isinstance(left, Const):
            return None
        try:
            found = left.value in members
        except TypeError:
            return None
        return found if isinstance(op_node, cst.In) else not found
    function = _COMPARE.get(type(op_node))
    if function is None:
        return None
    if isinstance(left, Const) and isinstance(right, Const):
        try:
            return bool(function(left.value, right.value))
        except TypeError:
            return None
    refs = (ClassRef, FunctionRef)
    if (
        isinstance(left, refs)
        and isinstance(right, refs)
        and function in (operator.eq, operator.ne)
    ):
        same = _same_callable(left, right)
        if same is None:
            return None
        return same if function is operator.eq else not same
    if function in (operator.eq, operator.ne) and _different_kinds(left, right):
        return function is operator.ne
    if function in (operator.eq, operator.ne) and isinstance(left, Seq) and isinstance(right, Seq):
        # `dims == []` on a list default: lists of constants compare as Python compares them
        if not (left.complete and right.complete):
            return None
        if not (all_const(left.items) and all_const(right.items)):
            return None if len(left.items) == len(right.items) else function is operator.ne
        left_value = tuple(i.value for i in left.items)
        right_value = tuple(i.value for i in right.items)
        same = left.is_tuple == right.is_tuple and left_value == right_value
        return same if function is operator.eq else not same
    return None


def _same_callable(left: ClassRef | FunctionRef, right: ClassRef | FunctionRef) -> bool | None:
    if left is right:
        return True
    if type(left) is not type(right) or left.is_partial != right.is_partial:
        return False
    if left.is_partial:
        return None  # two partial objects: equal only if they are the same object
    if isinstance(left, ClassRef) and isinstance(right, ClassRef):
        return left.cls == right.cls
    assert isinstance(left, FunctionRef) and isinstance(right, FunctionRef)  # one type, not a class
    return left.func.node is right.func.node and left.bound_self is right.bound_self


def _member_of(value: Value, container: Value) -> bool | None:
    """`norm_layer in {BatchNormAct2d, ...}`: a class or function among known values."""
    if isinstance(container, Mapping) and container.complete:
        return False  # a dict's keys are constants, never this class
    if not isinstance(container, Seq) or not container.complete:
        return None
    outcomes = [compare(cst.Equal(), value, member) for member in container.items]
    if True in outcomes:
        return True
    return False if all(o is False for o in outcomes) else None


def _different_kinds(left: Value, right: Value) -> bool:
    """A scalar constant never equals a container, module, class or tensor: a cfg table's
    `v == "M"` with `v` a tuple is decidable without knowing the tuple's items."""
    for a, b in ((left, right), (right, left)):
        if isinstance(a, Const) and not isinstance(a.value, (tuple, list, dict)):
            return isinstance(
                b, (Seq, Mapping, ModuleInst, ObjectInst, ClassRef, FunctionRef, Tensor)
            )
    return False


def _identity_equal(left: Value, right: Value) -> bool | None:
    for a, b in ((left, right), (right, left)):
        if isinstance(b, Const) and b.value is None:
            if isinstance(a, Const):
                return a.value is None
            if isinstance(a, Unknown) and a.python_type:
                return False  # declared an int (say): never None
            if isinstance(a, (ModuleInst, ObjectInst, ClassRef, FunctionRef, Seq, Mapping, Tensor)):
                return False
            return None
    if isinstance(left, Const) and isinstance(right, Const):
        if isinstance(left.value, enums.EnumMember) or isinstance(right.value, enums.EnumMember):
            return bool(left.value == right.value)  # one member whichever way it was read
        return (
            left.value is right.value
            or left.value == right.value
            and type(left.value) is type(right.value)
            and isinstance(left.value, bool)
        )
    if isinstance(left, ClassRef) and isinstance(right, ClassRef):
        return left.cls == right.cls and not left.args and not right.args
    return None


def is_data(value: Value) -> bool:
    """True when a value depends on tensor data (so branching on it is data-dependent)."""
    if isinstance(value, Tensor):
        return True
    if isinstance(value, Unknown):
        return value.code == _DATA
    if isinstance(value, Seq):
        return any(is_data(v) for v in value.items)
    return False


def truth(value: Value) -> bool | None:
    if isinstance(value, Const):
        return bool(value.value)
    if isinstance(value, (ModuleInst, ClassRef, FunctionRef, ModuleRef, BuiltinRef, ObjectInst)):
        return True
    if isinstance(value, Seq):
        return bool(value.items) if value.complete else (True if value.items else None)
    if isinstance(value, Mapping):
        return bool(value.items) if value.complete else (True if value.items else None)
    if isinstance(value, Choice):
        options = {truth(o) for o in value.options}
        return options.pop() if len(options) == 1 else None
    return None


def _if_expression(interp: Interpreter, expr: cst.IfExp, frame: Frame) -> Value:
    _, decided, learned = interp.condition(expr.test, frame)
    if decided is True:
        return interp.eval(expr.body, frame)
    if decided is False:
        return interp.eval(expr.orelse, frame)
    reason = f"`{node_text(expr.test)}` cannot be decided"
    if interp.forward is None:
        # Building: each side runs on a path of its own, so what one side does to an object
        # (`weight_norm(conv) if flag else conv`) is not taken to happen on the other.
        return _each_side(interp, expr, frame, reason, learned)
    body = interp.eval(expr.body, frame)
    orelse = interp.eval(expr.orelse, frame)
    return interp.merge([body, orelse], reason, rules.DATA_DEPENDENT_FLOW.code, learned)


def _each_side(
    interp: Interpreter,
    expr: cst.IfExp,
    frame: Frame,
    reason: str,
    learned: Sequence[PathFacts] | None,
) -> Value:
    results: list[tuple[Value, PathFacts]] = []
    taken = list(learned) if learned else [{}, {}]

    def run(side: cst.BaseExpression, facts: PathFacts) -> None:
        results.append((interp.eval(side, frame), facts))

    paths: list[Callable[[], object]] = [
        functools.partial(run, side, facts)
        for side, facts in zip((expr.body, expr.orelse), taken, strict=True)
    ]
    interp.branches(paths, reason, frame, data_dependent=False, learned=learned)
    values = [value for value, _ in results]
    if len(values) == 1:
        return values[0]
    return interp.merge(
        values, reason, rules.DATA_DEPENDENT_FLOW.code, [t for _, t in results] if learned else None
    )


def _lambda(interp: Interpreter, expr: cst.Lambda, frame: Frame) -> Value:
    return FunctionRef(
        ProjectFunction(frame.file, expr, f"{frame.file.module_name}.<lambda>"),
        closure={**(frame.closure or {}), **frame.env},
    )


def _named_expr(interp: Interpreter, expr: cst.NamedExpr, frame: Frame) -> Value:
    value = interp.eval(expr.value, frame)
    interp.assign(expr.target, value, frame, expr)
    return value


def _await(interp: Interpreter, expr: Any, frame: Frame) -> Value:
    return Unknown("await")


_HANDLERS: dict[type[cst.BaseExpression], _Handler] = {
    cst.Integer: _integer,
    cst.Float: _float,
    cst.Imaginary: lambda i, e, f: Unknown("complex"),
    cst.SimpleString: _string,
    cst.ConcatenatedString: _string,
    cst.FormattedString: _string,
    cst.Name: _name,
    cst.List: _sequence,
    cst.Tuple: _sequence,
    cst.Set: _sequence,
    cst.Dict: _dict,
    cst.ListComp: _comprehension,
    cst.GeneratorExp: _comprehension,
    cst.SetComp: _comprehension,
    cst.DictComp: _comprehension,
    cst.Attribute: _attribute,
    cst.Subscript: _subscript,
    cst.Call: _call,
    cst.BinaryOperation: _binary,
    cst.UnaryOperation: _unary,
    cst.BooleanOperation: _bool_op,
    cst.Comparison: _compare,
    cst.IfExp: _if_expression,
    cst.Lambda: _lambda,
    cst.NamedExpr: _named_expr,
    cst.Await: _await,
    cst.Ellipsis: lambda i, e, f: Const(Ellipsis),
}


def _is_property(definition: cst.FunctionDef) -> bool:
    return any(
        isinstance(d.decorator, cst.Name) and d.decorator.value in ("property", "cached_property")
        for d in definition.decorators
    )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _holds_modules(value: Value) -> bool:
    if isinstance(value, Seq):
        return any(isinstance(v, ModuleInst) for v in value.items)
    if isinstance(value, Mapping):
        return any(isinstance(v, ModuleInst) for v in value.items.values())
    return False
