"""Setting the static fold plan against what the runtime checker did with one real model.

Both halves name a BatchNorm by its fold key (DESIGN.md). The static half reports a verdict
per key and class, merged over every use of the class it saw, and beside it a verdict for
the instances built at named places that it judged otherwise. The runtime verdicts are
merged the same way (a certain reason anywhere beats a doubt, which beats a fold) over the
BatchNorms of a key that one static verdict speaks for: the instances built where a site
verdict names, or the others, which the class verdict speaks for. When the halves chose
different partners their owners differ too: the static verdict is then found through the
model's module tree, where every static key resolves to the BatchNorm paths of the instances
of its class, and it speaks for all of them it does not leave to a site verdict: an
unfoldable class verdict holds when the runtime leaves any of those instances unfolded.

Torch-free: the runtime side arrives as a ModelObservation.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

from bnlint.ftypes import (
    Agreement,
    AgreementRow,
    CheckResult,
    ModelAgreement,
    ModelObservation,
    RuntimeBatchNorm,
    SideVerdict,
    Status,
)
from bnlint.rules import BN_NEVER_CALLED
from bnlint.static.records import lost_label

_SEVERITY = {Status.FOLDABLE: 0, Status.UNKNOWN: 1, Status.UNFOLDABLE: 2}
ORDER = (
    Agreement.CONFIRMED_FOLDABLE,
    Agreement.CONFIRMED_UNFOLDABLE,
    Agreement.STATIC_UNKNOWN,
    Agreement.NOT_EXERCISED,
    Agreement.NOT_ANALYSED,
    Agreement.DISAGREEMENT,
)


def compare_model(
    name: str, factory: str, check: CheckResult, observation: ModelObservation
) -> ModelAgreement:
    """One agreement row per fold key of the model's BatchNorms, and per static verdict that
    speaks for some of them: a key's instances built where the static half judged them
    otherwise than their class are a row of their own."""
    static = _StaticIndex(check, observation)
    groups: dict[tuple[str, str], list[RuntimeBatchNorm]] = defaultdict(list)
    for batchnorm in observation.batchnorms:
        groups[(batchnorm.verdict.owner, batchnorm.verdict.bn)].append(batchnorm)
    by_path = {batchnorm.path: batchnorm for batchnorm in observation.batchnorms}
    rows = [
        _row(static, members, theirs, covered, by_path)
        for group in groups.values()
        for theirs, covered, members in static.verdicts(group)
    ]
    rows.sort(key=lambda r: (ORDER.index(r.agreement), r.runtime.owner, r.runtime.bn))
    return ModelAgreement(
        name=name,
        factory=factory,
        rows=tuple(rows),
        verified=observation.verified,
        verification=observation.verification,
    )


# A static verdict, the model paths of the BatchNorms it speaks for, and those of one runtime
# key's BatchNorms it is compared with.
Pairing = tuple[SideVerdict | None, list[str], list[RuntimeBatchNorm]]


class _StaticIndex:
    """The static verdicts, found by fold key or by the model path of a BatchNorm.

    The static half may give one key several verdicts: the class's own (no sites), and one
    per group of instances built elsewhere with other arguments, naming where they were built.
    An instance built at a named site is the site verdict's; any other, the class's. When the
    model does not say where an instance was built, or a key has no verdict of the class's
    own, the verdict the instances agree with is theirs, else the first."""

    def __init__(self, check: CheckResult, observation: ModelObservation) -> None:
        self.variants: dict[tuple[str, str], list[SideVerdict]] = defaultdict(list)
        for module in check.modules:
            for entry in module.folds:
                self.variants[(module.class_name, entry.bn)].append(
                    SideVerdict(
                        owner=module.class_name,
                        conv=entry.conv,
                        bn=entry.bn,
                        direction=entry.direction,
                        status=entry.status,
                        code=entry.code,
                        reason=entry.reason,
                        sites=entry.sites,
                    )
                )
        # The static half prints a site relative to the working directory of the check (this
        # process's); the runtime records it resolved.
        self.sites = {
            verdict: {_resolved(site) for site in verdict.sites}
            for found in self.variants.values()
            for verdict in found
        }
        self.built_at = {m.path: m.built_at for m in observation.modules}
        self.analysed = {module.class_name for module in check.modules}
        self.classes = {m.path: m for m in observation.modules}
        instances: dict[str, list[str]] = defaultdict(list)
        for instance in observation.modules:
            instances[instance.class_name].append(instance.path)
            if _public(instance.class_name) != instance.class_name:
                instances[_public(instance.class_name)].append(instance.path)
        self.by_path: dict[str, list[SideVerdict]] = defaultdict(list)
        self.owner_path: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.covers: dict[SideVerdict, list[str]] = defaultdict(list)
        for (owner, bn), found in self.variants.items():
            for path in instances.get(owner, ()):
                if path and (not bn or owner.startswith("torch.")):
                    # A key owned by the BatchNorm itself, or by a torch class, is a model
                    # some factory returns: it speaks for a model's root, never for a layer
                    # of that class inside another model.
                    continue
                verdict = self._speaking(found, path)
                if verdict is None:
                    if self.built_at.get(path) is not None:
                        continue  # its verdicts name other instances; none is the class's
                    verdict = found[0]
                self.by_path[_join(path, bn)].append(verdict)
                self.owner_path[(owner, _join(path, bn))].append(path)
                self.covers[verdict].append(_join(path, bn))

    def verdicts(self, members: list[RuntimeBatchNorm]) -> list[Pairing]:
        """The static verdicts on one runtime key's BatchNorms, each with the model paths it
        speaks for (only its BatchNorms when the keys match, else every instance of the
        static key's class it speaks for) and its BatchNorms."""
        first = members[0].verdict
        variants = self.variants.get((first.owner, first.bn)) or self.variants.get(
            (_public(first.owner), first.bn)
        )
        if variants:
            chosen: dict[SideVerdict, list[RuntimeBatchNorm]] = defaultdict(list)
            unplaced, unspoken = [], []
            for member in members:
                owner = _owner_path(member.path, first.bn)
                verdict = self._speaking(variants, owner)
                if verdict is not None:
                    chosen[verdict].append(member)
                elif owner is not None and self.built_at.get(owner) is not None:
                    unspoken.append(member)  # the verdicts name other instances only
                else:
                    unplaced.append(member)
            if unplaced:
                chosen[_agreeing(variants, unplaced)] += unplaced
            pairings: list[Pairing] = [
                (v, [m.path for m in found], found) for v, found in chosen.items()
            ]
            return pairings + ([(None, [], unspoken)] if unspoken else [])
        severest: dict[str, SideVerdict] = {}
        for member in members:
            found = self.by_path.get(member.path)
            if found:
                severest[member.path] = _most_severe(found)
        if not severest:
            return self._lost(first.owner, members) or [(None, [], members)]
        # a BatchNorm no static verdict reaches joins those of the most severe one
        default = _most_severe(severest.values())
        grouped: dict[SideVerdict, list[RuntimeBatchNorm]] = defaultdict(list)
        for member in members:
            grouped[severest.get(member.path, default)].append(member)
        return [(v, self.covers[v], found) for v, found in grouped.items()]

    def _lost(self, owner: str, members: list[RuntimeBatchNorm]) -> list[Pairing]:
        """The verdict on BatchNorms the static half could not place in a model of class
        `owner` (`<BatchNorm built at line 28>`: in blocks of a container whose length it
        does not know) speaks for the runtime's BatchNorms of such a model built at that
        line."""
        chosen: dict[SideVerdict, list[RuntimeBatchNorm]] = defaultdict(list)
        for member in members:
            built_at = self.built_at.get(member.path)
            if built_at is None:
                continue
            label = lost_label(built_at.rpartition(":")[2])
            found = self.variants.get((owner, label)) or self.variants.get((_public(owner), label))
            if found:
                chosen[found[0]].append(member)
        if not chosen or sum(map(len, chosen.values())) != len(members):
            return []
        return [(v, [m.path for m in found], found) for v, found in chosen.items()]

    def _speaking(self, variants: list[SideVerdict], owner: str | None) -> SideVerdict | None:
        """The verdict that speaks for the instance at model path `owner`: the one naming
        where it was built, else the class's own; None when the model does not say where
        it was built or the key has no verdict of the class's own."""
        built_at = self.built_at.get(owner) if owner is not None else None
        if built_at is None:
            return None
        named = (v for v in variants if built_at in self.sites[v])
        return next(named, None) or next((v for v in variants if not v.sites), None)

    def full_conv(self, verdict: SideVerdict, bn_path: str) -> str | None:
        """The model path of the static partner of the BatchNorm at `bn_path`."""
        if verdict.conv is None:
            return None
        owners = self.owner_path.get((verdict.owner, bn_path))
        return _join(owners[0], verdict.conv) if owners else None

    def lone_owner(self, bn_path: str) -> str | None:
        """The class a lone BatchNorm at `bn_path` belongs to by the fold key rule."""
        parts = bn_path.split(".")
        for depth in range(len(parts) - 1, -1, -1):
            module = self.classes.get(".".join(parts[:depth]))
            if module is not None and (depth == 0 or not module.is_plain_container):
                return module.class_name
        return None


def _agreeing(variants: list[SideVerdict], members: list[RuntimeBatchNorm]) -> SideVerdict:
    """Of a key's verdicts, the first that says what the runtime says of `members` (the most
    severe of theirs), else the first."""
    runtime = max((m.verdict for m in members), key=lambda v: _SEVERITY[v.status])
    agreeing = [
        v
        for v in variants
        if (v.status, v.conv, v.direction) == (runtime.status, runtime.conv, runtime.direction)
    ]
    return (agreeing or variants)[0]


def _row(
    static: _StaticIndex,
    members: list[RuntimeBatchNorm],
    theirs: SideVerdict | None,
    covered: list[str],
    by_path: dict[str, RuntimeBatchNorm],
) -> AgreementRow:
    representative = max(members, key=lambda m: _SEVERITY[m.verdict.status])
    runtime = representative.verdict
    instances = tuple(m.path for m in members)
    if theirs is None:
        classes = {runtime.owner, static.lone_owner(representative.path)}
        if classes & static.analysed:
            # A fold the static half did not see is a miss; a BatchNorm neither half folds
            # (one kept in a plain list, say) is only a gap, as if static said unknown.
            agreement = (
                Agreement.DISAGREEMENT
                if runtime.status is Status.FOLDABLE
                else Agreement.STATIC_UNKNOWN
            )
            return AgreementRow(
                agreement,
                runtime,
                None,
                instances,
                f"the static analysis gave no verdict; runtime: {_describe(runtime)}",
            )
        return AgreementRow(
            Agreement.NOT_ANALYSED,
            runtime,
            None,
            instances,
            _not_analysed(runtime.owner, static.analysed),
        )
    if theirs.status is Status.UNFOLDABLE and runtime.status is Status.FOLDABLE:
        # The static half names a class, merged over the instances it speaks for: it is
        # right when the runtime leaves any of them unfolded, though not these.
        unfolded = [
            by_path[p]
            for p in covered
            if p in by_path and by_path[p].verdict.status is not Status.FOLDABLE
        ]
        if unfolded:
            return AgreementRow(
                Agreement.CONFIRMED_UNFOLDABLE,
                runtime,
                theirs,
                instances,
                f"static judges {theirs.owner}: {theirs.conv or '-'} -> {theirs.bn}"
                f"{_where(theirs)} over {len(covered)} instances; runtime folds these but "
                f"not {unfolded[0].path}: "
                f"{_describe(unfolded[0].verdict)}",
            )
    agreement, detail = _judge(theirs, runtime, static, representative)
    return AgreementRow(agreement, runtime, theirs, instances, detail)


def _judge(
    static_verdict: SideVerdict,
    runtime: SideVerdict,
    static: _StaticIndex,
    representative: RuntimeBatchNorm,
) -> tuple[Agreement, str]:
    folded = runtime.status is Status.FOLDABLE
    both = f"static: {_describe(static_verdict, runtime)}; runtime: {_describe(runtime)}"
    if static_verdict.status is Status.UNKNOWN:
        return Agreement.STATIC_UNKNOWN, f"runtime: {_describe(runtime)}"
    if static_verdict.status is Status.UNFOLDABLE:
        if folded:
            return Agreement.DISAGREEMENT, both
        if runtime.code != static_verdict.code:
            return Agreement.CONFIRMED_UNFOLDABLE, f"for different reasons; {both}"
        return Agreement.CONFIRMED_UNFOLDABLE, ""
    if not folded and runtime.code == BN_NEVER_CALLED.code:
        # The example input never reached it: the run neither confirms nor refutes a fold
        # the static half finds in the class.
        return Agreement.NOT_EXERCISED, f"runtime: {_describe(runtime)}"
    if not folded:
        return Agreement.DISAGREEMENT, both
    # Same owner: the relative names say it (a fold through a merge names all its layers
    # there, "cat(a,b)"); otherwise the partners must be the same module of the model.
    same_partner = (
        static_verdict.conv == runtime.conv
        if static_verdict.owner == runtime.owner
        else static.full_conv(static_verdict, representative.path) == representative.partner
    )
    if not same_partner or static_verdict.direction is not runtime.direction:
        return Agreement.DISAGREEMENT, f"the halves fold it with different layers; {both}"
    return Agreement.CONFIRMED_FOLDABLE, ""


def _describe(verdict: SideVerdict, row: SideVerdict | None = None) -> str:
    """One side's verdict in a few words, with its evidence; the key is named only when it
    is not the row's."""
    key = (
        f" as {verdict.owner}: {verdict.conv or '-'} -> {verdict.bn}"
        if row is not None and (verdict.owner, verdict.bn) != (row.owner, row.bn)
        else ""
    )
    if verdict.status is Status.FOLDABLE:
        direction = verdict.direction.value if verdict.direction else "?"
        return f"foldable into {verdict.conv} ({direction}){key}{_where(verdict)}"
    reason = f": {verdict.reason}" if verdict.reason else ""
    return f"{verdict.status.value} {verdict.code or ''}{key}{_where(verdict)}{reason}"


def _where(verdict: SideVerdict) -> str:
    """Which instances a static verdict on some instances of its class holds for, unless its
    reason says it already."""
    sites = ", ".join(verdict.sites)
    if not sites or (verdict.reason is not None and sites in verdict.reason):
        return ""
    return f" for the instances built at {sites}"


def _most_severe(verdicts: Iterable[SideVerdict]) -> SideVerdict:
    return max(verdicts, key=lambda v: _SEVERITY[v.status])


def _not_analysed(owner: str, analysed: set[str]) -> str:
    # A class analysed under another dotted name usually means the model was imported from
    # another root than the one the checked paths imply (an installed copy, a different src/).
    short = owner.rpartition(".")[2]
    similar = sorted(c for c in analysed if c.rpartition(".")[2] == short)
    hint = f" (the checked files define {', '.join(similar)})" if similar else ""
    return f"{owner} is defined in none of the checked files{hint}"


def _owner_path(bn_path: str, bn: str) -> str | None:
    """The model path of the owner of the BatchNorm at `bn_path`, named `bn` relative to it."""
    if not bn:
        return bn_path
    if bn_path == bn:
        return ""
    return bn_path.removesuffix(f".{bn}") if bn_path.endswith(f".{bn}") else None


def _resolved(site: str) -> str:
    """A site as the static half prints it ("src/m.py:63", relative to the working directory
    or absolute) as the runtime records it: the resolved path, and the line."""
    path, _, line = site.rpartition(":")
    return f"{os.path.realpath(path)}:{line}"


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def _public(class_name: str) -> str:
    """The name the static half gives a torch class ("torch.nn.Sequential" for
    "torch.nn.modules.container.Sequential", as bnlint.runtime.kinds.type_name names a class;
    this side has only the name): a factory's model can be one."""
    if class_name.startswith("torch.nn.modules."):
        return f"torch.nn.{class_name.rsplit('.', 1)[-1]}"
    return class_name
