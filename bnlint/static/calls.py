"""Calls the interpreter evaluates itself: argument binding, Python builtins, and the methods
of lists, dicts, strings, modules and `super()` that model-building code relies on."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, cast

import libcst as cst

from bnlint import rules
from bnlint.ftypes import NodeKind
from bnlint.static import arrays, enums, evaluate, objects, torch_attributes
from bnlint.static.constructions import clone
from bnlint.static.frames import Frame, Method, Param
from bnlint.static.index import ProjectClass, ProjectFunction
from bnlint.static.torch_api import (
    BATCHNORM_BASE,
    CATALOGUE,
    NON_TENSOR_METHODS,
    TorchClass,
    torch_names,
)
from bnlint.static.values import (
    SPREAD,
    BuiltinRef,
    Choice,
    ClassRef,
    Const,
    FunctionRef,
    Mapping,
    ModuleInst,
    ModuleRef,
    ObjectInst,
    Outside,
    Seq,
    Spread,
    SuperRef,
    Tensor,
    TupleType,
    Unknown,
    Value,
    all_const,
    as_positional,
    choice,
    entry_view,
    node_text,
)

if TYPE_CHECKING:
    from bnlint.static.interp import Interpreter


class _Builtin(Protocol):
    """How the interpreter calls a builtin it evaluates itself."""

    def __call__(
        self,
        interp: Interpreter,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value: ...


_MAX_ITEMS = 100_000


def bind_arguments(
    interp: Interpreter,
    definition: cst.FunctionDef | cst.Lambda,
    func: FunctionRef,
    receiver: Value | None,
    args: list[Value],
    kwargs: dict[str, Value],
) -> dict[str, Value] | Unknown:
    """The frame of a call: each parameter bound to what the call passes, its default, or an
    unknown. Arguments spread from a value not fully known (`*args`, `**kwargs`) may supply
    any parameter they reach, so those parameters are unknown rather than their defaults."""

    params = definition.params
    function = definition.name.value if isinstance(definition, cst.FunctionDef) else "lambda"
    positional = [*params.posonly_params, *params.params]
    env: dict[str, Value] = {}
    given = list(args)
    kwargs = dict(kwargs)
    spread = kwargs.pop(SPREAD, None)
    if receiver is not None and positional:
        env[positional[0].name.value] = receiver
        positional = positional[1:]
    defaults_frame = Frame(func.func.file, {}, closure=func.closure)

    def missing(param: cst.Param) -> Value:
        name = param.name.value
        if spread is not None:
            return spread
        if param.default is not None:
            return interp.eval(param.default, defaults_frame)
        return Unknown(
            f"argument '{name}' of '{function}' is given by its caller",
            rules.INPUT_FROM_CALLER.code,
            declared_type(param),
        )

    for param in positional:
        name = param.name.value
        if given and isinstance(given[0], Spread):
            env[name] = kwargs.pop(name, given[0])
        elif given:
            env[name] = given.pop(0)
        elif name in kwargs:
            env[name] = kwargs.pop(name)
        else:
            env[name] = missing(param)
    star = params.star_arg
    if isinstance(star, cst.Param):
        known = tuple(v for v in given if not isinstance(v, Spread))
        env[star.name.value] = Seq(
            known,
            is_tuple=True,
            complete=len(known) == len(given),
            why_incomplete=next((v.reason for v in given if isinstance(v, Spread)), ""),
        )
    for param in params.kwonly_params:
        name = param.name.value
        env[name] = kwargs.pop(name) if name in kwargs else missing(param)
    if params.star_kwarg is not None:
        env[params.star_kwarg.name.value] = Mapping(dict(kwargs), complete=spread is None)
    return env


_DECLARED = {
    "int": "int",
    "float": "float",
    "str": "str",
    "bool": "bool",
    "list": "list",
    "List": "list",
    "Sequence": "",
    "tuple": "tuple",
    "Tuple": "tuple",
    "dict": "dict",
    "Dict": "dict",
}


def declared_type(param: cst.Param) -> str:
    """The builtin type an annotation names (`int`, `List[int]`, 'str'), or "" when it names
    another type or several (`Optional[int]`, `int | list`)."""
    if param.annotation is None:
        return ""
    expr = param.annotation.annotation
    if isinstance(expr, cst.SimpleString):
        text = expr.value.strip("'\"")
    elif isinstance(expr, cst.Subscript):
        text = node_text(expr.value)
    else:
        text = node_text(expr)
    return _DECLARED.get(text.split(".")[-1], "") if "[" not in text and "|" not in text else ""


def _consts(values: list[Value]) -> list[Any] | None:
    if all_const(values):
        return [v.value for v in values]
    return None


def _pure(function: Any, args: list[Value], kwargs: dict[str, Value]) -> Value:
    plain = _consts(args)
    plain_kwargs = _consts(list(kwargs.values()))
    if plain is None or plain_kwargs is None:
        for value in [*args, *kwargs.values()]:
            if isinstance(value, Unknown):
                return value
        return Unknown(f"{getattr(function, '__name__', 'a builtin')}() of values not known")
    try:
        result = function(*plain, **dict(zip(kwargs, plain_kwargs, strict=True)))
    except Exception as error:
        return Unknown(f"{getattr(function, '__name__', 'builtin')}() fails: {error}")
    if isinstance(result, (list, tuple)):
        return Seq(tuple(Const(v) for v in result), isinstance(result, tuple))
    return Const(result)


def _regex(function: Any) -> Any:
    """A function of the re module, on constant strings only (a pattern is data, and a
    pathological one is cut short by the length of what it works on)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, str) and len(a) > 1000 for a in [*args, *kwargs.values()]):
            raise ValueError("string too long to match")
        return function(*args, **kwargs)

    run.__name__ = function.__name__
    return run


_PURE = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "abs": abs,
    "round": round,
    "re.split": _regex(re.split),
    "re.findall": _regex(re.findall),
    "re.sub": _regex(re.sub),
    "re.escape": _regex(re.escape),
    "divmod": divmod,
    "pow": pow,
    "repr": repr,
    "math.ceil": math.ceil,
    "math.floor": math.floor,
    "math.sqrt": math.sqrt,
    "math.log2": math.log2,
    "math.log": math.log,
}
_TYPES = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "tuple": tuple,
    "dict": dict,
}


def call_builtin(
    interp: Interpreter,
    name: str,
    args: list[Value],
    kwargs: dict[str, Value],
    frame: Frame,
    node: cst.Call,
) -> Value:
    if name.startswith("torch:"):
        return interp.torch_function(name[6:], args, kwargs, frame, node)
    if name.startswith("array:"):
        modelled = arrays.function_name(name[6:])
        assert modelled is not None
        return arrays.call(*modelled, args, kwargs)
    if name in _PURE:
        if name == "int" and args and isinstance(args[0], Unknown):
            return args[0]
        return _pure(_PURE[name], args, kwargs)
    handler = _BUILTINS.get(name)
    if handler is None:
        return Unknown(f"{name}() is not evaluated")
    return handler(interp, args, kwargs, frame, node)


def _range(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    bounds = _consts(args)
    if bounds is None or not all(isinstance(b, int) for b in bounds):
        reason = next((a.reason for a in args if isinstance(a, Unknown)), "bounds not known")
        return Seq((), complete=False, why_incomplete=f"range() with {reason}")
    window = range(*bounds)
    if len(window) > _MAX_ITEMS:
        return Seq((), complete=False, why_incomplete="range() too long to unroll")
    return Seq(tuple(Const(i) for i in window))


def _len(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 1:
        return Unknown("len()")
    items = interp.iterate(args[0], frame)
    if items is not None:
        return Const(len(items))
    if isinstance(args[0], Tensor):
        return Unknown("len() of a tensor", "data")
    return Unknown(f"len() of `{node_text(node.args[0].value)}` is not known")


def _enumerate(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    items = interp.iterate(args[0], frame) if args else None
    start = kwargs.get("start", args[1] if len(args) > 1 else Const(0))
    if items is None or not isinstance(start, Const):
        return Seq((), complete=False, why_incomplete="enumerate() of a sequence not known")
    return Seq(tuple(Seq((Const(start.value + i), v), True) for i, v in enumerate(items)))


def _zip(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """zip() as far as its known columns reach, in forward(): `zip(self.convs, self.bns,
    feats)` over a forward() argument pairs each known layer with an element of the argument."""
    columns = [interp.iterate(a, frame) for a in args]
    known = [c for c in columns if c is not None]
    if not known or (len(known) < len(columns) and interp.forward is None):
        # Outside forward() a column not known is config arithmetic, whose length decides
        # how many stages are built: the rows the known columns give are only a guess.
        return Seq((), complete=False, why_incomplete="zip() of a sequence not known")
    rows = []
    for index in range(min(len(c) for c in known)):
        rows.append(
            Seq(
                tuple(
                    column[index]
                    if column is not None
                    else evaluate.item(interp, arg, Const(index), frame, node)
                    for column, arg in zip(columns, args, strict=True)
                ),
                True,
            )
        )
    return Seq(tuple(rows))


def _sequence(is_tuple: bool) -> _Builtin:
    def build(
        interp: Interpreter,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        if not args:
            return Seq((), is_tuple)
        items = interp.iterate(args[0], frame)
        if items is None and isinstance(args[0], Seq):
            # `list(x.unbind(0))`: the pieces of a tensor, as many as the analysis cannot
            # count, stay pieces of that tensor
            return Seq(args[0].items, is_tuple, False, args[0].why_incomplete)
        if items is None:
            return Seq((), is_tuple, False, getattr(args[0], "reason", "not known"))
        return Seq(tuple(items), is_tuple)

    return build


def _dict(ordered: bool) -> _Builtin:
    def build(
        interp: Interpreter,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        items: dict[Any, Value] = {}
        complete = True
        if args:
            source = args[0]
            if isinstance(source, Mapping):
                items.update(source.items)
                complete = source.complete
            else:
                pairs = interp.iterate(source, frame)
                if pairs is None:
                    complete = False
                for pair in pairs or ():
                    if (
                        isinstance(pair, Seq)
                        and len(pair.items) == 2
                        and isinstance(pair.items[0], Const)
                    ):
                        items[pair.items[0].value] = pair.items[1]
                    else:
                        complete = False
        items.update((k, v) for k, v in kwargs.items() if k != SPREAD)
        return Mapping(items, complete and SPREAD not in kwargs, ordered)

    return build


def _min_max(function: Any) -> _Builtin:
    def compute(
        interp: Interpreter,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        if len(args) == 1:
            items = interp.iterate(args[0], frame)
            if items is None:
                return Unknown(f"{function.__name__}() of values not known")
            args = items
        return _pure(function, args, {})

    return compute


def _isinstance(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 2:
        return Unknown("isinstance()")
    value, kinds = args
    return _any_kind(
        kinds,
        lambda kind: _instance_of(value, kind),
        "isinstance() of a value or against a type not known",
    )


def _issubclass(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 2 or not isinstance(args[0], ClassRef) or args[0].is_partial:
        return Unknown("issubclass() of a value not known")
    cls = args[0].cls
    return _any_kind(
        args[1],
        lambda kind: _subclass_of(interp, cls, kind),
        "issubclass() against a type not known",
    )


def _any_kind(kinds: Value, test: Any, unknown: str) -> Value:
    """True when `test` holds for one of `kinds` (a type or a tuple of types), False when it
    fails for all, unknown when one cannot be decided."""
    options = kinds.items if isinstance(kinds, Seq) else (kinds,)
    undecided = False
    for kind in options:
        outcome = test(kind)
        if outcome is True:
            return Const(True)
        undecided = undecided or outcome is None
    return Unknown(unknown) if undecided else Const(False)


_ABSTRACT = {
    "abc.Iterable": (Seq, Mapping),
    "abc.Sequence": (Seq,),
    "abc.Mapping": (Mapping,),
    "abc.Collection": (Seq, Mapping),
}
# Modules whose classes builtin values may be instances of (ABCs, protocols, number towers).
_ABSTRACT_MODULES = ("collections", "typing", "numbers", "abc", "typing_extensions", "os")


def _instance_of(value: Value, kind: Value) -> bool | None:
    if isinstance(value, Unknown) and value.python_type:
        return _declared_instance(value.python_type, kind)
    if isinstance(value, (Unknown, Tensor, Choice)):
        return None
    if isinstance(kind, Outside) and isinstance(
        value, (Const, Seq, Mapping, ModuleInst, ObjectInst)
    ):
        # A class of an installed package: an int, a list, a project object is none of
        # its instances (unless it is an abstract base class, which builtins register with).
        if kind.qualname.split(".")[0] in _ABSTRACT_MODULES or isinstance(value, ModuleInst):
            return None
        return False
    if isinstance(kind, BuiltinRef) and kind.name in ("Enum", "IntEnum", "StrEnum"):
        # a plain Enum's member is one; an IntEnum or StrEnum member is read as its value,
        # which nothing here tells from a plain number or string: as for any outside class
        if isinstance(value, (Const, Seq, Mapping, ObjectInst)):
            return isinstance(value, Const) and isinstance(value.value, enums.EnumMember)
        return None
    if isinstance(kind, BuiltinRef) and kind.name == "abc.Hashable":
        if isinstance(value, Const):
            return _hashable(value.value)
        return value.is_tuple if isinstance(value, Seq) else not isinstance(value, Mapping)
    if isinstance(kind, BuiltinRef) and kind.name in _TYPES:
        python_type = _TYPES[kind.name]
        if isinstance(value, Const):
            return isinstance(value.value, python_type) and not (
                python_type is int and isinstance(value.value, bool)
            )
        if isinstance(value, Seq):
            return python_type in (list, tuple) and (python_type is tuple) == value.is_tuple
        if isinstance(value, Mapping):
            return python_type is dict
        return False
    if isinstance(kind, BuiltinRef) and kind.name == "function":  # types.FunctionType
        if isinstance(value, FunctionRef):
            return not value.is_partial and value.bound_self is None
        return False
    if isinstance(kind, BuiltinRef) and kind.name == "type":  # a class, not an object
        return isinstance(value, ClassRef) and not value.is_partial
    if isinstance(kind, BuiltinRef) and kind.name == "partial":
        return isinstance(value, (ClassRef, FunctionRef)) and value.is_partial
    if isinstance(kind, BuiltinRef) and kind.name in _ABSTRACT:
        if isinstance(value, Const):
            return isinstance(value.value, (str, bytes, tuple)) and kind.name != "abc.Mapping"
        if isinstance(value, ModuleInst):
            return value.torch_base.container is not None and kind.name == "abc.Iterable"
        if isinstance(value, ObjectInst):
            return None
        return isinstance(value, _ABSTRACT[kind.name])
    if isinstance(kind, BuiltinRef) and kind.name == "abc.Callable":
        return (
            not isinstance(value, (Const, Seq, Mapping))
            if not isinstance(value, ObjectInst)
            else None
        )
    if isinstance(kind, ClassRef) and not kind.is_partial:
        if isinstance(value, (ModuleInst, ObjectInst)):
            if isinstance(value, ModuleInst) and kind.cls.qualname == BATCHNORM_BASE:
                return value.torch_base.kind is NodeKind.BATCHNORM
            return kind.cls in value.ancestry
        return False if isinstance(value, (Const, Seq, Mapping, ClassRef, FunctionRef)) else None
    return None


_DECLARED_ABSTRACT = {
    "abc.Iterable": ("list", "tuple", "dict", "str"),
    "abc.Sequence": ("list", "tuple", "str"),
    "abc.Mapping": ("dict",),
    "abc.Collection": ("list", "tuple", "dict", "str"),
    "abc.Hashable": ("int", "float", "str", "bool", "tuple"),
}


def _declared_instance(python_type: str, kind: Value) -> bool | None:
    """isinstance() of a value known only by its declared builtin type."""
    if isinstance(kind, BuiltinRef) and kind.name in _TYPES:
        return python_type == kind.name or (kind.name == "int" and python_type == "bool")
    if isinstance(kind, BuiltinRef) and kind.name in _DECLARED_ABSTRACT:
        return python_type in _DECLARED_ABSTRACT[kind.name]
    if isinstance(kind, Outside) and kind.qualname.split(".")[0] in _ABSTRACT_MODULES:
        return None
    if isinstance(kind, (BuiltinRef, ClassRef, Outside)):
        return False  # a builtin value is no class, partial, function or project object
    return None


def _subclass_of(interp: Interpreter, cls: Any, kind: Value) -> bool | None:
    if not isinstance(kind, ClassRef) or kind.is_partial:
        return None
    if kind.cls == cls or kind.cls in interp.classes.mro(cls):
        return True
    if isinstance(cls, ProjectClass) and interp.classes.has_unresolved_base(cls):
        return None
    if isinstance(cls, ProjectClass) or isinstance(kind.cls, ProjectClass):
        return False
    # two torch classes: the catalogue knows their kinds, not torch's hierarchy, but every
    # BatchNorm class derives from the private base
    if kind.cls.qualname == BATCHNORM_BASE:
        return cls.kind is NodeKind.BATCHNORM
    return False if cls.kind != kind.cls.kind else None


def _getattr(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) < 2:
        return Unknown("getattr()")
    target, name = args[0], args[1]
    if not (isinstance(name, Const) and isinstance(name.value, str)):
        if interp.forward is not None:
            interp.forward.note_dynamic(
                f"`{node_text(node)}` (line {frame.file.location(node).line})"
            )
        return Unknown(
            f"`{node_text(node)}` picks a module by a name computed at run time",
            rules.DYNAMIC_ATTRIBUTE.code,
        )
    if isinstance(target, ModuleInst) and len(args) > 2 and not _has(interp, target, name.value):
        return args[2]
    return evaluate.attribute(interp, target, name.value, frame, node)


def _has(interp: Interpreter, inst: ModuleInst, name: str) -> bool:
    return (
        name in inst.attrs
        or name in inst.children
        or name in inst.layer_args
        or interp.classes.class_attribute(inst.cls, name) is not None
        or _defines(interp, inst.cls, name)
    )


def _defines(interp: Interpreter, cls: TorchClass | ProjectClass, name: str) -> bool:
    """A project class along the MRO defines the method `name`."""
    found = interp.classes.method(cls, name)
    return found is not None and found[1] is not None


def _class_has(interp: Interpreter, cls: TorchClass | ProjectClass, name: str) -> bool | None:
    """Whether a class (not an instance) has the attribute: a torch class has what torch's
    class has; a project class what its body or a torch base defines. None when the answer
    is not known (a project class may be given attributes from outside its body)."""
    if isinstance(cls, ProjectClass):
        if interp.classes.class_attribute(cls, name) is not None or _defines(interp, cls, name):
            return True
        base = interp.classes.torch_base(cls)
        return True if base is not None and _class_has(interp, base, name) else None
    if name in torch_attributes.MODULE or name in torch_attributes.EXTRA.get(cls.qualname, ()):
        return True
    return False if cls.qualname in torch_attributes.EXTRA else None


def _hasattr(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) == 2 and isinstance(args[0], ModuleInst) and isinstance(args[1], Const):
        if _has(interp, args[0], str(args[1].value)):
            return Const(True)
    if len(args) == 2 and isinstance(args[0], ClassRef) and isinstance(args[1], Const):
        known = _class_has(interp, args[0].cls, str(args[1].value))
        if known is not None:
            return Const(known)
    if (
        len(args) == 2
        and isinstance(args[0], ModuleRef)
        and isinstance(args[1], Const)
        and str(args[1].value) in torch_names(args[0].qualname)
    ):
        return Const(True)  # torch.nn.functional has silu
    return Unknown("hasattr() not known")


def _dir(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """dir() of a torch module: the names the analysis knows it has (not all of them)."""
    if len(args) == 1 and isinstance(args[0], ModuleRef):
        names = torch_names(args[0].qualname)
        if names:
            return Seq(
                tuple(Const(n) for n in sorted(names)),
                complete=False,
                why_incomplete=f"dir({args[0].qualname}) holds more than bnlint knows",
            )
    return Seq((), complete=False, why_incomplete="dir() not known")


def _locals(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """locals(): a new dict of the frame's variables as they are now (blocks that store every
    constructor argument with `for k, v in locals().items(): setattr(self, k, v)`)."""
    return Mapping(dict(frame.env))


def _globals(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """globals(): the module's top-level names (registries that look a class up by the name
    a caller gives, `globals().get(name)`); names a star import may bind are not known."""
    symbols = interp.resolver.loader.symbols(frame.file)
    names = dict.fromkeys(
        [
            *symbols.imports,
            *symbols.from_imports,
            *symbols.classes,
            *symbols.functions,
            *symbols.values,
        ]
    )
    return Mapping(
        {
            name: interp.symbol_value(interp.resolver.resolve_name(frame.file, name), name)
            for name in names
        },
        complete=not symbols.star_imports,
    )


def _setattr(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 3:
        return Const(None)
    target, name, value = args
    known = isinstance(name, Const) and isinstance(name.value, str)
    if isinstance(target, ModuleInst):
        if known:
            interp.set_module_attr(target, cast(Const, name).value, value, frame, None)
        else:
            target.mark_incomplete(
                f"modules are registered under names computed at run time (`{node_text(node)}`)"
            )
    elif isinstance(target, ObjectInst) or (isinstance(target, Mapping) and target.namespace):
        fields = target.attrs if isinstance(target, ObjectInst) else target.items
        if known:
            interp.journal.set(fields, cast(Const, name).value, value)
        else:  # any attribute may now hold the value
            for field_name in list(fields):
                interp.journal.set(fields, field_name, Unknown(f"`{node_text(node)}`"))
            if isinstance(target, Mapping):
                interp.journal.set(target.__dict__, "complete", False)
    return Const(None)


def _super(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if (
        len(args) == 2
        and isinstance(args[0], ClassRef)
        and isinstance(args[1], ModuleInst)
        and isinstance(args[0].cls, ProjectClass)
    ):
        return SuperRef(args[1], args[0].cls)
    if frame.self_inst is not None and frame.cls is not None:
        return SuperRef(frame.self_inst, frame.cls)
    return Unknown("super() outside a method")


def _partial(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if not args:
        return Unknown("partial()")
    target, bound = args[0], tuple(args[1:])
    if isinstance(target, Choice):  # `partial(norm_layer, ...)` of one of several classes
        options = [
            _partial(interp, [option, *bound], kwargs, frame, node) for option in target.options
        ]
        return choice(options, target.reason, target.facts or None)
    if isinstance(target, ClassRef):
        return ClassRef(
            target.cls, target.args + bound, target.kwargs + tuple(kwargs.items()), is_partial=True
        )
    if isinstance(target, FunctionRef):
        return FunctionRef(
            target.func,
            target.bound_self,
            target.args + bound,
            target.kwargs + tuple(kwargs.items()),
            target.closure,
            is_partial=True,
        )
    return Unknown(f"partial() of `{node_text(node.args[0].value)}`")


def _deepcopy(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """copy.deepcopy: every module, object, list and dict the value holds is a new one."""
    return clone(args[0], {}) if args else Unknown("deepcopy()")


def _shallow_copy(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """copy.copy of a list or dict: a new container holding the same items."""
    if args and isinstance(args[0], Seq):
        return Seq(
            args[0].items,
            args[0].is_tuple,
            args[0].complete,
            args[0].why_incomplete,
            args[0].fields,
        )
    if args and isinstance(args[0], Mapping):
        return Mapping(dict(args[0].items), args[0].complete, args[0].ordered_dict)
    return args[0] if args else Unknown("copy()")


def _replace(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 1:
        return Unknown("dataclasses.replace() called with other than one positional argument")
    return objects.replace(interp, args[0], kwargs, node)


def _fields(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 1:
        return Unknown("dataclasses.fields() called with other than one argument")
    return objects.fields(interp, args[0])


def _type(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) == 1 and isinstance(args[0], ModuleInst):
        return ClassRef(args[0].cls)
    return Unknown("type()")


def _sorted(reverse_only: bool) -> _Builtin:
    def run(
        interp: Interpreter,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        items = interp.iterate(args[0], frame) if args else None
        if items is None:
            return Seq((), complete=False, why_incomplete="order not known")
        if reverse_only:
            return Seq(tuple(reversed(items)))
        plain = _consts(items)
        if plain is None or kwargs:
            return Seq((), complete=False, why_incomplete="sorted() of values not known")
        try:
            return Seq(tuple(Const(v) for v in sorted(plain)))
        except TypeError:
            return Seq((), complete=False, why_incomplete="sorted() fails")

    return run


def _any_all(function: Any) -> _Builtin:
    def run(
        interp: Interpreter,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        items = interp.iterate(args[0], frame) if args else None
        truths = [evaluate.truth(i) for i in items] if items is not None else [None]
        if None in truths:
            return Unknown(f"{function.__name__}() of values not known")
        return Const(function(truths))

    return run


def _sum(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    items = interp.iterate(args[0], frame) if args else None
    if items is None:
        return Unknown("sum() of values not known")
    start = args[1] if len(args) > 1 else kwargs.get("start")
    if start is None:
        return _pure(lambda *v: sum(v), items, {})
    # sum(rows, []) flattens lists: `+` as the interpreter applies it, item by item
    total = start
    for item in items:
        total = interp.binary(cst.Add(), total, item, frame, node)
    return total


def _map(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) < 2:
        return Unknown("map()")
    columns = [interp.iterate(a, frame) for a in args[1:]]
    if any(c is None for c in columns):
        return Seq((), complete=False, why_incomplete="map() over values not known")
    # map() stops where the shortest iterable ends
    return Seq(
        tuple(
            interp.call(args[0], list(row), {}, frame, node) for row in zip(*columns, strict=False)
        )
    )


def _filter(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """filter(None, items) keeps the items that are true, filter(function, items) those the
    function says are (`nn.Sequential(*filter(None, [conv, aa if aa_layer else None, norm,
    act]))`). From an item whose truth is not known on, the list is not known."""
    if len(args) != 2 or kwargs:
        return Unknown("filter() with these arguments")
    items = interp.iterate(args[1], frame)
    if items is None:
        return Seq((), complete=False, why_incomplete="filter() over values not known")
    keep_true = isinstance(args[0], Const) and args[0].value is None
    kept: list[Value] = []
    for item in items:
        judged = item if keep_true else interp.call(args[0], [item], {}, frame, node)
        decided = evaluate.truth(judged)
        if decided is None:
            return Seq(
                tuple(kept),
                complete=False,
                why_incomplete="filter() of an item whose truth is not known",
            )
        if decided:
            kept.append(item)
    return Seq(tuple(kept))


def _reduce(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """functools.reduce(function, items[, initial]): channel tables folded out of stage
    depths (`reduce(lambda acc, n: acc + [...], layers, [[64]])`)."""
    if len(args) not in (2, 3) or kwargs:
        return Unknown("reduce() with these arguments")
    items = interp.iterate(args[1], frame)
    if items is None:
        return Unknown("reduce() over values not known")
    if len(args) == 3:
        accumulated = args[2]
    elif items:
        accumulated, items = items[0], items[1:]
    else:
        return Unknown("reduce() of an empty sequence without an initial value")
    for item in items:
        accumulated = interp.call(args[0], [accumulated, item], {}, frame, node)
    return accumulated


def _nothing(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    return Const(None)


def _callable(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    if len(args) != 1:
        return Unknown("callable()")
    value = args[0]
    if isinstance(value, (ClassRef, FunctionRef, BuiltinRef, TupleType)):
        return Const(True)
    if isinstance(value, ModuleInst):
        return Const(True)
    if isinstance(value, ObjectInst):
        return Const(_defines(interp, value.cls, "__call__"))
    if isinstance(value, (Const, Seq, Mapping)) or (
        isinstance(value, Unknown) and value.python_type
    ):
        return Const(False)
    return Unknown("callable() of a value not known")


def _isfunction(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """inspect.isfunction(): a def or a lambda, not a class, a partial or a module."""
    value = args[0] if args else None
    if isinstance(value, FunctionRef):
        return Const(not value.is_partial)
    if isinstance(value, (ClassRef, BuiltinRef, ModuleInst, ObjectInst, Const, Seq, Mapping)):
        return Const(False)
    return Unknown("inspect.isfunction() of a value not known")


_ARGSPEC_FIELDS = (
    "args",
    "varargs",
    "varkw",
    "defaults",
    "kwonlyargs",
    "kwonlydefaults",
    "annotations",
)


def _getfullargspec(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """inspect.getfullargspec() of a project function, or of a project class (its
    __init__): the names of its parameters, which code reads to decide what to pass
    (speechbrain's containers build a layer with `input_shape=` when `"input_shape" in
    argspec.args + argspec.kwonlyargs`). Defaults and annotations are not known."""
    value = args[0] if args else None
    definition: cst.FunctionDef | cst.Lambda | None = None
    if isinstance(value, ClassRef) and isinstance(value.cls, ProjectClass):
        found = interp.classes.method(value.cls, "__init__")
        if found is not None and isinstance(found[0], ProjectClass):
            definition = found[1]
    elif isinstance(value, FunctionRef) and not value.is_partial:
        definition = value.func.node
    if definition is None:
        return Unknown("inspect.getfullargspec() of a value whose parameters are not known")
    params = definition.params
    star = params.star_arg

    def names(found: Sequence[cst.Param]) -> Seq:
        return Seq(tuple(Const(p.name.value) for p in found), is_tuple=False)

    unknown = Unknown("defaults and annotations of a signature")
    return Seq(
        (
            names([*params.posonly_params, *params.params]),
            Const(star.name.value if isinstance(star, cst.Param) else None),
            Const(params.star_kwarg.name.value if params.star_kwarg is not None else None),
            unknown,
            names(params.kwonly_params),
            unknown,
            unknown,
        ),
        is_tuple=True,
        fields=_ARGSPEC_FIELDS,
    )


def _isclass(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    value = args[0] if args else None
    if isinstance(value, ClassRef):
        return Const(not value.is_partial)
    if isinstance(value, (FunctionRef, ModuleInst, ObjectInst, Const, Seq, Mapping)):
        return Const(False)
    return Unknown("inspect.isclass() of a value not known")


def _namespace(args: list[Value], kwargs: dict[str, Value]) -> Value:
    """`SimpleNamespace(activation=nn.ReLU)`: its keywords, as attributes."""
    if args or SPREAD in kwargs:
        return Unknown("SimpleNamespace() of values not known")
    return Mapping(dict(kwargs), namespace=True)


def _namedtuple(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    name = args[0] if args else kwargs.get("typename")
    fields = args[1] if len(args) > 1 else kwargs.get("field_names")
    if isinstance(fields, Const) and isinstance(fields.value, str):
        names = tuple(fields.value.replace(",", " ").split())
    elif (
        isinstance(fields, Seq)
        and fields.complete
        and all_const(fields.items)
        and all(isinstance(f.value, str) for f in fields.items)
    ):
        names = tuple(f.value for f in fields.items)
    else:
        return Unknown("namedtuple() with fields not known")
    return TupleType(str(name.value) if isinstance(name, Const) else "namedtuple", names)


def named_tuple(kind: TupleType, args: list[Value], kwargs: dict[str, Value]) -> Value:
    values = list(args[: len(kind.fields)])
    for field_name in kind.fields[len(values) :]:
        values.append(kwargs.get(field_name, Unknown(f"field '{field_name}' not given")))
    return Seq(tuple(values), is_tuple=True, fields=kind.fields)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _repeat(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    times = args[1] if len(args) > 1 else kwargs.get("times")
    if (
        not args
        or not isinstance(times, Const)
        or not isinstance(times.value, int)
        or times.value > _MAX_ITEMS
    ):
        return Seq((), complete=False, why_incomplete="itertools.repeat() without a count")
    return Seq((args[0],) * max(times.value, 0))


def _chain(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    items: list[Value] = []
    for arg in args:
        part = interp.iterate(arg, frame)
        if part is None:
            return Seq(tuple(items), complete=False, why_incomplete="chain() of values not known")
        items.extend(part)
    return Seq(tuple(items))


def _static_method(
    interp: Interpreter, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
) -> Value:
    """`norm = staticmethod(lambda c: ...)` in a class body: read through `self`, the function
    itself, called without `self`."""
    if len(args) == 1 and not kwargs:
        return args[0]
    return Unknown("staticmethod() with other than one argument")


_BUILTINS: dict[str, _Builtin] = {
    "range": _range,
    "len": _len,
    "enumerate": _enumerate,
    "zip": _zip,
    "list": _sequence(False),
    "tuple": _sequence(True),
    "set": _sequence(False),
    "frozenset": _sequence(True),
    "dict": _dict(False),
    "OrderedDict": _dict(True),
    "min": _min_max(min),
    "max": _min_max(max),
    "sum": _sum,
    "isinstance": _isinstance,
    "getattr": _getattr,
    "hasattr": _hasattr,
    "setattr": _setattr,
    "locals": _locals,
    "globals": _globals,
    "super": _super,
    "partial": _partial,
    "deepcopy": _deepcopy,
    "copy": _shallow_copy,
    "dataclasses.replace": _replace,
    "dataclasses.fields": _fields,
    "type": _type,
    "reversed": _sorted(True),
    "issubclass": _issubclass,
    "repeat": _repeat,
    "chain": _chain,
    "callable": _callable,
    "namedtuple": _namedtuple,
    "SimpleNamespace": lambda interp, args, kwargs, frame, node: _namespace(args, kwargs),
    "Enum": lambda interp, args, kwargs, frame, node: enums.functional(args, kwargs, "plain"),
    "IntEnum": lambda interp, args, kwargs, frame, node: enums.functional(args, kwargs, "int"),
    "StrEnum": lambda interp, args, kwargs, frame, node: enums.functional(args, kwargs, "str"),
    "isfunction": _isfunction,
    "getfullargspec": _getfullargspec,
    "isclass": _isclass,
    "dir": _dir,
    "sorted": _sorted(False),
    "any": _any_all(any),
    "all": _any_all(all),
    "map": _map,
    "filter": _filter,
    "reduce": _reduce,
    "print": _nothing,
    "staticmethod": _static_method,
}

# ---- methods ---------------------------------------------------------------------------------

_STR_METHODS = frozenset(
    {
        "format",
        "join",
        "upper",
        "lower",
        "replace",
        "startswith",
        "endswith",
        "split",
        "strip",
        "lstrip",
        "rstrip",
        "capitalize",
        "title",
        "zfill",
        "isdigit",
        "isalpha",
        "isalnum",
        "isidentifier",
        "isupper",
        "islower",
        "isspace",
        "isnumeric",
        "isdecimal",
        "partition",
        "rpartition",
        "rsplit",
        "count",
        "find",
        "rfind",
        "ljust",
        "rjust",
        "center",
        "casefold",
        "swapcase",
        "removeprefix",
        "removesuffix",
        "splitlines",
    }
)
_CHAINING = frozenset(
    {
        "to",
        "cuda",
        "cpu",
        "float",
        "half",
        "double",
        "eval",
        "train",
        "requires_grad_",
        "apply",
        "type",
        "bfloat16",
    }
)
_IGNORED = frozenset(
    {
        "register_buffer",
        "register_parameter",
        "register_forward_hook",
        "register_forward_pre_hook",
        "load_state_dict",
        "reset_parameters",
        "zero_grad",
        "share_memory",
    }
)


def call_method(
    interp: Interpreter,
    method: Method,
    args: list[Value],
    kwargs: dict[str, Value],
    frame: Frame,
    node: cst.Call,
) -> Value:
    receiver, name = method.receiver, method.name
    if isinstance(receiver, Tensor):
        if name in NON_TENSOR_METHODS:
            return Unknown(f"{name}() of a tensor", "data")
        assert interp.forward is not None
        result = interp.forward.method_op(receiver, name, args, kwargs, frame, node)
        if name.endswith("_") and not name.startswith("_") and isinstance(result, Tensor):
            # `x.relu_()` changes the tensor itself: whatever reads it from now on (through
            # any name bound to it) reads the op's result
            interp.journal.set(receiver.__dict__, "node", result.node)
        return result
    if isinstance(receiver, arrays.NumArray) and name != "split":
        return arrays.method(receiver, name, args, kwargs)
    if isinstance(receiver, Seq):
        return _list_method(interp, receiver, name, args, kwargs, frame)
    if isinstance(receiver, Mapping):
        return _dict_method(interp, receiver, name, args, kwargs)
    if isinstance(receiver, Const) and arrays.scalar_method(receiver, name) is not None:
        return receiver  # `x.item()` on an element of an array built from constants
    if isinstance(receiver, Const) and isinstance(receiver.value, str) and name in _STR_METHODS:
        if name == "join" and args:
            items = interp.iterate(args[0], frame)
            if items is None:
                return Unknown("join() of values not known")
            separator = receiver.value
            return _pure(lambda *parts: separator.join(parts), items, {})
        return _pure(getattr(receiver.value, name), args, kwargs)
    if isinstance(receiver, ModuleInst):
        return _module_method(interp, receiver, name, args, kwargs, frame, node)
    if isinstance(receiver, SuperRef):
        return _super_method(interp, receiver, name, args, kwargs, frame, node)
    return Unknown(f"`{method.text}()` is not evaluated")


def _list_method(
    interp: Interpreter,
    seq: Seq,
    name: str,
    args: list[Value],
    kwargs: dict[str, Value],
    frame: Frame,
) -> Value:
    journal = interp.journal
    if name == "append" and args:
        journal.set(seq.__dict__, "items", seq.items + (args[0],))
    elif name == "extend" and args:
        items = interp.iterate(args[0], frame)
        if items is None:
            journal.set(seq.__dict__, "complete", False)
            journal.set(
                seq.__dict__,
                "why_incomplete",
                getattr(args[0], "reason", "") or "extended with values not known",
            )
        else:
            journal.set(seq.__dict__, "items", seq.items + tuple(items))
    elif name == "insert" and len(args) == 2 and isinstance(args[0], Const):
        items = list(seq.items)
        items.insert(args[0].value, args[1])
        journal.set(seq.__dict__, "items", tuple(items))
    elif name == "pop":
        if not seq.items:
            return Unknown("pop() from an empty list")
        index = args[0].value if args and isinstance(args[0], Const) else -1
        items = list(seq.items)
        value = items.pop(index)
        journal.set(seq.__dict__, "items", tuple(items))
        return value
    elif name in ("remove", "discard") and args:  # list.remove, set.remove / discard
        return _remove(interp, seq, args[0], strict=name == "remove")
    elif name == "add" and args:  # set.add
        present = isinstance(args[0], Const) and any(
            isinstance(i, Const) and i.value == args[0].value for i in seq.items
        )
        if not present:
            journal.set(seq.__dict__, "items", seq.items + (args[0],))
    elif name == "clear":
        journal.set(seq.__dict__, "items", ())
    elif name == "reverse":  # fastai's `act_bn.reverse()` puts the norm before the activation
        journal.set(seq.__dict__, "items", seq.items[::-1])
    elif name == "sort" and not args and set(kwargs) <= {"reverse"} and _sortable(seq, kwargs):
        backwards = bool(cast(Const, kwargs.get("reverse", Const(False))).value)
        ordered = sorted(seq.items, key=lambda item: cast(Const, item).value, reverse=backwards)
        journal.set(seq.__dict__, "items", tuple(ordered))
    elif name == "copy":
        return Seq(seq.items, seq.is_tuple, seq.complete, seq.why_incomplete)
    elif name == "tolist":  # a tensor or array of values while the model is built
        return seq
    elif name == "split" and args and seq.complete:  # torch's: sizes, or one size
        return _split(seq, args[0])
    elif name in ("index", "count"):
        plain = _consts(list(seq.items))
        if plain is None:
            return Unknown(f"{name}() of a list not known")
        return _pure(getattr(plain, name), args, {})
    else:
        # A method the analysis does not follow may have changed the list (`sort(key=...)`):
        # what it holds is no longer known.
        journal.set(seq.__dict__, "complete", False)
        journal.set(seq.__dict__, "why_incomplete", f"changed by list.{name}()")
        return Unknown(f"list.{name}()")
    return Const(None)


def _sortable(seq: Seq, kwargs: dict[str, Value]) -> bool:
    """Constants of one type, sorted in a direction the analysis knows."""
    plain = _consts(list(seq.items))
    backwards = kwargs.get("reverse", Const(False))
    return (
        plain is not None
        and seq.complete
        and len({type(v) for v in plain}) <= 1
        and isinstance(backwards, Const)
    )


def _remove(interp: Interpreter, seq: Seq, item: Value, strict: bool) -> Value:
    """The first element equal to a constant `item` leaves; where it may be an element the
    analysis does not know, the list is no longer known in full."""
    for index, element in enumerate(seq.items):
        if isinstance(element, Const) and isinstance(item, Const) and element.value == item.value:
            interp.journal.set(seq.__dict__, "items", seq.items[:index] + seq.items[index + 1 :])
            return Const(None)
    if isinstance(item, Const) and all_const(seq.items) and seq.complete:
        return Unknown("remove() of a value the list does not hold") if strict else Const(None)
    interp.journal.set(seq.__dict__, "complete", False)
    interp.journal.set(seq.__dict__, "why_incomplete", "an element was removed that is not known")
    return Const(None)


def _split(seq: Seq, sizes: Value) -> Value:
    if isinstance(sizes, Const) and isinstance(sizes.value, int) and sizes.value > 0:
        bounds = list(range(0, len(seq.items), sizes.value))
        parts = [seq.items[b : b + sizes.value] for b in bounds]
    elif (
        isinstance(sizes, Seq)
        and sizes.complete
        and all_const(sizes.items)
        and all(isinstance(i.value, int) for i in sizes.items)
    ):
        parts, start = [], 0
        for size in sizes.items:
            parts.append(seq.items[start : start + size.value])
            start += size.value
    else:
        return Unknown("split() by sizes not known")
    # an array's pieces are arrays of its type (torch's split); a list's, lists
    pieces = (
        replace(seq, items=part) if isinstance(seq, arrays.NumArray) else Seq(part)
        for part in parts
    )
    return Seq(tuple(pieces), is_tuple=True)


def _dict_method(
    interp: Interpreter, mapping: Mapping, name: str, args: list[Value], kwargs: dict[str, Value]
) -> Value:
    items = mapping.items
    if name in ("items", "keys", "values"):
        return Seq(
            tuple(entry_view(k, v, name) for k, v in items.items()), complete=mapping.complete
        )
    if name in ("get", "pop", "setdefault") and args and isinstance(args[0], Const):
        key = args[0].value
        default = args[1] if len(args) > 1 else Const(None)
        if key not in items and interp.look_for_key(mapping, key):
            items = mapping.items
        if key in items:
            found = items[key]
            if name == "pop":
                remaining = dict(items)
                del remaining[key]
                interp.journal.set(mapping.__dict__, "items", remaining)
            return found
        if not mapping.complete:
            return Unknown(f"key {key!r} not known")
        if name == "setdefault":
            interp.journal.set(mapping.__dict__, "items", {**items, key: default})
        return default
    if name == "update":
        merged = dict(items)
        if args and isinstance(args[0], Mapping):
            merged.update(args[0].items)
        merged.update(kwargs)
        interp.journal.set(mapping.__dict__, "items", merged)
        return Const(None)
    if name == "copy":
        return Mapping(dict(items), mapping.complete, mapping.ordered_dict)
    return Unknown(f"dict.{name}()")


def _module_method(
    interp: Interpreter,
    inst: ModuleInst,
    name: str,
    args: list[Value],
    kwargs: dict[str, Value],
    frame: Frame,
    node: cst.Call,
) -> Value:
    journal = interp.journal
    container = inst.torch_base.container
    if name in ("add_module", "register_module"):
        args, kwargs = as_positional(args, kwargs, ("name", "module"))
    if name in ("add_module", "register_module") and len(args) == 2:
        if isinstance(args[0], Const):
            journal.set(inst.children, str(args[0].value), args[1])
        else:
            inst.mark_incomplete(
                f"modules are added under names computed at run time (`{node_text(node)}`)"
            )
        return Const(None)
    if name == "__setattr__" and len(args) == 2:
        # `self.__setattr__(conv_naming, conv)`: what `setattr(self, ...)` does
        return _setattr(interp, [inst, *args], {}, frame, node)
    if name in ("register_buffer", "register_parameter") and args:
        if isinstance(args[0], Const) and isinstance(args[0].value, str):
            # a tensor of this module: forward() may hand it to F.batch_norm or F.conv2d
            journal.set(inst.attrs, args[0].value, Param(inst, args[0].value))
        return Const(None)
    if name == "append" and args and container in ("sequential", "list"):
        journal.set(inst.children, str(len(inst.children)), args[0])
        return inst
    if name == "extend" and args and container in ("sequential", "list"):
        items = interp.iterate(args[0], frame)
        if items is None:
            inst.mark_incomplete("extended with modules not known")
        for value in items or ():
            journal.set(inst.children, str(len(inst.children)), value)
        return inst
    if name == "update" and args and container == "dict" and isinstance(args[0], Mapping):
        for key, value in args[0].items.items():
            journal.set(inst.children, str(key), value)
        return Const(None)
    if name in ("children", "values"):
        # an unknown member (built on paths the analysis cannot tell apart) stays in its
        # place: a loop over the members runs into it there
        return Seq(
            tuple(
                entry_view(k, v, "values")
                for k, v in inst.children.items()
                if isinstance(v, (ModuleInst, Choice, Unknown))
            ),
            complete=not inst.incomplete,
        )
    if name in ("named_children", "items", "keys"):
        kind = "keys" if name == "keys" else "items"
        return Seq(
            tuple(entry_view(k, v, kind) for k, v in inst.children.items()),
            complete=not inst.incomplete,
        )
    if name == "forward":
        return interp.call(inst, args, kwargs, frame, node)
    if name in _CHAINING:
        return inst
    if name in _IGNORED:
        return Const(None)
    return Unknown(f"`{node_text(node.func)}()` is not evaluated")


def _super_method(
    interp: Interpreter,
    ref: SuperRef,
    name: str,
    args: list[Value],
    kwargs: dict[str, Value],
    frame: Frame,
    node: cst.Call,
) -> Value:
    inst = ref.instance
    found = interp.classes.method(inst.cls, name, after=ref.after)
    if found is None and isinstance(inst, ObjectInst):
        # object's own methods, below every project class of a plain object
        if name == "__init__":
            return Const(None)
        if name == "__getattribute__" and args and isinstance(args[0], Const):
            return objects.attribute(interp, inst, str(args[0].value), frame, node, hook=False)
    if found is None:
        return Unknown(f"super().{name}() not found")
    if found[1] is not None:
        owner, definition = found
        func = FunctionRef(ProjectFunction(owner.file, definition, f"{owner.qualname}.{name}"))
        return interp.call_function(func, args, kwargs, node, self_value=inst, cls=owner)
    torch_owner = found[0]
    # a torch class in the MRO makes the instance a module (objects have no torch base)
    assert isinstance(inst, ModuleInst)
    torch_cls = torch_owner if torch_owner.qualname in CATALOGUE else inst.torch_base
    if name == "__init__":
        interp.torch_init(inst, torch_cls, args, kwargs)
        return Const(None)
    if name == "forward":
        if interp.forward is None:
            return Unknown("forward() during construction")
        return interp.forward.torch_forward(inst, torch_cls, args, kwargs, frame, node)
    return Const(None) if name in _IGNORED else Unknown(f"super().{name}()")
