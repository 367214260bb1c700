"""The fold rules, once, for both builders: LayerGraph in, FoldPlan out.

Every BatchNorm module in the graph gets exactly one verdict: a FoldPair or a Skip. A module
called at several sites folds only when every site agrees on the partner and direction.
A BatchNorm after a channel concatenation or a plain sum of Conv/Linear outputs folds into
all of those layers at once (a FoldPair with `producers` and `merge`).
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from itertools import chain

from bnlint import rules
from bnlint.ftypes import (
    FOLD_TARGETS,
    MERGES,
    Direction,
    Finding,
    FoldPair,
    FoldPlan,
    LayerCall,
    Merge,
    NodeKind,
    Skip,
    Status,
    reported_in,
)
from bnlint.graph import LayerGraph

log = logging.getLogger("bnlint.matcher")

# Following layers a BatchNorm can fold into exactly (a transposed conv scatters the shift
# unevenly at its borders, so it is not one of them).
_INTO_FOLLOWING = frozenset({NodeKind.CONV, NodeKind.LINEAR})
_UNCERTAIN = frozenset({NodeKind.UNKNOWN, NodeKind.CONTROL_FLOW})
_FOLDABLE_MERGES = {NodeKind.CAT: Merge.CAT, NodeKind.ADD: Merge.SUM}
# Doubts about what a class's caller hands it or does with its output.
_CALLER = frozenset({rules.INPUT_FROM_CALLER.code, rules.LINEAR_RANK_UNKNOWN.code})


@dataclass(frozen=True)
class _SiteVerdict:
    """What one call of a BatchNorm allows: a fold (partner set) or a skip."""

    partner: LayerCall | None
    direction: Direction | None
    skip: Skip | None
    producers: tuple[LayerCall, ...] = ()  # a fold through a merge: all its layers
    merge: Merge | None = None


def match_folds(graph: LayerGraph) -> FoldPlan:
    """Decide every BatchNorm in `graph`: fold it (and with what) or say why not."""
    sites: dict[Hashable, list[LayerCall]] = defaultdict(list)
    for call in graph.nodes(NodeKind.BATCHNORM):
        sites[_identity(call)].append(call)

    folds: list[FoldPair] = []
    skips: list[Skip] = []
    findings: list[Finding] = []
    for calls in sites.values():
        with reported_in(calls[0].location):
            verdict = _combine(graph, calls)
        if verdict.skip is not None:
            skips.append(verdict.skip)
            log.info("%s: %s %s", verdict.skip.code, verdict.skip.bn.label, verdict.skip.reason)
            continue
        assert verdict.partner is not None and verdict.direction is not None
        pair = FoldPair(
            conv=verdict.partner,
            bn=calls[0],
            direction=verdict.direction,
            producers=verdict.producers,
            merge=verdict.merge,
        )
        folds.append(pair)
        log.info(
            "fold %s -> %s (%s)",
            ", ".join(c.label for c in pair.layers),
            pair.bn.label,
            pair.direction.value,
        )
        findings.extend(_redundant_bias(pair))
    findings.extend(_functional_batch_norms(graph))
    return FoldPlan(folds=tuple(folds), skips=tuple(skips), findings=tuple(findings))


def _identity(call: LayerCall) -> Hashable:
    return call.module_id if call.module_id is not None else ("call", call.node_id)


def _combine(graph: LayerGraph, calls: list[LayerCall]) -> _SiteVerdict:
    first = calls[0]
    if first.attrs.track_running_stats is False:
        return _skip(first, rules.BN_WITHOUT_RUNNING_STATS, bn=first.describe())
    verdicts = []
    for call in calls:
        with reported_in(call.location):  # a skip at this site is reported here
            verdicts.append(_site_verdict(graph, call))
    # One certain reason at any call site settles it; otherwise one doubt does, first one
    # that what the caller hands or takes could settle (a model's own graph may, where the
    # other sites' doubts leave it unknown anyway).
    on_some_paths = _certain_on_some_paths(first, calls, verdicts)
    if on_some_paths is not None:
        return on_some_paths
    for status in (Status.UNFOLDABLE, Status.UNKNOWN):
        skipped = [v for v in verdicts if v.skip is not None and v.skip.status is status]
        if skipped:
            return min(skipped, key=lambda v: v.skip is None or v.skip.code not in _CALLER)
    partners = {_partner_identity(v) for v in verdicts if v.partner is not None}
    if len(partners) > 1:
        producers = ", ".join(sorted({v.partner.describe() for v in verdicts if v.partner}))
        return _skip(
            first,
            rules.BN_SHARED_ACROSS_SITES,
            bn=first.describe(),
            sites=len(calls),
            producers=producers,
        )
    if first.attrs.track_running_stats is None:
        # Built with an argument the builder could not evaluate: it may use batch statistics.
        return _skip(
            first,
            rules.CONDITIONAL_LAYER,
            bn=first.describe(),
            detail="its track_running_stats argument is not known, and without "
            "running statistics it cannot fold",
        )
    return verdicts[0]


def _certain_on_some_paths(
    first: LayerCall, calls: list[LayerCall], verdicts: list[_SiteVerdict]
) -> _SiteVerdict | None:
    """XBN203 when the only call sites that refuse the fold run on some paths of
    data-dependent control flow and another site may allow it (kornia's descriptors run
    their last BatchNorm on `input.float()` for half inputs only): which runs depends on the
    input."""
    refusals = [
        (call, v.skip)
        for call, v in zip(calls, verdicts, strict=True)
        if v.skip is not None and v.skip.status is Status.UNFOLDABLE
    ]
    if not refusals or any(not call.conditional for call, _ in refusals):
        return None
    if len(refusals) == len(verdicts):
        return None  # every site refuses it, whichever paths run
    call, skip = refusals[0]
    return _skip(
        first,
        rules.DATA_DEPENDENT_FLOW,
        bn=first.describe(),
        detail=f"where it is called at {call.describe()}, on some paths of data-dependent "
        f"control flow, it cannot be folded ({skip.reason}); where it is called on the "
        "others, it may be",
    )


def _partner_identity(verdict: _SiteVerdict) -> Hashable:
    layers = verdict.producers or (verdict.partner,)
    return tuple(_identity(c) for c in layers if c is not None), verdict.direction, verdict.merge


def _site_verdict(graph: LayerGraph, bn: LayerCall) -> _SiteVerdict:
    if bn.rule_code is not None:
        # The builder already knows why this BatchNorm has no dataflow (never called, kept
        # in a plain list, reached dynamically).
        rule = rules.get_rule(bn.rule_code)
        if rule.code == rules.BN_NEVER_CALLED.code:
            return _skip(bn, rule, bn=bn.describe())
        return _skip(bn, rule, bn=bn.describe(), detail=bn.reason or rule.summary)

    producers = graph.producers(bn)
    if len(producers) != 1:
        return _skip(
            bn,
            rules.UNKNOWN_CALL,
            bn=bn.describe(),
            detail="the analysis did not find the tensor it normalises",
        )
    producer = _past_switch(graph, producers[0])

    before = (
        _fold_into_each(graph, bn, producer)
        if _slot_switch(graph, producer)
        else _fold_into_preceding(graph, bn, producer)
    )
    if before.skip is None:
        return before
    if before.skip.status is Status.UNKNOWN:
        # The unseen producer may be a layer that takes this BatchNorm: neither a fold into
        # the following layer nor a refusal from it is then certain.
        return before
    after = _fold_into_following(graph, bn)
    if after.skip is None:
        return after
    if after.skip.status is Status.UNKNOWN:
        # The unseen consumer may take it, whatever the preceding side says.
        return after
    if producer.kind in FOLD_TARGETS:
        return before
    if after.skip.code in (
        rules.BN_BEFORE_PADDED_CONV.code,
        rules.BN_BEFORE_GROUPED_CONV.code,
        rules.BN_NORMALISES_OTHER_AXIS.code,
    ):
        return after
    return before


def _fold_into_each(graph: LayerGraph, bn: LayerCall, switch: LayerCall) -> _SiteVerdict:
    """A BatchNorm after a layer whose construction depends on the configuration: it folds
    when it folds into each layer that may be built there, and is not settled either way
    when the constructions disagree."""
    alternatives = graph.alternatives(switch)
    return _agreed(bn, alternatives, [_fold_into_preceding(graph, bn, a) for a in alternatives])


def _agreed(bn: LayerCall, layers: list[LayerCall], verdicts: list[_SiteVerdict]) -> _SiteVerdict:
    """The verdict the classes one layer may be built as agree on; XBN207 when they do not."""
    outcomes = {
        (v.skip.status, v.skip.code) if v.skip is not None else (v.direction, None)
        for v in verdicts
    }
    if len(outcomes) == 1:
        return verdicts[0]
    return _skip(
        bn,
        rules.CONDITIONAL_LAYER,
        bn=bn.describe(),
        detail=f"it folds into some of the layers that may be built there ({_names(layers)}) "
        "and not into others",
    )


def _fold_into_preceding(graph: LayerGraph, bn: LayerCall, producer: LayerCall) -> _SiteVerdict:
    flattened = _flattened_linear(graph, producer)
    if flattened is not None:
        return _fold_through_flatten(graph, bn, *flattened)
    reordered = _reordered_layer(graph, producer)
    if reordered is not None and reordered[0].kind in _UNCERTAIN:
        # What made the tensor the reshapes reorder (the caller's input, an unknown call,
        # control flow) may be a layer whose channels they bring to axis 1: its doubt is
        # the BatchNorm's.
        made_by = reordered[0]
        rule = rules.get_rule(made_by.rule_code or rules.UNKNOWN_CALL.code)
        detail = made_by.reason or f"its input comes from {made_by.describe()}"
        return _skip(bn, rule, bn=bn.describe(), detail=detail)
    if reordered is not None:
        return _fold_through_flatten(graph, bn, *reordered)
    kind = producer.kind
    if kind in FOLD_TARGETS:
        mismatch = _derived_weight(bn, producer) or _shape_mismatch(bn, producer)
        if mismatch is not None:
            return mismatch
        # The same BatchNorm module applied to this output again (on another path of a
        # switch such as gradient checkpointing) reads it through the fold as well.
        others = [c for c in _readers(graph, producer) if _identity(c) != _identity(bn)]
        if others:
            partial = _partial_readers(graph, others, producer)
            doubt = _doubt(bn, partial) or _on_some_paths(graph, bn, partial)
            if doubt is not None:
                return doubt
            return _skip(
                bn,
                rules.PRODUCER_OUTPUT_SHARED,
                partner=producer,
                bn=bn.describe(),
                producer=producer.describe(),
                others=_names(others),
            )
        return _called_elsewhere(graph, producer, bn) or _SiteVerdict(
            producer, Direction.CONV_BN, None
        )
    if kind is NodeKind.CONTROL_FLOW:
        settled = _on_every_path(graph, bn, producer)
        if settled is not None:
            return settled
    if kind in _UNCERTAIN:
        # Whatever made the tensor, it is also read elsewhere: nothing that made it can
        # take the fold.
        shared = _read_elsewhere(graph, bn, producer, _maker_of(producer))
        if shared is not None:
            return shared
        rule = rules.get_rule(producer.rule_code or rules.UNKNOWN_CALL.code)
        detail = producer.reason or f"its input comes from {producer.describe()}"
        return _skip(bn, rule, bn=bn.describe(), detail=detail)
    if kind is NodeKind.FUNCTIONAL_CONV:
        return _skip(
            bn,
            rules.FUNCTIONAL_LAYER,
            what=f"BatchNorm {bn.describe()}",
            detail=f"its input comes from the functional call {producer.describe()}, "
            "which has no module to fold into",
        )
    if kind in _FOLDABLE_MERGES:
        return _fold_through_merge(graph, bn, producer)
    if kind in MERGES:
        return _skip(
            bn,
            rules.BN_AFTER_MERGE,
            bn=bn.describe(),
            producer=producer.describe(),
            detail="a product cannot hand the scale and shift to its factors",
        )
    if kind is NodeKind.ACTIVATION:
        return _skip(bn, rules.BN_AFTER_ACTIVATION, bn=bn.describe(), producer=producer.describe())
    if kind is NodeKind.INPUT:
        return _skip(
            bn,
            rules.BN_ON_MODEL_INPUT,
            bn=bn.describe(),
            producer=producer.describe(),
            consumer_reason="nothing after it can absorb it",
        )
    return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=producer.describe())


def _flattened_linear(
    graph: LayerGraph, node: LayerCall
) -> tuple[LayerCall, list[LayerCall]] | None:
    """The Linear whose features `node` lays out on axis 1 of a 2-D tensor (`x.flatten(0, 1)`
    of the Linear's (N, L, F) output), with the reshapes on the way, nearest the BatchNorm
    first; None when `node` is no such reshape of a Linear's output."""
    if node.kind is not NodeKind.RESHAPE or node.attrs.flattens_leading is None:
        return None
    on_the_way = [node]
    producers = graph.producers(node)
    while len(producers) == 1 and producers[0].attrs.features_last:
        on_the_way.append(producers[0])
        producers = graph.producers(producers[0])
    if len(producers) != 1 or producers[0].kind is not NodeKind.LINEAR:
        return None
    return producers[0], on_the_way


def _reordered_layer(
    graph: LayerGraph, node: LayerCall
) -> tuple[LayerCall, list[LayerCall], str | None] | None:
    """The Conv/Linear whose channels reshapes that only reorder axes bring to axis 1, the
    axis a BatchNorm normalises (speechbrain's `bn(linear(x).transpose(-1, 1))` on (N, L,
    F) data, a conv's output transposed away and back), with the reshapes on the way,
    nearest the BatchNorm first, and why the analysis cannot be sure the channels land there
    (None when sure); or the unknown op that made the tensor they reorder. None when `node`
    is no such reshape or the channels land elsewhere."""
    if node.kind is not NodeKind.RESHAPE or node.attrs.moves_axes is None:
        return None
    walked = _through_reorders(node, graph.producers, _input_axis)
    if walked is None:
        return None
    node, on_the_way, axis, rank, doubt = walked
    if node.kind in _UNCERTAIN:
        # whatever it is, a conv's channels (axis 1) or a Linear's features (the last axis)
        # must be what lands on axis 1 for a fold
        rank = rank or node.attrs.rank
        if _same_axis(axis, 1, rank) is False and _same_axis(axis, -1, rank) is False:
            return None
        return node, on_the_way, None
    if node.kind not in FOLD_TARGETS:
        return None
    same = _channel_axis(node, axis, rank)
    if same is False:
        return None
    reason = None
    if doubt is not None or same is None:
        where = doubt or on_the_way[-1]
        reason = (
            f"{where.describe()} puts the channels of {node.describe()} on the axis it "
            "normalises only for some numbers of dimensions, and the analysis cannot tell "
            "how many the tensor has"
        )
    return node, on_the_way, reason


def _through_reorders(
    node: LayerCall,
    next_of: Callable[[LayerCall], list[LayerCall]],
    axis_through: Callable[[int, tuple[tuple[int, int], ...], int | None], tuple[int, bool]],
) -> tuple[LayerCall, list[LayerCall], int, int | None, LayerCall | None] | None:
    """Follow reshapes that only reorder axes from `node`, each the single `next_of` the one
    before, carrying where the BatchNorm's axis 1 is: the node they lead to, the reshapes on
    the way, the axis there, the rank one of them knows (reordering keeps the number of
    axes) and the first that leaves the axis unsure. None when the way forks."""
    axis, on_the_way, rank = 1, [], None
    doubt: LayerCall | None = None
    while node.kind is NodeKind.RESHAPE and (
        node.attrs.moves_axes is not None or node.attrs.features_last
    ):
        on_the_way.append(node)
        rank = rank or node.attrs.rank
        axis, unsure = axis_through(axis, node.attrs.moves_axes or (), rank)
        doubt = doubt or (node if unsure else None)
        following = next_of(node)
        if len(following) != 1:
            return None
        node = following[0]
    return node, on_the_way, axis, rank, doubt


def _input_axis(
    axis: int, moves: tuple[tuple[int, int], ...], rank: int | None
) -> tuple[int, bool]:
    """The input axis a reordering takes output `axis` from, and whether that is unsure
    (axes written from both ends of a tensor of unknown rank)."""
    if rank is not None:
        axis %= rank
        moves = tuple((out % rank, taken % rank) for out, taken in moves)
    for out, taken in moves:
        if out == axis:
            return taken, False
    unsure = rank is None and any((out < 0) != (axis < 0) for out, _ in moves)
    return axis, unsure


def _channel_axis(layer: LayerCall, axis: int, rank: int | None) -> bool | None:
    """Whether `axis` is the layer's channel axis: a Linear's features are the last axis, a
    conv's channels axis 1 (None when the number of axes is needed and not known)."""
    channels = -1 if layer.kind is NodeKind.LINEAR else 1
    if layer.kind is not NodeKind.LINEAR and layer.attrs.spatial_dims is not None:
        rank = layer.attrs.spatial_dims + 2
    return _same_axis(axis, channels, rank or layer.attrs.rank)


def _same_axis(a: int, b: int, rank: int | None) -> bool | None:
    if rank is not None:
        return a % rank == b % rank
    return a == b if (a < 0) == (b < 0) else None


def _fold_through_flatten(
    graph: LayerGraph,
    bn: LayerCall,
    linear: LayerCall,
    on_the_way: list[LayerCall],
    doubt: str | None = None,
) -> _SiteVerdict:
    """A BatchNorm1d after a Linear whose leading axes a reshape merged (LeViT's
    `bn(linear(x).flatten(0, 1))`), or after reshapes that only bring a layer's channels to
    axis 1: each element keeps its channel index, so the layer's channels are the
    BatchNorm's and the fold is the usual one, when nothing else reads the tensors on the
    way. `doubt`: why the channels may land on another axis (reordered axes only)."""
    # Reordered axes keep the number of them: a BatchNorm of any size whose axis 1 holds
    # the layer's channels normalises them (a pointwise Linear on channels-last data,
    # permuted back before a BatchNorm2d).
    flattened = on_the_way[0].attrs.flattens_leading is not None
    mismatch = (_dimension_mismatch(bn, linear) if flattened else None) or _channel_mismatch(
        bn, linear
    )
    if mismatch is not None:
        return mismatch
    steps = [linear, *reversed(on_the_way)]
    others = [
        reader
        for node, expected in zip(steps, [*steps[1:], bn], strict=True)
        for reader in _readers(graph, node)
        if _identity(reader) != _identity(expected)
    ]
    if others:
        partial = _partial_readers(graph, others, linear)
        return (
            _doubt(bn, partial)
            or _on_some_paths(graph, bn, partial)
            or _skip(
                bn,
                rules.PRODUCER_OUTPUT_SHARED,
                partner=linear,
                bn=bn.describe(),
                producer=f"{linear.describe()} (through {on_the_way[0].describe()})",
                others=_names(others),
            )
        )
    if doubt is None and on_the_way[0].attrs.flattens_leading is False:
        doubt = (
            f"{on_the_way[0].describe()} puts the features of {linear.describe()} on the axis "
            "it normalises only when it leaves two dimensions, and the analysis cannot tell "
            "how many the Linear's input has"
        )
    if doubt is not None:
        return _skip(bn, rules.LINEAR_RANK_UNKNOWN, partner=linear, bn=bn.describe(), detail=doubt)
    return _called_elsewhere(graph, linear, bn) or _SiteVerdict(linear, Direction.CONV_BN, None)


def _on_every_path(graph: LayerGraph, bn: LayerCall, merge: LayerCall) -> _SiteVerdict | None:
    """What a control-flow merge before a BatchNorm settles whichever path runs; None when
    the path decides."""
    alternatives = graph.alternatives(merge)
    if not alternatives:
        return None  # no path hands it a tensor the graph holds: the merge's reason stands
    if all(a.kind is NodeKind.ACTIVATION for a in alternatives):
        # Whichever path runs, an activation made it (RepVGG's `if hasattr(self,
        # "rbr_reparam")` chooses between two blocks that both end in one).
        producer = (
            f"one of {_names(alternatives)}"
            if len(alternatives) > 1
            else alternatives[0].describe()
        )
        return _skip(bn, rules.BN_AFTER_ACTIVATION, bn=bn.describe(), producer=producer)
    # The tensor is also read elsewhere: no layer that made it can take the fold.
    shared = _read_elsewhere(graph, bn, merge, f"any of {_names(alternatives)}")
    if shared is not None:
        return shared
    # No path hands it a layer's output, but on some the analysis cannot see where it comes
    # from (the caller's tensor): that is the doubt, not the merge.
    unseen = [a for a in alternatives if a.kind in _UNCERTAIN]
    if unseen and all(a.kind in _NOT_LAYERS or a.kind in _UNCERTAIN for a in alternatives):
        return _doubt(bn, unseen) or _skip(
            bn, rules.UNKNOWN_CALL, bn=bn.describe(), detail="where its input comes from"
        )
    if _never_a_layer(graph, merge, bn):
        # Whichever path runs, what reaches it is no layer's output: only a fold into the
        # following layer is left, and that does not depend on the path.
        return _skip(
            bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=f"one of {_names(alternatives)}"
        )
    return None


def _maker_of(tensor: LayerCall) -> str:
    """What a fold into `tensor` would go into, in a message: the op itself, or for a
    forward() argument whatever the caller makes it with."""
    if tensor.rule_code == rules.INPUT_FROM_CALLER.code:
        return f"whatever makes {tensor.describe()} (a forward() argument)"
    return tensor.describe()


def _read_elsewhere(
    graph: LayerGraph, bn: LayerCall, tensor: LayerCall, made_by: str
) -> _SiteVerdict | None:
    """XBN103 when the tensor `bn` reads is also read elsewhere wherever `bn` runs."""
    others = [c for c in _readers(graph, tensor) if _identity(c) != _identity(bn)]
    if not others or (_doubt(bn, others) or _on_some_paths(graph, bn, others)) is not None:
        return None
    return _skip(
        bn, rules.PRODUCER_OUTPUT_SHARED, bn=bn.describe(), producer=made_by, others=_names(others)
    )


def _one_computation_switch(graph: LayerGraph, node: LayerCall) -> bool:
    """Whether `node` is control flow whose every path ends in the same computation (a
    gradient-checkpointing switch runs a stage directly or through checkpoint()): the same
    module, or the same op at the same place of the code on the same inputs. Whichever path
    runs, what passes on is that computation's output."""
    alternatives = graph.alternatives(node) if node.kind is NodeKind.CONTROL_FLOW else []
    if not alternatives:
        return False  # (a join of values none of which is a tensor the graph holds)
    first, *others = alternatives
    return all(_same_computation(graph, first, other) for other in others)


def _same_computation(graph: LayerGraph, a: LayerCall, b: LayerCall, depth: int = 8) -> bool:
    if a.node_id == b.node_id:
        return True
    if a.module_id is not None or b.module_id is not None:
        return _identity(a) == _identity(b)
    if (a.kind, a.label, a.location) != (b.kind, b.label, b.location) or depth == 0:
        return False
    left, right = graph.operands(a), graph.operands(b)
    return len(left) == len(right) and all(
        _same_computation(graph, x, y, depth - 1) for x, y in zip(left, right, strict=True)
    )


def _slot_switch(graph: LayerGraph, node: LayerCall) -> bool:
    """Whether `node` is control flow between the constructions of one layer: a Conv or
    Linear of one kind built at one place as one class or another by configuration (a conv
    that pads its input itself, or not). Whichever was built, its output is what passes on;
    only one of them exists in a model."""
    alternatives = graph.alternatives(node) if node.kind is NodeKind.CONTROL_FLOW else []
    if len(alternatives) < 2:
        return False
    first, *others = alternatives
    return all(_same_slot(first, other) for other in others)


def _built_switch(graph: LayerGraph, node: LayerCall, call: LayerCall) -> bool:
    """Whether `node` joins what the constructions a configuration chooses between give (a
    block built as an empty Sequential or as a conv and its BatchNorm), `call` being read by
    the join alone: in a model that has it, what reads the join reads it. (A layer every
    construction calls, followed by more layers in some, is read by those layers or by the
    join: not so.)"""
    return (
        node.kind is NodeKind.CONTROL_FLOW
        and node.rule_code == rules.CONDITIONAL_LAYER.code
        and all(c.node_id == node.node_id for c in graph.consumers(call))
    )


def _same_slot(a: LayerCall, b: LayerCall) -> bool:
    return (
        a.kind in FOLD_TARGETS
        and a.kind is b.kind
        and a.module_id is not None
        and b.module_id is not None
        and bool(a.module_path)
        and a.module_path == b.module_path
    )


def _past_switch(graph: LayerGraph, producer: LayerCall) -> LayerCall:
    """The computation behind a switch of one computation; any other producer itself."""
    if _one_computation_switch(graph, producer):
        return graph.alternatives(producer)[0]
    return producer


def _readers(graph: LayerGraph, call: LayerCall) -> list[LayerCall]:
    """The calls that read `call`'s output, looking through the switches of one computation
    it feeds (their other paths compute the same, so are read the same)."""
    found: dict[int, LayerCall] = {}
    pending = deque(graph.consumers(call))
    seen = {node.node_id for node in pending}
    while pending:
        node = pending.popleft()
        if (
            _one_computation_switch(graph, node)
            and _same_computation(graph, graph.alternatives(node)[0], call)
        ) or (
            (_slot_switch(graph, node) or _built_switch(graph, node, call))
            and call in graph.alternatives(node)
        ):
            fresh = [c for c in graph.consumers(node) if c.node_id not in seen]
            seen.update(c.node_id for c in fresh)
            pending.extend(fresh)
        else:
            found.setdefault(node.node_id, node)
    return list(found.values())


def _paths_to_a_layer(
    graph: LayerGraph, consumers: list[LayerCall], bn: LayerCall
) -> list[LayerCall]:
    """Why the output may reach a layer that could take a fold on the paths where it has
    one reader: the control-flow merge of such a path, or what it leads to that the analysis
    cannot see (the caller, when the output is returned). None when a consumer reads it on
    every path: each path then has two readers."""
    found = []
    for reader, merge in _may_read_alone(graph, consumers):
        pending, seen = [reader], set()
        while pending:
            node = pending.pop()
            if node.node_id in seen:
                continue
            seen.add(node.node_id)
            if node.kind is NodeKind.CONTROL_FLOW:
                pending.extend(r for r, _ in _may_read_alone(graph, graph.consumers(node)))
            elif node.kind in _UNCERTAIN or _may_take_a_fold(graph, node, bn):
                found.append(node if node.kind in _UNCERTAIN else merge)
                break
    return found


def _may_read_alone(
    graph: LayerGraph, readers: list[LayerCall]
) -> list[tuple[LayerCall, LayerCall]]:
    """What one tensor's `readers` may hand it on to alone, on some path, each with the
    merge that stands for its path: the control-flow merges among them and the members of
    one of their paths, or the one reader every path has (itself). A member of one path
    only (a stage run under a condition, what an outside function does) flows into the
    merge its path ends in; any other reader reads it on every path, so next to a merge, or
    to a second such reader, no path has a single reader: nothing."""
    switches = [r for r in readers if r.kind is NodeKind.CONTROL_FLOW]
    merged = {r.node_id for r in switches}
    members = [r for r in readers if r.node_id not in merged and _ends_in(graph, r, merged)]
    always = [r for r in readers if r.node_id not in merged and r not in members]
    if len({_identity(r) for r in always}) + bool(switches) > 1:
        return []
    if not switches:
        return [(r, r) for r in always]
    return [(s, s) for s in switches] + [(m, switches[0]) for m in members]


_LEAVES = frozenset({NodeKind.OUTPUT, NodeKind.UNKNOWN})


def _ends_in(graph: LayerGraph, node: LayerCall, merges: set[int], budget: int = 256) -> bool:
    """Whether what `node` computes flows into the merges `merges` and nowhere else (`if c:
    x = self.stage(x)`: the stage's layers are members of one path, however many). A value
    nothing reads goes nowhere; one that reaches no merge (`x.mean() > 0` deciding the `if`)
    belongs to no path."""
    pending, seen, merged = [node], {node.node_id}, False
    while pending:
        current = pending.pop()
        if current is not node and current.kind in _LEAVES:
            return False  # returned, or handed to code the analysis does not see
        for consumer in graph.consumers(current):
            if consumer.node_id in merges:
                merged = True
            elif consumer.node_id not in seen:
                seen.add(consumer.node_id)
                if len(seen) > budget:
                    return False
                pending.append(consumer)
    return merged


def _partial_readers(
    graph: LayerGraph, readers: list[LayerCall], layer: LayerCall
) -> list[LayerCall]:
    """The readers of `layer`'s output that may not read it on every path: not a
    control-flow merge that reads it whichever path runs, nor an op on one of that merge's
    paths (`if c: x = x[..., 1:-1]` before `torch.cat([x, y])`: the slice is how the merge
    reads it on that path)."""
    covering = {r.node_id for r in readers if _reads_on_every_path(graph, r, layer)}
    return [
        r
        for r in readers
        if r.node_id not in covering and not (covering and _ends_in(graph, r, covering))
    ]


def _reads_on_every_path(graph: LayerGraph, reader: LayerCall, layer: LayerCall) -> bool:
    """Whether `reader`, a control-flow merge, reads `layer`'s output whichever path runs:
    each of its paths is that output or an op on it (what a function outside the analysed
    files does to it, or not). Any other reader is judged by _doubt."""
    if reader.kind is not NodeKind.CONTROL_FLOW:
        return False
    return all(
        a.node_id == layer.node_id or any(o.node_id == layer.node_id for o in graph.operands(a))
        for a in graph.alternatives(reader)
    )


def _may_take_a_fold(graph: LayerGraph, layer: LayerCall, bn: LayerCall) -> bool:
    """Whether `bn`'s output reaching `layer` on some path might fold into it there: not
    when the layer pads or groups for certain, or is also called on what `bn` never gives."""
    if layer.kind not in _INTO_FOLLOWING or layer.attrs.pads or layer.attrs.groups not in (None, 1):
        return False
    if layer.module_id is None:
        return True
    return all(
        any(
            _identity(source) == _identity(bn)
            for producer in graph.producers(site)
            for source in graph.alternatives(producer)
        )
        for site in graph.calls_of(layer.module_id)
    )


_NOT_LAYERS = frozenset(
    {
        NodeKind.ACTIVATION,
        NodeKind.POOL,
        NodeKind.RESHAPE,
        NodeKind.OTHER,
        NodeKind.INPUT,
        NodeKind.BATCHNORM,
        NodeKind.FUNCTIONAL_BN,
        NodeKind.FUNCTIONAL_CONV,
        NodeKind.MUL,
    }
)


def _never_a_layer(graph: LayerGraph, node: LayerCall, bn: LayerCall) -> bool:
    """Whether no path of control flow `node` hands `bn` a Conv/Linear output (paths whose
    tensor a BatchNorm of its rank cannot take never reach it)."""
    alternatives = [
        a for a in graph.alternatives(node) if bn.attrs.takes_input_of_rank(a.attrs.rank)
    ]
    return bool(alternatives) and all(_takes_no_fold(graph, a) for a in alternatives)


def _takes_no_fold(graph: LayerGraph, node: LayerCall, depth: int = 8) -> bool:
    """An op that is no layer, a sum or concatenation with a term that is one (every term
    must be a layer for a fold through it), or control flow whose every path is one: nothing
    that made this tensor can take a fold. (A reshape that may lay a Linear's features out
    on axis 1, `linear(x).reshape(n * t, f)`, may pass one on to the Linear.)"""
    if node.kind in _NOT_LAYERS:
        return _flattened_linear(graph, node) is None and _reordered_layer(graph, node) is None
    if depth == 0:
        return False
    if node.kind in _FOLDABLE_MERGES:
        _, terms = _merge_terms(graph, node)
        return any(_takes_no_fold(graph, t, depth - 1) for t in terms)
    if node.kind is NodeKind.CONTROL_FLOW:
        alternatives = graph.alternatives(node)
        return bool(alternatives) and all(_takes_no_fold(graph, a, depth - 1) for a in alternatives)
    return False


def _fold_into_following(graph: LayerGraph, bn: LayerCall) -> _SiteVerdict:
    consumers = _readers(graph, bn)
    why_not = "its output does not feed a single Conv/Linear"
    reordered = _reordered_consumer(graph, bn, consumers)
    if reordered is not None:
        layer, doubt = reordered
        if doubt is not None:
            return _skip(
                bn, rules.LINEAR_RANK_UNKNOWN, partner=layer, bn=bn.describe(), detail=doubt
            )
        return _fold_into_consumer(graph, bn, layer, why_not, reordered=True)
    if len(consumers) > 1 and all(_same_slot(consumers[0], c) for c in consumers[1:]):
        # the classes one layer may be built as, each followed on a path of its own
        verdicts = [_fold_into_consumer(graph, bn, c, why_not) for c in consumers]
        return _agreed(bn, consumers, verdicts)
    # One module called on its output more than once (on either path of a gradient-
    # checkpointing switch) is still a single layer for the fold.
    if len({_identity(c) for c in consumers}) != 1:
        return _doubt(bn, _paths_to_a_layer(graph, consumers, bn)) or _skip(
            bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=why_not
        )
    return _fold_into_consumer(graph, bn, consumers[0], why_not)


def _reordered_consumer(
    graph: LayerGraph, bn: LayerCall, readers: list[LayerCall]
) -> tuple[LayerCall, str | None] | None:
    """The Conv/Linear that alone takes the BatchNorm's output through reshapes that only
    reorder axes and bring its channels (axis 1) to the layer's input channels (a conv's
    axis 1, a Linear's last axis: speechbrain's BatchNorm1d wrapper before a Linear on
    (batch, time, features) data), and why the analysis cannot be sure they land there."""
    if len(readers) != 1 or readers[0].attrs.moves_axes is None:
        return None
    walked = _through_reorders(readers[0], lambda n: _readers(graph, n), _output_axis)
    if walked is None:
        return None
    node, _, axis, rank, doubt = walked
    if node.kind not in _INTO_FOLLOWING:
        return None
    same = _channel_axis(node, axis, rank)
    if same is False:
        return None
    if doubt is None and same is not None:
        return node, None
    where = doubt or readers[0]
    return node, (
        f"{where.describe()} brings its channels to the axis {node.describe()} takes only for "
        "some numbers of dimensions, and the analysis cannot tell how many the tensor has"
    )


def _output_axis(
    axis: int, moves: tuple[tuple[int, int], ...], rank: int | None
) -> tuple[int, bool]:
    """The output axis a reordering puts input `axis` on, and whether that is unsure: the
    input axis of the reverse reordering."""
    return _input_axis(axis, tuple((taken, out) for out, taken in moves), rank)


def _fold_into_consumer(
    graph: LayerGraph,
    bn: LayerCall,
    consumer: LayerCall,
    why_not: str,
    reordered: bool = False,
) -> _SiteVerdict:
    """`reordered`: the consumer takes the BatchNorm's output through reshapes that bring
    its channels to the layer's input channels (no axis check is left to make)."""
    if consumer.kind in _UNCERTAIN:
        rule = rules.get_rule(consumer.rule_code or rules.UNKNOWN_CALL.code)
        return _skip(
            bn,
            rule,
            bn=bn.describe(),
            detail=consumer.reason or f"its output goes to {consumer.describe()}",
        )
    if consumer.kind not in _INTO_FOLLOWING:
        return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=why_not)
    derived = _derived_weight(bn, consumer)
    if derived is not None:
        return derived
    producer_reason = _producer_reason(graph, bn)
    if consumer.kind is NodeKind.CONV:
        # A refusal the conv's known arguments give holds whatever the unknown ones are.
        if consumer.attrs.pads:
            return _skip(
                bn,
                rules.BN_BEFORE_PADDED_CONV,
                partner=consumer,
                bn=bn.describe(),
                consumer=consumer.describe(),
                detail="zero padding",
                producer_reason=producer_reason,
            )
        if consumer.attrs.groups not in (None, 1):
            return _skip(
                bn,
                rules.BN_BEFORE_GROUPED_CONV,
                partner=consumer,
                bn=bn.describe(),
                consumer=consumer.describe(),
                groups=consumer.attrs.groups,
                producer_reason=producer_reason,
            )
        for unknown, what in (
            (consumer.attrs.pads, "pads its input"),
            (consumer.attrs.groups, "is grouped"),
        ):
            if unknown is None:
                return _skip(
                    bn,
                    rules.CONDITIONAL_LAYER,
                    bn=bn.describe(),
                    detail=f"cannot tell whether the following {consumer.describe()} {what}",
                )
    if consumer.kind is NodeKind.LINEAR and not reordered:
        other_axis = _other_axis(bn, consumer, consumer.attrs.in_channels, "takes")
        if other_axis is not None:
            return other_axis
        if bn.attrs.spatial_dims not in (None, 1):
            return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=why_not)
    stray = _sites_not_preceded_by(graph, consumer, bn)
    if stray:
        return _doubt(bn, stray) or _skip(
            bn,
            rules.CONV_SHARED_ACROSS_SITES,
            partner=consumer,
            bn=bn.describe(),
            producer=consumer.describe(),
            others=_names(stray),
        )
    return _SiteVerdict(consumer, Direction.BN_CONV, None)


# ---- folds through a merge ------------------------------------------------------------------


def _fold_through_merge(graph: LayerGraph, bn: LayerCall, merge: LayerCall) -> _SiteVerdict:
    """A BatchNorm after a channel concatenation or a plain sum of Conv/Linear outputs, each
    feeding only the merge, folds into all of them: each layer of a concatenation absorbs its
    channel slice of the scale and shift; each layer of a sum the scale, and one the shift."""
    nodes, switched = _merge_terms(graph, merge)
    terms = [_built_first(graph, term) for term in switched]
    disagreement = _constructions_disagree(graph, bn, merge, nodes, switched)
    problems = chain(
        _merge_form(graph, bn, merge, nodes, terms),
        [disagreement] if disagreement else _term_problems(graph, bn, merge, nodes, terms),
    )
    # The first unfoldable problem wins, else the first unknown one. An unfoldable one ends
    # the search: in a dense block every earlier layer's output is read again later, and
    # each further term would cost a walk of all its readers.
    first_unknown = None
    for problem in problems:
        status = problem.skip.status if problem.skip is not None else None
        if status is Status.UNFOLDABLE:
            return problem
        if status is Status.UNKNOWN and first_unknown is None:
            first_unknown = problem
    if first_unknown is not None:
        return first_unknown
    if len(terms) == 1:  # torch.cat([conv(x)]) hands on its one tensor: a plain fold
        return _SiteVerdict(terms[0], Direction.CONV_BN, None)
    return _SiteVerdict(
        terms[0],
        Direction.CONV_BN,
        None,
        producers=tuple(terms),
        merge=_FOLDABLE_MERGES[merge.kind],
    )


def _built_first(graph: LayerGraph, term: LayerCall) -> LayerCall:
    """A branch whose layer is built as one class or another: the first (the fold is keyed
    by the place, the same for each); any other branch itself."""
    return graph.alternatives(term)[0] if _slot_switch(graph, term) else term


def _constructions_disagree(
    graph: LayerGraph,
    bn: LayerCall,
    merge: LayerCall,
    nodes: list[LayerCall],
    switched: list[LayerCall],
) -> _SiteVerdict | None:
    """XBN207 when a branch's layer is built as one class or another and what stands in the
    fold's way differs between them."""
    chosen = [_built_first(graph, term) for term in switched]
    for position, term in enumerate(switched):
        if not _slot_switch(graph, term):
            continue
        outcomes = {
            frozenset(
                (p.skip.status, p.skip.code)
                for p in _term_problems(
                    graph, bn, merge, nodes, [*chosen[:position], layer, *chosen[position + 1 :]]
                )
                if p.skip is not None
            )
            for layer in graph.alternatives(term)
        }
        if len(outcomes) > 1:
            return _skip(
                bn,
                rules.CONDITIONAL_LAYER,
                bn=bn.describe(),
                detail="it folds through the merge with some of the layers that may be built "
                f"for one of its branches ({_names(graph.alternatives(term))}) and not with "
                "others",
            )
    return None


def _merge_terms(graph: LayerGraph, merge: LayerCall) -> tuple[list[LayerCall], list[LayerCall]]:
    """The nodes a fold spans and the terms they combine, in operand order: a sum of sums
    (`a + b + c`, `+=` in a loop) is one sum when each inner sum feeds only the next, and a
    term resampled on its way in (an octave convolution's upsampled branch) is the layer
    before the resampling. The spanned nodes are the merges first, then the resamplings."""
    nodes: list[LayerCall] = []
    passed: list[LayerCall] = []
    terms: list[LayerCall] = []
    pending = [merge]
    while pending:
        node = pending.pop()
        inner_sum = (
            merge.kind is NodeKind.ADD
            and node.kind is NodeKind.ADD
            and bool(node.attrs.plain_merge)
            and len(graph.consumers(node)) == 1
        )
        if node is merge or inner_sum:
            nodes.append(node)
            pending.extend(reversed(graph.operands(node)))
        else:
            while _resamples(graph, node):
                passed.append(node)
                node = graph.operands(node)[0]
            terms.append(_past_switch(graph, node))
    return nodes + passed, terms


def _resamples(graph: LayerGraph, node: LayerCall) -> bool:
    """A resampling a BatchNorm's scale and shift pass through, fed by one tensor and feeding
    one consumer."""
    return (
        bool(node.attrs.keeps_channel_affine)
        and len(graph.operands(node)) == 1
        and len(graph.consumers(node)) == 1
    )


def _merge_form(
    graph: LayerGraph,
    bn: LayerCall,
    merge: LayerCall,
    nodes: list[LayerCall],
    terms: list[LayerCall],
) -> Iterable[_SiteVerdict]:
    """What is wrong with the merge itself: how it combines, what it leaves out, its axis,
    and who else reads its result."""
    for node in nodes:
        if node.kind not in MERGES:
            continue  # a resampling on a branch: `_merge_terms` checked it
        if node.attrs.plain_merge is False:
            detail = (
                "it stacks its inputs along a new axis"
                if node.kind is NodeKind.CAT
                else "it subtracts or scales a branch (only a plain sum folds)"
            )
            yield _merge_skip(bn, merge, detail)
        elif node.attrs.plain_merge is None:
            yield _skip(
                bn,
                rules.UNKNOWN_CALL,
                bn=bn.describe(),
                detail=f"cannot tell how {node.describe()} combines its inputs",
            )
        if node.attrs.operands is not None and node.attrs.operands > len(graph.operands(node)):
            yield _merge_skip(
                bn,
                merge,
                "one of its branches is a tensor no layer produced (a parameter or a constant)",
            )
    if not terms:
        yield _skip(
            bn,
            rules.UNKNOWN_CALL,
            bn=bn.describe(),
            detail=f"the analysis did not find the inputs of {merge.describe()}",
        )
    if merge.kind is NodeKind.CAT:
        axis = _off_channel_axis(bn, merge, terms)
        if axis is not None:
            yield axis
    others = [c for c in _readers(graph, merge) if _identity(c) != _identity(bn)]
    if others:
        verb = "concatenated" if merge.kind is NodeKind.CAT else "summed"
        uncertain = _partial_readers(graph, others, merge)
        yield _doubt(bn, uncertain) or _skip(
            bn,
            rules.PRODUCER_OUTPUT_SHARED,
            bn=bn.describe(),
            producer=f"the layers {verb} by {merge.describe()}",
            others=_names(others),
        )


def _off_channel_axis(bn: LayerCall, cat: LayerCall, terms: list[LayerCall]) -> _SiteVerdict | None:
    axis = cat.attrs.axis
    if axis is None:
        return _skip(
            bn,
            rules.UNKNOWN_CALL,
            bn=bn.describe(),
            detail=f"cannot tell along which axis {cat.describe()} concatenates",
        )
    rank = cat.attrs.rank or _rank(bn, terms)
    if axis < 0 and rank is None:
        return _skip(
            bn,
            rules.UNKNOWN_CALL,
            bn=bn.describe(),
            detail=f"cannot tell which axis dim={axis} of {cat.describe()} is: the "
            "number of dimensions of its inputs is not known",
        )
    resolved = axis + rank if axis < 0 and rank is not None else axis
    if resolved == 1:
        return None
    where = (
        f"dim={axis}" if axis == resolved else f"dim={axis} (axis {resolved} of a {rank}-D tensor)"
    )
    return _skip(
        bn, rules.BN_AFTER_NON_CHANNEL_CONCAT, bn=bn.describe(), producer=cat.describe(), axis=where
    )


def _rank(bn: LayerCall, terms: list[LayerCall]) -> int | None:
    """Dimensions of the tensors a concatenation joins, from the layers that make them
    (a Linear's output taken as (N, features)) or else from the BatchNorm that reads them."""
    ranks = {
        2
        if t.kind is NodeKind.LINEAR
        else (t.attrs.spatial_dims + 2 if t.attrs.spatial_dims is not None else None)
        for t in terms
        if t.kind in FOLD_TARGETS
    }
    if len(ranks) == 1 and None not in ranks and all(t.kind in FOLD_TARGETS for t in terms):
        return ranks.pop()
    dims = bn.attrs.spatial_dims
    return dims + 2 if dims in (2, 3) else None


def _term_problems(
    graph: LayerGraph,
    bn: LayerCall,
    merge: LayerCall,
    nodes: list[LayerCall],
    terms: list[LayerCall],
) -> Iterable[_SiteVerdict]:
    """What is wrong with the branches: not a Conv/Linear output, used twice, read by
    something else, or shaped unlike the BatchNorm."""
    inside = {node.node_id for node in nodes}
    seen_nodes: set[int] = set()
    seen_modules: set[Hashable] = set()
    for term in terms:
        if term.node_id in seen_nodes:
            yield _merge_skip(bn, merge, f"{term.describe()} enters it twice")
            continue
        seen_nodes.add(term.node_id)
        if term.kind not in FOLD_TARGETS:
            yield _not_a_layer(graph, bn, merge, term)
            continue
        if term.module_id is not None and term.module_id in seen_modules:
            yield _merge_skip(
                bn, merge, f"{term.describe()} computes more than one of its branches"
            )
        seen_modules.add(term.module_id)
        mismatch = _derived_weight(bn, term) or _term_shape(bn, merge, term)
        if mismatch is not None:
            yield mismatch
        others = [c for c in _readers(graph, term) if c.node_id not in inside]
        if others:
            yield _doubt(bn, _partial_readers(graph, others, term)) or _skip(
                bn,
                rules.PRODUCER_OUTPUT_SHARED,
                partner=term,
                bn=bn.describe(),
                producer=term.describe(),
                others=_names(others),
            )
        elsewhere = _called_elsewhere(graph, term, bn)
        if elsewhere is not None:
            yield elsewhere
    if merge.kind is NodeKind.CAT:
        total = _concatenated_channels(terms)
        features = bn.attrs.num_features
        if total is not None and features is not None and total != features:
            if all(t.kind is NodeKind.LINEAR for t in terms):
                yield _skip(
                    bn,
                    rules.BN_NORMALISES_OTHER_AXIS,
                    bn=bn.describe(),
                    layer=f"the Linear layers concatenated by {merge.describe()}",
                    detail=f"it has {features} channels, the Linear layers produce "
                    f"{total} features",
                )
            else:
                yield _skip(
                    bn,
                    rules.CHANNEL_MISMATCH,
                    bn=bn.describe(),
                    bn_channels=features,
                    producer=f"the concatenation {merge.describe()}",
                    channels=total,
                )


def _not_a_layer(
    graph: LayerGraph, bn: LayerCall, merge: LayerCall, term: LayerCall
) -> _SiteVerdict:
    if term.kind is NodeKind.CONTROL_FLOW and _takes_no_fold(graph, term):
        return _merge_skip(
            bn, merge, f"no path that makes {term.describe()} gives it a Conv/Linear output"
        )
    if term.kind in _UNCERTAIN:
        rule = rules.get_rule(term.rule_code or rules.UNKNOWN_CALL.code)
        return _skip(
            bn,
            rule,
            bn=bn.describe(),
            detail=term.reason or f"a branch of {merge.describe()} comes from {term.describe()}",
        )
    if term.conditional:
        return _skip(
            bn,
            rules.DATA_DEPENDENT_FLOW,
            bn=bn.describe(),
            detail=f"a branch of {merge.describe()} comes from {term.describe()}, "
            "which runs only on some paths of data-dependent control flow",
        )
    if term.kind is NodeKind.FUNCTIONAL_CONV:
        return _skip(
            bn,
            rules.FUNCTIONAL_LAYER,
            what=f"BatchNorm {bn.describe()}",
            detail=f"a branch of {merge.describe()} comes from the functional call "
            f"{term.describe()}, which has no module to fold into",
        )
    return _merge_skip(bn, merge, f"{term.describe()} is not the output of a Conv/Linear")


def _term_shape(bn: LayerCall, merge: LayerCall, term: LayerCall) -> _SiteVerdict | None:
    if merge.kind is NodeKind.CAT:
        return _other_axis(bn, term, None, "produces") or _dimension_mismatch(bn, term)
    channels, features = term.attrs.out_channels, bn.attrs.num_features
    if channels == 1 and features not in (None, 1):
        # Broadcast over every channel of the sum: one output channel cannot take a
        # per-channel scale.
        return _merge_skip(
            bn,
            merge,
            f"{term.describe()} has one channel, broadcast over the BatchNorm's {features}",
        )
    return _shape_mismatch(bn, term)


def _concatenated_channels(terms: list[LayerCall]) -> int | None:
    channels = [t.attrs.out_channels for t in terms]
    return sum(c for c in channels if c is not None) if None not in channels else None


def _merge_skip(bn: LayerCall, merge: LayerCall, detail: str) -> _SiteVerdict:
    return _skip(
        bn, rules.BN_AFTER_MERGE, bn=bn.describe(), producer=merge.describe(), detail=detail
    )


def _on_some_paths(
    graph: LayerGraph, bn: LayerCall, readers: list[LayerCall]
) -> _SiteVerdict | None:
    """The tensor is shared on every path the BatchNorm runs on only when, wherever it is
    called, some other reader runs on every path that call runs on; a reader on some of
    them only shares it there, and on the others the fold may hold."""
    if not readers:
        return None
    sites = graph.calls_of(bn.module_id) if bn.module_id is not None else []
    for site in sites or [bn]:
        if not any(
            r.kind is NodeKind.CONTROL_FLOW or site.paths[: len(r.paths)] == r.paths
            for r in readers
        ) and not _every_construction_reads(graph, readers, site):
            partial = next(r for r in readers if r.kind is not NodeKind.CONTROL_FLOW)
            return _skip(
                bn,
                rules.DATA_DEPENDENT_FLOW,
                bn=bn.describe(),
                detail=f"{partial.describe()} also reads its input, on some paths of control "
                "flow the analysis cannot decide",
            )
    return None


def _every_construction_reads(graph: LayerGraph, readers: list[LayerCall], site: LayerCall) -> bool:
    """Whether the readers include every class one layer may be built as (each followed on
    a path of its own from where `site` runs): whichever is built reads the tensor, as
    itself (a conv) or in its own forward() (a conv that pads its input first: `F.pad`,
    whose output that conv's call reads)."""
    by_slot: dict[str, set[int]] = {}
    for reader in readers:
        if not reader.paths or site.paths[: len(reader.paths) - 1] != reader.paths[:-1]:
            continue
        slot = reader.module_path or _slot_fed(graph, reader)
        if slot:
            by_slot.setdefault(slot, set()).add(reader.paths[-1])
    # every path of one split reads it (two hidden branches one after the other, each
    # reading it on one side, leave a path that reads it on neither)
    return any(
        len(split) > 1 and set(split) <= paths
        for paths in by_slot.values()
        for split in {graph.split_of(path) for path in paths}
    )


def _slot_fed(graph: LayerGraph, op: LayerCall, steps: int = 4) -> str:
    """The module a plain op's output goes into on the op's own path (a few ops on), or ""."""
    pending = [op]
    for _ in range(steps):
        following = [c for node in pending for c in graph.consumers(node) if c.paths == op.paths]
        if len(following) != 1:
            return ""
        if following[0].module_path:
            return following[0].module_path
        pending = following
    return ""


def _doubt(bn: LayerCall, evidence: list[LayerCall]) -> _SiteVerdict | None:
    """Evidence that only some paths of data-dependent control flow produce (or that the
    builder could not see into) cannot prove a BatchNorm unfoldable: it makes it unknown."""
    for call in evidence:
        if call.kind in _UNCERTAIN:
            rule = rules.get_rule(call.rule_code or rules.UNKNOWN_CALL.code)
            return _skip(
                bn,
                rule,
                bn=bn.describe(),
                detail=call.reason or f"its partner also feeds {call.describe()}",
            )
        if call.conditional:
            return _skip(
                bn,
                rules.DATA_DEPENDENT_FLOW,
                bn=bn.describe(),
                detail=f"{call.describe()} runs only on some paths of data-dependent control flow",
            )
    return None


def _producer_reason(graph: LayerGraph, bn: LayerCall) -> str:
    producers = graph.producers(bn)
    if len(producers) == 1:
        return f"and its input comes from {producers[0].describe()}"
    return "and it has no single producer"


def _derived_weight(bn: LayerCall, layer: LayerCall) -> _SiteVerdict | None:
    """A layer whose weight a parametrization computes before each call: a fold written into
    the weight is overwritten by the next call."""
    if layer.attrs.weight_derived is None:
        return None
    if not layer.attrs.weight_derived_certain:
        return _skip(
            bn,
            rules.CONDITIONAL_LAYER,
            partner=layer,
            bn=bn.describe(),
            detail=f"{layer.describe()} is built so in some configurations only: "
            f"{layer.attrs.weight_derived}",
        )
    return _skip(
        bn,
        rules.LAYER_WEIGHT_SHARED_OR_DERIVED,
        partner=layer,
        bn=bn.describe(),
        producer=layer.describe(),
        detail=layer.attrs.weight_derived,
    )


def _shape_mismatch(bn: LayerCall, producer: LayerCall) -> _SiteVerdict | None:
    return (
        _other_axis(bn, producer, producer.attrs.out_channels, "produces")
        or _dimension_mismatch(bn, producer)
        or _channel_mismatch(bn, producer)
    )


def _channel_mismatch(bn: LayerCall, producer: LayerCall) -> _SiteVerdict | None:
    channels = producer.attrs.out_channels
    features = bn.attrs.num_features
    if channels is not None and features is not None and channels != features:
        return _skip(
            bn,
            rules.CHANNEL_MISMATCH,
            partner=producer,
            bn=bn.describe(),
            bn_channels=features,
            producer=producer.describe(),
            channels=channels,
        )
    return None


def _other_axis(
    bn: LayerCall, layer: LayerCall, features: int | None, verb: str
) -> _SiteVerdict | None:
    """A Linear works on the last dim, a BatchNorm on dim 1: the same axis only on a 2-D
    tensor. A recorded rank above two says they differ; so do feature counts that differ
    (where the static half cannot see the rank, a mismatch means a 3-D input, not a crash);
    an unrecorded rank leaves it open."""
    if layer.kind is not NodeKind.LINEAR:
        return None
    rank, channels = layer.attrs.rank, bn.attrs.num_features
    if rank is not None and rank > 2:
        detail = f"the Linear works on a {rank}-D tensor"
    elif bn.attrs.spatial_dims in (2, 3):
        dims = bn.attrs.spatial_dims + 2
        detail = (
            f"a BatchNorm{dims - 2}d normalises a {dims}-D tensor, whose last axis the "
            "Linear works on"
        )
    elif rank is None and None not in (features, channels) and features != channels:
        detail = f"it has {channels} channels, the Linear {verb} {features} features"
    elif rank is None:
        return _skip(
            bn,
            rules.LINEAR_RANK_UNKNOWN,
            bn=bn.describe(),
            detail=f"the analysis cannot tell that the input of {layer.describe()} "
            "has two dimensions, the only case where a Linear and a "
            "BatchNorm work on the same axis",
        )
    else:
        return None
    return _skip(
        bn,
        rules.BN_NORMALISES_OTHER_AXIS,
        partner=layer,
        bn=bn.describe(),
        layer=layer.describe(),
        detail=detail,
    )


def _dimension_mismatch(bn: LayerCall, producer: LayerCall) -> _SiteVerdict | None:
    expected = 1 if producer.kind is NodeKind.LINEAR else producer.attrs.spatial_dims
    actual = bn.attrs.spatial_dims
    # Linear output may be (N, C) or (N, C, L): BatchNorm1d fits both; nothing else does.
    if expected is not None and actual is not None and expected != actual:
        return _skip(
            bn,
            rules.DIMENSION_MISMATCH,
            partner=producer,
            bn=bn.describe(),
            bn_type=f"BatchNorm{actual}d",
            producer=producer.describe(),
            producer_type=_layer_type(producer),
            expected=f"BatchNorm{expected}d",
        )
    return None


def _layer_type(call: LayerCall) -> str:
    if call.kind is NodeKind.LINEAR:
        return "Linear"
    prefix = "ConvTranspose" if call.kind is NodeKind.CONV_TRANSPOSE else "Conv"
    return f"{prefix}{call.attrs.spatial_dims}d"


def _called_elsewhere(graph: LayerGraph, layer: LayerCall, bn: LayerCall) -> _SiteVerdict | None:
    """Why `bn` cannot fold into `layer` when its module is also called where `bn` does not
    normalise the output alone (or the doubt, when those calls run only on some paths)."""
    stray = _sites_not_followed_by(graph, layer, bn)
    if not stray:
        return None
    return _doubt(bn, stray) or _skip(
        bn,
        rules.CONV_SHARED_ACROSS_SITES,
        partner=layer,
        bn=bn.describe(),
        producer=layer.describe(),
        others=_names(stray),
    )


def _sites_not_followed_by(
    graph: LayerGraph, producer: LayerCall, bn: LayerCall
) -> list[LayerCall]:
    """Other calls of the producer's module whose output is not normalised by `bn` alone."""
    if producer.module_id is None:
        return []
    stray = []
    for site in graph.calls_of(producer.module_id):
        if site.node_id == producer.node_id:
            continue
        if not _normalised_only_by(graph, site, bn):
            stray.append(site)
    return stray


def _normalised_only_by(graph: LayerGraph, site: LayerCall, bn: LayerCall) -> bool:
    """Whether `site`'s output goes to `bn` alone, directly or through concatenations and sums
    that feed nothing else (that BatchNorm's verdict at that call decides the rest)."""
    node = site
    for _ in range(len(graph)):
        consumers = _readers(graph, node)
        if consumers and all(_identity(c) == _identity(bn) for c in consumers):
            return True  # the same BatchNorm on each path of a switch
        if len(consumers) != 1:
            return False
        node = consumers[0]
        if node.kind is NodeKind.BATCHNORM:
            return _identity(node) == _identity(bn)
        if (
            node.kind not in _FOLDABLE_MERGES
            and not _resamples(graph, node)
            and not (
                node.attrs.flattens_leading
                or node.attrs.features_last
                or node.attrs.moves_axes is not None
            )
        ):
            return False
    return False


def _sites_not_preceded_by(
    graph: LayerGraph, consumer: LayerCall, bn: LayerCall
) -> list[LayerCall]:
    """Other calls of the consumer's module whose input is not `bn`'s output alone."""
    if consumer.module_id is None:
        return []
    stray = []
    for site in graph.calls_of(consumer.module_id):
        if site.node_id == consumer.node_id:
            continue
        producers = [_past_switch(graph, p) for p in graph.producers(site)]
        if not (
            len(producers) == 1
            and producers[0].kind is NodeKind.BATCHNORM
            and _identity(producers[0]) == _identity(bn)
            and all(
                _identity(c) == _identity(consumer) or _same_slot(c, consumer)
                for c in _readers(graph, producers[0])
            )
        ):
            stray.append(site)
    return stray


def _redundant_bias(pair: FoldPair) -> Iterable[Finding]:
    if pair.direction is not Direction.CONV_BN:
        return
    rule = rules.REDUNDANT_BIAS
    for layer in pair.layers:
        if layer.attrs.bias:
            # Reported where the layer is built (where bias=True is written): the message names
            # both layers by where they are built, that line first.
            where = layer.construction or layer.location
            with reported_in(where):
                message = rule.format(
                    producer=layer.describe(built=True), bn=pair.bn.describe(built=True)
                )
            yield Finding(rule.code, message, layer, where)


def _functional_batch_norms(graph: LayerGraph) -> Iterable[Finding]:
    rule = rules.FUNCTIONAL_LAYER
    for call in graph.nodes(NodeKind.FUNCTIONAL_BN):
        yield Finding(
            rule.code,
            rule.format(
                what=f"Functional batch norm {call.describe()}",
                detail="it has no module whose statistics a fold could take",
            ),
            call,
        )


def _names(calls: list[LayerCall]) -> str:
    return ", ".join(dict.fromkeys(call.describe() for call in calls))


def _skip(
    batchnorm: LayerCall, rule: rules.Rule, partner: LayerCall | None = None, **fields: object
) -> _SiteVerdict:
    status = rule.status or Status.UNFOLDABLE
    return _SiteVerdict(
        None,
        None,
        Skip(
            bn=batchnorm,
            status=status,
            code=rule.code,
            reason=rule.format(**fields),
            partner=partner,
        ),
    )
