"""The fold rules, once, for both builders: LayerGraph in, FoldPlan out.

Every BatchNorm module in the graph gets exactly one verdict: a FoldPair or a Skip. A module
called at several sites folds only when every site agrees on the partner and direction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable

from bnlint import rules
from bnlint.ftypes import (
    FOLD_TARGETS,
    MERGES,
    Direction,
    Finding,
    FoldPair,
    FoldPlan,
    LayerCall,
    NodeKind,
    Skip,
    Status,
)
from bnlint.graph import LayerGraph

log = logging.getLogger("bnlint.matcher")

# Following layers a BatchNorm can fold into exactly (a transposed conv scatters the shift
# unevenly at its borders, so it is not one of them).
_INTO_FOLLOWING = frozenset({NodeKind.CONV, NodeKind.LINEAR})
_UNCERTAIN = frozenset({NodeKind.UNKNOWN, NodeKind.CONTROL_FLOW})


@dataclass(frozen=True)
class _SiteVerdict:
    """What one call of a BatchNorm allows: a fold (partner set) or a skip."""

    partner: LayerCall | None
    direction: Direction | None
    skip: Skip | None


def match_folds(graph: LayerGraph) -> FoldPlan:
    """Decide every BatchNorm in `graph`: fold it (and with what) or say why not."""
    sites: dict[Hashable, list[LayerCall]] = defaultdict(list)
    for call in graph.nodes(NodeKind.BATCHNORM):
        sites[_identity(call)].append(call)

    folds: list[FoldPair] = []
    skips: list[Skip] = []
    findings: list[Finding] = []
    for calls in sites.values():
        verdict = _combine(graph, calls)
        if verdict.skip is not None:
            skips.append(verdict.skip)
            log.info("%s: %s %s", verdict.skip.code, verdict.skip.bn.label, verdict.skip.reason)
            continue
        assert verdict.partner is not None and verdict.direction is not None
        pair = FoldPair(conv=verdict.partner, bn=calls[0], direction=verdict.direction)
        folds.append(pair)
        log.info("fold %s -> %s (%s)", pair.conv.label, pair.bn.label, pair.direction.value)
        findings.extend(_redundant_bias(pair))
    findings.extend(_functional_batch_norms(graph))
    return FoldPlan(folds=tuple(folds), skips=tuple(skips), findings=tuple(findings))


def _identity(call: LayerCall) -> Hashable:
    return call.module_id if call.module_id is not None else ("call", call.node_id)


def _combine(graph: LayerGraph, calls: list[LayerCall]) -> _SiteVerdict:
    first = calls[0]
    if first.attrs.track_running_stats is False:
        return _skip(first, rules.BN_WITHOUT_RUNNING_STATS, bn=first.describe())
    verdicts = [_site_verdict(graph, call) for call in calls]
    # One certain reason at any call site settles it; otherwise one doubt does.
    for status in (Status.UNFOLDABLE, Status.UNKNOWN):
        for verdict in verdicts:
            if verdict.skip is not None and verdict.skip.status is status:
                return verdict
    partners = {(_identity(v.partner), v.direction) for v in verdicts if v.partner is not None}
    if len(partners) > 1:
        producers = ", ".join(sorted({v.partner.describe() for v in verdicts if v.partner}))
        return _skip(first, rules.BN_SHARED_ACROSS_SITES, bn=first.describe(),
                     sites=len(calls), producers=producers)
    return verdicts[0]


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
        return _skip(bn, rules.UNKNOWN_CALL, bn=bn.describe(),
                     detail="the analysis did not find the tensor it normalises")
    producer = producers[0]

    before = _fold_into_preceding(graph, bn, producer)
    if before.skip is None:
        return before
    after = _fold_into_following(graph, bn)
    if after.skip is None:
        return after

    if producer.kind in FOLD_TARGETS:
        return before
    if after.skip.code in (rules.BN_BEFORE_PADDED_CONV.code, rules.BN_BEFORE_GROUPED_CONV.code):
        return after
    if after.skip.status is Status.UNKNOWN and before.skip.status is Status.UNFOLDABLE:
        return after
    return before


def _fold_into_preceding(graph: LayerGraph, bn: LayerCall, producer: LayerCall) -> _SiteVerdict:
    kind = producer.kind
    if kind in FOLD_TARGETS:
        mismatch = _shape_mismatch(bn, producer)
        if mismatch is not None:
            return mismatch
        others = [c for c in graph.consumers(producer) if c.node_id != bn.node_id]
        if others:
            doubt = _doubt(bn, others)
            if doubt is not None:
                return doubt
            return _skip(bn, rules.PRODUCER_OUTPUT_SHARED, partner=producer, bn=bn.describe(),
                         producer=producer.describe(), others=_names(others))
        stray = _sites_not_followed_by(graph, producer, bn)
        if stray:
            return _doubt(bn, stray) or _skip(
                bn, rules.CONV_SHARED_ACROSS_SITES, partner=producer, bn=bn.describe(),
                producer=producer.describe(), others=_names(stray))
        return _SiteVerdict(producer, Direction.CONV_BN, None)
    if kind in _UNCERTAIN:
        rule = rules.get_rule(producer.rule_code or rules.UNKNOWN_CALL.code)
        detail = producer.reason or f"its input comes from {producer.describe()}"
        return _skip(bn, rule, bn=bn.describe(), detail=detail)
    if kind is NodeKind.FUNCTIONAL_CONV:
        return _skip(bn, rules.FUNCTIONAL_LAYER, what=f"BatchNorm {bn.describe()}",
                     detail=f"its input comes from the functional call {producer.describe()}, "
                            "which has no module to fold into")
    if kind in MERGES:
        return _skip(bn, rules.BN_AFTER_MERGE, bn=bn.describe(), producer=producer.describe())
    if kind is NodeKind.ACTIVATION:
        return _skip(bn, rules.BN_AFTER_ACTIVATION, bn=bn.describe(),
                     producer=producer.describe())
    if kind is NodeKind.INPUT:
        return _skip(bn, rules.BN_ON_MODEL_INPUT, bn=bn.describe(),
                     producer=producer.describe(),
                     consumer_reason="nothing after it can absorb it")
    return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=producer.describe())


def _fold_into_following(graph: LayerGraph, bn: LayerCall) -> _SiteVerdict:
    consumers = graph.consumers(bn)
    why_not = "its output does not feed a single Conv/Linear"
    if len(consumers) != 1:
        return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=why_not)
    consumer = consumers[0]
    if consumer.kind in _UNCERTAIN:
        rule = rules.get_rule(consumer.rule_code or rules.UNKNOWN_CALL.code)
        return _skip(bn, rule, bn=bn.describe(),
                     detail=consumer.reason or f"its output goes to {consumer.describe()}")
    if consumer.kind not in _INTO_FOLLOWING:
        return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=why_not)
    producer_reason = _producer_reason(graph, bn)
    if consumer.kind is NodeKind.CONV:
        if consumer.attrs.pads is None:
            return _skip(bn, rules.CONDITIONAL_LAYER, bn=bn.describe(),
                         detail=f"cannot tell whether the following {consumer.describe()} "
                                "pads its input")
        if consumer.attrs.pads:
            return _skip(bn, rules.BN_BEFORE_PADDED_CONV, partner=consumer, bn=bn.describe(),
                         consumer=consumer.describe(), detail="zero padding",
                         producer_reason=producer_reason)
        if consumer.attrs.groups is None:
            return _skip(bn, rules.CONDITIONAL_LAYER, bn=bn.describe(),
                         detail=f"cannot tell whether the following {consumer.describe()} "
                                "is grouped")
        if consumer.attrs.groups != 1:
            return _skip(bn, rules.BN_BEFORE_GROUPED_CONV, partner=consumer, bn=bn.describe(),
                         consumer=consumer.describe(), groups=consumer.attrs.groups,
                         producer_reason=producer_reason)
    if consumer.kind is NodeKind.LINEAR and bn.attrs.spatial_dims not in (None, 1):
        return _skip(bn, rules.BN_AFTER_OTHER_OP, bn=bn.describe(), producer=why_not)
    stray = _sites_not_preceded_by(graph, consumer, bn)
    if stray:
        return _doubt(bn, stray) or _skip(
            bn, rules.CONV_SHARED_ACROSS_SITES, partner=consumer, bn=bn.describe(),
            producer=consumer.describe(), others=_names(stray))
    return _SiteVerdict(consumer, Direction.BN_CONV, None)


def _doubt(bn: LayerCall, evidence: list[LayerCall]) -> _SiteVerdict | None:
    """Evidence that only some paths of data-dependent control flow produce (or that the
    builder could not see into) cannot prove a BatchNorm unfoldable: it makes it unknown."""
    for call in evidence:
        if call.kind in _UNCERTAIN:
            rule = rules.get_rule(call.rule_code or rules.UNKNOWN_CALL.code)
            return _skip(bn, rule, bn=bn.describe(),
                         detail=call.reason or f"its partner also feeds {call.describe()}")
        if call.conditional:
            return _skip(bn, rules.DATA_DEPENDENT_FLOW, bn=bn.describe(),
                         detail=f"{call.describe()} runs only on some paths of data-dependent "
                                "control flow")
    return None


def _producer_reason(graph: LayerGraph, bn: LayerCall) -> str:
    producers = graph.producers(bn)
    if len(producers) == 1:
        return f"and its input comes from {producers[0].describe()}"
    return "and it has no single producer"


def _shape_mismatch(bn: LayerCall, producer: LayerCall) -> _SiteVerdict | None:
    expected = 1 if producer.kind is NodeKind.LINEAR else producer.attrs.spatial_dims
    actual = bn.attrs.spatial_dims
    # Linear output may be (N, C) or (N, C, L): BatchNorm1d fits both; nothing else does.
    if expected is not None and actual is not None and expected != actual:
        return _skip(bn, rules.DIMENSION_MISMATCH, partner=producer, bn=bn.describe(),
                     bn_type=f"BatchNorm{actual}d", producer=producer.describe(),
                     producer_type=_layer_type(producer), expected=f"BatchNorm{expected}d")
    channels = producer.attrs.out_channels
    features = bn.attrs.num_features
    if channels is not None and features is not None and channels != features:
        return _skip(bn, rules.CHANNEL_MISMATCH, partner=producer, bn=bn.describe(),
                     bn_channels=features, producer=producer.describe(), channels=channels)
    return None


def _layer_type(call: LayerCall) -> str:
    if call.kind is NodeKind.LINEAR:
        return "Linear"
    prefix = "ConvTranspose" if call.kind is NodeKind.CONV_TRANSPOSE else "Conv"
    return f"{prefix}{call.attrs.spatial_dims}d"


def _sites_not_followed_by(graph: LayerGraph, producer: LayerCall,
                           bn: LayerCall) -> list[LayerCall]:
    """Other calls of the producer's module whose output is not normalised by `bn` alone."""
    if producer.module_id is None:
        return []
    stray = []
    for site in graph.nodes():
        if site.module_id != producer.module_id or site.node_id == producer.node_id:
            continue
        consumers = graph.consumers(site)
        if not (len(consumers) == 1 and consumers[0].kind is NodeKind.BATCHNORM
                and _identity(consumers[0]) == _identity(bn)):
            stray.append(site)
    return stray


def _sites_not_preceded_by(graph: LayerGraph, consumer: LayerCall,
                           bn: LayerCall) -> list[LayerCall]:
    """Other calls of the consumer's module whose input is not `bn`'s output alone."""
    if consumer.module_id is None:
        return []
    stray = []
    for site in graph.nodes():
        if site.module_id != consumer.module_id or site.node_id == consumer.node_id:
            continue
        producers = graph.producers(site)
        if not (len(producers) == 1 and producers[0].kind is NodeKind.BATCHNORM
                and _identity(producers[0]) == _identity(bn)
                and len(graph.consumers(producers[0])) == 1):
            stray.append(site)
    return stray


def _redundant_bias(pair: FoldPair) -> Iterable[Finding]:
    if pair.direction is Direction.CONV_BN and pair.conv.attrs.bias:
        rule = rules.REDUNDANT_BIAS
        yield Finding(rule.code, rule.format(producer=pair.conv.describe(), bn=pair.bn.describe()),
                      pair.conv, pair.conv.construction or pair.conv.location)


def _functional_batch_norms(graph: LayerGraph) -> Iterable[Finding]:
    rule = rules.FUNCTIONAL_LAYER
    for call in graph.nodes(NodeKind.FUNCTIONAL_BN):
        yield Finding(rule.code, rule.format(
            what=f"Functional batch norm {call.describe()}",
            detail="it has no module whose statistics a fold could take"), call)


def _names(calls: list[LayerCall]) -> str:
    return ", ".join(dict.fromkeys(call.describe() for call in calls))


def _skip(batchnorm: LayerCall, rule: rules.Rule, partner: LayerCall | None = None,
          **fields: object) -> _SiteVerdict:
    status = rule.status or Status.UNFOLDABLE
    return _SiteVerdict(None, None, Skip(bn=batchnorm, status=status, code=rule.code,
                                         reason=rule.format(**fields), partner=partner))
