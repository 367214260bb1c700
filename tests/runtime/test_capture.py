"""The runtime builder speaks the static builder's vocabulary: kinds, labels, scopes, attrs."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import bnlint  # noqa: E402
from bnlint.ftypes import NodeKind  # noqa: E402
from bnlint.runtime.capture import capture_graph  # noqa: E402

from .helpers import fold  # noqa: E402

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
        ("input", "input[0]"),
        ("conv", "0"),
        ("conv", "1.conv"),
        ("batchnorm", "1.bn"),
        ("add", "Tensor.add_"),
        ("activation", "Tensor.relu_"),
        ("output", "output"),
    ]


def test_layer_nodes_carry_scope_module_identity_and_attributes():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Block())
    graph = capture_graph(model.eval(), (torch.randn(1, 3, 6, 6),)).graph
    conv = next(n for n in graph.nodes(NodeKind.CONV) if n.label == "1.conv")
    bn = next(iter(graph.nodes(NodeKind.BATCHNORM)))
    assert [(f.name, f.class_name, f.is_plain_container) for f in conv.scope] == [
        ("", "torch.nn.modules.container.Sequential", True),
        ("1", f"{__name__}.Block", False),
        ("conv", "torch.nn.modules.conv.Conv2d", False),
    ]
    assert conv.module_id == id(model[1].conv)
    assert (
        conv.attrs.in_channels,
        conv.attrs.out_channels,
        conv.attrs.spatial_dims,
        conv.attrs.groups,
        conv.attrs.pads,
        conv.attrs.bias,
        conv.attrs.type_name,
    ) == (4, 4, 2, 1, True, False, "torch.nn.Conv2d")
    assert (
        bn.attrs.num_features,
        bn.attrs.spatial_dims,
        bn.attrs.affine,
        bn.attrs.track_running_stats,
    ) == (4, 2, True, True)


@pytest.mark.parametrize(
    "padding, pads", [(0, False), ("valid", False), ("same", True), ((0, 1), True)]
)
def test_pads_says_whether_the_conv_pads_its_input(padding, pads):
    graph = capture_graph(
        nn.Conv2d(2, 2, 3, padding=padding).eval(), (torch.randn(1, 2, 5, 5),)
    ).graph
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
        ("input", "input[0]"),
        ("functional_conv", "torch.conv2d"),
        ("functional_bn", "F.batch_norm"),
        ("mul", "Tensor.mul"),
        ("other", "Tensor.mul"),
        ("cat", "torch.cat"),
        ("reshape", "Tensor.flatten"),
        ("output", "output"),
    ]


class BatchNormAct(nn.BatchNorm1d):
    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


def test_batchnorm_subclass_is_a_batchnorm_node_followed_by_its_extra_work():
    model = nn.Sequential(nn.Linear(3, 5), BatchNormAct(5))
    assert chain(model, torch.randn(2, 3)) == [
        ("input", "input[0]"),
        ("linear", "0"),
        ("batchnorm", "1"),
        ("activation", "1.act"),
        ("output", "output"),
    ]


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
        ("unused", "XBN112")
    ]


def test_dict_inputs_and_nested_outputs_are_tracked_to_one_output_node():
    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, batch):
            return {"a": self.a(batch["x"]), "rest": [self.b(batch["y"])]}

    graph = capture_graph(Heads().eval(), ({"x": torch.randn(1, 2), "y": torch.randn(1, 2)},)).graph
    output = next(iter(graph.nodes(NodeKind.OUTPUT)))
    assert sorted(p.label for p in graph.producers(output)) == ["a", "b"]
    assert sorted(n.label for n in graph.nodes(NodeKind.INPUT)) == [
        "input[0]['x']",
        "input[0]['y']",
    ]


class Dropouts(nn.Module):
    def forward(self, x):
        x = F.dropout(x, 0.5, training=self.training)  # the idiom: identity in eval mode
        x = F.dropout(x, 0.5, training=False)
        x = F.alpha_dropout(x, 0.5)  # trains only when told to
        return F.dropout(x, 0.1)  # training=True by default: drops at inference too


def test_functional_dropout_is_a_node_only_when_it_drops_in_eval_mode():
    assert chain(Dropouts(), torch.randn(2, 3)) == [
        ("input", "input[0]"),
        ("other", "F.dropout"),
        ("output", "output"),
    ]


def test_batchnorm_after_a_functional_dropout_that_drops_is_not_folded():
    class DropThenNormalise(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(F.dropout(self.conv(x), 0.2))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bnlint.fold(DropThenNormalise(), torch.randn(2, 3, 4, 4))
    assert [(s.bn, s.code) for s in result.skipped] == [("bn", "XBN102")]
    assert "'F.dropout'" in result.skipped[0].reason


class Arithmetic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, 3, 1, 1))

    def forward(self, x, y):
        a = torch.add(x, 1.0)  # a shift by a constant
        b = torch.mul(a, 2.0)  # a scaling by a constant
        c = b * 2.0
        d = 1.0 - c
        e = d * self.gain  # a parameter is a constant of the dataflow, too
        f = e + y  # two branches meet
        return f * f


def test_only_two_flowing_tensors_make_an_add_or_mul_merge_like_the_static_half():
    assert chain(Arithmetic(), torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)) == [
        ("input", "input[0]"),
        ("input", "input[1]"),
        ("other", "torch.add"),
        ("other", "torch.mul"),
        ("other", "Tensor.mul"),
        ("other", "Tensor.__rsub__"),
        ("other", "Tensor.mul"),
        ("add", "Tensor.add"),
        ("mul", "Tensor.mul"),
        ("output", "output"),
    ]


class PlainLists(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.blocks = [nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)) for _ in range(2)]
        self.spare = {"late": [nn.BatchNorm2d(4)]}  # never called

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x


def test_modules_in_plain_lists_are_named_as_if_the_list_were_a_module_list():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bnlint.fold(PlainLists(), torch.randn(1, 3, 4, 4))
    assert [(s.bn, s.code, str(s.key)) for s in result.skipped] == [
        ("blocks.0.1", "XBN205", f"{__name__}.PlainLists:  -> blocks.0.1"),
        ("blocks.1.1", "XBN205", f"{__name__}.PlainLists:  -> blocks.1.1"),
        ("spare.late.0", "XBN205", f"{__name__}.PlainLists:  -> spare.late.0"),
    ]
    assert "blocks.0.1 is kept in a plain Python list" in result.skipped[0].reason
    assert result.folds == ()


class ReLUWithBuiltInNorm(nn.ReLU):
    """A torch activation subclass that normalises inside: the capture records the activation
    as one op, so the BatchNorm inside it is not seen."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return super().forward(self.bn(x))


def test_a_batchnorm_run_inside_an_opaque_layer_is_unknown_not_never_called():
    graph = capture_graph(
        nn.Sequential(ReLUWithBuiltInNorm()).eval(), (torch.randn(1, 3, 4, 4),)
    ).graph
    assert [(n.label, n.rule_code) for n in graph.nodes(NodeKind.BATCHNORM)] == [("0.bn", "XBN204")]
    assert "runs inside '0'" in next(iter(graph.nodes(NodeKind.BATCHNORM))).reason


class ConvWithBuiltInNorm(nn.Conv2d):
    """A conv subclass that normalises inside its own forward, after convolving with its
    weight as it is."""

    def __init__(self) -> None:
        super().__init__(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(super().forward(x))


def test_a_conv_subclass_running_its_own_batchnorm_is_a_conv_then_a_batchnorm():
    assert chain(nn.Sequential(ConvWithBuiltInNorm()), torch.randn(1, 3, 4, 4)) == [
        ("input", "input[0]"),
        ("conv", "0"),
        ("batchnorm", "0.bn"),
        ("output", "output"),
    ]


def test_torch_ao_layers_that_replace_forward_are_not_plain_convs():
    qat = pytest.importorskip("torch.ao.nn.qat")
    conv = qat.Conv2d(3, 4, 1, qconfig=torch.ao.quantization.get_default_qat_qconfig())
    graph = capture_graph(
        nn.Sequential(conv, nn.BatchNorm2d(4)).eval(), (torch.randn(1, 3, 4, 4),)
    ).graph
    assert [n.kind for n in graph.nodes() if n.label == "0"] == [NodeKind.UNKNOWN]


# The ops inside a layer recorded as one node skip the recording mode; nothing else may change.


class Tagged(torch.Tensor):
    """A tensor subclass that counts the convolutions it takes part in."""

    convolutions = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", None) == "conv2d":
            Tagged.convolutions += 1
        return super().__torch_function__(func, types, args, kwargs or {})


class TaggedInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x.as_subclass(Tagged)))


def test_a_tensor_subclass_still_sees_the_ops_inside_a_layer_while_capturing():
    model = TaggedInput().eval()
    Tagged.convolutions = 0
    graph = capture_graph(model, (torch.randn(1, 3, 4, 4),)).graph
    assert Tagged.convolutions == 1  # as in a plain forward pass
    assert [n.kind for n in graph.nodes() if n.module_id is not None] == [
        NodeKind.CONV,
        NodeKind.BATCHNORM,
    ]


class Counting(torch.overrides.TorchFunctionMode):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(getattr(func, "__name__", ""))
        return func(*args, **(kwargs or {}))


SEEN: list[str] = []


class OwnMode(nn.Module):
    """forward() runs a layer under a torch function mode of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        with Counting(SEEN):
            y = self.conv(x)
        return self.bn(y)


def test_a_mode_entered_by_forward_sees_its_layers_ops_and_the_fold_is_found():
    SEEN.clear()
    result = fold(OwnMode(), torch.randn(1, 3, 4, 4))
    assert "conv2d" in SEEN
    assert torch.overrides._get_current_function_mode_stack() == []
    assert result.verified
    assert {(f.conv, f.bn) for f in result.folds} == {("conv", "bn")}


def test_the_capture_leaves_no_global_module_hook_behind():
    # torch.compile(module) warns while a global module hook is registered.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    capture_graph(model, (torch.randn(1, 3, 8, 8),))
    assert not torch.nn.modules.module._has_any_global_hook()
