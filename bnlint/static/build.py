"""From parsed files to verdicts: find the model roots, build them, run their forward(),
match folds, and collect the verdicts under their fold keys (DESIGN.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from bnlint import rules
from bnlint.foldkey import fold_key, pair_key
from bnlint.ftypes import (
    Diagnostic,
    FoldEntry,
    FoldKey,
    FoldPlan,
    LayerCall,
    ModuleFrame,
    NodeKind,
    Skip,
    SourceLocation,
    Status,
)
from bnlint.graph import LayerGraph
from bnlint.matcher import match_folds
from bnlint.static.forward import ForwardBuilder
from bnlint.static.index import ProjectClass, ProjectFunction
from bnlint.static.interp import AnalysisLimit, DeadPath, Interpreter, ReturnSignal
from bnlint.static.source import SourceFile
from bnlint.static.values import (
    Choice,
    Const,
    FunctionRef,
    Mapping,
    ModuleInst,
    Seq,
    Unknown,
    Value,
)

if TYPE_CHECKING:
    from bnlint.static.engine import Project

log = logging.getLogger("bnlint.static.build")


@dataclass
class Root:
    """A model the analysis builds on its own: a factory's result or an unused class."""

    inst: ModuleInst
    origin: str  # "factory resnet18" / "class Block"
    known_caller: bool  # its forward() input is the model input (not a caller's tensor)
    built: list[ModuleInst] = field(default_factory=list)  # BatchNorms its construction made


@dataclass
class Candidates:
    roots: list[Root]
    all_instances: list[ModuleInst]


def build_candidates(project: Project, files: list[SourceFile]) -> Candidates:
    """Build every factory and every module class once; the roots are the factories' models
    and the classes no other built code instantiates."""
    interp = Interpreter(project.resolver, project.classes)
    used: set[str] = set()
    factory_roots: list[Root] = []
    class_builds: list[tuple[ProjectClass, Value]] = []
    instances: list[ModuleInst] = []
    for file in files:
        symbols = project.loader.symbols(file)
        for name, node in symbols.functions.items():
            if not _callable_without_arguments(node):
                continue
            func = ProjectFunction(file, node, f"{file.module_name}.{name}")
            interp.instantiated, interp.built_batchnorms = set(), []
            result = _guarded(lambda: interp.call_root(func))
            if _module_instances(result):
                # a factory that built nothing (it gave up, or returns no module) must not
                # hide the classes it touched: they are then analysed on their own
                used |= interp.instantiated
            for inst in _module_instances(result):
                factory_roots.append(Root(inst, f"factory {name}()", known_caller=True,
                                          built=interp.built_batchnorms))
        for cls in project.module_classes(file):
            interp.instantiated, interp.built_batchnorms = set(), []
            result = _guarded(lambda: interp.instantiate_root(cls))
            if _module_instances(result):
                used |= interp.instantiated - {cls.qualname}
            class_builds.append((cls, result, interp.built_batchnorms))
    roots = list(factory_roots)
    for cls, result, built in class_builds:
        if cls.qualname in used:
            continue
        for inst in _module_instances(result):
            roots.append(Root(inst, f"class {cls.name}",
                              known_caller=_callable_without_arguments(_init_of(project, cls)),
                              built=built))
    for root in roots:
        instances.extend(_walk(root.inst))
    for _, result, _ in class_builds:
        for inst in _module_instances(result):
            instances.extend(_walk(inst))
    return Candidates(roots, instances)


def _guarded(build):  # type: ignore[no-untyped-def]
    try:
        return build()
    except (AnalysisLimit, DeadPath, ReturnSignal, RecursionError) as error:
        log.debug("construction abandoned: %s", error)
    except Exception:  # an analyzer bug must cost one model, never the whole run
        log.warning("internal error while building a model; it is skipped", exc_info=True)
    return Const(None)


def _init_of(project: Project, cls: ProjectClass) -> cst.FunctionDef | None:
    found = project.classes.method(cls, "__init__")
    return found[1] if found is not None else None


def _callable_without_arguments(node: cst.FunctionDef | None) -> bool:
    if node is None:
        return True
    params = node.params
    positional = [*params.posonly_params, *params.params]
    if positional and positional[0].name.value in ("self", "cls"):
        positional = positional[1:]
    return all(p.default is not None for p in positional) and all(
        p.default is not None for p in params.kwonly_params)


def _module_instances(value: Value) -> list[ModuleInst]:
    if isinstance(value, ModuleInst):
        return [value]
    if isinstance(value, Seq):
        return [v for v in value.items if isinstance(v, ModuleInst)]
    if isinstance(value, Choice):  # a factory that builds one model or another
        return [v for v in value.options if isinstance(v, ModuleInst)]
    return []


def _walk(inst: ModuleInst, seen: set[int] | None = None) -> Iterator[ModuleInst]:
    seen = seen if seen is not None else set()
    if inst.uid in seen:
        return
    seen.add(inst.uid)
    yield inst
    for child in _child_modules(inst):
        yield from _walk(child, seen)
    for value in inst.attrs.values():
        for member in _members(value):
            yield from _walk(member, seen)


def _child_modules(inst: ModuleInst) -> Iterator[ModuleInst]:
    for value in inst.children.values():
        if isinstance(value, ModuleInst):
            yield value
        elif isinstance(value, Choice):
            yield from (o for o in value.options if isinstance(o, ModuleInst))


def _members(value: Value) -> Iterator[ModuleInst]:
    if isinstance(value, Seq):
        yield from (v for v in value.items if isinstance(v, ModuleInst))
    elif isinstance(value, Mapping):
        yield from (v for v in value.items.values() if isinstance(v, ModuleInst))


# ---- one root ---------------------------------------------------------------------------------


def scopes_of(root: ModuleInst) -> tuple[dict[int, tuple[ModuleFrame, ...]], set[int]]:
    """Module paths as named_modules() would print them (first registration wins), plus the
    uids of modules that exist only as options of a conditional construction.

    Modules kept in plain lists/dicts are not registered; they get a pseudo path under the
    negative uid so that messages can still name them."""
    scopes: dict[int, tuple[ModuleFrame, ...]] = {}
    conditional: set[int] = set()
    root_frame = ModuleFrame("", root.class_name, root.is_plain_container)
    pending = [(root, (root_frame,), False, True)]
    while pending:
        inst, scope, optional, registered = pending.pop(0)
        key = inst.uid if registered else -inst.uid
        if key in scopes or (not registered and inst.uid in scopes):
            continue
        scopes[key] = scope
        if optional:
            conditional.add(inst.uid)
        for name, value in inst.children.items():
            options = value.options if isinstance(value, Choice) else (value,)
            for option in options:
                if isinstance(option, ModuleInst):
                    frame = ModuleFrame(name, option.class_name, option.is_plain_container)
                    pending.append((option, scope + (frame,),
                                    optional or isinstance(value, Choice), registered))
        for name, value in inst.attrs.items():
            items = (value.items if isinstance(value, Seq) else
                     tuple(value.items.values()) if isinstance(value, Mapping) else ())
            keys = (range(len(items)) if isinstance(value, Seq) else
                    list(value.items) if isinstance(value, Mapping) else ())
            for index, member in zip(keys, items):
                if isinstance(member, ModuleInst):
                    # named as if the list were an nn.ModuleList: `blocks.0.1`
                    frame = ModuleFrame(f"{name}.{index}", member.class_name,
                                        member.is_plain_container)
                    pending.append((member, scope + (frame,), optional, False))
    return scopes, conditional


@dataclass(frozen=True)
class RootGraph:
    """What one root's analysis built: its dataflow graph and the plan matched on it."""

    root: Root
    graph: LayerGraph
    plan: FoldPlan  # exactly what went to RootVerdicts.add_plan (after any demotion)


def named_root(project: Project, file: SourceFile, name: str) -> Root | None:
    """The module class or argument-free factory `name` of `file`, built on its own as
    build_candidates builds an unused class or a factory; None when it builds no module."""
    interp = Interpreter(project.resolver, project.classes)
    symbols = project.loader.symbols(file)
    node = symbols.functions.get(name)
    if node is not None and _callable_without_arguments(node):
        func = ProjectFunction(file, node, f"{file.module_name}.{name}")
        result = _guarded(lambda: interp.call_root(func))
        origin, known_caller = f"factory {name}()", True
    else:
        classes = {cls.name: cls for cls in project.module_classes(file)}
        if name not in classes:
            return None
        cls = classes[name]
        result = _guarded(lambda: interp.instantiate_root(cls))
        origin = f"class {name}"
        known_caller = _callable_without_arguments(_init_of(project, cls))
    instances = _module_instances(result)
    if not instances:
        return None
    return Root(instances[0], origin, known_caller, built=interp.built_batchnorms)


def analyse_root(interp: Interpreter, root: Root, verdicts: RootVerdicts) -> RootGraph:
    scopes, conditional = scopes_of(root.inst)
    builder = ForwardBuilder(interp, scopes)
    interp.forward = builder
    interp.steps = 0
    failure = ""
    try:
        _run_forward(interp, builder, root)
    except (AnalysisLimit, RecursionError) as error:
        failure = f"the analysis of {root.origin} stopped: {error or 'nesting too deep'}"
    except DeadPath:
        failure = f"forward() of {root.origin} always raises"
    except Exception as error:  # an analyzer bug must cost one model, never the whole run
        log.warning("internal error in forward() of %s", root.origin, exc_info=True)
        failure = f"bnlint could not follow forward() of {root.origin} (internal error: {error})"
    finally:
        interp.forward = None
    if failure:
        builder.gaps.append(failure)
    _add_uncalled_batchnorms(builder, root.inst, scopes, conditional)
    _add_lost_batchnorms(builder, root, scopes)
    plan = match_folds(builder.graph)
    if failure:
        plan = _demote_folds(plan, failure)
    log.debug("%s: %d nodes, %d folds, %d skips", root.origin, len(builder.graph),
              len(plan.folds), len(plan.skips))
    verdicts.add_plan(plan)
    return RootGraph(root, builder.graph, plan)


def _demote_folds(plan: FoldPlan, failure: str) -> FoldPlan:
    """A forward() followed only part of the way proves nothing foldable: the rest of it
    could give the conv another consumer."""
    rule = rules.UNKNOWN_CALL
    demoted = tuple(Skip(bn=pair.bn, status=Status.UNKNOWN, code=rule.code,
                         reason=rule.format(bn=pair.bn.describe(), detail=failure),
                         partner=pair.conv) for pair in plan.folds)
    return FoldPlan(folds=(), skips=plan.skips + demoted, findings=plan.findings)


def _run_forward(interp: Interpreter, builder: ForwardBuilder, root: Root) -> None:
    from bnlint.static.interp import Frame

    inst = root.inst
    found = interp.classes.method(inst.cls, "forward")
    if found is None or found[1] is None:
        value = builder.input_node("input", root.known_caller)
        builder.output(builder.torch_forward(inst, inst.torch_base, [value], {},
                                             Frame(_file_of(inst), {}), cst.Name("x")))
        return
    owner, definition = found
    assert isinstance(owner, ProjectClass)
    positional = [*definition.params.posonly_params, *definition.params.params][1:]
    inputs = [builder.input_node(p.name.value, root.known_caller) for p in positional
              if p.default is None]
    # A caller may pass any value for an argument with a default: `forward(x, skip_bn=True)`
    # must not be analysed as if only the default existed.
    options: dict[str, Value] = {
        p.name.value: Unknown(f"forward() argument '{p.name.value}' is whatever the caller "
                              "passes (its default is only one case)")
        for p in [*positional, *definition.params.kwonly_params] if p.default is not None}
    func = FunctionRef(ProjectFunction(owner.file, definition, f"{owner.qualname}.forward"))
    result = interp.call_function(func, inputs, options, definition, self_value=inst,
                                  cls=owner)
    builder.output(result)


def _file_of(inst: ModuleInst) -> SourceFile:
    for entry in inst.ancestry:
        if isinstance(entry, ProjectClass):
            return entry.file
    raise AnalysisLimit("a torch container root has no source file")


def _add_uncalled_batchnorms(builder: ForwardBuilder, root: ModuleInst,
                             scopes: dict[int, tuple[ModuleFrame, ...]],
                             conditional: set[int]) -> None:
    """Every BatchNorm the model holds gets a verdict, including those forward() never
    reaches; why it was not reached decides between unknown and never-called."""
    for inst in _walk(root):
        if inst.torch_base.kind is not NodeKind.BATCHNORM or inst.uid in builder.called:
            continue
        registered = inst.uid in scopes
        if not registered:
            rule, reason = rules.UNREGISTERED_CONTAINER_UNKNOWN, (
                "it is kept in a plain Python list or dict, which PyTorch does not register")
        elif inst.uid in conditional:
            rule, reason = rules.CONDITIONAL_LAYER, (
                "it is built only in some branches of a condition the analysis cannot decide")
        elif inst.uid in builder.hidden:
            rule, reason = rules.UNKNOWN_CALL, builder.hidden[inst.uid]
        elif builder.dynamic:
            rule, reason = rules.DYNAMIC_ATTRIBUTE, (
                f"forward() reaches modules by computed names ({builder.dynamic[0]})")
        elif builder.gaps:
            rule, reason = rules.UNKNOWN_CALL, (
                f"forward() could not be followed completely: {builder.gaps[0]}")
        else:
            rule, reason = rules.BN_NEVER_CALLED, "forward() never calls it"
        scope = scopes.get(inst.uid) or scopes.get(-inst.uid, ())
        label = ".".join(f.name for f in scope[1:]) or inst.cls.qualname
        builder.graph.add(LayerCall(node_id=-1, kind=NodeKind.BATCHNORM, label=label,
                                    scope=scope, module_id=inst.uid,
                                    location=inst.construction,
                                    construction=inst.construction, rule_code=rule.code,
                                    reason=reason))


def _add_lost_batchnorms(builder: ForwardBuilder, root: Root,
                         scopes: dict[int, tuple[ModuleFrame, ...]]) -> None:
    """A BatchNorm that __init__ built but the analysis could not place in the module tree
    (a layer list it lost count of) still gets a verdict: unknown, never silence."""
    tree = list(_walk(root.inst))
    if not any(inst.incomplete for inst in tree):
        return  # a complete tree: a BatchNorm outside it was replaced or thrown away
    held = {inst.uid for inst in tree}
    root_frame = scopes[root.inst.uid]
    for inst in root.built:
        if inst.uid in held:
            continue
        line = inst.construction.line if inst.construction else 0
        frame = ModuleFrame(f"<BatchNorm built at line {line}>", inst.class_name)
        rule = rules.CONDITIONAL_LAYER
        builder.graph.add(LayerCall(
            node_id=-1, kind=NodeKind.BATCHNORM, label=frame.name, scope=root_frame + (frame,),
            module_id=inst.uid, location=inst.construction, construction=inst.construction,
            rule_code=rule.code,
            reason="the analysis could not tell where __init__ stores it (its container is "
                   "built under a condition or loop the analysis cannot decide)"))


# ---- verdicts across roots ---------------------------------------------------------------------

_SEVERITY_ORDER = {Status.UNFOLDABLE: 2, Status.UNKNOWN: 1, Status.FOLDABLE: 0}


@dataclass
class RootVerdicts:
    """Verdicts from every root, merged per fold key: one certain reason anywhere makes a
    BatchNorm unfoldable, one doubt makes it unknown, else it is foldable."""

    entries: dict[tuple[str, str], FoldEntry] = field(default_factory=dict)
    _diagnostics: dict[tuple[str, int, int, str], Diagnostic] = field(default_factory=dict)

    def add_plan(self, plan: FoldPlan) -> None:
        for pair in plan.folds:
            key = pair_key(pair)
            self._merge(key, FoldEntry(key.conv, key.bn, pair.direction, Status.FOLDABLE, None,
                                       producers=key.producers, merge=key.merge))
        for skip in plan.skips:
            if not skip.bn.scope:
                continue
            key = fold_key(skip.partner if _shares_root(skip.partner, skip.bn) else None,
                           skip.bn)
            self._merge(key, FoldEntry(key.conv or None, key.bn, None, skip.status, skip.code,
                                       skip.reason))
            self._diagnose(skip.code, skip.reason, skip.bn.location, key.owner)
        for finding in plan.findings:
            owner = finding.node.scope[0].class_name if finding.node.scope else None
            self._diagnose(finding.code, finding.message,
                           finding.location or finding.node.location, owner)

    def add_plain_containers(self, inst: ModuleInst) -> None:
        rule = rules.UNREGISTERED_MODULES
        for name, location in inst.plain_containers.items():
            value = inst.attrs.get(name)
            container = "dict" if isinstance(value, Mapping) else "list"
            wrapper = "nn.ModuleDict" if container == "dict" else "nn.ModuleList"
            message = rule.format(target=f"self.{name}", container=container,
                                  detail=f"use {wrapper}")
            self._diagnose(rule.code, message, location, inst.class_name)

    def _merge(self, key: FoldKey, entry: FoldEntry) -> None:
        index = (key.owner, key.bn)
        current = self.entries.get(index)
        if current is None or _SEVERITY_ORDER[entry.status] > _SEVERITY_ORDER[current.status]:
            self.entries[index] = entry

    def _diagnose(self, code: str, message: str, location: SourceLocation | None,
                  owner: str | None) -> None:
        if location is None:
            return
        index = (location.path, location.line, location.column, code)
        if index in self._diagnostics:
            return
        rule = rules.get_rule(code)
        self._diagnostics[index] = Diagnostic(
            code=code, name=rule.name, severity=rule.severity, message=message,
            path=location.path, line=location.line, column=location.column,
            end_line=location.end_line, end_column=location.end_column, owner=owner,
            help=rule.fix)

    def diagnostics(self) -> list[Diagnostic]:
        return list(self._diagnostics.values())

    def entries_owned_by(self, owner: str) -> list[FoldEntry]:
        found = [entry for (entry_owner, _), entry in self.entries.items()
                 if entry_owner == owner]
        return sorted(found, key=lambda e: (e.bn, e.conv or ""))


def _shares_root(partner: LayerCall | None, bn: LayerCall) -> bool:
    return partner is not None and bool(partner.scope) and bool(bn.scope) and \
        partner.scope[0] == bn.scope[0]
