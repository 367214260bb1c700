"""A BatchNorm after a layer whose class depends on the configuration (a conv that pads its
input itself, or by a fixed amount): the analysis follows each class that may be built on a
path of its own, and the matcher judges the BatchNorm against each, on hand-built graphs."""

from __future__ import annotations

from bnlint import rules
from bnlint.foldkey import pair_key
from bnlint.ftypes import LayerAttrs, LayerCall, ModuleFrame, NodeKind
from bnlint.graph import LayerGraph
from bnlint.matcher import match_folds

ROOT = ModuleFrame("", "m.Stem")


def node(
    graph: LayerGraph, kind: NodeKind, path: str, *inputs: LayerCall, uid: str = "", **attrs: object
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
            module_id=(uid or path) if path else None,
            scope=(ROOT, *(ModuleFrame(n, "torch.nn.X") for n in path.split("."))) if path else (),
            attrs=LayerAttrs(**{**defaults, **attrs}),  # type: ignore[arg-type]
            rule_code=rules.CONDITIONAL_LAYER.code if kind is NodeKind.CONTROL_FLOW else None,
            reason="which class conv is built as" if kind is NodeKind.CONTROL_FLOW else None,
        )
    )
    for producer in inputs:
        graph.connect(producer, call)
    return call


def stem(second_path: str = "conv", **second: object) -> tuple[LayerGraph, LayerCall, LayerCall]:
    """x -> (conv built as one class | conv built as another) -> bn."""
    graph = LayerGraph()
    x = node(graph, NodeKind.INPUT, "")
    dynamic = node(graph, NodeKind.CONV, "conv", x, uid="dynamic")
    static = node(graph, NodeKind.CONV, second_path, x, uid="static", **second)
    either = node(graph, NodeKind.CONTROL_FLOW, "", dynamic, static)
    bn = node(graph, NodeKind.BATCHNORM, "bn", either)
    return graph, static, bn


def verdict(graph: LayerGraph) -> tuple[str, str | None]:
    plan = match_folds(graph)
    if plan.folds:
        (pair,) = plan.folds
        return "foldable", str(pair_key(pair))
    (skip,) = plan.skips
    return skip.status.value, skip.code


def test_a_batchnorm_after_either_class_of_one_conv_folds_into_it() -> None:
    graph, _, _ = stem()
    assert verdict(graph) == ("foldable", "m.Stem: conv -> bn")


def test_classes_that_disagree_leave_it_unknown() -> None:
    graph, _, _ = stem(out_channels=4)  # the second class would not match the BatchNorm
    assert verdict(graph) == ("unknown", rules.CONDITIONAL_LAYER.code)


def test_one_class_whose_output_is_read_elsewhere_leaves_it_unknown() -> None:
    graph, static, _ = stem()
    node(graph, NodeKind.ACTIVATION, "", static)
    assert verdict(graph) == ("unknown", rules.CONDITIONAL_LAYER.code)


def test_layers_at_two_places_are_not_one_layer() -> None:
    graph, _, _ = stem(second_path="other")
    assert verdict(graph)[0] == "unknown"


def stem_before(second_pads: bool) -> LayerGraph:
    """x -> bn -> (conv built as one class | conv built as another)."""
    graph = LayerGraph()
    x = node(graph, NodeKind.INPUT, "")
    bn = node(graph, NodeKind.BATCHNORM, "bn", x)
    options = {"in_channels": 8, "groups": 1}
    dynamic = node(graph, NodeKind.CONV, "conv", bn, uid="dynamic", pads=False, **options)
    static = node(graph, NodeKind.CONV, "conv", bn, uid="static", pads=second_pads, **options)
    node(graph, NodeKind.CONTROL_FLOW, "", dynamic, static)
    return graph


def test_a_batchnorm_before_either_class_of_one_conv_folds_into_it() -> None:
    assert verdict(stem_before(second_pads=False)) == ("foldable", "m.Stem: conv -> bn")


def test_a_batchnorm_before_classes_that_disagree_is_unknown() -> None:
    assert verdict(stem_before(second_pads=True)) == ("unknown", rules.CONDITIONAL_LAYER.code)


def test_a_join_of_no_tensor_the_graph_holds_is_unknown_not_a_crash() -> None:
    # control flow whose every path handed on a value that is no node of the graph
    graph = LayerGraph()
    either = node(graph, NodeKind.CONTROL_FLOW, "")
    node(graph, NodeKind.BATCHNORM, "bn", either)
    assert verdict(graph) == ("unknown", rules.CONDITIONAL_LAYER.code)
