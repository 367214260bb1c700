"""Plain Python objects of project classes: configs, dataclasses, registries.

Model zoos decide layers through objects that are not modules: a `@dataclass` config whose
field names the norm, a registry whose `register` decorator files factories in a dict and
whose `__getitem__` looks them up. The interpreter builds such objects (`ObjectInst`), runs
their `__init__` (or the one `@dataclass` writes), and calls their dunder methods where
Python would. Decorators that register a module's functions into one of its own objects run
when that module's values are first needed, as importing the module would run them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from bnlint.static.frames import ABANDONING, Frame
from bnlint.static.index import DecoratingUsers, ProjectClass, ProjectFunction, ProjectValue
from bnlint.static.source import SourceFile
from bnlint.static.textscan import content_digest
from bnlint.static.values import (
    SPREAD,
    Choice,
    ClassRef,
    Const,
    FunctionRef,
    Mapping,
    ObjectInst,
    Seq,
    Unknown,
    Value,
    choice,
    node_text,
)

if TYPE_CHECKING:
    from bnlint.static.interp import Interpreter

# Bases a plain class may have that the analysis need not see into.
_PLAIN_BASES = frozenset(
    {
        "object",
        "ABC",
        "abc.ABC",
        "Generic",
        "typing.Generic",
        "Protocol",
        "typing.Protocol",
        "NamedTuple",
        "typing.NamedTuple",
    }
)
_FIELD_LIKE = frozenset({"NamedTuple", "typing.NamedTuple"})


def is_plain(interp: Interpreter, cls: ProjectClass) -> bool:
    """A class the interpreter can build as an object: every base is a project class it can
    build too, or one of the harmless bases above."""
    for written in interp.classes.written_bases(cls):
        base = written.resolved
        if base is None and _base_text(written.written) not in _PLAIN_BASES:
            return False
        if isinstance(base, ProjectClass) and not is_plain(interp, base):
            return False
    return True


def instantiate(
    interp: Interpreter,
    cls: ProjectClass,
    args: list[Value],
    kwargs: dict[str, Value],
    node: cst.CSTNode,
) -> Value:
    obj = ObjectInst(cls=cls, ancestry=interp.classes.mro(cls))
    init = interp.classes.method(cls, "__init__")
    if init is not None and init[1] is not None and isinstance(init[0], ProjectClass):
        owner, definition = init
        func = FunctionRef(ProjectFunction(owner.file, definition, f"{owner.qualname}.__init__"))
        result = interp.call_function(func, args, kwargs, node, self_value=obj)
        if isinstance(result, Unknown) and "nest deeper" in result.reason:
            return result
        return obj
    fields = _fields(interp, cls)
    if fields:
        _init_fields(interp, obj, fields, args, kwargs)
        post = interp.classes.method(cls, "__post_init__")
        if post is not None and post[1] is not None and isinstance(post[0], ProjectClass):
            func = FunctionRef(
                ProjectFunction(post[0].file, post[1], f"{post[0].qualname}.__post_init__")
            )
            interp.call_function(func, [], {}, node, self_value=obj)
    return obj


def replace(
    interp: Interpreter,
    obj: Value,
    changes: dict[str, Value],
    node: cst.CSTNode,
) -> Value:
    """dataclasses.replace: a new object of the same dataclass, built as its constructor
    builds it (__post_init__ included) from the old field values and the changes."""
    if isinstance(obj, Choice):  # a config replaced on some paths only: each one
        return choice(
            [replace(interp, option, changes, node) for option in obj.options], obj.reason
        )
    if not isinstance(obj, ObjectInst) or not _is_dataclass(obj.cls):
        return Unknown("dataclasses.replace() of a value that is not a known dataclass object")
    changes = dict(changes)
    spread = changes.pop(SPREAD, None)  # `**kwargs` not fully known: any field may change
    values = {
        name: spread if spread is not None else obj.attrs.get(name, Unknown(f"field '{name}'"))
        for name, _ in _fields(interp, obj.cls)
    }
    return instantiate(interp, obj.cls, [], {**values, **changes}, node)


def attribute(
    interp: Interpreter,
    obj: ObjectInst,
    name: str,
    frame: Frame,
    node: cst.CSTNode,
    hook: bool = True,
) -> Value:
    """`obj.name` as Python looks it up; `hook`: fall back on the class's __getattr__."""
    if name in obj.attrs:
        return obj.attrs[name]
    if name == "__dict__":
        return Mapping(obj.attrs)
    if name == "__dataclass_fields__":
        return dataclass_fields(interp, obj.cls)
    if name == "__class__":
        return ClassRef(obj.cls)
    found = interp.classes.method(obj.cls, name)
    if found is not None and found[1] is not None and isinstance(found[0], ProjectClass):
        method = FunctionRef(
            ProjectFunction(found[0].file, found[1], f"{found[0].qualname}.{name}"), bound_self=obj
        )
        if _is_property(found[1]):
            return interp.call_function(method, [], {}, node)
        return method
    class_attr = interp.classes.class_attribute(obj.cls, name)
    if class_attr is not None:
        owner, expr = class_attr
        return interp.eval(expr, Frame(owner.file, {}))
    fallback = dunder(interp, obj, "__getattr__") if hook else None
    if fallback is not None:
        return interp.call_function(fallback, [Const(name)], {}, node)
    return Unknown(f"attribute '{name}' of a {obj.cls.name} object")


def dunder(interp: Interpreter, obj: ObjectInst, name: str) -> FunctionRef | None:
    """The object's own `__getitem__`, `__call__`, `__getattr__`..., bound to it."""
    found = interp.classes.method(obj.cls, name)
    if found is None or found[1] is None or not isinstance(found[0], ProjectClass):
        return None
    return FunctionRef(
        ProjectFunction(found[0].file, found[1], f"{found[0].qualname}.{name}"), bound_self=obj
    )


def set_attribute(interp: Interpreter, obj: ObjectInst, name: str, value: Value) -> None:
    interp.journal.set(obj.attrs, name, value)


def register_decorated(
    interp: Interpreter, file: SourceFile, imported: frozenset[str] = frozenset()
) -> None:
    """Run the decorators of `file`'s top-level functions and classes that the file itself
    defines (a function, or a method of one of its own objects), and its top-level calls of
    a method of one of its own objects (`Act.add_factory_class("relu", nn.ReLU)`): they file
    functions and classes into registries, as importing the module would. With `imported`
    (names the file imports from a registry's module), only the decorators named so run."""

    interp.resolver.loader.whole_read(file)
    symbols = interp.resolver.loader.symbols(file)
    local = imported or set(symbols.functions) | set(symbols.values) | set(symbols.classes)
    for statement in file.tree.body:
        registering = None if imported else _registering_call(statement, set(symbols.values))
        if registering is not None:
            try:
                interp.eval(registering, Frame(file, {}))
            except ABANDONING:
                pass
            continue
        if not isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        if not statement.decorators:
            continue
        target: Value = (
            FunctionRef(
                ProjectFunction(file, statement, f"{file.module_name}.{statement.name.value}")
            )
            if isinstance(statement, cst.FunctionDef)
            else interp.lookup(statement.name.value, Frame(file, {}))
        )
        for decorator in reversed(statement.decorators):
            if _root_name(decorator.decorator) not in local:
                continue
            frame = Frame(file, {})
            try:
                registrar = interp.eval(decorator.decorator, frame)
                interp.call(registrar, [target], {}, frame, cst.Call(func=decorator.decorator))
            except ABANDONING:
                continue


def fill_from_package(interp: Interpreter, registry: SourceFile, key: str) -> None:
    """The modules of `registry`'s package that decorate with one of its functions
    (`@register_model` in every model file of timm or torchvision) and mention `key`:
    importing the package imports them, and their decorators fill the registry under it
    (`timm.create_model("resnet18")`). Their text is searched first: only those that may
    register the key are read."""
    wanted = key.encode()
    users = _decorating_users(interp, registry)
    for path, digest in users.searched:  # which of them may file the key: their text says
        interp.resolver.loader.text_read(path, digest)
    for path, text in users.found:
        if wanted not in text or (registry.path, path) in interp.filed:
            continue
        interp.filed.add((registry.path, path))  # its decorators file all they file at once
        name = ".".join(path.relative_to(registry.source_root).with_suffix("").parts)
        user = interp.resolver.loader.module(name.removesuffix(".__init__"))
        if user is None or user.path == registry.path:
            continue
        interp.resolver.loader.whole_read(user)  # its decorators, as importing it runs them
        names = frozenset(
            local for local in _decorator_roots(user) if _defined_in(interp, user, local, registry)
        )
        if names:
            interp.steps = 0  # what importing one module runs has a budget of its own
            register_decorated(interp, user, names)


def _decorating_users(interp: Interpreter, registry: SourceFile) -> DecoratingUsers:
    """The files of the registry's package whose text decorates with one of its functions
    (most module-level dicts have none: a lookup that misses them costs nothing more)."""
    known = interp.resolver.loader.decorating_users
    if registry.path in known:
        return known[registry.path]
    found: list[tuple[Path, bytes]] = []
    searched: list[tuple[Path, str]] = []
    functions = list(interp.resolver.loader.symbols(registry).functions)
    package, _, rest = registry.module_name.partition(".")
    folder = registry.source_root / package
    if functions and rest and folder.is_dir():
        decorating = re.compile(
            rb"^\s*@\s*(?:[\w.]+\.)?(?:" + "|".join(map(re.escape, functions)).encode() + rb")\b",
            re.M,
        )
        for path in sorted(folder.rglob("*.py")):
            if path == registry.path:
                continue
            text = _bytes_of(path)
            searched.append((path.resolve(), content_digest(text)))
            if decorating.search(text):
                found.append((path, text))
    known[registry.path] = DecoratingUsers(found, searched)
    return known[registry.path]


def _bytes_of(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _decorator_roots(file: SourceFile) -> set[str]:
    roots = set()
    for statement in file.tree.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            for decorator in statement.decorators:
                root = _root_name(decorator.decorator)
                if root is not None:
                    roots.add(root)
    return roots


def _defined_in(interp: Interpreter, file: SourceFile, name: str, registry: SourceFile) -> bool:
    """Whether `name` in `file` is a function of `registry` (or the registry module)."""
    symbol = interp.resolver.resolve_name(file, name)
    found = getattr(symbol, "file", None)
    return found is not None and found.path == registry.path


def run_attribute_writes(
    interp: Interpreter, symbol: ProjectValue, value: ObjectInst | Mapping
) -> None:
    """The top-level statements of `symbol`'s file that set an attribute of it after it is
    bound (`defaults.activation = nn.SiLU`, `setattr(cfg, "act", "relu")`), as importing
    the module runs them; a write the analysis cannot follow (a computed name, `+=`) makes
    every attribute unknown, never leaves the value as it was bound."""
    interp.resolver.loader.whole_read(symbol.file)  # every top-level statement after it
    name = symbol.qualname.rpartition(".")[2]
    fields = value.items if isinstance(value, Mapping) else value.attrs
    frame = Frame(symbol.file, {})
    bound = False
    for statement in symbol.file.tree.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and small.value is symbol.expr:
                bound = True
            if not bound:
                continue
            written = _attribute_write(small, name)
            if written is None:
                continue
            attribute, expr = written
            if attribute is None or expr is None:
                for key in list(fields):
                    fields[key] = Unknown(f"`{name}` is changed by `{node_text(small)}`")
                if isinstance(value, Mapping):
                    value.complete = False
                continue
            fields[attribute] = interp.eval(expr, frame)


def _attribute_write(
    small: cst.BaseSmallStatement, name: str
) -> tuple[str | None, cst.BaseExpression | None] | None:
    """(attribute, value) when `small` sets an attribute of `name`; (None, None) when it
    changes one in a way not followed; None when it does neither."""
    if isinstance(small, cst.Assign):
        for target in small.targets:
            written = target.target
            if isinstance(written, cst.Attribute) and _is_name(written.value, name):
                if len(small.targets) > 1:
                    return None, None
                return written.attr.value, small.value
        return None
    if isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Attribute):
        return (None, None) if _is_name(small.target.value, name) else None
    if (
        isinstance(small, cst.Expr)
        and isinstance(small.value, cst.Call)
        and _is_name(small.value.func, "setattr")
        and small.value.args
        and _is_name(small.value.args[0].value, name)
    ):
        args = small.value.args
        key = args[1].value if len(args) == 3 else None
        if isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str):
            return key.evaluated_value, args[2].value
        return None, None
    return None


def _is_name(expr: cst.BaseExpression, name: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == name


def _registering_call(statement: cst.CSTNode, objects: set[str]) -> cst.Call | None:
    """A top-level `OBJ.method(...)` statement on one of the file's own objects."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
        return None
    call = small.value
    if not isinstance(call.func, cst.Attribute) or _root_name(call.func) not in objects:
        return None
    return call


def _root_name(expr: cst.BaseExpression) -> str | None:
    while isinstance(expr, (cst.Call, cst.Attribute, cst.Subscript)):
        expr = expr.func if isinstance(expr, cst.Call) else expr.value
    return expr.value if isinstance(expr, cst.Name) else None


def dataclass_fields(interp: Interpreter, cls: ProjectClass) -> Value:
    """`cls.__dataclass_fields__`: its field names, in order (what configs read of it)."""
    if not _is_dataclass(cls):
        return Unknown(f"'__dataclass_fields__' of {cls.name}, which is not a dataclass")
    return Mapping(
        {name: Unknown(f"the Field object of '{name}'") for name in _field_names(interp, cls)}
    )


def fields(interp: Interpreter, of: Value) -> Value:
    """`dataclasses.fields(x)` of a dataclass or its object: a tuple of fields, each with
    its `name` (a Field's other attributes are not known)."""
    cls = of.cls if isinstance(of, (ObjectInst, ClassRef)) else None
    if not isinstance(cls, ProjectClass) or not _is_dataclass(cls):
        return Unknown("dataclasses.fields() of a value that is not a known dataclass")
    return Seq(
        tuple(
            Seq((Const(name),), is_tuple=True, fields=("name",))
            for name in _field_names(interp, cls)
        ),
        is_tuple=True,
    )


def _fields(interp: Interpreter, cls: ProjectClass) -> list[tuple[str, Value | None]]:
    """A dataclass's (or NamedTuple's) fields in order, with their defaults."""
    return [
        (name, _default(interp, default, Frame(entry.file, {})) if default is not None else None)
        for name, (entry, default) in _field_defaults(interp, cls).items()
    ]


def _field_names(interp: Interpreter, cls: ProjectClass) -> list[str]:
    return list(_field_defaults(interp, cls))


def _field_defaults(
    interp: Interpreter, cls: ProjectClass
) -> dict[str, tuple[ProjectClass, cst.BaseExpression | None]]:
    """Each field's name, the class declaring it last and its default as written, in the
    order the dataclass takes them."""
    seen: dict[str, tuple[ProjectClass, cst.BaseExpression | None]] = {}
    if not _is_dataclass(cls):
        return seen
    for entry in reversed(interp.classes.mro(cls)):
        if not isinstance(entry, ProjectClass) or not _is_dataclass(entry):
            continue
        for statement in entry.node.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    if "ClassVar" in node_text(small.annotation.annotation):
                        continue
                    seen[small.target.value] = (entry, small.value)
    return seen


def _default(interp: Interpreter, expr: cst.BaseExpression, frame: Frame) -> Value:
    """A field's default: `field(default=...)`, `field(default_factory=f)` called, or the
    value written."""
    if isinstance(expr, cst.Call) and node_text(expr.func).split(".")[-1] == "field":
        for arg in expr.args:
            keyword = arg.keyword.value if arg.keyword is not None else None
            if keyword == "default":
                return interp.eval(arg.value, frame)
            if keyword == "default_factory":
                return interp.call(interp.eval(arg.value, frame), [], {}, frame, expr)
        return Unknown("a dataclass field without a default")
    return interp.eval(expr, frame)


def _init_fields(
    interp: Interpreter,
    obj: ObjectInst,
    fields: list[tuple[str, Value | None]],
    args: list[Value],
    kwargs: dict[str, Value],
) -> None:
    spread = kwargs.get(SPREAD)  # `**kwargs` not fully known may supply any field
    for index, (name, default) in enumerate(fields):
        if index < len(args):
            value = args[index]
        elif name in kwargs:
            value = kwargs[name]
        elif spread is not None:
            value = spread
        elif default is not None:
            value = default
        else:
            value = Unknown(f"field '{name}' of {obj.cls.name} is given by its caller")
        interp.journal.set(obj.attrs, name, value)


def _is_dataclass(cls: ProjectClass) -> bool:
    for decorator in cls.node.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        if node_text(expr).split(".")[-1] == "dataclass":
            return True
    return any(_base_text(b) in _FIELD_LIKE for b in _base_arguments(cls))


def _is_property(definition: cst.FunctionDef) -> bool:
    return any(
        node_text(d.decorator) in ("property", "cached_property", "functools.cached_property")
        for d in definition.decorators
    )


def _base_arguments(cls: ProjectClass) -> list[cst.BaseExpression]:
    return [arg.value for arg in cls.node.bases if arg.keyword is None]


def _base_text(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Subscript):  # Generic[T]
        expr = expr.value
    return node_text(expr)
