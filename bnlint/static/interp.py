"""An abstract interpreter for model-building Python: __init__, builder functions, forward().

It evaluates what real model zoos compute at construction time — constants, config tables,
lists built in loops, Sequential(*layers), helper functions, norm_layer arguments — far enough
to know which layer sits at which attribute or index. Anything it cannot evaluate becomes an
`Unknown` carrying the reason, never a guess. Tensor operations are delegated to a
`ForwardBuilder` (forward.py), which records them in a LayerGraph.
"""

from __future__ import annotations

import logging
import operator
import re
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, overload

import libcst as cst

from bnlint import rules
from bnlint.ftypes import LayerCall, NodeKind, SourceLocation
from bnlint.static import arrays, calls, enums, evaluate, facts, matching, objects
from bnlint.static.classes import ClassModel
from bnlint.static.constructions import Constructions, containers, fingerprint
from bnlint.static.forward import NORM_WORDS
from bnlint.static.frames import (
    ABANDONING,
    AnalysisLimit,
    BreakSignal,
    ContinueSignal,
    DeadPath,
    Frame,
    Method,
    Param,
    ReturnSignal,
    abandonment,
)
from bnlint.static.index import (
    External,
    ProjectClass,
    ProjectFunction,
    ProjectModule,
    ProjectValue,
    Resolver,
    Symbol,
    TorchName,
    _absolute,
    _dotted,
)
from bnlint.static.source import SourceFile
from bnlint.static.torch_api import (
    FUNCTIONS,
    PASSTHROUGH_FUNCTIONS,
    TorchClass,
    torch_class,
)
from bnlint.static.values import (
    BUILT_APART,
    MISSING,
    PIECES,
    SPREAD,
    BuiltinRef,
    Choice,
    ClassRef,
    Const,
    DerivedWeight,
    EnumClass,
    FunctionRef,
    Journal,
    Mapping,
    ModuleInst,
    ModuleRef,
    ObjectInst,
    Outside,
    OutsideBuilt,
    Raised,
    Seq,
    Spread,
    Tails,
    Tensor,
    TupleType,
    Unknown,
    Value,
    choice,
    entry_view,
    new_uid,
    node_text,
)

if TYPE_CHECKING:
    from bnlint.static.forward import ForwardBuilder

log = logging.getLogger("bnlint.static.interp")

MAX_CALL_DEPTH = 48
MAX_RECURSION = 6  # activations of one function at once (recursive builders are shallower)
MAX_UNROLL = 4096
# Real models build in 1k-20k steps (torchvision, timm, pretrainedmodels measured); a class
# built with unknown arguments can recurse through both arms of every `if` without end.
MAX_STEPS = 100_000
_WEIGHT_INIT = re.compile(r"_*(init|initiali[sz]e|reset)_?(weights?|parameters|params)\w*$")

_TORCH_MODULES = frozenset(
    {
        "torch",
        "torch.nn",
        "torch.nn.functional",
        "torch.nn.init",
        "torch.nn.modules",
        "torch.nn.utils",
        "torch.nn.parameter",
        "torch.jit",
        "torch.fx",
        "torch.utils",
        "torch.utils.checkpoint",
        "torch.nn.modules.utils",
        "einops",
        "einops.layers",
        "einops.layers.torch",
    }
)
_STDLIB = {
    "collections.OrderedDict": "OrderedDict",
    "functools.partial": "partial",
    "copy.deepcopy": "deepcopy",
    "math.ceil": "math.ceil",
    "math.floor": "math.floor",
    "math.sqrt": "math.sqrt",
    "math.log2": "math.log2",
    "math.log": "math.log",
    "typing.OrderedDict": "OrderedDict",
    "itertools.repeat": "repeat",
    "itertools.chain": "chain",
    "collections.abc.Iterable": "abc.Iterable",
    "collections.abc.Sequence": "abc.Sequence",
    "collections.abc.Mapping": "abc.Mapping",
    "collections.abc.Callable": "abc.Callable",
    "typing.Iterable": "abc.Iterable",
    "typing.Sequence": "abc.Sequence",
    "typing.Mapping": "abc.Mapping",
    "typing.Callable": "abc.Callable",
    "collections.namedtuple": "namedtuple",
    "types.SimpleNamespace": "SimpleNamespace",
    "argparse.Namespace": "SimpleNamespace",
    "collections.abc.Hashable": "abc.Hashable",
    "collections.abc.Collection": "abc.Collection",
    "collections.abc.Container": "abc.Collection",
    "collections.abc.Sized": "abc.Collection",
    "typing.Hashable": "abc.Hashable",
    "typing.Collection": "abc.Collection",
    "inspect.isfunction": "isfunction",
    "inspect.getfullargspec": "getfullargspec",
    "inspect.isclass": "isclass",
    "inspect.isroutine": "isfunction",
    "types.FunctionType": "function",
    "types.LambdaType": "function",
    "re.split": "re.split",
    "re.findall": "re.findall",
    "re.sub": "re.sub",
    "re.escape": "re.escape",
    "copy.copy": "copy",
    "functools.reduce": "reduce",
    "dataclasses.replace": "dataclasses.replace",
    "dataclasses.fields": "dataclasses.fields",
}
STDLIB_MODULES = frozenset({*(name.rsplit(".", 1)[0] for name in _STDLIB), "numpy", "enum"})
_CHECKPOINTS = frozenset(
    {"torch.utils.checkpoint.checkpoint", "torch.utils.checkpoint.checkpoint_sequential"}
)
# Functions that make a module's weight a function of other tensors and return the module.
_PARAMETRIZATIONS = frozenset(
    {
        "torch.nn.utils.weight_norm",
        "torch.nn.utils.spectral_norm",
        "torch.nn.utils.parametrizations.weight_norm",
        "torch.nn.utils.parametrizations.spectral_norm",
        "torch.nn.utils.parametrizations.orthogonal",
        "torch.nn.utils.parametrize.register_parametrization",
    }
)
_CHECKPOINT_OPTIONS = frozenset(
    {"use_reentrant", "preserve_rng_state", "context_fn", "determinism_check", "debug", "segments"}
)


class Interpreter:
    def __init__(self, resolver: Resolver, classes: ClassModel) -> None:
        self.resolver = resolver
        self.classes = classes
        self.journal = Journal()
        self.forward: ForwardBuilder | None = None
        self.depth = 0
        self.steps = 0
        # every BatchNorm the current construction built, so that one the analysis lost
        # track of still gets a verdict
        self.built_batchnorms: list[ModuleInst] = []
        self._constructing: list[str] = []  # classes whose __init__ is running, innermost last
        self.refused: set[int] = set()  # modules whose __init__ raised on every path, by uid
        # class roots whose construction the analysis stopped following, by uid, with why:
        # what they hold is what __init__ had built by then
        self.abandoned: dict[int, str] = {}
        self._active: dict[int, int] = {}  # running activations of each function definition
        self._values: dict[str, Value] = {}
        self._enums: dict[int, EnumClass] = {}  # by the class's definition node
        self._evaluating: set[str] = set()
        self._registered: set[object] = set()  # files whose registering decorators ran
        # a model library's module-level dicts, which other modules of its package may fill
        # with decorators (a project's own are filled by the project's files), by id; and
        # the keys already looked for in those modules
        self._registries: dict[int, SourceFile] = {}
        self._searched: set[tuple[int, object]] = set()
        self.filed: set[tuple[Path, Path]] = set()  # (registry, module whose decorators ran)
        self.constructions = Constructions()  # what each class built with which arguments
        # dicts held by module-level values: a construction that writes one is not pure
        self._module_containers: set[int] = set()
        self.current_file: SourceFile | None = None
        # the innermost call the project's own code is making (file, call node): what a
        # model library builds during it is placed there (ModuleInst.placed)
        self.project_call: tuple[SourceFile, cst.CSTNode] | None = None
        # sides of undecidable conditions the running path took (see facts.py)
        self.assumed: facts.PathFacts = {}
        self._repeating = 0  # loops of unknown length being run: their conditions are not kept
        # Attributes a method other than construction switches (classes.switched_attributes)
        # read in the current forward(), each with that method: unknown there, unless
        # `as_built` reads them as construction left them (the model as its factory builds it).
        self.switches_read: dict[str, str] = {}
        self.as_built = False
        # Modules forward() runs that a library nobody reads here built: (the call, how
        # forward() names it, the class whose forward() runs it), by call, for XBN402.
        self.unread: dict[int, tuple[OutsideBuilt, str, str | None]] = {}

    # ---- entry points -------------------------------------------------------------------

    @contextmanager
    def construction(self) -> Iterator[list[ModuleInst]]:
        """One root's construction: a fresh step budget; yields the BatchNorms it builds."""
        self.steps, self.built_batchnorms = 0, []
        try:
            yield self.built_batchnorms
        finally:
            self.built_batchnorms = []

    @contextmanager
    def following(self, builder: ForwardBuilder) -> Iterator[None]:
        """One root's forward(): tensor operations go to `builder`, with a fresh budget."""
        self.forward, self.steps, self.switches_read = builder, 0, {}
        try:
            yield
        finally:
            self.forward = None

    def note_unread(self, built: OutsideBuilt, target: str, owner: str | None) -> None:
        """`target` holds what a call into an unread library gave back (XBN402). Only the
        project's own calls count: a library's internals are its own business."""
        if built.qualname.split(".")[0] in sys.stdlib_module_names:
            return  # the standard library builds no layers (a `logging` logger, say)
        if built.file is not None and not built.file.library:
            self.unread.setdefault(id(built.node), (built, target, owner))

    def _kept_key(
        self, key: Hashable | None, file: SourceFile | None, *, by_caller: bool
    ) -> Hashable | None:
        """The key under which `constructions` keeps a construction or call: its arguments'
        `key`, and what else what it builds takes from where it runs, so that a copy is what
        running it again would give. The modules a plain function builds belong to the
        class whose __init__ calls it (`by_caller`: their `built_by`); what a model
        library's code builds is placed at the project's call it runs under; a condition the
        path to it has taken a side of is decided inside it too, and in a loop of unknown
        length no condition is remembered (facts.py)."""
        if key is None:
            return None
        caller = self._constructing[-1] if by_caller and self._constructing else None
        call = self.project_call if file is not None and file.library else None
        return (
            key,
            caller,
            None if call is None else id(call[1]),
            frozenset(self.assumed.items()),
            self._repeating > 0,
        )

    def _placed(self, file: SourceFile, node: cst.CSTNode) -> tuple[SourceFile, cst.CSTNode] | None:
        return self.project_call if file.library else (file, node)

    def instantiate_root(self, cls: ProjectClass) -> Value:
        return self.instantiate(ClassRef(cls), [], {}, cls.file, cls.node, as_root=True)

    def call_root(self, func: ProjectFunction) -> Value:
        return self.call_function(FunctionRef(func), [], {}, func.node)

    # ---- names and symbols --------------------------------------------------------------

    def symbol_value(self, symbol: Symbol | None, name: str) -> Value:
        if symbol is None:
            return Unknown(f"name '{name}' is not defined in the analysed files")
        if isinstance(symbol, ProjectClass):
            # A plain Enum's members are constants of their own. An IntEnum or StrEnum (or
            # a str/int mixin) stays a class: its members read from the class body are its
            # values, which is all they compare as; helpers such as MONAI's look_up_option
            # that call or iterate the class are not followed further (they decided wrongly
            # whether a layer is called when they were).
            kind = self.classes.enum_kind(symbol)
            if kind == "plain":
                return self._enum_class(symbol, kind)
            return ClassRef(symbol)
        if isinstance(symbol, ProjectFunction):
            return FunctionRef(symbol)
        if isinstance(symbol, ProjectModule):
            return ModuleRef(symbol.file.module_name, symbol.file)
        if isinstance(symbol, ProjectValue):
            return self._module_value(symbol)
        if isinstance(symbol, TorchName):
            return self._torch_value(symbol.qualname)
        assert isinstance(symbol, External)
        if symbol.qualname in enums.FUNCTIONAL:  # `Enum("NormType", "Batch BatchZero")`
            return BuiltinRef(enums.FUNCTIONAL[symbol.qualname])
        if symbol.qualname in _STDLIB:
            return BuiltinRef(_STDLIB[symbol.qualname])
        if symbol.qualname in STDLIB_MODULES:  # `import functools` then `functools.partial`
            return ModuleRef(symbol.qualname)
        if self.resolver.loader.is_namespace_package(symbol.qualname):
            return ModuleRef(symbol.qualname)  # `import models.blocks`, models/ a plain folder
        return Outside(
            f"'{symbol.qualname}' is defined outside the analysed files",
            rules.UNRESOLVED_MODULE.code,
            qualname=symbol.qualname,
        )

    def _enum_class(self, cls: ProjectClass, kind: str) -> EnumClass:
        """A class deriving from enum.Enum, as its members: one value for the class in each
        analysis, so that its members are the same wherever they are read."""
        found = self._enums.get(id(cls.node))
        if found is not None:
            return found
        members: dict[str, Const] = {}
        enum = EnumClass(cls.qualname, members, kind)
        self._enums[id(cls.node)] = enum
        for position, (name, expr) in enumerate(enums.body_members(cls.node), start=1):
            if enums.is_auto(expr):
                value: Hashable = enums.auto_value(kind, name, position)
            else:
                evaluated = self.eval(expr, Frame(cls.file, {}))
                if not isinstance(evaluated, Const):
                    continue  # not a member the analysis can stand for: read as unknown
                value = evaluated.value
            members[name] = enums.member(cls.qualname, kind, name, value)
        return enum

    def stdlib_attribute(self, module: str, name: str) -> Value | None:
        """`functools.partial` after `import functools`, and the like."""
        if module not in STDLIB_MODULES:
            return None
        qualname = f"{module}.{name}"
        if qualname in _STDLIB:
            return BuiltinRef(_STDLIB[qualname])
        if module == "enum":  # `enum.Enum("NormType", ...)`; its other names as before
            return self.symbol_value(External(qualname), name)
        if arrays.function_name(qualname) is not None:
            return BuiltinRef(f"array:{qualname}")
        if qualname in STDLIB_MODULES:  # `collections.abc`
            return ModuleRef(qualname)
        return Unknown(f"'{qualname}' is not modelled by the analysis")

    def _torch_value(self, qualname: str) -> Value:
        cls = torch_class(qualname)
        if cls is not None:
            return ClassRef(cls)
        if qualname in _TORCH_MODULES:
            return ModuleRef(qualname)
        if qualname in _STDLIB:
            return BuiltinRef(_STDLIB[qualname])
        return BuiltinRef("torch:" + qualname)

    def _module_value(self, symbol: ProjectValue) -> Value:
        if symbol.qualname in self._values:
            return self._values[symbol.qualname]
        if symbol.qualname in self._evaluating:
            return Unknown(f"'{symbol.qualname}' is defined in terms of itself")
        self._evaluating.add(symbol.qualname)
        try:
            with self.journal.suspended():
                value = self.eval(symbol.expr, Frame(symbol.file, {}))
                if isinstance(value, ObjectInst) or (
                    isinstance(value, Mapping) and value.namespace
                ):
                    objects.run_attribute_writes(self, symbol, value)
                self._values[symbol.qualname] = value
                containers(value, self._module_containers)
                if symbol.file.path not in self._registered:
                    # as importing the module would: its decorators fill its registries,
                    # and so do those of the package's modules that use its decorators
                    self._registered.add(symbol.file.path)
                    objects.register_decorated(self, symbol.file)
                    if isinstance(value, Mapping) and symbol.file.library:
                        self._registries[id(value)] = symbol.file
        finally:
            self._evaluating.discard(symbol.qualname)
        return value

    def look_for_key(self, mapping: Mapping, key: object) -> bool:
        """Whether the modules of the package of a module-level dict, read for `key` as
        importing the package would run them, filed something under it."""
        registry = self._registries.get(id(mapping))
        if registry is None or not isinstance(key, str):
            return False
        if (id(mapping), key) in self._searched:
            return False
        self._searched.add((id(mapping), key))
        steps = self.steps  # what importing the package runs is no part of a model's budget
        try:
            with self.journal.suspended():  # it holds on every path, as module-level code
                objects.fill_from_package(self, registry, key)
        finally:
            self.steps = steps
        return key in mapping.items

    def lookup(self, name: str, frame: Frame) -> Value:
        if name in frame.env:
            return frame.env[name]
        if frame.closure is not None and name in frame.closure:
            return frame.closure[name]
        symbol = self.resolver.resolve_name(frame.file, name)
        if symbol is None and name in evaluate.BUILTIN_NAMES:
            return BuiltinRef(name)
        return self.symbol_value(symbol, name)

    # ---- statements ---------------------------------------------------------------------

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise AnalysisLimit("the model's construction is too long to follow")

    def exec_block(self, body: Any, frame: Frame) -> None:
        statements = list(body)
        for index, statement in enumerate(statements):
            rest = statements[index + 1 :]
            if rest and self.forward is None and isinstance(statement, cst.If):
                if _may_return(statement):
                    # `if skip: return` in __init__: what follows runs only on the paths
                    # that did not return, so that a layer built after it is built on
                    # those paths alone, not for certain
                    self.exec_if(statement, frame, rest)
                    return
            self.exec_statement(statement, frame)

    def exec_statement(self, statement: cst.CSTNode, frame: Frame) -> None:
        self.tick()
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                self.exec_small(small, frame)
        elif isinstance(statement, cst.BaseSmallStatement):
            # the body of a one-line compound statement (`if c: x = self.act(x)`) is a
            # suite of small statements, not lines
            self.exec_small(statement, frame)
        elif isinstance(statement, cst.If):
            self.exec_if(statement, frame)
        elif isinstance(statement, cst.For):
            self.exec_for(statement, frame)
        elif isinstance(statement, cst.While):
            self.exec_while(statement, frame)
        elif isinstance(statement, cst.Match):
            matching.exec_match(self, statement, frame)
        elif isinstance(statement, cst.With):
            for item in statement.items:
                self._enter(item, frame)
            self.exec_block(statement.body.body, frame)
        elif isinstance(statement, cst.Try):
            self.exec_block(statement.body.body, frame)
            if statement.orelse is not None:
                self.exec_block(statement.orelse.body.body, frame)
            if statement.finalbody is not None:
                self.exec_block(statement.finalbody.body.body, frame)
        elif isinstance(statement, cst.FunctionDef):
            func = ProjectFunction(
                frame.file, statement, f"{frame.file.module_name}.<local>.{statement.name.value}"
            )
            self.journal.set(
                frame.env, statement.name.value, FunctionRef(func, closure=self._closure(frame))
            )
        elif isinstance(statement, cst.ClassDef):
            self.journal.set(
                frame.env,
                statement.name.value,
                Unknown(f"class '{statement.name.value}' defined inside a function"),
            )

    def _enter(self, item: cst.WithItem, frame: Frame) -> None:
        """`with manager as name`: the manager is evaluated (it may call layers); the name
        gets what a project object's own `__enter__` returns, else a value not known, never
        an unbound name."""
        manager = self.eval(item.item, frame)
        if item.asname is None:
            return
        enter = (
            objects.dunder(self, manager, "__enter__") if isinstance(manager, ObjectInst) else None
        )
        entered = (
            self.call_function(enter, [], {}, item)
            if enter is not None
            else Unknown(f"what `with {node_text(item.item)}` gives is not known")
        )
        self.assign(item.asname.name, entered, frame, item)

    def _closure(self, frame: Frame) -> dict[str, Value]:
        merged = dict(frame.closure or {})
        merged.update(frame.env)
        return merged

    def exec_small(self, small: cst.BaseSmallStatement, frame: Frame) -> None:
        if isinstance(small, cst.Expr):
            self.eval(small.value, frame)
        elif isinstance(small, cst.Assign):
            value = self.eval(small.value, frame)
            for target in small.targets:
                self.assign(target.target, value, frame, small)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                self.assign(small.target, self.eval(small.value, frame), frame, small)
        elif isinstance(small, cst.AugAssign):
            current = self.eval(small.target, frame)
            operand = self.eval(small.value, frame)
            result = self.binary(small.operator, current, operand, frame, small, inplace=True)
            self.assign(small.target, result, frame, small)
        elif isinstance(small, cst.Return):
            value = self.eval(small.value, frame) if small.value is not None else Const(None)
            raise ReturnSignal(value)
        elif isinstance(small, cst.Raise):
            raise DeadPath()
        elif isinstance(small, cst.Assert):
            # `assert False, "unknown block type"` ends its path, as a raise does; an
            # assertion the analysis cannot decide is taken to hold
            if evaluate.test_truth(self, small.test, frame)[1] is False:
                log.debug("path ends: `assert %s` fails", node_text(small.test))
                raise DeadPath()
        elif isinstance(small, cst.Break):
            raise BreakSignal()
        elif isinstance(small, cst.Continue):
            raise ContinueSignal()
        elif isinstance(small, (cst.Import, cst.ImportFrom)):
            self._local_import(small, frame)
        elif isinstance(small, cst.Del):
            deleted = small.target
            if isinstance(deleted, cst.Name):
                self.journal.delete(frame.env, deleted.value)

    def _local_import(self, small: cst.Import | cst.ImportFrom, frame: Frame) -> None:
        names = small.names
        if isinstance(names, cst.ImportStar):  # only `from m import *` has one
            return
        for alias in names:
            local = alias.evaluated_alias or alias.evaluated_name
            if isinstance(small, cst.Import) and alias.asname is None:
                local = local.split(".")[0]
                target = local
            elif isinstance(small, cst.Import):
                target = alias.evaluated_name
            else:
                base = _absolute(frame.file, _dotted(small.module), len(small.relative))
                target = f"{base}.{alias.evaluated_name}" if base else alias.evaluated_name
            self.journal.set(
                frame.env, local, self.symbol_value(self.resolver.resolve_qualified(target), target)
            )

    # ---- assignment ---------------------------------------------------------------------

    def assign(
        self, target: cst.BaseExpression, value: Value, frame: Frame, statement: cst.CSTNode
    ) -> None:
        if isinstance(target, cst.Name):
            self.journal.set(frame.env, target.value, value)
        elif isinstance(target, cst.Attribute):
            owner = self.eval(target.value, frame)
            if isinstance(owner, ModuleInst):
                self.set_module_attr(owner, target.attr.value, value, frame, statement)
            elif isinstance(owner, ObjectInst):
                objects.set_attribute(self, owner, target.attr.value, value)
            elif isinstance(owner, Mapping) and owner.namespace:
                self.journal.set(owner.items, target.attr.value, value)
        elif isinstance(target, cst.Subscript):
            self._assign_item(target, value, frame)
        elif isinstance(target, (cst.Tuple, cst.List)):
            self._unpack(target, value, frame, statement)

    def _unpack(
        self, target: cst.Tuple | cst.List, value: Value, frame: Frame, statement: cst.CSTNode
    ) -> None:
        elements = [e.value for e in target.elements]
        items = self.iterate(value, frame)
        if isinstance(value, Seq) and value.why_incomplete == PIECES:
            items = [value.items[0]] * len(elements)
        starred = [i for i, e in enumerate(target.elements) if isinstance(e, cst.StarredElement)]
        if items is not None and len(starred) == 1 and len(items) >= len(elements) - 1:
            # `name, *rest = items`: the starred target takes what the others leave
            star = starred[0]
            after = len(elements) - star - 1
            middle = items[star : len(items) - after]
            items = [*items[:star], Seq(tuple(middle)), *items[len(items) - after :]]
        elif items is None or len(items) != len(elements) or starred:
            if isinstance(value, Tensor) and self.forward is not None:
                items = self.forward.split(value, len(elements))
            else:
                reason = getattr(value, "reason", "cannot unpack this value")
                items = [Unknown(reason) for _ in elements]
        for element, item in zip(elements, items, strict=True):
            self.assign(element, item, frame, statement)

    def _assign_item(self, target: cst.Subscript, value: Value, frame: Frame) -> None:
        container = self.eval(target.value, frame)
        key = self._subscript_key(target, frame)
        if isinstance(container, ModuleInst) and isinstance(key, Const):
            self.journal.set(container.children, str(key.value), value)
        elif isinstance(container, Mapping) and isinstance(key, Const):
            items = dict(container.items)
            items[key.value] = value
            self.journal.set(container.__dict__, "items", items)
        elif isinstance(container, Seq) and isinstance(key, Const) and isinstance(key.value, int):
            elements = list(container.items)
            if -len(elements) <= key.value < len(elements):
                elements[key.value] = value
                self.journal.set(container.__dict__, "items", tuple(elements))

    def set_module_attr(
        self, inst: ModuleInst, name: str, value: Value, frame: Frame, statement: cst.CSTNode | None
    ) -> None:
        if _holds_module(value):
            self.journal.delete(inst.attrs, name)
            self.journal.set(inst.children, name, value)
            return

        if isinstance(value, (Seq, Mapping)) and any(_holds_module(v) for v in _members(value)):
            where = frame.file.location(statement) if statement is not None else None
            if where is not None:
                self.journal.set(inst.plain_containers, name, where)
        if self.forward is not None and _holds_tensor(value):
            # whoever reads `self.<name>` later (a hook, a loss, another method) sees this
            # tensor: a fold that changes it is not provably harmless
            where = frame.file.location(statement) if statement is not None else None
            self.forward.add(
                NodeKind.UNKNOWN,
                f"self.{name}",
                [value],
                where,
                rule_code=rules.UNKNOWN_CALL.code,
                reason=f"it is also stored in `self.{name}`, which code outside forward() may read",
            )
        if (
            self.forward is None
            and isinstance(value, Param)
            and value.owner is not inst
            and value.name in ("weight", "bias")
            and value.owner.weight_derived is None
        ):
            # `self.weight = self.conv.weight`: the parameter is registered twice; a fold
            # writes a new one into the conv and leaves this name holding the old
            self.journal.set(
                value.owner.__dict__,
                "weight_derived",
                DerivedWeight(
                    f"its {value.name} is also registered as `{name}` of "
                    f"{inst.cls.qualname.rsplit('.', 1)[-1]}, which a fold would leave stale"
                ),
            )
        if name in inst.children:
            self.journal.set(inst.children, name, value)
        else:
            self.journal.set(inst.attrs, name, value)

    # ---- control flow -------------------------------------------------------------------

    def exec_if(self, statement: cst.If, frame: Frame, rest: Sequence[Any] = ()) -> None:
        """`rest`: the statements after the `if` in its block, run after whichever side."""
        condition, truth, learned = self.condition(statement.test, frame)
        orelse = statement.orelse

        def run_body() -> None:
            self.exec_block([*statement.body.body, *rest], frame)

        def run_else() -> None:
            if isinstance(orelse, cst.If):
                self.exec_if(orelse, frame, rest)
            elif isinstance(orelse, cst.Else):
                self.exec_block([*orelse.body.body, *rest], frame)
            else:
                self.exec_block(rest, frame)

        if truth is True:
            run_body()
        elif truth is False:
            run_else()
        else:
            reason = _condition_reason(condition, statement.test)
            self.branches(
                [run_body, run_else],
                reason,
                frame,
                data_dependent=evaluate.is_data(condition),
                learned=learned,
            )

    def branches(
        self,
        paths: list[Callable[[], object]],
        reason: str,
        frame: Frame,
        data_dependent: bool,
        code: str = rules.DATA_DEPENDENT_FLOW.code,
        repeated: bool = False,
        learned: Sequence[facts.PathFacts] | None = None,
    ) -> None:
        """Run each path from the same state, then merge what they changed (a tensor that
        differs is reported under `code` where it matters). `repeated`: the paths are one
        iteration of a loop that runs an unknown number of times, or none, so what a list
        gained on them is not what each path holds (it may hold it many times). `learned`:
        the facts each path takes (values it makes remember them)."""
        outcomes = []
        returned: list[tuple[Any, facts.PathFacts]] = []  # what paths that returned left
        path_facts = list(learned) if learned else [{} for _ in paths]
        if data_dependent and self.forward is not None:
            self.forward.conditional_depth += 1
        self._repeating += repeated
        outer = self.assumed
        outer_paths = self.forward.paths if self.forward is not None else ()
        split = tuple(new_uid() for _ in paths)
        if self.forward is not None:
            self.forward.graph.add_split(split)
        try:
            for run, taken, path in zip(paths, path_facts, split, strict=True):
                self.journal.begin()
                self.assumed = {**outer, **taken} if taken else outer
                if self.forward is not None:
                    self.forward.paths = (*outer_paths, path)
                ended = returns = False
                try:
                    run()
                except ReturnSignal as signal:
                    frame.returns.append(signal.value)
                    ended = returns = True
                except (DeadPath, BreakSignal, ContinueSignal):
                    # A loop exit under an unknown condition: treated as this path ending
                    # here; the loop's merge sees the other path.
                    ended = True
                outcome = self.journal.rollback()
                outcomes.append((outcome, ended))
                if returns:
                    # The function ends here on this path: what it did to objects (a
                    # module __init__ returning before it builds a layer) stays, its own
                    # variables do not.
                    effects = {k: e for k, e in outcome.items() if e[0] is not frame.env}
                    returned.append((effects, taken))
        finally:
            self.assumed = outer
            self._repeating -= repeated
            if data_dependent and self.forward is not None:
                self.forward.conditional_depth -= 1
            if self.forward is not None:
                self.forward.paths = outer_paths
        live = [outcome for outcome, ended in outcomes if not ended]
        live_facts = [
            taken for (_, ended), taken in zip(outcomes, path_facts, strict=True) if not ended
        ]
        states = live + [effects for effects, _ in returned]
        if states:
            facts_of = [*live_facts, *(taken for _, taken in returned)] if learned else None
            self._merge_paths(states, reason, code, facts_of, repeated)
        if not live:
            if returned:
                # every path that did not raise returned: the caller sees a return
                raise ReturnSignal(frame.returns.pop())
            raise DeadPath()

    def _merge_paths(
        self,
        live: list[dict[Any, Any]],
        reason: str,
        code: str,
        live_facts: Sequence[facts.PathFacts] | None,
        repeated: bool,
    ) -> None:
        keys: dict[tuple[int, Hashable], tuple[dict[Any, Any], Hashable]] = {}
        for outcome in live:
            for key, (target, name, _) in outcome.items():
                keys[key] = (target, name)
        for key, (target, name) in keys.items():
            current = target.get(name, MISSING)
            values = [outcome[key][2] if key in outcome else current for outcome in live]
            merged = (
                _merge_repeated(values)
                if repeated and all(isinstance(v, (tuple, dict)) for v in values)
                else self.merge(values, reason, code, live_facts)
            )
            if merged is MISSING:
                self.journal.delete(target, name)
            else:
                self.journal.set(target, name, merged)

    @overload
    def merge(
        self,
        values: list[Value],
        reason: str,
        code: str,
        taken: Sequence[facts.PathFacts] | None = None,
    ) -> Value: ...
    @overload
    def merge(
        self,
        values: list[Any],
        reason: str,
        code: str,
        taken: Sequence[facts.PathFacts] | None = None,
    ) -> Any: ...
    def merge(
        self,
        values: list[Any],
        reason: str,
        code: str,
        taken: Sequence[facts.PathFacts] | None = None,
    ) -> Any:
        """One value for what the paths left in one place: abstract values, or the journal's
        entries (`Seq.items` tuples, `Mapping.items` dicts, flags, MISSING). `taken`: the
        facts of each path, which the value's options remember."""
        if all(v is values[0] for v in values):
            return values[0]
        if all(isinstance(v, tuple) for v in values):  # Seq.items
            return _merge_items(values)
        if all(isinstance(v, dict) for v in values):  # Mapping.items
            return _merge_mapping_items(values)
        if any(isinstance(v, DerivedWeight) for v in values):  # ModuleInst.weight_derived
            return DerivedWeight.merge(values)
        if all(isinstance(v, (bool, str)) for v in values):  # Seq flags
            return (
                values[0]
                if len(set(values)) == 1
                else (False if isinstance(values[0], bool) else reason)
            )
        if self.forward is not None and all(isinstance(v, LayerCall) for v in values):
            # a tensor changed in place on some paths only (`Tensor.node`)
            merged = self.forward.merge_tensors([Tensor(v) for v in values], reason, code)
            if isinstance(merged, Tensor):
                return merged.node
        places = [v for v in values if isinstance(v, SourceLocation)]
        if places:
            # where a plain container was assigned, on some path: bookkeeping, no value
            return places[0]
        options = [Const(None) if v is MISSING else v for v in values]
        if self.forward is not None and any(isinstance(v, Tensor) for v in options):
            return self.forward.merge_tensors(options, reason, code)
        return choice(options, reason, facts.tags(taken) if taken else None)

    def exec_for(self, statement: cst.For, frame: Frame) -> None:
        iterable = self.eval(statement.iter, frame)
        items = self.iterate(iterable, frame)
        if items is not None and len(items) <= MAX_UNROLL:
            if self._unrolled(statement, items, frame) and statement.orelse is not None:
                self.exec_block(statement.orelse.body.body, frame)
            return
        reason = (
            f"the loop over '{node_text(statement.iter)}' (line "
            f"{frame.file.location(statement).line}) runs an unknown number of times"
        )

        def one_iteration() -> None:
            self.assign(statement.target, self.some_element(iterable, reason), frame, statement)
            self.exec_block(statement.body.body, frame)

        self.branches(
            [one_iteration, lambda: None],
            reason,
            frame,
            data_dependent=evaluate.is_data(iterable) or self.forward is not None,
            repeated=True,
        )

    def _unrolled(self, statement: cst.For, items: list[Value], frame: Frame) -> bool:
        """Run the loop body once per item; False when a `break` ended it. Where undecidable
        branches built the list or dict differently (Tails), each path's members are looped
        over on that path, and the members every path holds after them on the merged state."""
        for position, item in enumerate(items):
            if isinstance(item, Tails) and item.apart() and _may_follow_paths(statement):
                self.branches(
                    [partial(self._unrolled, statement, list(o), frame) for o in item.options],
                    BUILT_APART,
                    frame,
                    data_dependent=False,
                    code=rules.CONDITIONAL_LAYER.code,
                )
                return self._unrolled(statement, items[position + 1 :], frame)
            self.tick()
            self.assign(statement.target, item, frame, statement)
            try:
                self.exec_block(statement.body.body, frame)
            except BreakSignal:
                return False
            except ContinueSignal:
                continue
        return True

    def some_element(self, iterable: Value, reason: str) -> Value:
        """What one iteration over `iterable`, of unknown length, sees: a slice of a tensor
        along its first axis, else an unknown value."""
        if isinstance(iterable, Tensor) and self.forward is not None:
            return self.forward.split(iterable, 1)[0]
        return Unknown(reason)

    def exec_while(self, statement: cst.While, frame: Frame) -> None:
        _, holds = evaluate.test_truth(self, statement.test, frame)
        if holds is False:
            return
        reason = (
            f"the while loop at line {frame.file.location(statement).line} runs an "
            "unknown number of times"
        )
        self.branches(
            [lambda: self.exec_block(statement.body.body, frame), lambda: None],
            reason,
            frame,
            data_dependent=True,
            repeated=True,
        )

    def iterate(self, value: Value, frame: Frame) -> list[Value] | None:
        """The elements a for loop would see, or None when they are not known."""
        if isinstance(value, Seq):
            return list(value.items) if value.complete else None
        if isinstance(value, Mapping):
            if not value.complete:
                return None
            return [entry_view(k, v, "keys") for k, v in value.items.items()]
        if isinstance(value, ModuleInst):
            if value.incomplete:
                return None
            container = value.torch_base.container
            if container == "dict":
                return [entry_view(k, v, "keys") for k, v in value.children.items()]
            if container in ("sequential", "list"):
                if self.forward is not None:
                    self.forward.note_members(value)
                return [
                    entry_view(k, v, "values") for k, v in value.children.items() if not _is_none(v)
                ]
            return None
        if isinstance(value, Const) and isinstance(value.value, (str, bytes, tuple)):
            return [Const(v) for v in value.value]
        return None

    # ---- expressions --------------------------------------------------------------------

    def eval(self, expr: cst.BaseExpression | None, frame: Frame) -> Value:
        if expr is None:
            return Const(None)
        self.tick()
        value = evaluate.expression(self, expr, frame)
        if self.assumed and isinstance(value, Choice) and value.facts:
            return facts.narrow(value, self.assumed)
        return value

    def condition(
        self, test: cst.BaseExpression, frame: Frame
    ) -> tuple[Value, bool | None, tuple[facts.PathFacts, facts.PathFacts] | None]:
        """An `if`'s condition: its value, whether it holds (None: undecidable) and what the
        path on each side learns."""
        value, holds = evaluate.test_truth(self, test, frame)
        if holds is not None or self._repeating:
            return value, holds, None
        learned = facts.of_condition(self, test, frame, value)
        return value, facts.decided(self.assumed, learned), learned

    def _subscript_key(self, target: cst.Subscript, frame: Frame) -> Value:
        if len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Index):
            return Unknown("slice")
        return self.eval(target.slice[0].slice.value, frame)

    def binary(
        self,
        operator: cst.CSTNode,
        left: Value,
        right: Value,
        frame: Frame,
        node: cst.CSTNode,
        inplace: bool = False,
    ) -> Value:
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            if self.forward is None:
                return Unknown("tensor arithmetic outside forward()")
            return self.forward.arithmetic(operator, left, right, frame, node, inplace)
        if (
            isinstance(left, ModuleInst)
            and left.torch_base.container in ("list", "sequential")
            and _is_add(operator)
        ):
            # `self.layers += [...]`: ModuleList.__iadd__ extends it in place
            target = left if inplace else _container_copy(left)
            calls.call_method(
                self,
                Method(target, "extend"),
                [right],
                {},
                frame,
                cst.Call(func=cst.Name("extend")),
            )
            return target
        if isinstance(left, arrays.NumArray) or isinstance(right, arrays.NumArray):
            return arrays.binary(operator, left, right)
        if (
            inplace
            and isinstance(left, Seq)
            and not left.is_tuple
            and isinstance(right, (ModuleInst, Mapping))
            and _is_add(operator)
        ):
            # `layers += block`: list.__iadd__ extends the list with any iterable, a
            # Sequential's layers, a dict's keys
            items = self.iterate(right, frame)
            right = (
                Seq(tuple(items), False)
                if items is not None
                else Seq((), False, False, f"extended with {node_text(node)}")
            )
        if isinstance(left, Seq) and isinstance(right, Seq) and _is_add(operator):
            joined = Seq(
                left.items + right.items,
                left.is_tuple,
                left.complete and right.complete,
                left.why_incomplete or right.why_incomplete,
            )
            if inplace and not left.is_tuple:
                self.journal.set(left.__dict__, "items", joined.items)
                self.journal.set(left.__dict__, "complete", joined.complete)
                self.journal.set(left.__dict__, "why_incomplete", joined.why_incomplete)
                return left
            return joined
        return evaluate.binary_constant(operator, left, right)

    # ---- calls --------------------------------------------------------------------------

    def call(
        self, func: Value, args: list[Value], kwargs: dict[str, Value], frame: Frame, node: cst.Call
    ) -> Value:
        if isinstance(func, ClassRef):
            return self.instantiate(func, args, kwargs, frame.file, node)
        if isinstance(func, FunctionRef):
            return self.call_function(func, args, kwargs, node)
        if isinstance(func, BuiltinRef):
            return calls.call_builtin(self, func.name, args, kwargs, frame, node)
        if isinstance(func, EnumClass):  # `NormType(1)`: the member with that value
            return enums.lookup(func, args[0] if args else Const(None), "value")
        if isinstance(func, Method):
            return calls.call_method(self, func, args, kwargs, frame, node)
        if isinstance(func, ModuleInst) or (
            isinstance(func, Choice) and any(isinstance(o, ModuleInst) for o in func.options)
        ):
            if self.forward is None:
                return Unknown("a module called during construction")
            return self.forward.call_module(func, args, kwargs, frame, node)
        if isinstance(func, TupleType):
            return calls.named_tuple(func, args, kwargs)
        if isinstance(func, ObjectInst):
            hook = objects.dunder(self, func, "__call__")
            if hook is not None:
                return self.call_function(hook, args, kwargs, node)
        if isinstance(func, Choice) and all(
            isinstance(o, (ClassRef, FunctionRef)) for o in func.options
        ):
            results = [self.call(option, args, kwargs, frame, node) for option in func.options]
            return choice(results, func.reason)
        reason = getattr(func, "reason", f"cannot call '{node_text(node.func)}'")
        code = getattr(func, "code", None)
        if self.forward is not None:
            options = func.options if isinstance(func, Choice) else (func,)
            built = [option for option in options if isinstance(option, OutsideBuilt)]
            if built and frame.self_inst is not None:
                # forward() runs a module a library built: what is inside is not checked (a
                # slot named like a norm gets a BatchNorm verdict of its own instead)
                text = node_text(node.func)
                if not self.forward.names_a_norm(text):
                    owner = getattr(frame.self_inst, "class_name", None)
                    for option in built:
                        self.note_unread(option, f"`{text}`", owner)
            tensors = _tensors_alone([*args, *kwargs.values()])
            if isinstance(func, Outside) and tensors:
                return self.forward.outside_function(tensors, frame, node, reason)
            return self.forward.unknown_call(args, kwargs, frame, node, reason, code, func)
        self._escape(args, kwargs, node, reason, code)
        if isinstance(func, Outside):
            return OutsideBuilt(reason, code, qualname=func.qualname, node=node, file=frame.file)
        return Unknown(reason, code)

    @staticmethod
    def _escape(
        args: list[Value],
        kwargs: dict[str, Value],
        node: cst.Call,
        reason: str,
        code: str | None = None,
    ) -> None:
        """The modules handed to a call the analysis cannot follow: whatever it does with
        them, their BatchNorms get an unknown verdict naming the call."""
        escape = Unknown(
            f"it is handed to `{node_text(node.func)}(...)`, which the analysis "
            f"cannot follow ({reason})",
            code,
        )
        for value in [*args, *kwargs.values()]:
            for inst in _modules_in(value):
                inst.escaped = inst.escaped or escape

    def call_function(
        self,
        func: FunctionRef,
        args: list[Value],
        kwargs: dict[str, Value],
        node: cst.CSTNode,
        self_value: Value | None = None,
        cls: ProjectClass | None = None,
    ) -> Value:
        if self.depth >= MAX_CALL_DEPTH:
            return Unknown(f"calls nest deeper than {MAX_CALL_DEPTH} levels")
        definition = func.func.node
        if self._active.get(id(definition), 0) >= MAX_RECURSION:
            # A helper that recurses on values the analysis cannot decide would branch at
            # every level (timm's get_padding on an unknown kernel size): stop here.
            return Unknown(
                f"'{func.func.qualname.rsplit('.', 1)[-1]}' recurses more than "
                f"{MAX_RECURSION} levels on values the analysis cannot decide"
            )
        if self.forward is None and (
            _is_weight_init(func) or any(_is_weight_init(a) for a in [*args, *kwargs.values()])
        ):
            # Weight initialisation fills tensors and never changes which layers exist; in
            # large zoos it is most of what construction would otherwise interpret.
            return Const(None)
        receiver = self_value if self_value is not None else func.bound_self
        env = calls.bind_arguments(
            self,
            definition,
            func,
            receiver,
            list(func.args) + args,
            {**dict(func.kwargs), **kwargs},
        )
        if isinstance(env, Unknown):
            return env
        frame = Frame(
            func.func.file,
            env,
            self_inst=receiver if isinstance(receiver, (ModuleInst, ObjectInst)) else None,
            cls=cls,
            closure=func.closure,
        )
        # A plain function called while a model is built, with arguments it was called with
        # before, gives what it gave then (timm's padding helpers, config parsers): its result
        # is kept when the call wrote nothing but what it made.
        key = (
            self._kept_key(
                fingerprint(definition, [func, *args], kwargs), func.func.file, by_caller=True
            )
            if self.forward is None and receiver is None
            else None
        )
        kept = self.constructions.copy_of(key) if key is not None else None
        if kept is not None:
            result, batchnorms = kept
            self.built_batchnorms.extend(batchnorms)
            return result
        outside = containers(Seq((func, *args, *kwargs.values()))) if key is not None else set()
        first_built = len(self.built_batchnorms)
        self._active[id(definition)] = self._active.get(id(definition), 0) + 1
        self.journal.begin()
        try:
            result = self._run_body(definition, frame, env, receiver, cls)
        finally:
            self._active[id(definition)] -= 1
            written = self.journal.commit()
        result = _named_after(result, definition)
        if (
            key is not None
            and written.isdisjoint(outside)
            and written.isdisjoint(self._module_containers)
        ):
            self.constructions.keep(
                key, result, self.built_batchnorms[first_built:], [*args, *kwargs.values()]
            )
        return result

    def _run_body(
        self,
        definition: cst.FunctionDef | cst.Lambda,
        frame: Frame,
        env: dict[str, Value],
        receiver: Value | None,
        cls: ProjectClass | None,
    ) -> Value:
        if isinstance(definition, cst.Lambda):
            self.depth += 1
            try:
                return self.eval(definition.body, frame)
            finally:
                self.depth -= 1
                self.journal.forget(env)
        if cls is None and isinstance(receiver, (ModuleInst, ObjectInst)):
            frame.cls = self._defining_class(receiver, definition)
        self.depth += 1
        try:
            self.exec_block(_body(definition), frame)
            result: Value = Const(None)
        except ReturnSignal as signal:
            result = signal.value
        except DeadPath:
            if not frame.returns:
                return Raised(f"'{definition.name.value}' always raises")
            result = frame.returns.pop()
        except (BreakSignal, ContinueSignal):
            result = Unknown("break outside a loop")
        finally:
            self.depth -= 1
            self.journal.forget(env)
        if frame.returns:
            # Returns from inside branches the analysis could not decide: any may be taken.
            return self.merge(
                [*frame.returns, result],
                f"'{definition.name.value}' returns on several paths",
                rules.DATA_DEPENDENT_FLOW.code,
            )
        return result

    def _defining_class(
        self, inst: ModuleInst | ObjectInst, definition: cst.FunctionDef
    ) -> ProjectClass | None:
        for entry in inst.ancestry:
            if isinstance(entry, ProjectClass) and any(
                statement is definition for statement in entry.node.body.body
            ):
                return entry
        return None

    # ---- construction -------------------------------------------------------------------

    def instantiate(
        self,
        ref: ClassRef,
        args: list[Value],
        kwargs: dict[str, Value],
        file: SourceFile,
        node: cst.CSTNode,
        as_root: bool = False,
    ) -> Value:
        """`as_root`: the class analysed on its own, built even when a base it derives from
        cannot be read (its verdicts then say what that leaves unknown)."""
        args = list(ref.args) + args
        kwargs = {**dict(ref.kwargs), **kwargs}
        cls = ref.cls
        base = self.classes.torch_base(cls)
        if base is None and isinstance(cls, ProjectClass) and objects.is_plain(self, cls):
            return objects.instantiate(self, cls, args, kwargs, node)
        if base is None:
            if isinstance(cls, ProjectClass):
                if self.classes.has_unresolved_base(cls):
                    return Unknown(
                        f"class '{cls.name}' derives from a class outside the analysed files",
                        rules.UNRESOLVED_MODULE.code,
                    )
                return Unknown(f"'{cls.name}' is not an nn.Module")
            return Unknown(f"'{cls.qualname}' is not an nn.Module")
        if isinstance(cls, ProjectClass) and self.classes.has_unresolved_base(cls):
            # A base the analysis cannot read, beside the nn.Module one, is most often a
            # mixin (loading, configuration); it may add layers or replace forward() all
            # the same. Where a project class's forward() comes before it, the module is
            # built as written and its verdicts note the assumption; otherwise only the class
            # on its own is, and its verdicts are unknown.
            unread = self.classes.unread_bases(cls)
            if self.classes.forward_before_unread_bases(cls):
                self.classes.assumed_mixins.setdefault(cls.qualname, unread)
            elif as_root:
                self.classes.unread_forward.setdefault(cls.qualname, unread)
            else:
                return Unknown(
                    f"class '{cls.name}' derives from a class outside the analysed files",
                    rules.UNRESOLVED_MODULE.code,
                )
        built_by = self._constructing[-1] if self._constructing else None
        found = self.classes.method(cls, "__init__")
        if found is None or found[1] is None:
            inst = ModuleInst(
                cls=cls,
                torch_base=base,
                ancestry=self.classes.mro(cls),
                construction=file.location(node),
                built_by=built_by,
                placed=self._placed(file, node),
            )
            self.journal.born(*inst.state())
            if base.kind is NodeKind.BATCHNORM:
                self.built_batchnorms.append(inst)
            self.torch_init(inst, base, args, kwargs)
            return inst
        key = self._kept_key(
            fingerprint(cls, args, kwargs), getattr(cls, "file", None), by_caller=False
        )
        copy = self.constructions.copy_of(key) if key is not None else None
        if copy is not None:
            # what a class's construction kept is the module it built
            inst = cast(ModuleInst, copy[0])
            batchnorms = copy[1]
            inst.construction, inst.built_by = file.location(node), built_by
            inst.placed = self._placed(file, node)
            self.built_batchnorms.extend(batchnorms)
            return inst
        inst = ModuleInst(
            cls=cls,
            torch_base=base,
            ancestry=self.classes.mro(cls),
            construction=file.location(node),
            built_by=built_by,
            placed=self._placed(file, node),
        )
        self.journal.born(*inst.state())
        # A BatchNorm subclass is itself one of the BatchNorms its construction built: a copy
        # of the construction must stand for it too.
        first_built = len(self.built_batchnorms)
        if base.kind is NodeKind.BATCHNORM:
            self.built_batchnorms.append(inst)
        owner, definition = found
        assert isinstance(owner, ProjectClass)
        func = FunctionRef(ProjectFunction(owner.file, definition, f"{owner.qualname}.__init__"))
        outside = containers(Seq((*args, *kwargs.values()))) if key is not None else set()
        self._constructing.append(cls.qualname)
        self.journal.begin()
        try:
            result = self.call_function(func, args, kwargs, node, self_value=inst, cls=owner)
        except ABANDONING as error:
            if not as_root:
                raise
            # The class analysed on its own keeps what it had built: its BatchNorms then get
            # verdicts (unknown, with why), never silence.
            self.abandoned[inst.uid] = abandonment(error)
            return inst
        except Exception as error:  # an analyzer bug must cost one model, never the whole run
            if not as_root:
                raise
            log.warning("internal error while building %s", cls.qualname, exc_info=True)
            self.abandoned[inst.uid] = f"bnlint could not follow it (internal error: {error})"
            return inst
        finally:
            self._constructing.pop()
            written = self.journal.commit()
        if isinstance(result, Unknown) and "nest deeper" in result.reason:
            return result
        if isinstance(result, Raised):
            self.refused.add(inst.uid)
        if (
            key is not None
            and written.isdisjoint(outside)
            and written.isdisjoint(self._module_containers)
        ):
            self.constructions.keep(
                key, inst, self.built_batchnorms[first_built:], [*args, *kwargs.values()]
            )
        return inst

    def torch_init(
        self, inst: ModuleInst, base: TorchClass, args: list[Value], kwargs: dict[str, Value]
    ) -> None:
        """What a torch class's __init__ does with its arguments."""
        if base.container == "sequential":
            if len(args) == 1 and isinstance(args[0], Mapping):
                for key, value in args[0].items.items():
                    self.journal.set(inst.children, str(key), value)
                if not args[0].complete:
                    inst.mark_incomplete("its OrderedDict is not fully known", anywhere=True)
                return
            for index, value in enumerate(args):
                self.journal.set(inst.children, str(index), value)
            incomplete = [a for a in args if isinstance(a, Unknown)]
            if incomplete:  # each in its place: a call runs into it there
                inst.incomplete = incomplete[0].reason
        elif base.container in ("list", "dict"):
            source = args[0] if args else kwargs.get("modules")
            if source is None:
                return
            if base.container == "dict" and isinstance(source, Mapping):
                for key, value in source.items.items():
                    self.journal.set(inst.children, str(key), value)
                if not source.complete:
                    inst.mark_incomplete("its dict is not fully known", anywhere=True)
            elif isinstance(source, Seq):
                for index, value in enumerate(source.items):
                    self.journal.set(inst.children, str(index), value)
                if not source.complete:
                    inst.mark_incomplete(
                        source.why_incomplete or "its list is not fully known", anywhere=True
                    )
            else:
                inst.mark_incomplete(
                    getattr(source, "reason", "its contents are not known"), anywhere=True
                )
        elif base.params:
            spread: Value | None = kwargs.get(SPREAD)
            # positional arguments fill the leading parameters; keywords and defaults the rest
            for name, value in zip(base.params, args, strict=False):
                if isinstance(value, Spread):
                    spread = value  # it may supply this argument and every one after it
                inst.layer_args[name] = spread if spread is not None else value
            for name, value in kwargs.items():
                if name != SPREAD:
                    inst.layer_args[name] = value
            for name, default in base.defaults:
                inst.layer_args.setdefault(name, spread if spread is not None else Const(default))

    # ---- graph hooks used by evaluate ---------------------------------------------------

    def torch_function(
        self,
        qualname: str,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        modelled = arrays.function_name(qualname)
        if self.forward is None and modelled is not None:
            return arrays.call(*modelled, args, kwargs)
        if qualname in _CHECKPOINTS and args and self.forward is not None:
            # Activation checkpointing runs the function it is given (again, backward).
            function, rest = (
                (args[0], args[1:]) if qualname.endswith(".checkpoint") else (args[0], args[2:3])
            )
            return self.call(
                function,
                rest,
                {k: v for k, v in kwargs.items() if k not in _CHECKPOINT_OPTIONS},
                frame,
                node,
            )
        if qualname in _PARAMETRIZATIONS and args and isinstance(args[0], ModuleInst):
            # `weight_norm(conv)` hands back the module itself, its weight now computed from
            # other tensors before each call
            # (journaled: under a switch the analysis cannot read, on that path only)
            short = qualname.rsplit(".", 1)[-1]
            why = f"its weight is computed by {short}() before each call"
            self.journal.set(args[0].__dict__, "weight_derived", DerivedWeight(why))
            return args[0]
        if qualname in PASSTHROUGH_FUNCTIONS and args:
            dropout = self._dropout(qualname, args, kwargs, frame, node)
            if dropout is not None:
                return dropout
        kind = FUNCTIONS.get(qualname)
        if (
            self.forward is not None
            and kind is NodeKind.FUNCTIONAL_BN
            and args
            and not evaluate.is_data(args[0])
        ):
            args = self.forward.untracked_batch_norm_input(
                qualname, args, frame, frame.file.location(node)
            )
        if self.forward is None or not any(evaluate.is_data(v) for v in [*args, *kwargs.values()]):
            if self.forward is None:
                # `torch.jit.script(block)`, `torch.compile(block)`: what becomes of the
                # modules handed over is not known, so their BatchNorms say so
                self._escape(args, kwargs, node, f"'{qualname}' is not modelled by the analysis")
            return Unknown(f"result of {qualname}")
        if any(isinstance(v, (ModuleInst, FunctionRef, Method)) for v in args):
            # torch.utils.checkpoint(fn, x) and friends run code the analysis does not see.
            return self.forward.unknown_call(
                args, kwargs, frame, node, f"{qualname} calls code it is handed", None
            )
        return self.forward.torch_op(qualname, kind, args, kwargs, frame, node)

    def _dropout(
        self,
        qualname: str,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value | None:
        """Functional dropout is the identity only when its training flag is false. bnlint
        folds in eval mode, where `training=self.training` is False; but F.dropout's default
        is training=True, which drops at inference too, and its mask would scale the shift a
        fold moves into the layer."""
        flag = kwargs.get("training", kwargs.get("train"))
        if flag is None and len(args) > 2:  # (input, p, training) for every variant listed
            flag = args[2]
        truth = True if flag is None else evaluate.truth(flag)
        if truth is False:
            return args[0]
        if truth is None and self.forward is not None:
            name = qualname.rsplit(".", 1)[-1]
            return self.forward.unknown_call(
                args[:1],
                {},
                frame,
                node,
                f"whether {name}() drops at inference is not known",
                rules.UNKNOWN_CALL.code,
            )
        return None  # it drops: an ordinary op


def _is_weight_init(value: Value) -> bool:
    """`init_weights`, `_init_weights(m, ...)` or a partial of one (timm hands those to
    `named_apply`, which walks every module)."""
    return isinstance(value, FunctionRef) and bool(
        _WEIGHT_INIT.match(value.func.qualname.rsplit(".", 1)[-1])
    )


@lru_cache(maxsize=4096)
def _may_return(statement: cst.If) -> bool:
    """Whether a `return` of the enclosing function is somewhere inside `statement`."""
    pending: list[cst.CSTNode] = list(statement.children)
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Return):
            return True
        if not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            pending.extend(node.children)
    return False


def _body(definition: cst.FunctionDef) -> Any:
    # a one-line `def __init__(self, *layers): self.layers = ...` has a suite of small
    # statements for a body, which exec_statement runs one by one
    return definition.body.body


def _holds_module(value: Value) -> bool:
    if isinstance(value, ModuleInst):
        return True
    return isinstance(value, Choice) and any(isinstance(o, ModuleInst) for o in value.options)


def _container_copy(inst: ModuleInst) -> ModuleInst:
    """`layers + [...]` on a ModuleList: a new list holding the same modules."""
    return ModuleInst(
        cls=inst.cls,
        torch_base=inst.torch_base,
        ancestry=inst.ancestry,
        construction=inst.construction,
        children=dict(inst.children),
        incomplete=inst.incomplete,
        unknown_at=inst.unknown_at,
        built_by=inst.built_by,
    )


def _modules_in(value: Value) -> Iterator[ModuleInst]:
    """The modules a value holds, at any depth (a Sequential handed on holds its layers)."""
    pending = [value]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ModuleInst):
            yield current
            pending.extend(current.children.values())
        elif isinstance(current, (Seq, Mapping)):
            pending.extend(_members(current))
        elif isinstance(current, Choice):
            pending.extend(current.options)


def _holds_tensor(value: Value) -> bool:
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (Seq, Mapping)):
        return any(_holds_tensor(v) for v in _members(value))
    return False


def _members(value: Seq | Mapping) -> Iterator[Value]:
    yield from (value.items.values() if isinstance(value, Mapping) else value.items)


def _tensors_alone(values: list[Value]) -> list[Tensor]:
    """The tensors among call arguments that hold nothing but tensors and constants (no
    module, function or value the analysis does not know, which could be one); [] when
    they hold anything else."""
    tensors: list[Tensor] = []
    pending = list(values)
    while pending:
        value = pending.pop()
        if isinstance(value, Tensor):
            tensors.append(value)
        elif isinstance(value, Seq) and (value.complete or value.why_incomplete == PIECES):
            pending.extend(value.items)
        elif not isinstance(value, Const):
            return []
    return tensors[::-1]


def _may_follow_paths(statement: cst.For) -> bool:
    """Whether a loop may be run path by path over members built on undecidable branches:
    not when a `break` could end it on one path only, or an `else:` run after it."""
    return statement.orelse is None and not _holds_break(statement.body)


def _holds_break(node: cst.CSTNode) -> bool:
    """Whether a `break` is anywhere in `node` (libcst.matchers would answer too, at the
    price of importing them: a sixth of a second on every run that parses)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.Break):
            return True
        pending.extend(current.children)
    return False


def _is_none(value: Value) -> bool:
    return isinstance(value, Const) and value.value is None


def _condition_reason(condition: Value, test: cst.BaseExpression) -> str:
    why = getattr(condition, "reason", "")
    text = node_text(test)
    return f"the condition `{text}` cannot be decided" + (f" ({why})" if why else "")


def _is_add(operator: cst.CSTNode) -> bool:
    return isinstance(operator, (cst.Add, cst.AddAssign))


def _merge_items(values: list[tuple[Value, ...]]) -> tuple[Value, ...]:
    if _unchanged(values):
        return values[0]
    start, end = _parting(values, operator.is_)
    middles = tuple(v[start : len(v) - end] for v in values)
    return (*values[0][:start], _tails(middles, keyed=False), *values[0][len(values[0]) - end :])


def _parting(paths: list[tuple[Any, ...]], same: Callable[[Any, Any], bool]) -> tuple[int, int]:
    """How many items every path shares at its start, and then at its end: only the middle
    depends on the path."""
    shortest = min(len(p) for p in paths)
    start = 0
    while start < shortest and all(same(p[start], paths[0][start]) for p in paths):
        start += 1
    end = 0
    while end < shortest - start and all(same(p[-1 - end], paths[0][-1 - end]) for p in paths):
        end += 1
    return start, end


def _merge_repeated(values: list[Any]) -> Any:
    """Lists or dicts a loop of unknown length may have added to: what every path shares at
    its start, then members the analysis cannot count (one unknown, as the loop's paths are
    no alternatives: any number of iterations may have run)."""
    if _unchanged(values):
        return values[0]
    if all(isinstance(v, tuple) for v in values):
        start, _ = _parting(values, operator.is_)
        return (*values[0][:start], _loop_members())
    paths = [tuple(v.items()) for v in values]
    start, _ = _parting(paths, _same_entry)
    return {**dict(paths[0][:start]), _UNDECIDED_KEY: _loop_members()}


def _unchanged(values: list[Any]) -> bool:
    """Whether every path left the same items (`Seq.items` tuples) or entries (`Mapping.items`
    dicts), the very same values."""
    first = values[0]
    if isinstance(first, dict):
        return all(list(v) == list(first) and all(v[k] is first[k] for k in first) for v in values)
    return all(len(v) == len(first) and all(map(operator.is_, v, first)) for v in values)


def _same_entry(a: tuple[Hashable, Value], b: tuple[Hashable, Value]) -> bool:
    return a[0] == b[0] and a[1] is b[1]


def _loop_members() -> Unknown:
    return Unknown(
        "added by a loop that runs an unknown number of times", rules.CONDITIONAL_LAYER.code
    )


def _tails(options: tuple[tuple[Any, ...], ...], keyed: bool) -> Tails:
    return Tails(
        "built differently on paths the analysis cannot tell apart",
        rules.CONDITIONAL_LAYER.code,
        options=options,
        keyed=keyed,
    )


class _Undecided:
    """The key under which a dict merged from undecidable branches holds what they differ
    in: `OrderedDict` layers then name an unknown step where the branches part."""

    def __repr__(self) -> str:
        return "<built on some paths>"


_UNDECIDED_KEY = _Undecided()


def _merge_mapping_items(values: list[dict[Hashable, Value]]) -> dict[Hashable, Value]:
    """The entries every path agrees on, in order, where they part and after; between
    them one entry holding each path's entries there (Tails)."""
    if _unchanged(values):
        return values[0]
    paths = [tuple(v.items()) for v in values]
    start, end = _parting(paths, _same_entry)
    middles = tuple(p[start : len(p) - end] for p in paths)
    return {
        **dict(paths[0][:start]),
        _UNDECIDED_KEY: _tails(middles, keyed=True),
        **dict(paths[0][len(paths[0]) - end :]),
    }


def _named_after(result: Value, definition: cst.FunctionDef | cst.Lambda) -> Value:
    """What a function named like a norm factory (`norm_for`, `build_norm`) gives, when the
    analysis cannot tell: the reason names the function, so that the slot holding it is
    judged as the norm layer it may be (`self.head_norm_layer = norm_for(...)` or
    `self.other = build_norm(...)`), never silent."""
    if type(result) is not Unknown or not isinstance(definition, cst.FunctionDef):
        return result
    name = definition.name.value
    if not NORM_WORDS.search(name) or NORM_WORDS.search(result.reason):
        return result
    return Unknown(f"what {name}() gives is not known: {result.reason}", result.code)
