"""Where a caller's value goes in one file's syntax: the flow bnlint.static.sealed decides on.

A value is a caller's when it comes in as a parameter, from module state callers file their
values in, or from a call that may hand back either; `FunctionFlow` spreads it through one
body's assignments, loops and containers and yields the places it gets out (an *opening*):
called, kept where a module is registered, handed to code that calls it. `ModuleScope` holds
what the file's top-level names are: what each import gives (the project answers for its
own modules), its classes and their methods, its Conv/Linear layer classes.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from bnlint.static.tensor_methods import TENSOR_METHODS
from bnlint.static.torch_api import is_modelled

# Modules whose functions and classes build no module of a caller's choosing.
_SAFE_ROOTS = frozenset(
    {
        "__future__",
        "abc",
        "collections",
        "contextlib",
        "copy",
        "dataclasses",
        "datetime",
        "einops",
        "enum",
        "fnmatch",
        "functools",
        "glob",
        "hashlib",
        "inspect",
        "itertools",
        "json",
        "logging",
        "math",
        "numbers",
        "numpy",
        "operator",
        "os",
        "pathlib",
        "random",
        "re",
        "string",
        "sys",
        "textwrap",
        "time",
        "torch",
        "typing",
        "typing_extensions",
        "warnings",
    }
)
# torch classes whose constructor keeps the modules it is given.
_CONTAINERS = frozenset(
    {"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"}
)
# Builtins that run no code a caller supplies and keep nothing.
_SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bool", "bytes", "callable", "dict", "divmod", "enumerate",
        "float", "format", "frozenset", "getattr", "hasattr", "hash", "id", "int",
        "isinstance", "issubclass", "iter", "len", "list", "map", "filter", "max", "min",
        "next", "object", "pow", "print", "property", "range", "repr", "reversed", "round",
        "set", "setattr", "slice", "sorted", "staticmethod", "classmethod", "str", "sum",
        "super", "tuple", "type", "zip",
    }
)  # fmt: skip
# Builtins that may hand back what they are given, or a part of it.
_PASSING_BUILTINS = frozenset(
    {"dict", "enumerate", "filter", "getattr", "iter", "list", "map", "max", "min", "next"}
    | {"reversed", "set", "sorted", "tuple", "type", "zip", "frozenset"}
)
_CONTAINER_METHODS = frozenset(
    {"append", "extend", "insert", "pop", "update", "setdefault", "get", "items", "keys"}
    | {"values", "add", "remove", "clear", "copy", "index", "count", "discard", "sort"}
    | {"appendleft", "extendleft", "popleft"}
)
# Methods of the module's own containers that look an entry up or drop it, calling nothing.
_LOOKUP_METHODS = frozenset({"get", "pop", "popleft", "remove", "discard", "index", "count"})
_STRING_METHODS = frozenset(name for name in dir(str) if not name.startswith("_"))
_LOGGER_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)
# Calls that call what they are given, or wrap it to be called later.
_HIGHER_ORDER = frozenset(
    {"map", "filter", "partial", "reduce", "checkpoint", "apply", "vmap"}
    | {"compile", "script", "trace", "wraps"}
)
# What the methods of a caller's module hand back runs nothing of its own.
_MODULE_METHODS = frozenset(
    {"parameters", "named_parameters", "buffers", "named_buffers", "children"}
    | {"named_children", "modules", "named_modules", "state_dict", "train", "eval"}
    | {"requires_grad_", "zero_grad", "to", "cpu", "cuda", "float", "double", "half"}
    | {"extra_repr", "get_parameter", "get_buffer", "get_submodule"}
)
# torch's layers whose bias a BatchNorm after them makes redundant (XBN401, reported where
# the layer is built).
_BIASED_LAYER = re.compile(
    r"^torch\.nn\.(?:modules\.\w+\.)?(?:Lazy)?(?:Conv(?:Transpose)?[123]d|Linear|Bilinear)$"
)
# torch.autograd.Function: its static methods get torch's context (or ONNX graph) first.
_AUTOGRAD_FUNCTIONS = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})
_AUTOGRAD_METHODS = frozenset({"forward", "backward", "setup_context", "jvp", "vjp", "symbolic"})
# Methods of the module's own containers that file what they are given, calling nothing.
FILING_METHODS = frozenset(
    {"add", "append", "appendleft", "extend", "insert", "update", "setdefault"}
)
# Methods that put what they are given into an instance's containers or hooks.
_KEEPING_METHODS = frozenset(
    {
        "add_module",
        "append",
        "apply",
        "extend",
        "insert",
        "register_module",
        "set_submodule",
        "setdefault",
        "update",
    }
)
# "norm" but not "normal" (`nn.init.normal_`, `F.normalize`), or a word starting "bn"
_NORM = re.compile(r"(?i)norm(?!al)|\bbn")


class Provenance(Enum):
    """What a file gets from the project module it imports a name from."""

    OUTSIDE = "outside"  # not the project's
    OPEN = "open"  # a definition a caller's value can get into
    CLOSED = "closed"  # a definition no caller's value gets into
    # closed, but a call may hand back a value another caller filed (a registry's lookup)
    HANDS_BACK = "hands back"
    CALLER_STATE = "caller state"  # module state other callers' values reach


@dataclass(frozen=True)
class Imported:
    """The project's answer for a name a file imports: how safe it is, and whether it is a
    Conv/Linear layer class (one built at the importer's lines is reported there)."""

    provenance: Provenance
    layer: bool = False


ProjectModules = Callable[[str], Imported]


class ModuleScope:
    """The file's top-level names: what each import binds, and what it defines itself."""

    def __init__(self, tree: ast.Module, project: ProjectModules) -> None:
        self.imported: dict[str, str] = {}
        self.unsafe_imports: list[ast.AST] = []
        self.unsafe_names: set[str] = set()
        self.class_nodes: list[ast.ClassDef] = []
        self._project = project
        # module-level names (globals, registries) that may hold a caller's value
        self.state_given: set[str] = set()
        # module-level functions whose call may hand such a value back
        self.handing_back: set[str] = set()
        self.imported_layers: set[str] = set()  # project Conv/Linear classes it imports
        for node in ast.walk(tree):  # one walk: imports in functions bind names too
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    origin = alias.name if alias.asname else bound
                    self._bind(node, bound, origin, alias.name)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    module = "." * node.level + (node.module or "")
                    origin = f"{module}.{alias.name}"
                    self._bind(node, alias.asname or alias.name, origin, module)
            elif isinstance(node, ast.ClassDef):
                self.class_nodes.append(node)
        self.defined = {
            target.id
            for node in statement_nodes(tree.body)
            for target in bound_by(node)
            if isinstance(target, ast.Name)
        }
        self.classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
        self.class_methods = {
            node.name: {
                method.name
                for method in node.body
                if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            for node in tree.body
            if isinstance(node, ast.ClassDef)
        }
        self.methods = {name for names in self.class_methods.values() for name in names}
        self.autograd_functions = {
            node.name
            for node in tree.body
            if isinstance(node, ast.ClassDef) and self.is_autograd_function(node)
        }
        self.layer_classes = self._layer_classes(tree)

    def _bind(self, node: ast.AST, name: str, origin: str, module: str) -> None:
        """`module` as the import names it (with its leading dots)."""
        if module.split(".")[0] in _SAFE_ROOTS:
            provenance = Provenance.CLOSED
        else:
            answer = Imported(Provenance.OPEN) if name == "*" else self._project(name)
            provenance = answer.provenance
            if answer.layer:
                self.imported_layers.add(name)
        if provenance in (Provenance.OUTSIDE, Provenance.OPEN) or _unsafe_name(origin):
            self.unsafe_imports.append(node)
            self.unsafe_names.add(name)
        elif provenance is Provenance.HANDS_BACK:
            self.handing_back.add(name)
        elif provenance is Provenance.CALLER_STATE:
            self.state_given.add(name)
        self.imported[name] = origin

    def origin(self, node: ast.expr) -> str | None:
        """`nn.Conv2d` -> "torch.nn.Conv2d" when the chain starts at an imported name."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.insert(0, node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.imported:
            return ".".join([self.imported[node.id], *parts])
        return None

    def reaches_unsafe(self, node: ast.Attribute | ast.Name) -> bool:
        found = self.origin(node)
        return found is not None and _unsafe_name(found)

    def runs_own_code(self, receiver: ast.expr, method: str) -> bool:
        """`Cls.method(...)` on a class of the file that defines the method itself, or the
        `apply` of one of its autograd Functions (which runs the class's forward)."""
        if not isinstance(receiver, ast.Name) or receiver.id not in self.class_methods:
            return False
        return method in self.class_methods[receiver.id] or (
            method == "apply" and receiver.id in self.autograd_functions
        )

    def is_autograd_function(self, node: ast.ClassDef) -> bool:
        return any(self.origin(base) in _AUTOGRAD_FUNCTIONS for base in node.bases)

    def _layer_classes(self, tree: ast.Module) -> set[str]:
        """The file's classes deriving from a Conv/Linear layer, through its own classes."""
        found: set[str] = set()
        classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
        changed = True
        while changed:
            changed = False
            for node in classes:
                if node.name not in found and any(self._is_layer(b, found) for b in node.bases):
                    found.add(node.name)
                    changed = True
        return found

    def _is_layer(self, node: ast.expr, own: set[str]) -> bool:
        if isinstance(node, ast.Name) and (node.id in own or node.id in self.imported_layers):
            return True
        found = self.origin(node)
        return found is not None and _BIASED_LAYER.match(found) is not None

    def builds_biased_layer(self, call: ast.Call) -> bool:
        """A Conv/Linear layer built here, unless `bias=False` is written."""
        if not self._is_layer(call.func, self.layer_classes):
            return False
        return not any(
            k.arg == "bias" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in call.keywords
        )

    def sealed_bases(self, node: ast.ClassDef) -> bool:
        if node.keywords:
            return False  # a metaclass runs code of its own
        for base in node.bases:
            if isinstance(base, ast.Name) and (
                base.id in self.classes or isinstance(getattr(builtins, base.id, None), type)
            ):
                continue  # its own class (checked itself), or a builtin type
            found = self.origin(base)
            if found is None or found.rsplit(".", 1)[-1] in _CONTAINERS:
                return False  # unknown, or a container that keeps the modules it is given
        return True


def _unsafe_name(origin: str) -> bool:
    """A name that says norm, or reaches into a namespace by its dunders (`nn.__dict__`)."""
    return _NORM.search(origin) is not None or any(
        part.startswith("__") and part != "__future__" for part in origin.split(".")
    )


class FunctionFlow:
    """One function body (the module's body is one too, with no parameters): which of its
    names hold what a caller passed in, and where such a value gets out."""

    def __init__(
        self,
        scope: ModuleScope,
        body: list[ast.stmt],
        params: Iterable[str],
        enclosing: frozenset[str],
        self_name: str | None = None,
        kept: set[str] | None = None,
    ) -> None:
        self.scope = scope
        self.body = body
        self.self_name = self_name
        # attributes of the instance that hold a caller's value, shared by a class's methods
        self.kept = kept if kept is not None else set()
        self.given = set(params) | set(enclosing)
        # names the body rebinds for the module (or an enclosing function): shared state
        self.shared = {
            name
            for n in statement_nodes(body)
            if isinstance(n, ast.Global | ast.Nonlocal)
            for name in n.names
        }
        self.locals = {
            t.id for n in statement_nodes(body) for t in bound_by(n) if isinstance(t, ast.Name)
        } - self.shared
        self._spread()

    # ---- which names hold a caller's value ---------------------------------------------

    def _spread(self) -> None:
        changed = True
        while changed:
            before = len(self.given), len(self.kept)
            for node in statement_nodes(self.body):
                self._flow(node)
            changed = (len(self.given), len(self.kept)) != before

    def _flow(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            value = node.value
            if value is not None and self.given_value(value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    self._receive(target)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            if self.given_value(node.iter):
                self._receive(node.target)
        elif isinstance(node, ast.withitem):
            if node.optional_vars is not None and self.given_value(node.context_expr):
                self._receive(node.optional_vars)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # `layers.append(block)`: the list now holds the caller's value
            receiver = _root(node.func.value)
            if receiver in self.locals and any(self.given_value(a) for a in _arguments(node)):
                self.given.add(receiver)

    def _receive(self, target: ast.expr) -> None:
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                self.given.add(name.id)
        attribute = self._own_attribute(target)
        if attribute is not None:
            self.kept.add(attribute)

    def _own_attribute(self, node: ast.expr) -> str | None:
        """`self.x` (or `self.x[i]`, `self.x.y`) -> "x"."""
        while isinstance(node, ast.Subscript | ast.Attribute):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == self.self_name
            ):
                return node.attr
            node = node.value
        return None

    def given_value(self, node: ast.AST) -> bool:
        """Whether the expression may evaluate to (or hold) what a caller passed in: a name
        or an attribute that holds it, a part of it, or what a call may hand back of it. A
        layer a torch class or one of the file's classes builds from it (`nn.Conv2d(c, c,
        3)`) is a new object, not the caller's."""
        if isinstance(node, ast.Name):
            # a function handing back what callers filed, read as a value, is one too
            return node.id in self.given or node.id in self.scope.handing_back
        if isinstance(node, ast.Attribute):
            attribute = self._own_attribute(node)
            return (attribute is not None and attribute in self.kept) or self.given_value(
                node.value
            )
        if isinstance(node, ast.Call):
            return self._call_gives_back(node)
        if isinstance(node, ast.Constant | ast.Compare):
            return False
        if isinstance(node, ast.IfExp):  # `nn.Flatten() if flatten else nn.Identity()`
            return self.given_value(node.body) or self.given_value(node.orelse)
        return any(self.given_value(child) for child in ast.iter_child_nodes(node))

    def _call_gives_back(self, node: ast.Call) -> bool:
        func = node.func
        arguments = any(self.given_value(a) for a in _arguments(node))
        if _state_root(func) in self.scope.handing_back:
            return True  # `lookup(name)`, `Registry.get(name)`: what other callers filed
        if isinstance(func, ast.Name):
            if func.id in self.given:
                return True
            if func.id in self.scope.classes or _builds_anew(self.scope.origin(func)):
                return False
            if func.id in _SAFE_BUILTINS and func.id not in _PASSING_BUILTINS:
                return False
            return arguments  # a function that may hand back what it was given
        if isinstance(func, ast.Attribute):
            origin = self.scope.origin(func)
            if origin is not None:
                return arguments and not _builds_anew(origin)
            if isinstance(func.value, ast.Name) and func.value.id == self.self_name:
                # a submodule or a class attribute builds anew; a method may hand back
                return func.attr in self.kept or (func.attr in self.scope.methods and arguments)
            return self.given_value(func.value) or arguments
        return self.given_value(func) or arguments

    # ---- where it gets out -----------------------------------------------------------------

    def openings(self) -> Iterator[ast.AST]:
        for node in statement_nodes(self.body):
            if isinstance(node, ast.Call):
                yield from self._call(node)
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                yield from self._store(node)
            elif isinstance(node, _SCOPES):
                # a decorator is called with what it decorates
                yield from (d for d in getattr(node, "decorator_list", ()) if self.given_value(d))
        for node in _nested(self.body):
            yield from self._inner(node)

    def _inner(self, node: ast.AST) -> Iterator[ast.AST]:
        if isinstance(node, ast.ClassDef):
            kept: set[str] = set()
            autograd = self.scope.is_autograd_function(node)
            methods = [
                n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            # The methods share what the instance keeps: spread it until nothing moves.
            for _ in range(len(methods) + 1):
                size = len(kept)
                bodies = [self._method(m, kept, autograd) for m in methods]
                if len(kept) == size:
                    break
            statements = [n for n in node.body if n not in methods]
            yield from FunctionFlow(self.scope, statements, (), frozenset(self.given)).openings()
            for method in bodies:
                yield from method.openings()
            return
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        params = _parameters(node.args)
        body: list[ast.stmt] = node.body if isinstance(node.body, list) else [ast.Return(node.body)]
        # a closure sees the instance its method was given
        self_name = self.self_name if self.self_name not in params else None
        inner = FunctionFlow(self.scope, body, params, frozenset(self.given), self_name, self.kept)
        yield from inner.openings()

    def _method(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, kept: set[str], autograd: bool
    ) -> FunctionFlow:
        params = _parameters(node.args)
        static = any(
            isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list
        )
        self_name = None if static or not params else params[0]
        given = params[1:] if self_name else params
        if autograd and static and node.name in _AUTOGRAD_METHODS:
            given = given[1:]  # torch's context (or ONNX graph) object, not a caller's
        return FunctionFlow(self.scope, node.body, given, frozenset(self.given), self_name, kept)

    def _call(self, node: ast.Call) -> Iterator[ast.AST]:
        func = node.func
        given_arguments = any(self.given_value(a) for a in _arguments(node))
        if isinstance(func, ast.Name):
            name = func.id
            if name in self.given or (name not in self.locals and not self._known_callable(name)):
                yield node
            elif name in _HIGHER_ORDER and given_arguments:
                yield node
            elif name == "setattr":
                target = node.args[0] if node.args else None
                mine = isinstance(target, ast.Name) and target.id == self.self_name
                if not mine or given_arguments:
                    yield node  # an attribute the analysis cannot name holds it
            elif name == "getattr" and not self._plain_getattr(node):
                yield node  # any class of a module, by name: a norm layer too
            return
        if isinstance(func, ast.Attribute):
            yield from self._method_call(node, func, given_arguments)
            return
        if self.given_value(func):
            yield node  # `blocks[i](x)` on a caller's list

    def _plain_getattr(self, node: ast.Call) -> bool:
        """`getattr(torch, "compiler", None)` or `getattr(self, name)`: an attribute named
        by a string that says no norm, or any attribute of a name the function binds (the
        instance, a parameter or a local), not of a module or of the module's state."""
        if len(node.args) < 2:
            return False
        owner, attribute = node.args[0], node.args[1]
        if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str):
            return not _unsafe_name(attribute.value)
        return isinstance(owner, ast.Name) and (
            owner.id in self.locals or owner.id in self.given or owner.id == self.self_name
        )

    def _known_callable(self, name: str) -> bool:
        if name in self.scope.imported or name in self.scope.defined:
            return True
        return name in _SAFE_BUILTINS or _is_exception(name)

    def _method_call(
        self, node: ast.Call, func: ast.Attribute, given_arguments: bool
    ) -> Iterator[ast.AST]:
        origin = self.scope.origin(func)
        if origin is not None:
            if given_arguments and func.attr in _HIGHER_ORDER | _CONTAINERS:
                yield node
            return
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id == self.self_name:
            if func.attr in self.kept or (given_arguments and func.attr in _KEEPING_METHODS):
                yield node  # calls a caller's value, or files it among the submodules
            return
        if self._own_attribute(receiver) is not None:
            if given_arguments and func.attr in _KEEPING_METHODS:
                yield node  # `self.blocks.append(block)`
            elif self.given_value(receiver) and not _harmless_method(func.attr):
                yield node
            return
        root = _state_root(receiver)
        if root is not None and root in self.scope.defined and root not in self.locals:
            if given_arguments and func.attr in FILING_METHODS:
                self.scope.state_given.add(root)  # a registry of the module's own keeps it
            elif self.scope.runs_own_code(receiver, func.attr):
                return  # a method the file's class defines, checked where it is defined
            elif given_arguments and func.attr not in _LOGGER_METHODS | _LOOKUP_METHODS:
                yield node  # the module's own object doing something with a caller's value
            return
        if self.given_value(receiver) and not _harmless_method(func.attr):
            yield node  # a caller's object doing something of its own

    def _store(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign) -> Iterator[ast.AST]:
        if node.value is None or not self.given_value(node.value):
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            root = _root(target)
            shared = root in self.scope.defined and root not in self.locals
            if isinstance(target, ast.Name) and target.id in self.shared:
                self.scope.state_given.add(target.id)  # a global that now holds it
            elif isinstance(target, ast.Subscript) and self._own_attribute(target) is not None:
                yield node  # into an instance's container
            elif isinstance(target, ast.Subscript | ast.Attribute) and shared:
                assert root is not None
                self.scope.state_given.add(root)  # into the module's own state


def _builds_anew(origin: str | None) -> bool:
    """A torch class: what it builds is its own object, not what it was given."""
    if origin is None or not is_modelled(origin):
        return False
    return origin.rsplit(".", 1)[-1][:1].isupper()


def _harmless_method(name: str) -> bool:
    """A method of a tensor, a module, a string, a plain container or a logger that builds
    and calls nothing of its own."""
    return name in _HARMLESS_METHODS


_HARMLESS_METHODS = (
    TENSOR_METHODS | _MODULE_METHODS | _CONTAINER_METHODS | _STRING_METHODS | _LOGGER_METHODS
)


def _is_exception(name: str) -> bool:
    found = getattr(builtins, name, None)
    return isinstance(found, type) and issubclass(found, BaseException)


def _state_root(node: ast.expr) -> str | None:
    """`_REGISTRY["a"].items` -> "_REGISTRY"; None for what a call returned (`make().to`)."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _arguments(node: ast.Call) -> list[ast.expr]:
    return [*node.args, *(k.value for k in node.keywords)]


def _parameters(args: ast.arguments) -> list[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return [a.arg for a in every]


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def statement_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of the body, not descending into functions and classes defined in it
    (their defaults and decorators are the body's)."""
    pending: list[ast.AST] = list(reversed(body))
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, _SCOPES):
            pending.extend(_outer_parts(node))
        else:
            pending.extend(reversed(list(ast.iter_child_nodes(node))))


def _outer_parts(node: ast.AST) -> list[ast.AST]:
    parts: list[ast.AST] = list(getattr(node, "decorator_list", []))
    if isinstance(node, ast.ClassDef):
        return parts + list(node.bases) + [k.value for k in node.keywords]
    arguments = node.args  # type: ignore[attr-defined]
    defaults = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
    return parts + defaults


def _nested(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The functions and classes defined directly in the body (at any depth of its blocks
    and expressions, not inside another of them)."""
    for node in statement_nodes(body):
        if isinstance(node, _SCOPES):
            yield node


def bound_by(node: ast.AST) -> Iterator[ast.expr]:
    """The targets a statement binds."""
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _flattened(target)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
        yield from _flattened(node.target)
    elif isinstance(node, ast.NamedExpr | ast.comprehension):
        yield from _flattened(node.target)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        yield from _flattened(node.optional_vars)
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield ast.Name(node.name)
    elif isinstance(node, ast.ExceptHandler) and node.name:
        yield ast.Name(node.name)


def _flattened(target: ast.expr) -> Iterator[ast.expr]:
    if isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _flattened(element)
    elif isinstance(target, ast.Starred):
        yield from _flattened(target.value)
    else:
        yield target
