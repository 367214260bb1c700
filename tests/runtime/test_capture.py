"""The runtime builder speaks the static builder's vocabulary: kinds, labels, scopes, attrs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from bnlint.ftypes import NodeKind  # noqa: E402
from bnlint.runtime.capture import capture_graph  # noqa: E402

pytestmark = pytest.mark.runtime


def chain(model: nn.Module, *inputs) -> list[tuple[str, str]]:
    """(kind, label) of every node, in execution order."""
    graph = capture_graph(model.eval(), inputs).graph
    return [(n.kind.value, n.label) for n in sorted(graph.nodes(), key=lambda n: n.node_id)]


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.skip = nn.Identity()

    def forward(self, x):
        y = self.drop(self.bn(self.conv(x)))
        y += self.skip(x)
        return y.relu_()


def test_module_calls_ops_and_pass_throughs_become_the_static_vocabulary():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Block())
    assert chain(model, torch.randn(1, 3, 6, 6)) == [
        ("input", "input[0]"), ("conv", "0"), ("conv", "1.conv"), ("batchnorm", "1.bn"),
        ("add", "Tensor.add_"), ("activation", "Tensor.relu_"), ("output", "output")]


def test_layer_nodes_carry_scope_module_identity_and_attributes():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Block())
    graph = capture_graph(model.eval(), (torch.randn(1, 3, 6, 6),)).graph
    conv = next(n for n in graph.nodes(NodeKind.CONV) if n.label == "1.conv")
    bn = next(iter(graph.nodes(NodeKind.BATCHNORM)))
    assert [(f.name, f.class_name, f.is_plain_container) for f in conv.scope] == [
        ("", "torch.nn.modules.container.Sequential", True),
        ("1", f"{__name__}.Block", False),
        ("conv", "torch.nn.modules.conv.Conv2d", False)]
    assert conv.module_id == id(model[1].conv)
    assert (conv.attrs.in_channels, conv.attrs.out_channels, conv.attrs.spatial_dims,
            conv.attrs.groups, conv.attrs.pads, conv.attrs.bias, conv.attrs.type_name) == (
        4, 4, 2, 1, True, False, "torch.nn.Conv2d")
    assert (bn.attrs.num_features, bn.attrs.spatial_dims, bn.attrs.affine,
            bn.attrs.track_running_stats) == (4, 2, True, True)


@pytest.mark.parametrize("padding, pads", [(0, False), ("valid", False), ("same", True),
                                           ((0, 1), True)])
def test_pads_says_whether_the_conv_pads_its_input(padding, pads):
    graph = capture_graph(nn.Conv2d(2, 2, 3, padding=padding).eval(),
                          (torch.randn(1, 2, 5, 5),)).graph
    assert next(iter(graph.nodes(NodeKind.CONV))).attrs.pads is pads


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 3, 1, 1))
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("var", torch.ones(3))

    def forward(self, x):
        x = F.conv2d(x, self.w)
        x = F.batch_norm(x, self.mean, self.var)
        x = torch.cat([x, x * x, x * 2.0], 1)
        return F.dropout(x, 0.5, training=False).flatten(1)


def test_functional_layers_merges_and_scalar_ops():
    assert chain(Functional(), torch.randn(1, 3, 4, 4)) == [
        ("input", "input[0]"), ("functional_conv", "torch.conv2d"),
        ("functional_bn", "F.batch_norm"),
        ("mul", "Tensor.mul"), ("other", "Tensor.mul"), ("cat", "torch.cat"),
        ("reshape", "Tensor.flatten"), ("output", "output")]


class BatchNormAct(nn.BatchNorm1d):
    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


def test_batchnorm_subclass_is_a_batchnorm_node_followed_by_its_extra_work():
    model = nn.Sequential(nn.Linear(3, 5), BatchNormAct(5))
    assert chain(model, torch.randn(2, 3)) == [
        ("input", "input[0]"), ("linear", "0"), ("batchnorm", "1"), ("activation", "1.act"),
        ("output", "output")]


def test_shared_module_calls_share_a_module_id_and_unused_batchnorms_are_listed():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 2, 1)
            self.unused = nn.BatchNorm1d(2)

        def forward(self, x):
            return self.conv(self.conv(x))

    graph = capture_graph(Twice().eval(), (torch.randn(1, 2, 3),)).graph
    convs = list(graph.nodes(NodeKind.CONV))
    assert len(convs) == 2 and convs[0].module_id == convs[1].module_id
    assert [(n.label, n.rule_code) for n in graph.nodes(NodeKind.BATCHNORM)] == [
        ("unused", "XBN112")]


def test_dict_inputs_and_nested_outputs_are_tracked_to_one_output_node():
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, batch):
            return {"a": self.a(batch["x"]), "rest": [self.b(batch["y"])]}

    graph = capture_graph(Heads().eval(),
                          ({"x": torch.randn(1, 2), "y": torch.randn(1, 2)},)).graph
    output = next(iter(graph.nodes(NodeKind.OUTPUT)))
    assert sorted(p.label for p in graph.producers(output)) == ["a", "b"]
    assert sorted(n.label for n in graph.nodes(NodeKind.INPUT)) == [
        "input[0]['x']", "input[0]['y']"]
