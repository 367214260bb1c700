"""Tensors and numpy arrays computed from constants while a model is built.

RegNet-style networks derive their stages numerically in `__init__` (widths from
`arange`, `log`, `pow` and `round`, stage depths from `unique(..., return_counts=True)`);
many networks space stochastic-depth rates with `linspace`. Which blocks exist, their
widths and strides (and so whether a shortcut is a convolution or the identity) come out of
that arithmetic, so the analysis carries it out: one-dimensional arrays of known numbers,
with torch's and numpy's type rules, float32 rounding included. Anything else (an unknown
operand, another shape, an operation not listed here) gives an Unknown, never a guess.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst

from bnlint.static.evaluate import binary_constant
from bnlint.static.values import BuiltinRef, Const, Seq, Unknown, Value

_MAX_ITEMS = 100_000

Number = int | float | bool


@dataclass(eq=False)
class NumArray(Seq):
    """A 1-D tensor (`library` "torch") or ndarray ("numpy") of known numbers. As a Seq it
    iterates, indexes and measures like the list of its items."""

    dtype: str = "float32"  # "int", "float32", "float64" or "bool"
    library: str = "torch"

    def numbers(self) -> list[Number]:
        return [item.value for item in self.items if isinstance(item, Const)]


def array(values: Sequence[Number], dtype: str, library: str) -> NumArray:
    cast = _CASTS[dtype]
    return NumArray(tuple(Const(cast(v)) for v in values), dtype=dtype, library=library)


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _integer(value: float) -> int:
    return int(value)  # toward zero, as a cast to an integer type


_CASTS: dict[str, Callable[[Number], Number]] = {
    "int": _integer,
    "float32": _float32,
    "float64": float,
    "bool": bool,
}


def _default_float(library: str) -> str:
    return "float32" if library == "torch" else "float64"


def _promote(left: str, right: str) -> str:
    """The result type of an operation between two arrays: the wider of the two."""
    order = ["bool", "int", "float32", "float64"]
    return max(left, right, key=order.index)


def _kind_of(value: Value, library: str) -> str | None:
    if isinstance(value, NumArray):
        return value.dtype
    if isinstance(value, Const) and isinstance(value.value, bool):
        return "bool"
    if isinstance(value, Const) and isinstance(value.value, int):
        return "int"
    if isinstance(value, Const) and isinstance(value.value, float):
        return _default_float(library)  # a Python float keeps a float array's type
    return None


def _operands(value: Value, length: int) -> list[Number] | None:
    if isinstance(value, NumArray):
        numbers = value.numbers()
        return numbers if len(numbers) == length == len(value.items) else None
    if isinstance(value, Const) and isinstance(value.value, (int, float)):
        return [value.value] * length
    return None


_ARITHMETIC: dict[type[cst.CSTNode], Callable[[Number, Number], Number]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv,
    cst.Power: operator.pow,
    cst.AddAssign: operator.add,
    cst.SubtractAssign: operator.sub,
    cst.MultiplyAssign: operator.mul,
    cst.DivideAssign: operator.truediv,
    cst.FloorDivideAssign: operator.floordiv,
}


def binary(op_node: cst.CSTNode, left: Value, right: Value) -> Value:
    """`left <op> right` where one side is an array: element by element."""
    function = _ARITHMETIC.get(type(op_node))
    arrays = [v for v in (left, right) if isinstance(v, NumArray)]
    if not arrays:  # torch.pow(2.0, 3): plain numbers, or values not known
        return binary_constant(op_node, left, right)
    library = arrays[0].library
    length = len(arrays[0].items)
    xs, ys = _operands(left, length), _operands(right, length)
    left_kind, right_kind = _kind_of(left, library), _kind_of(right, library)
    if function is None or xs is None or ys is None or left_kind is None or right_kind is None:
        return Unknown("arithmetic on an array with values not known")
    dtype = _result_type(left, right, left_kind, right_kind, library)
    if function is operator.truediv and dtype in ("int", "bool"):
        dtype = _default_float(library)
    try:
        return array([function(x, y) for x, y in zip(xs, ys, strict=True)], dtype, library)
    except (ArithmeticError, ValueError, OverflowError) as error:
        return Unknown(f"array arithmetic fails: {error}")


def _result_type(left: Value, right: Value, left_kind: str, right_kind: str, library: str) -> str:
    """torch and numpy (NEP 50): a Python scalar takes the array's type unless it is of a
    higher kind (a float scalar with an integer array gives the default float)."""
    if isinstance(left, NumArray) and isinstance(right, NumArray):
        return _promote(left_kind, right_kind)
    kind, scalar = (
        (left_kind, right_kind) if isinstance(left, NumArray) else (right_kind, left_kind)
    )
    if kind in ("int", "bool") and scalar == _default_float(library):
        return scalar
    if kind == "bool" and scalar == "int":
        return "int"
    return kind


def _dtype_argument(value: Value | None, default: str) -> str:
    """`dtype=torch.float32`, `dtype=int`, `.astype(np.int64)`: the type it names."""
    name = ""
    if isinstance(value, BuiltinRef):
        name = value.name
    elif isinstance(value, Const) and isinstance(value.value, str):
        name = value.value
    if "float64" in name or "double" in name:
        return "float64"
    if "float" in name or "half" in name:
        return "float32" if "float32" in name or name.endswith("float") else "float64"
    if "int" in name or "long" in name:
        return "int"
    if "bool" in name:
        return "bool"
    return default


def _numbers_of(value: Value) -> list[Number] | None:
    if isinstance(value, NumArray):
        return value.numbers() if len(value.numbers()) == len(value.items) else None
    if isinstance(value, Seq) and value.complete:
        found = [i.value for i in value.items if isinstance(i, Const)]
        if len(found) == len(value.items) and all(isinstance(v, (int, float, bool)) for v in found):
            return found
    return None


def _constant(value: Value | None) -> Number | None:
    if isinstance(value, Const) and isinstance(value.value, (int, float, bool)):
        return value.value
    return None


def _from_data(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """torch.tensor(list), np.array(list), np.asarray(list)."""
    numbers = _numbers_of(args[0]) if args else None
    if numbers is None:
        return Unknown("an array of values not known")
    if isinstance(args[0], NumArray):
        natural = args[0].dtype
    elif any(isinstance(n, float) for n in numbers):
        natural = _default_float(library) if library == "torch" else "float64"
    elif numbers and all(isinstance(n, bool) for n in numbers):
        natural = "bool"
    else:
        natural = "int"
    return array(numbers, _dtype_argument(kwargs.get("dtype"), natural), library)


def _arange(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    bounds = [_constant(a) for a in args[:3]]
    if not bounds or any(b is None for b in bounds):
        return Seq((), complete=False, why_incomplete="arange() with bounds not known")
    start, stop, step = (0, bounds[0], 1) if len(bounds) == 1 else (*bounds, 1)[:3]
    assert start is not None and stop is not None and step is not None
    if step == 0:
        return Unknown("arange() with step 0")
    count = max(0, math.ceil((stop - start) / step))
    if count > _MAX_ITEMS:
        return Seq((), complete=False, why_incomplete="arange() too long to unroll")
    integral = all(isinstance(b, int) for b in (start, stop, step))
    dtype = _dtype_argument(kwargs.get("dtype"), "int" if integral else _default_float(library))
    return array([start + i * step for i in range(count)], dtype, library)


def _linspace(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """linspace(start, end, steps): stochastic-depth rates, one per block. With the count
    known and an end that is not, as many unknown values as steps."""
    start = args[0] if args else kwargs.get("start")
    end = args[1] if len(args) > 1 else kwargs.get("end", kwargs.get("stop"))
    steps = args[2] if len(args) > 2 else kwargs.get("steps", kwargs.get("num"))
    count = _constant(steps)
    if library == "numpy" and steps is None:
        count = 50
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= _MAX_ITEMS:
        return Seq((), complete=False, why_incomplete="linspace() with a count not known")
    low, high = _constant(start), _constant(end)
    if low is None or high is None:
        return Seq(tuple(Unknown("a value of linspace()") for _ in range(count)))
    if count == 1:
        values = [float(low)]
    else:
        values = [low + (high - low) * i / (count - 1) for i in range(count)]
    return array(values, _dtype_argument(kwargs.get("dtype"), _default_float(library)), library)


def _elementwise(
    function: Callable[[float], Number], keeps_integers: bool = False
) -> Callable[[str, list[Value], dict[str, Value]], Value]:
    def apply(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
        number = _constant(args[0]) if args else None
        if number is not None:  # np.log(2.5): a number
            try:
                return Const(function(number))
            except (ArithmeticError, ValueError) as error:
                return Unknown(f"array function fails: {error}")
        if not args or not isinstance(args[0], NumArray):
            return Unknown("an array function of values not known")
        source = args[0]
        numbers = _numbers_of(source)
        if numbers is None:
            return Unknown("an array of values not known")
        integral = source.dtype in ("int", "bool")
        dtype = source.dtype if keeps_integers or not integral else _default_float(library)
        try:
            return array([function(n) for n in numbers], dtype, library)
        except (ArithmeticError, ValueError) as error:
            return Unknown(f"array function fails: {error}")

    return apply


def _power(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    if len(args) < 2:
        return Unknown("pow() without two operands")
    return binary(cst.Power(), args[0], args[1])


def _divide(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    if len(args) < 2:
        return Unknown("divide() without two operands")
    return binary(cst.Divide(), args[0], args[1])


def _unique(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """Sorted distinct values; with return_counts, (values, counts)."""
    source = _from_data(library, args[:1], {}) if args else None
    numbers = _numbers_of(source) if source is not None else None
    if numbers is None or not isinstance(source, NumArray):
        return Unknown("unique() of values not known")
    distinct = sorted(set(numbers))
    values = array(distinct, source.dtype, library)
    counts = _constant(kwargs.get("return_counts"))
    if not counts:
        return values
    tally = array([numbers.count(v) for v in distinct], "int", library)
    return Seq((values, tally), is_tuple=True)


def _reduction(name: str) -> Callable[[str, list[Value], dict[str, Value]], Value]:
    def apply(library: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
        if not args or not isinstance(args[0], NumArray):
            return Unknown(f"{name}() of values not known")
        return reduce(args[0], name)

    return apply


def reduce(source: NumArray, name: str) -> Value:
    numbers = _numbers_of(source)
    if not numbers:
        return Unknown(f"{name}() of an array with values not known")
    if name == "sum":
        total: Number = sum(numbers)
        return Const(_CASTS[source.dtype](total) if source.dtype != "bool" else int(total))
    return Const(max(numbers) if name == "max" else min(numbers))


_Function = Callable[[str, list[Value], dict[str, Value]], Value]

FUNCTIONS: dict[str, _Function] = {
    "tensor": _from_data,
    "as_tensor": _from_data,
    "array": _from_data,
    "asarray": _from_data,
    "arange": _arange,
    "linspace": _linspace,
    "round": _elementwise(lambda n: float(round(n)), keeps_integers=True),
    "floor": _elementwise(lambda n: float(math.floor(n)), keeps_integers=True),
    "ceil": _elementwise(lambda n: float(math.ceil(n)), keeps_integers=True),
    "log": _elementwise(math.log),
    "log2": _elementwise(math.log2),
    "exp": _elementwise(math.exp),
    "sqrt": _elementwise(math.sqrt),
    "abs": _elementwise(abs, keeps_integers=True),
    "pow": _power,
    "power": _power,
    "divide": _divide,
    "div": _divide,
    "true_divide": _divide,
    "unique": _unique,
    "sum": _reduction("sum"),
    "max": _reduction("max"),
    "min": _reduction("min"),
    "amax": _reduction("max"),
    "amin": _reduction("min"),
}


def function_name(qualname: str) -> tuple[str, str] | None:
    """(library, function) for `torch.round` or `numpy.unique` when modelled here."""
    library, _, name = qualname.rpartition(".")
    if library in ("torch", "numpy") and name in FUNCTIONS:
        return library, name
    return None


def call(library: str, name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    return FUNCTIONS[name](library, args, kwargs)


def method(receiver: NumArray, name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """`widths.int()`, `.tolist()`, `.max()`, `.astype(int)`... (`.split()` is a list's,
    bnlint.static.calls, with pieces of the array's type)"""
    library = receiver.library
    if name == "tolist":
        return Seq(receiver.items)
    if name in ("int", "long"):
        return array(receiver.numbers(), "int", library)
    if name in ("float", "double"):
        return array(receiver.numbers(), "float32" if name == "float" else "float64", library)
    if name in ("astype", "to", "type") and args:
        return array(receiver.numbers(), _dtype_argument(args[0], receiver.dtype), library)
    if name in ("sum", "max", "min", "item"):
        if name == "item":
            return receiver.items[0] if len(receiver.items) == 1 else Unknown("item() of many")
        return reduce(receiver, name)
    if name in ("numel", "__len__"):
        return Const(len(receiver.items))
    if name in FUNCTIONS:
        return call(library, name, [receiver, *args], kwargs)
    return Unknown(f"{name}() of an array is not evaluated")


def scalar_method(receiver: Const, name: str) -> Value | None:
    """`x.item()`, `x.tolist()` on one element of an array (a number)."""
    if isinstance(receiver.value, (int, float, bool)) and name in ("item", "tolist"):
        return receiver
    return None
