"""A BatchNorm and a Linear on different axes (XBN116), a Linear whose input rank nobody
recorded (XBN208), and a BatchNorm whose track_running_stats the builder could not evaluate
(XBN207): the matcher's verdicts on hand-built graphs, with the rank a builder records on a
Linear call."""

from __future__ import annotations

from bnlint.ftypes import NodeKind
from bnlint.graph import LayerGraph
from tests.catsum.test_matcher_merges import layer, op, verdict


def _linear_then_bn(rank: int | None, out_features: int = 8) -> LayerGraph:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    fc = layer(graph, NodeKind.LINEAR, "fc", x, out_channels=out_features, rank=rank)
    layer(graph, NodeKind.BATCHNORM, "bn", fc, num_features=8, spatial_dims=1)
    return graph


def test_a_linear_on_a_2d_tensor_folds_its_batchnorm() -> None:
    assert verdict(_linear_then_bn(rank=2)) == ("foldable", "m.Net: fc -> bn")


def test_a_linear_of_unrecorded_rank_leaves_the_fold_open() -> None:
    assert verdict(_linear_then_bn(rank=None)) == ("unknown", "XBN208")


def test_a_linear_on_a_3d_tensor_works_on_another_axis_even_when_counts_agree() -> None:
    assert verdict(_linear_then_bn(rank=3)) == ("unfoldable", "XBN116")


def test_counts_that_differ_mean_another_axis_not_a_crash() -> None:
    assert verdict(_linear_then_bn(rank=None, out_features=32)) == ("unfoldable", "XBN116")


def test_a_batchnorm_before_a_linear_of_other_width_does_not_fold_into_it() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    act = op(graph, NodeKind.ACTIVATION, "relu", x)
    bn = layer(graph, NodeKind.BATCHNORM, "bn", act, num_features=10, spatial_dims=1)
    layer(graph, NodeKind.LINEAR, "head", bn, in_channels=32, out_channels=4)
    assert verdict(graph) == ("unfoldable", "XBN116")


def test_a_batchnorm_before_a_linear_of_its_width_folds_into_it() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    act = op(graph, NodeKind.ACTIVATION, "relu", x)
    bn = layer(graph, NodeKind.BATCHNORM, "bn", act, num_features=32, spatial_dims=1)
    layer(graph, NodeKind.LINEAR, "head", bn, in_channels=32, out_channels=4, rank=2)
    assert verdict(graph) == ("foldable", "m.Net: head -> bn")


def test_unknown_running_statistics_make_a_fold_unknown_but_keep_other_verdicts() -> None:
    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    conv = layer(graph, NodeKind.CONV, "conv", x)
    layer(graph, NodeKind.BATCHNORM, "bn", conv, track_running_stats=None)
    assert verdict(graph) == ("unknown", "XBN207")

    graph = LayerGraph()
    x = op(graph, NodeKind.INPUT, "x")
    act = op(graph, NodeKind.ACTIVATION, "relu", layer(graph, NodeKind.CONV, "conv", x))
    layer(graph, NodeKind.BATCHNORM, "bn", act, track_running_stats=None)
    assert verdict(graph) == ("unfoldable", "XBN101")
