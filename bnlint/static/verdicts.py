"""From what every root saw to what `bnlint check` reports: the class first, its callers refine.

Every module class is analysed on its own (its constructor's defaults, unknown arguments
left unknown), and every factory's model is built; each of these roots yields one
Observation per BatchNorm. The verdict on a fold key (`Owner: conv -> bn`) is then:

1. A BatchNorm whose verdict depends on the root's caller (it normalises the forward()
   argument, or hands its output back) takes the verdict of any root that sees what is on
   the other side. When no root does, the class may be the model itself: its closed-world
   verdict stands if it can be built without arguments, else the verdict is unknown.
2. The owner class's own verdict comes first. Each instance of the owner built elsewhere
   with other arguments refines it: a certain verdict that differs is reported beside it,
   with where those instances are built, and so is an unknown one on an instance that is
   built and reached (its dataflow is what the analysis cannot follow); an instance whose
   doubt is how it is built or reached (not reached, built only on some paths, given a
   layer the analysis cannot resolve) is a note, never a downgrade. When no instance that
   exists agrees with the class's own verdict, the instances are the class and its own
   verdict becomes a note. Instances seen only from another class's constructor defaults
   are as hypothetical as the owner's own. With no verdict of its own and no certain one
   anywhere, the key is unknown, with the reason.

Light on purpose: reports are made from cached values without the parser.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from bnlint import rules
from bnlint.ftypes import Diagnostic, FoldEntry, ModuleReport, SourceLocation, Status
from bnlint.static.records import LOST_PREFIX, FileReport, FileVerdicts, Observation
from bnlint.static.relevance import ContextIndex


@dataclass(frozen=True)
class Verdicts:
    """Per owner class, the entries it reports; and the diagnostics they raise."""

    entries: dict[str, list[FoldEntry]]
    diagnostics: list[Diagnostic]


def report_on(
    target: FileVerdicts, context: Sequence[FileVerdicts], index: ContextIndex | None = None
) -> FileReport:
    """What `bnlint check` says about `target`, given the contributions of its context in
    path order (target included). `index`, shared by the reports of one run, spares each
    report a pass over every observation of its context."""
    if target.failure is not None:
        return FileReport(diagnostics=(target.failure,))
    display = target.display
    verdicts = combine((index or ContextIndex()).bearing_on(target, context))
    found: dict[tuple[int, int, str], Diagnostic] = {}
    findings = (d for contribution in context for d in contribution.findings)
    for diagnostic in [*verdicts.diagnostics, *findings]:
        if diagnostic.path == display:
            found.setdefault((diagnostic.line, diagnostic.column, diagnostic.code), diagnostic)
    listed = [
        (qualname, line, verdicts.entries.get(qualname, []))
        for qualname, line in target.module_classes
    ]
    listed += _torch_models_built_in(verdicts.entries, display)
    modules = tuple(
        ModuleReport(
            class_name=qualname,
            path=display,
            line=line,
            folds=tuple(sorted(entries, key=lambda e: (e.bn, e.sites != (), e.conv or ""))),
        )
        for qualname, line, entries in listed
    )
    ordered = sorted(found.values(), key=lambda d: (d.path, d.line, d.column, d.code))
    return FileReport(diagnostics=tuple(ordered), modules=modules)


def _torch_models_built_in(
    entries: dict[str, list[FoldEntry]], display: str
) -> list[tuple[str, int, list[FoldEntry]]]:
    """The torch classes that are a whole model some factory of this file returns
    (`return nn.Sequential(conv, bn, ...)`), with the line that builds it first and the
    entries of the models built here: their folds have no project class to be listed under,
    so they are listed under the torch class, where the factory builds it."""
    found = []
    for owner, listed in entries.items():
        if not owner.startswith("torch."):
            continue
        here = [
            (
                entry,
                [int(line) for path, _, line in map(_split_site, entry.sites) if path == display],
            )
            for entry in listed
        ]
        lines = [line for _, built in here for line in built]
        if lines:
            found.append((owner, min(lines), [entry for entry, built in here if built]))
    return sorted(found, key=lambda found_at: found_at[1])


def _split_site(site: str) -> tuple[str, str, str]:
    return site.rpartition(":")


def combine(observations: Iterable[Observation]) -> Verdicts:
    settled = _settle_boundaries(observations)
    # Where each BatchNorm is seen in a model built for real: a factory's model, or inside
    # an instance another root builds.
    real = {a for o in settled for a in (o.anchors[1:] if o.defaults else o.anchors)}
    built_for_real = {anchor.partition(":")[0] for anchor in real}
    by_key: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for observation in settled:
        if _hypothetical(observation, real) and observation.entry.status is Status.UNKNOWN:
            continue  # the roots that build its class for real see more of it
        if _lost_by_defaults(observation) and observation.owner in built_for_real:
            continue  # lost by its constructor's defaults; the real instances hold it
        if not observation.filler:
            by_key[(observation.owner, observation.entry.bn)].append(observation)
    for observation in settled:  # only where no other root has anything to say
        key = (observation.owner, observation.entry.bn)
        if observation.filler and (key not in by_key or by_key[key][0].filler):
            by_key[key].append(observation)
    entries: dict[str, list[FoldEntry]] = defaultdict(list)
    diagnostics: list[tuple[bool, Diagnostic]] = []
    for (owner, _), group in by_key.items():
        for entry, members in _key_verdicts(group, real):
            entries[owner].append(entry)
            diagnostics.extend((entry.conv is None, d) for d in _diagnostics(owner, entry, members))
    # Where verdicts of one rule meet at one place, the one that names the layer is shown.
    ordered = [d for _, d in sorted(diagnostics, key=lambda pair: pair[0])]
    return Verdicts(dict(entries), ordered)


def _diagnostics(owner: str, entry: FoldEntry, members: list[Observation]) -> Iterator[Diagnostic]:
    """One per rule among the verdicts an entry stands for (instances of one class can miss
    a fold for different reasons), at the BatchNorm."""
    if entry.status is Status.FOLDABLE:
        return
    suffix = entry.reason[len(members[0].entry.reason or "") :] if entry.reason else ""
    seen: set[str] = set()
    # a model built for real names the layers around the BatchNorm as they are
    for member in sorted(members, key=lambda m: m.defaults):
        code = member.entry.code or rules.UNKNOWN_CALL.code
        if code in seen or member.location is None:
            continue
        seen.add(code)
        message = (member.entry.reason or rules.get_rule(code).summary) + suffix
        yield diagnostic(code, message, member.location, owner)


def _settle_boundaries(observations: Iterable[Observation]) -> list[Observation]:
    """Rule 1: a verdict that depends on the root's caller yields to the roots that hold the
    same BatchNorm inside an instance of that root's class (whatever they say: they see
    more of it); where no root does, the closed-world verdict stands, else the unknown."""
    observations = list(observations)
    inside_wider = {anchor for o in observations for anchor in o.anchors[1:]}
    # Owners some other root built with its own arguments.
    instantiated = {o.owner for o in observations if not o.own and not o.boundary}
    settled: list[Observation] = []
    for observation in observations:
        if not observation.boundary:
            settled.append(observation)
        elif observation.anchors[0] in inside_wider:
            continue
        elif observation.entry.bn.startswith("<") and observation.owner in instantiated:
            # A BatchNorm the class hands to a layer its caller supplies: the instances
            # its callers build show where it ends up, under its real name.
            continue
        elif observation.fallback is not None:
            fallback = observation.fallback
            settled.append(
                replace(
                    observation,
                    owner=fallback.owner,
                    entry=fallback.entry,
                    own=fallback.own,
                    boundary=False,
                    fallback=None,
                )
            )
        else:
            settled.append(observation)
    return settled


def _lost_by_defaults(observation: Observation) -> bool:
    """A BatchNorm a class built with its constructor's defaults could not place (a loop
    over an argument it was not given): where it sits is the real instances' to say."""
    return observation.defaults and observation.entry.bn.startswith(LOST_PREFIX)


def _hypothetical(observation: Observation, real: set[str]) -> bool:
    """An instance seen from a class analysed on its own (constructor defaults) that a model
    built for real also holds (`real`): like the owner's own defaults, it shows what the
    class can be, not an instance that exists."""
    return observation.defaults and not observation.own and observation.anchors[0] in real


def _key_verdicts(
    group: list[Observation], real: set[str]
) -> list[tuple[FoldEntry, list[Observation]]]:
    """Rule 2 for one fold key: the entries to report, each with the verdicts it stands for."""
    own = _most_severe([o for o in group if o.own])
    variants: dict[tuple[object, ...], list[Observation]] = {}
    agreeing: list[Observation] = []
    agreeing_by_default: list[Observation] = []
    for observation in group:
        if observation.own:
            continue
        if own is not None and _identity(observation.entry) == _identity(own.entry):
            # instances that agree with the class
            if _hypothetical(observation, real):
                agreeing_by_default.append(observation)
            else:
                agreeing.append(observation)
        else:
            variants.setdefault(_identity(observation.entry), []).append(observation)
    # the instance verdicts reported beside the class's: the certain ones, and the unknown
    # ones about dataflow
    standing = [m for m in variants.values() if m[0].entry.status is not Status.UNKNOWN]
    doubtful: list[list[Observation]] = []
    for members in (m for m in variants.values() if m[0].entry.status is Status.UNKNOWN):
        # An instance that exists, is built and reached, and still may not fold (its
        # dataflow is not known) is a verdict of its own: the class is foldable only when
        # every instance that exists folds. Doubt about how it is built is a note.
        in_flow = [o for o in members if _doubt_in_flow(o, real)]
        standing += [in_flow] if in_flow else []
        rest = [o for o in members if o not in in_flow]
        doubtful += [rest] if rest else []
    existing = any(not _hypothetical(o, real) for m in standing for o in m)
    notes: list[str] = []
    if own is not None and own.entry.status is not Status.UNKNOWN and existing and not agreeing:
        # Every instance that exists is built otherwise, each with a certain verdict that
        # differs: they are the class ("foldable when every instance that exists folds");
        # its constructor defaults are a note.
        notes.append(
            f"with its constructor defaults, which no instance uses: "
            f"{own.entry.status.value}" + (f": {own.entry.reason}" if own.entry.reason else "")
        )
        own = None
    elif own is not None and own.entry.status is Status.UNKNOWN and existing:
        notes.append(f"on its own (constructor defaults): unknown: {own.entry.reason}")
        own = None
    # Each instance verdict names its instances, unless it is the only thing known.
    alone = own is None and len(variants) == 1
    shown: list[tuple[FoldEntry, list[Observation]]] = []
    if own is not None:
        shown.append((own.entry, [own, *agreeing, *agreeing_by_default]))
    elif agreeing_by_default:
        notes.append(
            f"the same with the constructor defaults of the classes that build it "
            f"({_share(_sites(agreeing_by_default))})"
        )
    for members in standing:
        shown.append((_instance_entry(members, alone), members))
    if not shown:
        first, doubtful = doubtful[0], doubtful[1:]
        shown.append((_instance_entry(first, alone), first))
    notes += [f"unknown {_share(_sites(m))}: {m[0].entry.reason}" for m in doubtful]
    if notes:
        entry, members = shown[0]
        shown[0] = (replace(entry, notes=entry.notes + tuple(notes)), members)
    return shown


# Unknowns about how an instance is built or reached, rather than about its dataflow.
_BUILD_DOUBTS = frozenset(
    {
        rules.DYNAMIC_ATTRIBUTE.code,
        rules.UNRESOLVED_MODULE.code,
        rules.INPUT_FROM_CALLER.code,
        rules.CONDITIONAL_LAYER.code,
    }
)


def _doubt_in_flow(observation: Observation, real: set[str]) -> bool:
    return (
        observation.reached
        and observation.entry.code not in _BUILD_DOUBTS
        and not _hypothetical(observation, real)
    )


def _instance_entry(members: list[Observation], alone: bool) -> FoldEntry:
    first = members[0].entry
    where = _sites(members)
    reason = first.reason
    if reason is not None and not alone:
        reason = f"{reason} ({_share(where)})"
    return replace(first, sites=where, reason=reason)


def _identity(entry: FoldEntry) -> tuple[object, ...]:
    """Verdicts that say the same thing: one entry (the first one's rule and reason)."""
    return entry.status, entry.conv, entry.direction


def _most_severe(observations: list[Observation]) -> Observation | None:
    order = {Status.FOLDABLE: 0, Status.UNKNOWN: 1, Status.UNFOLDABLE: 2}
    return max(observations, key=lambda o: order[o.entry.status], default=None)


def _sites(observations: Iterable[Observation]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_where(o.site) for o in observations if o.site is not None))


def _where(location: SourceLocation) -> str:
    return f"{location.path}:{location.line}"


def _share(where: tuple[str, ...]) -> str:
    """Which instances a verdict holds for, by where they are built."""
    return (
        f"for the instances built at {', '.join(where)}"
        if where
        else "for an instance built elsewhere"
    )


def diagnostic(code: str, message: str, location: SourceLocation, owner: str | None) -> Diagnostic:
    rule = rules.get_rule(code)
    return Diagnostic(
        code=code,
        name=rule.name,
        severity=rule.severity,
        message=message,
        path=location.path,
        line=location.line,
        column=location.column,
        end_line=location.end_line,
        end_column=location.end_column,
        owner=owner,
        help=rule.fix,
    )
