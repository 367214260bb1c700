"""Setting the static fold plan against what the runtime checker did with one real model.

Both halves name a BatchNorm by its fold key (DESIGN.md). The static half reports one verdict
per key and class, merged over every use of the class it saw; a model can hold several
instances of a class, so the runtime verdicts are merged per key the same way (a certain
reason anywhere beats a doubt, which beats a fold) before the two are compared. When the
halves chose different partners their owners differ too: the static verdict is then found
through the model's module tree, where every static key resolves to the BatchNorm paths of
the instances of its class, and it speaks for all of them: an unfoldable class verdict holds
when the runtime leaves any of those instances unfolded.

Torch-free: the runtime side arrives as a ModelObservation.
"""

from __future__ import annotations

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
    """One agreement row per fold key of the model's BatchNorms."""
    static = _StaticIndex(check, observation)
    groups: dict[tuple[str, str], list[RuntimeBatchNorm]] = defaultdict(list)
    for batchnorm in observation.batchnorms:
        groups[(batchnorm.verdict.owner, batchnorm.verdict.bn)].append(batchnorm)
    by_path = {batchnorm.path: batchnorm for batchnorm in observation.batchnorms}
    rows = [_row(static, members, by_path) for members in groups.values()]
    rows.sort(key=lambda r: (ORDER.index(r.agreement), r.runtime.owner, r.runtime.bn))
    return ModelAgreement(
        name=name,
        factory=factory,
        rows=tuple(rows),
        verified=observation.verified,
        verification=observation.verification,
    )


class _StaticIndex:
    """The static verdicts, found by fold key or by the model path of a BatchNorm.

    The static half may give one key several verdicts, one per group of instances of the
    class that differ (built with other arguments): the one this model's instances agree
    with is theirs; with none, the class's own verdict (the first) speaks."""

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
                    )
                )
        self.by_key = {key: found[0] for key, found in self.variants.items()}
        self.analysed = {module.class_name for module in check.modules}
        self.classes = {m.path: m for m in observation.modules}
        instances: dict[str, list[str]] = defaultdict(list)
        for instance in observation.modules:
            instances[instance.class_name].append(instance.path)
            if _public(instance.class_name) != instance.class_name:
                instances[_public(instance.class_name)].append(instance.path)
        self.by_path: dict[str, list[SideVerdict]] = defaultdict(list)
        self.owner_path: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.covers: dict[tuple[str, str], list[str]] = defaultdict(list)
        for (owner, bn), verdict in self.by_key.items():
            for path in instances.get(owner, ()):
                self.by_path[_join(path, bn)].append(verdict)
                self.owner_path[(owner, _join(path, bn))].append(path)
                self.covers[(owner, bn)].append(_join(path, bn))

    def verdict(self, members: list[RuntimeBatchNorm]) -> tuple[SideVerdict | None, list[str]]:
        """The static verdict on these BatchNorms, and the model paths it speaks for: only
        these when the keys match, else every instance of the static key's class."""
        first = members[0].verdict
        runtime = max((m.verdict for m in members), key=lambda v: _SEVERITY[v.status])
        variants = self.variants.get((first.owner, first.bn)) or self.variants.get(
            (_public(first.owner), first.bn)
        )
        if variants:
            agreeing = [
                v
                for v in variants
                if (v.status, v.conv, v.direction)
                == (runtime.status, runtime.conv, runtime.direction)
            ]
            return (agreeing or variants)[0], [m.path for m in members]
        found = [v for m in members for v in self.by_path.get(m.path, ())]
        if not found:
            return None, []
        chosen = _most_severe(found)
        return chosen, self.covers[(chosen.owner, chosen.bn)]

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


def _row(
    static: _StaticIndex, members: list[RuntimeBatchNorm], by_path: dict[str, RuntimeBatchNorm]
) -> AgreementRow:
    representative = max(members, key=lambda m: _SEVERITY[m.verdict.status])
    runtime = representative.verdict
    instances = tuple(m.path for m in members)
    theirs, covered = static.verdict(members)
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
        # The static half names a class, merged over all its instances: it is right when
        # the runtime leaves any of them unfolded, though not these.
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
                f"static judges {theirs.owner}: {theirs.conv or '-'} -> {theirs.bn} over "
                f"{len(covered)} instances; runtime folds these but not {unfolded[0].path}: "
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
        return f"foldable into {verdict.conv} ({direction}){key}"
    reason = f": {verdict.reason}" if verdict.reason else ""
    return f"{verdict.status.value} {verdict.code or ''}{key}{reason}"


def _most_severe(verdicts: Iterable[SideVerdict]) -> SideVerdict:
    return max(verdicts, key=lambda v: _SEVERITY[v.status])


def _not_analysed(owner: str, analysed: set[str]) -> str:
    # A class analysed under another dotted name usually means the model was imported from
    # another root than the one the checked paths imply (an installed copy, a different src/).
    short = owner.rpartition(".")[2]
    similar = sorted(c for c in analysed if c.rpartition(".")[2] == short)
    hint = f" (the checked files define {', '.join(similar)})" if similar else ""
    return f"{owner} is defined in none of the checked files{hint}"


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def _public(class_name: str) -> str:
    """The name the static half gives a torch class ("torch.nn.Sequential" for
    "torch.nn.modules.container.Sequential", as bnlint.runtime.kinds.type_name names a class;
    this side has only the name): a factory's model can be one."""
    if class_name.startswith("torch.nn.modules."):
        return f"torch.nn.{class_name.rsplit('.', 1)[-1]}"
    return class_name
