"""The matcher's rules for folds through a merge, on hand-built LayerGraphs: what each builder
must record (operand order, the axis, how the merge combines) and what the verdict is when
it could not."""

from __future__ import annotations

from bnlint.foldkey import pair_key
from bnlint.ftypes import (
    LayerAttrs,
    LayerCall,
    Merge,
    ModuleFrame,
    NodeKind,
)
from bnlint.graph import LayerGraph
from bnlint.matcher import match_folds

ROOT = ModuleFrame("", "m.Net")
BLOCK = ModuleFrame("block", "m.Block")


def layer(
    graph: LayerGraph,
    kind: NodeKind,
    path: str,
    *inputs: LayerCall,
    scope: tuple[ModuleFrame, ...] = (ROOT,),
    **attrs: object,
) -> LayerCall:
    defaults = {
        NodeKind.BATCHNORM: {"num_features": 8, "spatial_dims": 2, "track_running_stats": True},
        NodeKind.CONV: {"out_channels": 8, "spatial_dims": 2},
    }.get(kind, {})
    call = graph.add(
        LayerCall(
            node_id=-1,
            kind=kind,
            label=path,
            module_id=path,
            scope=scope + tuple(ModuleFrame(n, "torch.nn.X") for n in path.split(".")),
            attrs=LayerAttrs(**{**defaults, **attrs}),
        )
    )  # type: ignore[arg-type]
    for producer in inputs:
        graph.connect(producer, call)
    return call


def op(
    graph: LayerGraph,
    kind: NodeKind,
    label: str,
    *inputs: LayerCall,
    rule_code: str | None = None,
    **attrs: object,
) -> LayerCall:
    call = graph.add(
        LayerCall(
            node_id=-1, kind=kind, label=label, rule_code=rule_code, attrs=LayerAttrs(**attrs)
        )
    )  # type: ignore[arg-type]
    for producer in inputs:
        graph.connect(producer, call)
    return call


def verdict(graph: LayerGraph) -> tuple[str, str | None]:
    plan = match_folds(graph)
    if plan.folds:
        (pair,) = plan.folds
        return "foldable", str(pair_key(pair))
    (skip,) = plan.skips
    return skip.status.value, skip.code


def sum_graph(*terms: str, **attrs: object) -> tuple[LayerGraph, list[LayerCall]]:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    calls = [layer(graph, NodeKind.CONV, t, x) if t != "x" else x for t in terms]
    plus = op(
        graph, NodeKind.ADD, "+", *calls, **{"plain_merge": True, "operands": len(calls), **attrs}
    )
    layer(graph, NodeKind.BATCHNORM, "bn", plus)
    return graph, calls


def test_operands_come_in_order_with_repeats() -> None:
    graph = LayerGraph()
    a = op(graph, NodeKind.INPUT, "a")
    b = op(graph, NodeKind.INPUT, "b")
    cat = op(graph, NodeKind.CAT, "cat", b, a, b)
    assert [c.label for c in graph.operands(cat)] == ["b", "a", "b"]
    assert {c.label for c in graph.producers(cat)} == {"a", "b"}


def test_a_plain_sum_of_convs_folds_and_is_named_by_all_of_them() -> None:
    graph, _ = sum_graph("branch_a", "branch_b", "branch_c")
    assert verdict(graph) == ("foldable", "m.Net: branch_a+branch_b+branch_c -> bn")


def test_a_merge_fold_is_owned_by_the_module_holding_every_layer() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    inner = layer(graph, NodeKind.CONV, "a", x, scope=(ROOT, BLOCK), out_channels=3)
    outer = layer(graph, NodeKind.CONV, "b", x, out_channels=5)
    cat = op(graph, NodeKind.CAT, "torch.cat", inner, outer, axis=1, plain_merge=True, operands=2)
    layer(graph, NodeKind.BATCHNORM, "bn", cat, scope=(ROOT, BLOCK))
    key = pair_key(match_folds(graph).folds[0])
    assert str(key) == "m.Net: cat(block.a,b) -> block.bn"
    assert (key.producers, key.merge) == (("block.a", "b"), Merge.CAT)


def test_a_concatenation_with_the_wrong_channel_count_is_the_bug_it_is() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    a = layer(graph, NodeKind.CONV, "a", x, out_channels=4)
    b = layer(graph, NodeKind.CONV, "b", x, out_channels=5)
    cat = op(graph, NodeKind.CAT, "torch.cat", a, b, axis=1, plain_merge=True, operands=2)
    layer(graph, NodeKind.BATCHNORM, "bn", cat)
    assert verdict(graph) == ("unfoldable", "XBN301")


def test_a_concatenation_of_one_tensor_is_a_plain_fold() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    a = layer(graph, NodeKind.CONV, "a", x)
    cat = op(graph, NodeKind.CAT, "torch.cat", a, axis=1, plain_merge=True, operands=1)
    layer(graph, NodeKind.BATCHNORM, "bn", cat)
    (pair,) = match_folds(graph).folds
    assert (str(pair_key(pair)), pair.producers, pair.merge) == ("m.Net: a -> bn", (), None)


def _cat_graph(**cat_attrs: object) -> LayerGraph:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    a = layer(graph, NodeKind.CONV, "a", x, out_channels=4)
    b = layer(graph, NodeKind.CONV, "b", x, out_channels=4)
    cat = op(graph, NodeKind.CAT, "torch.cat", a, b, plain_merge=True, operands=2, **cat_attrs)
    layer(graph, NodeKind.BATCHNORM, "bn", cat, spatial_dims=None)
    return graph


def test_a_concatenation_axis_the_builder_could_not_read_is_unknown() -> None:
    assert verdict(_cat_graph(axis=None)) == ("unknown", "XBN204")


def test_a_negative_axis_is_resolved_by_the_rank_of_the_joined_tensors() -> None:
    assert verdict(_cat_graph(axis=-3, rank=4))[0] == "foldable"
    assert verdict(_cat_graph(axis=-1, rank=4)) == ("unfoldable", "XBN115")
    # Without a recorded rank, the layers tell it (a Conv2d output has four dimensions).
    assert verdict(_cat_graph(axis=-3))[0] == "foldable"


def test_a_negative_axis_of_unknown_rank_is_unknown() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    a = layer(graph, NodeKind.CONV, "a", x, out_channels=4, spatial_dims=None)
    b = layer(graph, NodeKind.CONV, "b", x, out_channels=4, spatial_dims=None)
    cat = op(graph, NodeKind.CAT, "torch.cat", a, b, axis=-1, plain_merge=True, operands=2)
    layer(graph, NodeKind.BATCHNORM, "bn", cat, spatial_dims=None)
    assert verdict(graph) == ("unknown", "XBN204")


def test_a_sum_whose_form_the_builder_did_not_record_is_unknown() -> None:
    graph, _ = sum_graph("a", "b", plain_merge=None)
    assert verdict(graph) == ("unknown", "XBN204")


def test_a_branch_no_node_produced_blocks_the_fold() -> None:
    graph, _ = sum_graph("a", "b", operands=3)  # a parameter or constant was the third
    assert verdict(graph) == ("unfoldable", "XBN104")


def test_a_certain_reason_outweighs_a_doubt() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    unseen = op(graph, NodeKind.UNKNOWN, "helper", x, rule_code="XBN204")
    conv = layer(graph, NodeKind.CONV, "a", x)
    doubtful = op(graph, NodeKind.ADD, "+", conv, unseen, plain_merge=True, operands=2)
    layer(graph, NodeKind.BATCHNORM, "bn", doubtful)
    assert verdict(graph) == ("unknown", "XBN204")

    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    unseen = op(graph, NodeKind.UNKNOWN, "helper", x, rule_code="XBN204")
    certain = op(graph, NodeKind.ADD, "+", x, unseen, plain_merge=True, operands=2)
    layer(graph, NodeKind.BATCHNORM, "bn", certain)
    assert verdict(graph) == ("unfoldable", "XBN104")


def test_a_branch_read_elsewhere_is_named_as_the_partner() -> None:
    graph, (a, _) = sum_graph("a", "b")
    op(graph, NodeKind.OUTPUT, "output", a)
    (skip,) = match_folds(graph).skips
    assert (skip.code, skip.partner) == ("XBN103", a)


def test_a_bias_on_every_layer_of_a_merge_fold_is_redundant() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    a = layer(graph, NodeKind.CONV, "a", x, bias=True)
    b = layer(graph, NodeKind.CONV, "b", x, bias=False)
    c = layer(graph, NodeKind.CONV, "c", x, bias=True)
    plus = op(graph, NodeKind.ADD, "+", a, b, c, plain_merge=True, operands=3)
    layer(graph, NodeKind.BATCHNORM, "bn", plus)
    findings = match_folds(graph).findings
    assert [(f.code, f.node.label) for f in findings] == [("XBN401", "a"), ("XBN401", "c")]


def test_a_batchnorm_without_running_statistics_does_not_fold_through_a_merge() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    a = layer(graph, NodeKind.CONV, "a", x)
    b = layer(graph, NodeKind.CONV, "b", x)
    plus = op(graph, NodeKind.ADD, "+", a, b, plain_merge=True, operands=2)
    layer(graph, NodeKind.BATCHNORM, "bn", plus, track_running_stats=False)
    assert verdict(graph) == ("unfoldable", "XBN107")
