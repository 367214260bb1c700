"""One root's analysis: run its forward() into a LayerGraph, match the folds, and turn the
plan into Observations (bnlint.static.verdicts combines those of every root)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Hashable, Iterator
from dataclasses import dataclass, replace

import libcst as cst

from bnlint import rules
from bnlint.foldkey import fold_key, owner_frame_index, pair_key
from bnlint.ftypes import (
    Diagnostic,
    FoldEntry,
    FoldKey,
    FoldPair,
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
from bnlint.static.forward import NORM_WORDS, UNRESOLVED_NORM, ForwardBuilder
from bnlint.static.frames import AnalysisLimit, DeadPath, Frame
from bnlint.static.index import ProjectClass, ProjectFunction
from bnlint.static.interp import Interpreter
from bnlint.static.records import Fallback, Observation, lost_label
from bnlint.static.roots import Root, walk
from bnlint.static.values import (
    Choice,
    FunctionRef,
    Mapping,
    ModuleInst,
    OutsideBuilt,
    Seq,
    Tails,
    Unknown,
    Value,
)
from bnlint.static.verdicts import diagnostic

log = logging.getLogger("bnlint.static.analysis")

# Doubts a class analysed on its own has because its caller is not in view: what feeds its
# forward() and what takes its output (XBN206), the rank of its input (XBN208).
_CALLER_DEPENDENT = frozenset({rules.INPUT_FROM_CALLER.code, rules.LINEAR_RANK_UNKNOWN.code})


@dataclass(frozen=True)
class RootGraph:
    """What one root's analysis built: its dataflow graph and the plan matched on it."""

    root: Root
    graph: LayerGraph
    plan: FoldPlan
    observations: tuple[Observation, ...]
    findings: tuple[Diagnostic, ...]


def analyse_root(interp: Interpreter, root: Root, as_model: bool = False) -> RootGraph:
    """`as_model`: a class root that may be the whole model is analysed as the model (its
    forward() arguments the model input), as a picture of it wants.

    forward() is followed with every switchable attribute unknown (a method such as
    `prune_to_tap()` or `switch_to_deploy()` may have set it), so a certain verdict holds in
    every state the model can be put in. Where that leaves a BatchNorm unknown and forward()
    read such an attribute, it is followed again as construction left the attributes: the
    model its factory builds, which is the one folded. A certain verdict there is reported,
    with the other states as a note."""
    if not as_model and not _may_hold_batchnorms(interp, root):
        # Nothing in it is or may be a BatchNorm (a vision transformer): its forward() can
        # give no verdict, so it is not followed.
        builder = ForwardBuilder(interp, scopes_of(root.inst)[0], open_boundary=False)
        empty = FoldPlan((), (), ())
        return RootGraph(root, builder.graph, empty, (), tuple(_findings(empty, root)))
    interp.journal.begin()  # what forward() writes into the model is undone before a rerun
    every_state = _follow(interp, root, as_model)
    switches = dict(interp.switches_read)
    if not switches or all(o.entry.status is not Status.UNKNOWN for o in every_state.observations):
        interp.journal.commit()
        return _with_assumed_bases(interp, every_state)
    interp.journal.rollback()
    interp.as_built = True
    try:
        built = _follow(interp, root, as_model)
    finally:
        interp.as_built = False
    observations = tuple(_prefer_as_built(every_state.observations, built.observations, switches))
    return _with_assumed_bases(interp, replace(every_state, observations=observations))


def _with_assumed_bases(interp: Interpreter, analysed: RootGraph) -> RootGraph:
    """A verdict that rests on a class taken to be a module although its base is outside
    the analysed files, or on a base the analysis cannot read taken for a mixin
    (bnlint.static.classes), says so. Every verdict of a class whose forward() such a base
    may replace is unknown."""
    classes_model = interp.classes
    assumed, mixins = classes_model.assumed_modules, classes_model.assumed_mixins
    unread = classes_model.unread_forward.get(analysed.root.inst.class_name)
    if unread is not None:
        analysed = _unknown_forward(analysed, unread)
    if not assumed and not mixins:
        return analysed
    observations = []
    for observation in analysed.observations:
        classes = dict.fromkeys(anchor.partition(":")[0] for anchor in observation.anchors)
        notes = [
            f"{cls} derives from {assumed[cls]}, defined outside the analysed files: taken to "
            "be an nn.Module whose forward() runs as written"
            for cls in classes
            if cls in assumed
        ] + [
            f"{cls} derives from {', '.join(mixins[cls])}, which the analysis cannot read: "
            "taken to add no layers (its forward() is the class's own)"
            for cls in classes
            if cls in mixins
        ]
        if not notes:
            observations.append(observation)
            continue
        fallback = observation.fallback
        if fallback is not None:
            fallback = replace(fallback, entry=_with_notes(fallback.entry, notes))
        entry = _with_notes(observation.entry, notes)
        observations.append(replace(observation, entry=entry, fallback=fallback))
    return replace(analysed, observations=tuple(observations))


def _unknown_forward(analysed: RootGraph, bases: list[str]) -> RootGraph:
    """The root's class derives from bases the analysis cannot read, which come before the
    forward() it runs: what calling it does is theirs to say, so no verdict is certain."""
    rule = rules.UNRESOLVED_MODULE
    cls = analysed.root.inst.cls.qualname.rsplit(".", 1)[-1]
    detail = (
        f"{cls} derives from {', '.join(bases)}, which the analysis cannot read and which "
        "may replace its forward()"
    )
    observations = tuple(
        replace(
            o,
            entry=replace(
                o.entry,
                status=Status.UNKNOWN,
                code=rule.code,
                reason=rule.format(bn=f"'{o.entry.bn or cls}'", detail=detail),
                direction=None,
            ),
            fallback=None,
        )
        if o.entry.status is not Status.UNKNOWN
        else o
        for o in analysed.observations
    )
    return replace(analysed, observations=observations)


def _prefer_as_built(
    every_state: tuple[Observation, ...],
    as_built: tuple[Observation, ...],
    switches: dict[str, str],
) -> Iterator[Observation]:
    """An unknown verdict that the model as built settles takes that verdict, noting what
    the switches may do; so does the verdict for the class as the whole model (a boundary's
    fallback). Every other verdict stands."""
    built = {o.anchors[0]: o for o in as_built}
    methods = ", ".join(f"{method}()" for method in dict.fromkeys(switches.values()))
    attributes = ", ".join(switches)
    note = f"for the model as built; after {methods} (which set {attributes}): unknown"
    for observation in every_state:
        found = built.get(observation.anchors[0])
        if found is None or observation.entry.status is not Status.UNKNOWN:
            yield observation
        elif found.entry.status is not Status.UNKNOWN:
            yield replace(found, entry=_noted(found.entry, note))
        elif _settled(found.fallback) and not _settled(observation.fallback):
            assert found.fallback is not None
            fallback = replace(found.fallback, entry=_noted(found.fallback.entry, note))
            yield replace(observation, fallback=fallback)
        else:
            yield observation


def _settled(fallback: Fallback | None) -> bool:
    return fallback is not None and fallback.entry.status is not Status.UNKNOWN


def _with_notes(entry: FoldEntry, notes: list[str]) -> FoldEntry:
    return replace(entry, notes=(*entry.notes, *notes))


def _noted(entry: FoldEntry, note: str) -> FoldEntry:
    return replace(entry, notes=(*entry.notes, note))


def _follow(interp: Interpreter, root: Root, as_model: bool) -> RootGraph:
    """Follow the root's forward() once and match its folds."""
    scopes, conditional, unplaced = scopes_of(root.inst)
    open_boundary = (root.own_class is not None or root.part) and not (
        as_model and root.may_be_model
    )
    builder = ForwardBuilder(interp, scopes, open_boundary=open_boundary)
    # A construction given up part way: the layers __init__ would have built (or replaced)
    # after that are not in the tree, so no verdict on it can be certain.
    failure = f"the analysis of {root.origin} stopped: {root.abandoned}" if root.abandoned else ""
    with interp.following(builder):
        try:
            _run_forward(interp, builder, root)
        except (AnalysisLimit, RecursionError) as error:
            failure = (
                failure or f"the analysis of {root.origin} stopped: {error or 'nesting too deep'}"
            )
        except DeadPath:
            failure = failure or f"forward() of {root.origin} always raises"
        except Exception as error:  # an analyzer bug must cost one model, never the whole run
            log.warning("internal error in forward() of %s", root.origin, exc_info=True)
            failure = failure or (
                f"bnlint could not follow forward() of {root.origin} (internal error: {error})"
            )
    if failure:
        builder.gaps.append(failure)
    _add_uncalled_batchnorms(builder, root.inst, scopes, conditional)
    _add_lost_batchnorms(builder, root, scopes, root.inst.uid in interp.refused)
    plan = _unplaced_unknown(
        _with_unresolved_norms(_match(builder.graph, failure), builder, builder.graph, failure),
        unplaced,
    )
    closed = None
    if builder.boundary and root.may_be_model:
        closed_graph = builder.closed_graph()
        closed = _with_unresolved_norms(
            _match(closed_graph, failure), builder, closed_graph, failure
        )
    if root.abandoned:
        plan = _unfoldable_unknown(plan, failure)
        closed = closed and _unfoldable_unknown(closed, failure)
    log.debug(
        "%s: %d nodes, %d folds, %d skips",
        root.origin,
        len(builder.graph),
        len(plan.folds),
        len(plan.skips),
    )
    observations = tuple(_observations(plan, closed, root, set(builder.normalised_itself)))
    if root.abandoned:
        # The BatchNorms of the classes it holds are theirs to report, from their own roots:
        # a construction given up part way knows nothing more of them.
        observations = tuple(o for o in observations if o.owner == root.inst.class_name)
    findings = tuple(_findings(plan, root))
    return RootGraph(root, builder.graph, plan, observations, findings)


def _may_hold_batchnorms(interp: Interpreter, root: Root) -> bool:
    """Whether following the root's forward() can give a BatchNorm verdict: it built one
    (held or lost), holds a value that may be a norm layer the analysis could not resolve,
    or runs code of a file that calls a functional batch norm, or its construction was given
    up part way (what forward() reads that was never built may be one)."""
    if root.built or root.abandoned:
        return True
    files: set[int] = set()
    for inst in walk(root.inst):
        if inst.torch_base.kind is NodeKind.BATCHNORM:
            return True
        for entry in inst.ancestry:
            if isinstance(entry, ProjectClass) and id(entry.file) not in files:
                files.add(id(entry.file))
                if interp.resolver.loader.text_search(entry.file, "batch_norm"):
                    return True
        for name, value in [*inst.children.items(), *inst.attrs.items()]:
            if any(
                isinstance(v, OutsideBuilt)  # a library's module: forward() says if it runs
                or (
                    isinstance(v, Unknown)
                    and (NORM_WORDS.search(name) or NORM_WORDS.search(v.reason))
                )
                for v in _options(value)
            ):
                return True
    return False


def _options(value: Value) -> list[Value]:
    if isinstance(value, Choice):
        return list(value.options)
    if isinstance(value, Seq):
        return list(value.items)
    if isinstance(value, Mapping):
        return list(value.items.values())
    return [value]


def _match(graph: LayerGraph, failure: str) -> FoldPlan:
    plan = match_folds(graph)
    return _demote_folds(plan, failure) if failure else plan


def _with_unresolved_norms(
    plan: FoldPlan, builder: ForwardBuilder, graph: LayerGraph, failure: str
) -> FoldPlan:
    """Each slot that may hold a BatchNorm the analysis could not resolve gets a verdict of
    its own. The graph keeps it an unknown op, so that its neighbours' verdicts stay unknown;
    a copy in which it is a BatchNorm tells what would become of one there."""
    slots: dict[object, list[LayerCall]] = {}
    for call in builder.unresolved_norms:
        slots.setdefault(call.module_id, []).append(call)
    extra = tuple(_as_batchnorm(graph, calls, failure) for calls in slots.values())
    return FoldPlan(plan.folds, plan.skips + extra, plan.findings) if extra else plan


def _as_batchnorm(graph: LayerGraph, calls: list[LayerCall], failure: str) -> Skip:
    """What no BatchNorm in the slot could do is certain (an activation before it, its
    producer's output read elsewhere): if the slot holds one, it cannot fold. A fold one could
    take stays unknown, with its partner: the slot may hold no BatchNorm, or one whose
    arguments turn off running statistics."""
    first = calls[0]
    code = first.rule_code or rules.UNKNOWN_CALL.code
    unknown = Skip(
        bn=first,
        status=Status.UNKNOWN,
        code=code,
        reason=rules.get_rule(code).format(bn=first.describe(), detail=first.reason),
    )
    if failure or first.scope[-1].class_name != UNRESOLVED_NORM:
        return unknown  # it may hold a whole block, not one layer
    batchnorm = replace(
        first, rule_code=None, reason=None, attrs=replace(first.attrs, track_running_stats=True)
    )
    twin = graph.with_nodes({c.node_id: replace(batchnorm, location=c.location) for c in calls})
    judged = match_folds(twin)
    for pair in judged.folds:
        if pair.bn.module_id == first.module_id:
            return replace(
                unknown,
                partner=pair.conv,
                reason=f"{unknown.reason}; a BatchNorm there folds into {_layers_of(pair)} "
                "unless its arguments turn off running statistics",
            )
    for skip in judged.skips:
        if skip.bn.module_id != first.module_id:
            continue
        if skip.status is Status.UNFOLDABLE:
            return replace(skip, bn=first, reason=f"{skip.reason}; {first.reason}")
        return replace(skip, bn=first, reason=f"{skip.reason}; {first.reason}")
    return unknown


def _layers_of(pair: FoldPair) -> str:
    """The layer a fold writes into, or every layer of the merge it goes through."""
    if pair.merge is None or not pair.producers:
        return pair.conv.describe()
    return f"the {pair.merge.value} of {', '.join(p.describe() for p in pair.producers)}"


def _demote_folds(plan: FoldPlan, failure: str) -> FoldPlan:
    """A forward() followed only part of the way proves nothing foldable: the rest of it
    could give the conv another consumer."""
    rule = rules.UNKNOWN_CALL
    demoted = tuple(
        Skip(
            bn=pair.bn,
            status=Status.UNKNOWN,
            code=rule.code,
            reason=rule.format(bn=pair.bn.describe(), detail=failure),
            partner=pair.conv,
        )
        for pair in plan.folds
    )
    return FoldPlan(folds=(), skips=plan.skips + demoted, findings=plan.findings)


def _unfoldable_unknown(plan: FoldPlan, failure: str) -> FoldPlan:
    """In a model whose construction was given up part way, a BatchNorm's neighbours may be
    replaced by what __init__ does after that point: what blocks a fold there is not sure
    to block it in the model."""
    rule = rules.UNKNOWN_CALL
    skips = tuple(
        replace(
            skip,
            status=Status.UNKNOWN,
            code=rule.code,
            reason=rule.format(bn=skip.bn.describe(), detail=failure),
        )
        if skip.status is Status.UNFOLDABLE
        else skip
        for skip in plan.skips
    )
    return FoldPlan(plan.folds, skips, plan.findings)


def _unplaced_unknown(plan: FoldPlan, unplaced: set[int]) -> FoldPlan:
    """A verdict on a BatchNorm, or a fold with a layer, whose path depends on branches the
    analysis cannot decide is unknown: no model is sure to have a module of that name."""
    if not unplaced:
        return plan
    rule = rules.CONDITIONAL_LAYER

    def moved(call: LayerCall | None) -> bool:
        return call is not None and call.module_id in unplaced

    def unknown(bn: LayerCall, partner: LayerCall | None) -> Skip:
        detail = (
            "its index in the list depends on how many layers branches the analysis cannot "
            "decide put before it"
        )
        return Skip(
            bn=bn,
            status=Status.UNKNOWN,
            code=rule.code,
            reason=rule.format(bn=bn.describe(), detail=detail),
            partner=partner,
        )

    folds = tuple(p for p in plan.folds if not any(moved(c) for c in (p.bn, *p.layers)))
    skips = tuple(
        unknown(s.bn, s.partner)
        if s.status is not Status.UNKNOWN and (moved(s.bn) or moved(s.partner))
        else s
        for s in plan.skips
    ) + tuple(unknown(p.bn, p.conv) for p in plan.folds if p not in folds)
    return FoldPlan(folds=folds, skips=skips, findings=plan.findings)


# ---- the plan as observations ------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    """One BatchNorm of a plan: its call, fold key and entry, and which frame of its scope
    owns the key."""

    bn: LayerCall
    key: FoldKey
    entry: FoldEntry
    owner_index: int


def _observations(
    plan: FoldPlan, closed: FoldPlan | None, root: Root, called: Collection[Hashable] = ()
) -> Iterator[Observation]:
    """`called`: BatchNorms forward() called without a node of their own (a subclass that
    normalises itself): reached, though their node carries its reason."""
    fallbacks = _verdicts(closed) if closed is not None else {}
    for identity, verdict in _verdicts(plan).items():
        entry = verdict.entry
        if root.own_class is not None and entry.code == rules.BN_NEVER_CALLED.code:
            # Its class's forward() does not call it, but code holding the class may: only
            # a root that holds the instance (or the class as the whole model) can tell.
            rule = rules.INPUT_FROM_CALLER
            cls = root.inst.cls
            assert isinstance(cls, ProjectClass)  # a class root is an instance of its class
            entry = replace(
                entry,
                status=Status.UNKNOWN,
                code=rule.code,
                reason=rule.format(
                    bn=verdict.bn.describe(),
                    detail=(
                        f"forward() of {cls.name} never calls it, and code that holds the class may"
                        if root.has_forward
                        else f"{cls.name} has no forward(); its other methods, which the "
                        "analysis does not follow, may call it"
                    ),
                ),
            )
        boundary = (
            (root.own_class is not None or root.part)
            and entry.status is Status.UNKNOWN
            and entry.code in _CALLER_DEPENDENT
        )
        closed_verdict = fallbacks.get(identity) if boundary else None
        fallback = (
            Fallback(
                closed_verdict.key.owner,
                closed_verdict.entry,
                root.own_class is not None and closed_verdict.owner_index == 0,
            )
            if closed_verdict is not None
            else None
        )
        frame = verdict.bn.scope[verdict.owner_index]
        inside = _library_network(verdict.bn, verdict.owner_index)
        if inside is not None and entry.reason and verdict.bn.location is not None:
            where = verdict.bn.location
            entry = replace(
                entry,
                reason=f"{entry.reason} (at {where.path}:{where.line}, inside the "
                f"{inside.class_name} built here)",
            )
        yield Observation(
            owner=verdict.key.owner,
            entry=entry,
            anchors=_anchors(verdict.bn.scope),
            own=root.own_class is not None and verdict.owner_index == 0,
            boundary=boundary,
            fallback=fallback,
            site=frame.built_at,
            location=_reported_at(verdict.bn, verdict.owner_index),
            defaults=root.own_class is not None,
            # graph nodes for BatchNorms forward() did not call carry their reason themselves
            reached=verdict.bn.rule_code is None or verdict.bn.module_id in called,
            filler=root.filler,
        )


def _library_network(bn: LayerCall, owner_index: int) -> ModuleFrame | None:
    """The outermost module of a model library's network that holds the BatchNorm inside
    the project class owning its key, if any."""
    return next((frame for frame in bn.scope[owner_index + 1 :] if frame.library), None)


def _reported_at(bn: LayerCall, owner_index: int) -> SourceLocation | None:
    """Where a diagnostic about the BatchNorm goes: at the BatchNorm, or, inside a model
    library's network the project holds, at the project's call that built that network
    (the library's files are read, never reported on)."""
    inside = _library_network(bn, owner_index)
    if inside is not None and inside.placed_at is not None:
        return inside.placed_at
    return bn.location


def _anchors(scope: tuple[ModuleFrame, ...]) -> tuple[str, ...]:
    names = [frame.name for frame in scope]
    return tuple(
        f"{frame.class_name}:{'.'.join(names[index + 1 :])}"
        for index, frame in enumerate(scope[:-1])
        if index == 0 or not frame.is_plain_container
    )


def _verdicts(plan: FoldPlan) -> dict[object, _Verdict]:
    """Each BatchNorm of the plan, by module identity."""
    found: dict[object, _Verdict] = {}
    for pair in plan.folds:
        key = pair_key(pair)
        entry = FoldEntry(
            key.conv,
            key.bn,
            pair.direction,
            Status.FOLDABLE,
            None,
            producers=key.producers,
            merge=key.merge,
        )
        found[_identity(pair.bn)] = _Verdict(
            pair.bn, key, entry, owner_frame_index(*pair.layers, pair.bn)
        )
    for skip in plan.skips:
        if not skip.bn.scope:
            continue
        partner = skip.partner if _shares_root(skip.partner, skip.bn) else None
        calls = (partner, skip.bn) if partner is not None else (skip.bn,)
        key = fold_key(partner, skip.bn)
        entry = FoldEntry(key.conv or None, key.bn, None, skip.status, skip.code, skip.reason)
        found[_identity(skip.bn)] = _Verdict(skip.bn, key, entry, owner_frame_index(*calls))
    return found


def _identity(call: LayerCall) -> object:
    return call.module_id if call.module_id is not None else ("call", call.node_id)


def _shares_root(partner: LayerCall | None, bn: LayerCall) -> bool:
    return (
        partner is not None
        and bool(partner.scope)
        and bool(bn.scope)
        and partner.scope[0] == bn.scope[0]
    )


def _findings(plan: FoldPlan, root: Root) -> Iterator[Diagnostic]:
    for finding in plan.findings:
        location = finding.location or finding.node.location
        if location is not None:
            owner = finding.node.scope[0].class_name if finding.node.scope else None
            yield diagnostic(finding.code, finding.message, location, owner)
    rule = rules.UNREGISTERED_MODULES
    for inst in walk(root.inst):
        for name, location in inst.plain_containers.items():
            container = "dict" if isinstance(inst.attrs.get(name), Mapping) else "list"
            wrapper = "nn.ModuleDict" if container == "dict" else "nn.ModuleList"
            message = rule.format(
                target=f"self.{name}", container=container, detail=f"use {wrapper}"
            )
            yield diagnostic(rule.code, message, location, inst.class_name)


# ---- the module tree ---------------------------------------------------------------------


def _child_options(
    name: str, value: Value, last: bool
) -> Iterator[tuple[str, ModuleInst, bool, bool]]:
    """The modules a child slot may hold, each with the name named_modules() would give it,
    whether only some paths hold it (a conditional construction, or a member of a list or
    dict that undecidable branches built differently), and whether that name is its own on
    every path that builds it (`last`: no child follows the slot)."""
    if isinstance(value, Tails):
        names: dict[str, list[tuple[str, ModuleInst]]] = {}
        for option in value.options:
            for position, entry in enumerate(option):
                key = str(entry[0]) if value.keyed else _offset(name, position)
                member = entry[1] if value.keyed else entry
                for member_name, found, _, _ in _child_options(key, member, last):
                    names.setdefault(key, []).append((member_name, found))
        # A list index past a shorter path's members names a later child on that path.
        fixed = last or value.keyed or len({len(o) for o in value.options}) == 1
        for members in names.values():
            # Two modules holding BatchNorms under one name: which one it names is not known.
            alone = len({id(m) for _, m in members if _holds_batchnorm(m)}) <= 1
            for member_name, found in members:
                yield member_name, found, True, fixed and alone
        return
    for held in value.options if isinstance(value, Choice) else (value,):
        if isinstance(held, ModuleInst):
            yield name, held, isinstance(value, Choice), True


def _holds_batchnorm(inst: ModuleInst) -> bool:
    return any(m.torch_base.kind is NodeKind.BATCHNORM for m in walk(inst))


def _offset(name: str, position: int) -> str:
    """The index of a list member `position` places after the one named `name`."""
    return str(int(name) + position) if name.isdigit() else name


def scopes_of(
    root: ModuleInst,
) -> tuple[dict[int, tuple[ModuleFrame, ...]], set[int], set[int]]:
    """Module paths as named_modules() would print them (first registration wins), plus the
    uids of modules that exist only as options of a conditional construction, and of those
    whose path no built model is sure to give them (a list index after members that
    undecidable branches added in different numbers).

    Modules kept in plain lists/dicts are not registered; they get a pseudo path under the
    negative uid so that messages can still name them."""
    scopes: dict[int, tuple[ModuleFrame, ...]] = {}
    conditional: set[int] = set()
    unplaced: set[int] = set()
    root_frame = ModuleFrame(
        "", root.class_name, root.is_plain_container, built_at=root.construction
    )  # the root owns what no project class inside it does, even a library's network
    # (module, its path, built only on some paths, registered as a child, path not sure)
    pending: list[tuple[ModuleInst, tuple[ModuleFrame, ...], bool, bool, bool]] = [
        (root, (root_frame,), False, True, False)
    ]
    while pending:
        inst, scope, optional, registered, moved = pending.pop(0)
        key = inst.uid if registered else -inst.uid
        if key in scopes or (not registered and inst.uid in scopes):
            continue
        scopes[key] = scope
        if optional:
            conditional.add(inst.uid)
        if moved:
            unplaced.add(inst.uid)
        shifted = False
        names = list(inst.children)
        for name, value in inst.children.items():
            last = name == names[-1]
            for member_name, option, some_paths, placed in _child_options(name, value, last):
                pending.append(
                    (
                        option,
                        scope + (_frame(member_name, option),),
                        optional or some_paths,
                        registered,
                        moved or shifted or not placed,
                    )
                )
            shifted = shifted or _shifts_indices(value)
        for name, held in inst.attrs.items():
            # a plain list or dict, or one of several that undecidable branches assigned
            for value, on_some_paths in _plain_options(held):
                for index, member in _plain_members(value):
                    if isinstance(member, ModuleInst):
                        # named as if the list were an nn.ModuleList: `blocks.0.1`
                        pending.append(
                            (
                                member,
                                scope + (_frame(f"{name}.{index}", member),),
                                optional or on_some_paths,
                                False,
                                moved,
                            )
                        )
    return scopes, conditional, unplaced


def _plain_options(value: Value) -> list[tuple[Value, bool]]:
    """The plain containers an attribute holds, each with whether it exists on some paths
    only (branches the analysis cannot decide assigned different lists)."""
    if isinstance(value, Choice):
        return [(option, True) for option in value.options if isinstance(option, (Seq, Mapping))]
    return [(value, False)]


def _plain_members(value: Value) -> list[tuple[object, Value]]:
    if isinstance(value, Seq):
        return list(enumerate(value.items))
    if isinstance(value, Mapping):
        return list(value.items.items())
    return []


def _shifts_indices(value: Value) -> bool:
    """Whether list members undecidable branches added here differ in number from path to
    path: the indices of the members after them then depend on the path."""
    if not isinstance(value, Tails) or value.keyed:
        return False
    return len({len(option) for option in value.options}) > 1 or any(
        _shifts_indices(member) for option in value.options for member in option
    )


def _frame(name: str, inst: ModuleInst) -> ModuleFrame:
    library = isinstance(inst.cls, ProjectClass) and inst.cls.file.library
    placed = inst.placed if library else None
    return ModuleFrame(
        name,
        inst.class_name,
        inst.is_plain_container,
        built_at=inst.construction,
        library=library,
        placed_at=placed[0].location(placed[1]) if placed is not None else None,
    )


# ---- forward() ---------------------------------------------------------------------------


def _run_forward(interp: Interpreter, builder: ForwardBuilder, root: Root) -> None:
    inst = root.inst
    found = interp.classes.method(inst.cls, "__call__") or (None, None)
    if found[1] is None:
        found = interp.classes.method(inst.cls, "forward") or (None, None)
    owner, definition = found
    if definition is None:
        value = builder.input_node("input")
        builder.output(
            builder.torch_forward(
                inst, inst.torch_base, [value], {}, Frame(root.file, {}), cst.Name("x")
            )
        )
        return
    assert isinstance(owner, ProjectClass)
    positional = [*definition.params.posonly_params, *definition.params.params][1:]
    inputs: list[Value] = [
        builder.input_node(p.name.value) for p in positional if p.default is None
    ]
    # A caller may pass any value for an argument with a default: `forward(x, skip_bn=True)`
    # must not be analysed as if only the default existed.
    options: dict[str, Value] = {
        p.name.value: Unknown(
            f"forward() argument '{p.name.value}' is whatever the caller "
            "passes (its default is only one case)"
        )
        for p in [*positional, *definition.params.kwonly_params]
        if p.default is not None
    }
    func = FunctionRef(
        ProjectFunction(owner.file, definition, f"{owner.qualname}.{definition.name.value}")
    )
    result = interp.call_function(func, inputs, options, definition, self_value=inst, cls=owner)
    builder.output(result)


def _add_uncalled_batchnorms(
    builder: ForwardBuilder,
    root: ModuleInst,
    scopes: dict[int, tuple[ModuleFrame, ...]],
    conditional: set[int],
) -> None:
    """Every BatchNorm the model holds gets a verdict, including those forward() never
    reaches; why it was not reached decides between unknown and never-called."""
    for inst in walk(root):
        if inst.torch_base.kind is not NodeKind.BATCHNORM or inst.uid in builder.called:
            continue
        registered = inst.uid in scopes
        if not registered:
            rule, reason = (
                rules.UNREGISTERED_CONTAINER_UNKNOWN,
                ("it is kept in a plain Python list or dict, which PyTorch does not register"),
            )
        elif inst.uid in conditional:
            rule, reason = (
                rules.CONDITIONAL_LAYER,
                ("it is built only in some branches of a condition the analysis cannot decide"),
            )
        elif inst.uid in builder.normalised_itself:
            rule, reason = rules.UNKNOWN_CALL, builder.normalised_itself[inst.uid]
        elif builder.dynamic:
            rule, reason = (
                rules.DYNAMIC_ATTRIBUTE,
                (f"forward() reaches modules by computed names ({builder.dynamic[0]})"),
            )
        elif builder.gaps:
            rule, reason = (
                rules.UNKNOWN_CALL,
                (f"forward() could not be followed completely: {builder.gaps[0]}"),
            )
        else:
            rule, reason = rules.BN_NEVER_CALLED, "forward() never calls it"
        scope = scopes.get(inst.uid) or scopes.get(-inst.uid, ())
        label = ".".join(f.name for f in scope[1:]) or inst.cls.qualname
        builder.graph.add(
            LayerCall(
                node_id=-1,
                kind=NodeKind.BATCHNORM,
                label=label,
                scope=scope,
                module_id=inst.uid,
                location=inst.construction,
                construction=inst.construction,
                rule_code=rule.code,
                reason=reason,
            )
        )


def _counts_unknown(why: str) -> bool:
    """Whether a container's contents are unknown because of how many modules it holds, or
    under which names (not paths built apart: those keep every path's members)."""
    return bool(why) and "tell apart" not in why and "not fully known" not in why


def _add_lost_batchnorms(
    builder: ForwardBuilder,
    root: Root,
    scopes: dict[int, tuple[ModuleFrame, ...]],
    refused: bool = False,
) -> None:
    """A BatchNorm that __init__ built but the analysis could not place in the module tree
    (a layer list it lost count of, a call it could not follow that was handed the layer,
    an __init__ that raised, as the analysis followed it, before storing it: `refused`)
    still gets a verdict: unknown, never silence."""
    tree = list(walk(root.inst))
    complete = not refused and not root.abandoned and not any(inst.incomplete for inst in tree)
    # A container of an unknown number of modules (paths built apart keep every path's
    # members, and a member read from them is one of those: what they do not hold was
    # thrown away)
    unknown_count = next((inst.incomplete for inst in tree if _counts_unknown(inst.incomplete)), "")
    # One built by another class's __init__ is that class's to report: its own root holds it
    # (or loses it) with its own arguments. But a model built for real that holds an unknown
    # number of modules (`nn.Sequential(*blocks)`, the number of blocks not known) lost the
    # ones inside them: nobody else speaks of these. (A class built with its defaults loses
    # what its callers fill in: they speak of it.)
    lost_inside = bool(unknown_count) and not refused and root.own_class is None
    held = {inst.uid for inst in tree}
    root_frame = scopes[root.inst.uid]
    for inst in root.built:
        if inst.uid in held:
            continue
        if inst.built_by != root.own_class and not lost_inside:
            continue
        if complete and inst.escaped is None:
            continue  # outside a complete tree: replaced or thrown away
        # (one handed to a call the analysis cannot follow, `torch.jit.script(block)`,
        # may be what that call gives back, which the tree holds unseen)
        line = inst.construction.line if inst.construction else 0
        frame = ModuleFrame(lost_label(line), inst.class_name)
        code = rules.CONDITIONAL_LAYER.code
        reason = (
            "the analysis could not tell where __init__ stores it (its container is "
            "built under a condition or loop the analysis cannot decide)"
        )
        if inst.built_by != root.own_class:
            holder = f"the {inst.built_by.rsplit('.', 1)[-1]} holding it" if inst.built_by else "it"
            reason = (
                f"{holder} is in a container whose contents the analysis does not know "
                f"({unknown_count})"
            )
        if refused:
            code = rules.UNKNOWN_CALL.code
            reason = (
                f"__init__ of {root.inst.cls.qualname.rsplit('.', 1)[-1]} raises, as the "
                "analysis follows it, before it stores the layers it built"
            )
        if root.abandoned:
            code = rules.UNKNOWN_CALL.code
            reason = f"the analysis of {root.origin} stopped before it was stored: {root.abandoned}"
        if inst.escaped is not None:
            code = (
                inst.escaped.code if inst.escaped.code in rules.RULES else rules.UNKNOWN_CALL.code
            )
            reason = inst.escaped.reason
        builder.graph.add(
            LayerCall(
                node_id=-1,
                kind=NodeKind.BATCHNORM,
                label=frame.name,
                scope=root_frame + (frame,),
                module_id=inst.uid,
                location=inst.construction,
                construction=inst.construction,
                rule_code=code,
                reason=reason,
            )
        )
