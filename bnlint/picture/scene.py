"""What a fold-plan picture shows, independent of the drawing language: boxes, arrows and
groups, each BatchNorm coloured by its verdict and every fold edge marked.

`build_scene` is the one place that decides what the picture says; dot.py and mermaid.py only
spell it out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum

from bnlint import rules
from bnlint.foldkey import merged_name
from bnlint.ftypes import (
    FOLD_TARGETS,
    MERGES,
    Direction,
    FoldPlan,
    LayerCall,
    Merge,
    NodeKind,
    Status,
)
from bnlint.graph import LayerGraph
from bnlint.picture.collapse import Collapse, collapse_repeats


class Style(str, Enum):
    """The look of a box; each renderer maps these to its own colours."""

    LAYER = "layer"  # Conv / ConvTranspose / Linear
    FOLDED = "folded"  # a BatchNorm the plan folds
    UNFOLDABLE = "unfoldable"
    UNKNOWN = "unknown"
    OP = "op"  # activation, pooling, add, cat, view ...
    DOUBT = "doubt"  # something the builder could not see into (carries a rule code)
    IO = "io"  # model input and output


STYLE_OF_STATUS = {
    Status.FOLDABLE: Style.FOLDED,
    Status.UNFOLDABLE: Style.UNFOLDABLE,
    Status.UNKNOWN: Style.UNKNOWN,
}


@dataclass(frozen=True)
class Box:
    key: str  # a stable identifier: "n<node id>"
    lines: tuple[str, ...]  # the text, one entry a line
    style: Style


@dataclass(frozen=True)
class Arrow:
    tail: str
    head: str
    fold: bool = False  # the two ends fold together


@dataclass(frozen=True)
class Group:
    """Identical consecutive blocks drawn once: `title` says which and how many."""

    key: str
    title: str
    members: tuple[str, ...]  # box keys directly inside (not inside a nested group)
    parent: str | None = None


@dataclass(frozen=True)
class Scene:
    title: str
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    groups: tuple[Group, ...] = ()

    def children(self, parent: str | None) -> list[Group]:
        return [group for group in self.groups if group.parent == parent]

    def grouped(self) -> set[str]:
        return {key for group in self.groups for key in group.members}

    def items(self, parent: str | None = None) -> list[Box | Group]:
        """The boxes and groups directly inside `parent` (None: the top level), in the order
        the model runs them, so that a drawing lists a run where its blocks ran."""
        order = {box.key: index for index, box in enumerate(self.boxes)}
        inside = {group.key: group for group in self.groups}

        def first(group: Group) -> int:
            nested = [first(child) for child in self.children(group.key)]
            return min([order[key] for key in group.members] + nested, default=len(order))

        members = (
            set(inside[parent].members)
            if parent is not None
            else {box.key for box in self.boxes} - self.grouped()
        )
        ranked: list[tuple[int, Box | Group]] = [
            (order[box.key], box) for box in self.boxes if box.key in members
        ]
        ranked += [(first(group), group) for group in self.children(parent)]
        return [item for _, item in sorted(ranked, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class Verdict:
    """What the plan decided about one BatchNorm module."""

    status: Status
    code: str | None
    partners: tuple[LayerCall, ...] = ()
    direction: Direction | None = None
    merge: Merge | None = None  # a fold into every layer feeding a cat or a sum


def identity(call: LayerCall) -> Hashable:
    """The matcher's notion of "the same BatchNorm": one module, however often called."""
    return call.module_id if call.module_id is not None else ("call", call.node_id)


def verdicts_of(plan: FoldPlan) -> dict[Hashable, Verdict]:
    verdicts: dict[Hashable, Verdict] = {}
    for pair in plan.folds:
        verdicts[identity(pair.bn)] = Verdict(
            Status.FOLDABLE, None, pair.layers, pair.direction, pair.merge
        )
    for skip in plan.skips:
        partners = (skip.partner,) if skip.partner is not None else ()
        verdicts[identity(skip.bn)] = Verdict(skip.status, skip.code, partners)
    return verdicts


def build_scene(title: str, graph: LayerGraph, plan: FoldPlan, *, collapse: bool = True) -> Scene:
    """The picture of `graph` under `plan`; identical consecutive blocks are drawn once
    unless `collapse` is False."""
    verdicts = verdicts_of(plan)
    folding = _fold_edges(graph, verdicts)
    shrink = (
        collapse_repeats(graph, lambda call: _tag(call, verdicts))
        if collapse
        else Collapse.none(graph)
    )
    boxes = tuple(_box(graph.node(node_id), verdicts, shrink) for node_id in sorted(shrink.kept))
    arrows: dict[tuple[str, str], bool] = {}
    for tail_id, head_id in sorted(graph.digraph.edges):
        tail, head = shrink.representative(tail_id), shrink.representative(head_id)
        if tail is None or head is None or tail == head or shrink.crosses_run(tail_id, head_id):
            continue
        key = (f"n{tail}", f"n{head}")
        arrows[key] = arrows.get(key, False) or (tail_id, head_id) in folding
    groups = tuple(
        Group(
            f"g{index}",
            shrink.title(run),
            tuple(f"n{m}" for m in run.members),
            f"g{run.parent}" if run.parent is not None else None,
        )
        for index, run in enumerate(shrink.runs)
    )
    return Scene(
        title=_headline(title, verdicts),
        boxes=boxes,
        arrows=tuple(Arrow(t, h, f) for (t, h), f in arrows.items()),
        groups=groups,
    )


def _fold_edges(graph: LayerGraph, verdicts: dict[Hashable, Verdict]) -> set[tuple[int, int]]:
    """The edges a fold runs along: layer to BatchNorm (or back, for bn_conv), and for a fold
    through a concatenation or sum, every layer to the merge and the merge to the BatchNorm."""
    edges = set()
    for bn in graph.nodes(NodeKind.BATCHNORM):
        verdict = verdicts.get(identity(bn))
        if verdict is None or verdict.status is not Status.FOLDABLE:
            continue
        layers = {identity(layer) for layer in verdict.partners}
        for producer in graph.producers(bn):
            if identity(producer) in layers:
                edges.add((producer.node_id, bn.node_id))
            elif producer.kind in MERGES:
                inputs = [p for p in graph.producers(producer) if identity(p) in layers]
                if inputs:
                    edges.add((producer.node_id, bn.node_id))
                    edges.update((p.node_id, producer.node_id) for p in inputs)
        edges.update((bn.node_id, c.node_id) for c in graph.consumers(bn) if identity(c) in layers)
    return edges


def _headline(title: str, verdicts: dict[Hashable, Verdict]) -> str:
    counts = Counter(v.status for v in verdicts.values())
    return (
        f"{title}: {counts[Status.FOLDABLE]} folded, {counts[Status.UNFOLDABLE]} "
        f"unfoldable, {counts[Status.UNKNOWN]} unknown"
    )


def _box(call: LayerCall, verdicts: dict[Hashable, Verdict], shrink: Collapse) -> Box:
    name = shrink.rename(call)
    kind = call.kind
    type_name = _short(call.attrs.type_name)
    if kind is NodeKind.BATCHNORM:
        verdict = verdicts.get(identity(call))
        if verdict is None:  # the plan covers every BatchNorm; keep drawing if it does not
            return Box(f"n{call.node_id}", (name, type_name or "BatchNorm"), Style.UNKNOWN)
        return Box(
            f"n{call.node_id}",
            (name, type_name or "BatchNorm", *_verdict_lines(verdict, shrink)),
            STYLE_OF_STATUS[verdict.status],
        )
    if kind in FOLD_TARGETS:
        return Box(f"n{call.node_id}", (name, type_name or kind.value), Style.LAYER)
    if kind in (NodeKind.INPUT, NodeKind.OUTPUT):
        return Box(f"n{call.node_id}", (name,), Style.IO)
    if kind in (NodeKind.UNKNOWN, NodeKind.CONTROL_FLOW):
        lines = (name, call.rule_code) if call.rule_code else (name,)
        return Box(f"n{call.node_id}", lines, Style.DOUBT)
    if kind in (NodeKind.FUNCTIONAL_CONV, NodeKind.FUNCTIONAL_BN):
        return Box(f"n{call.node_id}", (name, "functional"), Style.DOUBT)
    return Box(f"n{call.node_id}", (name,), Style.OP)


def _verdict_lines(verdict: Verdict, shrink: Collapse) -> tuple[str, ...]:
    if verdict.status is Status.FOLDABLE:
        names = [shrink.rename(layer) for layer in verdict.partners]
        into = merged_name(names, verdict.merge) if verdict.merge else ", ".join(names)
        where = "following " if verdict.direction is Direction.BN_CONV else ""
        return (f"folded into {where}{into}",)
    rule = rules.RULES.get(verdict.code or "")
    why = f"{verdict.status.value} {verdict.code}"
    return (why, f"({rule.name})") if rule is not None else (why,)


def _tag(call: LayerCall, verdicts: dict[Hashable, Verdict]) -> tuple[object, ...]:
    """What must match for two blocks to be drawn as one: the node's kind, its layer's
    configuration (channels, groups, padding...) and its verdict."""
    verdict = verdicts.get(identity(call)) if call.kind is NodeKind.BATCHNORM else None
    if verdict is None:
        return (call.kind, call.attrs, call.rule_code)
    return (call.kind, call.attrs, verdict.status, verdict.code, verdict.direction)


def _short(type_name: str | None) -> str | None:
    return type_name.rsplit(".", 1)[-1] if type_name else None
