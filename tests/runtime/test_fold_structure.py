"""Where layers live and how they are wired: nesting, sharing, branches, odd forwards."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from .helpers import assert_same_outputs, fold, folded, randomise, skipped  # noqa: E402

pytestmark = pytest.mark.runtime

X = (2, 3, 8, 8)


def run(model: nn.Module, *inputs):
    randomise(model)
    result = fold(model, inputs if inputs else (torch.randn(X),))
    if result.model is not None:
        assert_same_outputs(model, result, *(inputs or (torch.randn(X),)))
    return result


class Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)

    def forward(self, x):
        return self.conv(x)  # the conv ends this forward ...


class CrossForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = Stem()
        self.bn = nn.BatchNorm2d(4)  # ... and the BatchNorm sits in the parent's

    def forward(self, x):
        return F.relu(self.bn(self.stem(x)))


def test_cross_forward_pair_folds_and_is_keyed_on_the_common_owner():
    result = run(CrossForward())
    assert folded(result) == {("stem.conv", "bn")}
    key = result.folds[0].key
    assert (key.owner.rsplit(".", 1)[-1], key.conv, key.bn) == ("CrossForward", "stem.conv", "bn")


class SharedConvOneSiteNormalised(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x)) + self.conv(x * 2)


def test_conv_shared_by_two_sites_only_one_normalised_is_not_folded():
    result = run(SharedConvOneSiteNormalised())
    assert folded(result) == set()
    assert skipped(result) == {"bn": "XBN106"}


class SharedConvTwoBatchNorms(nn.Module):
    """The case AIMET and torch.fx fold silently, changing the output by ~25 %."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(3)
        self.bn_b = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn_a(self.conv(x)) + self.bn_b(self.conv(torch.tanh(x)))


def test_conv_called_twice_with_different_batchnorms_is_not_folded():
    result = run(SharedConvTwoBatchNorms())
    assert folded(result) == set()
    assert skipped(result) == {"bn_a": "XBN106", "bn_b": "XBN106"}
    assert result.verified and result.model is not None


class SharedConvSharedBatchNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x)) * self.bn(self.conv(-x))


def test_conv_and_batchnorm_called_together_at_every_site_fold_once():
    result = run(SharedConvSharedBatchNorm())
    assert folded(result) == {("conv", "bn")}


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


def test_conv_feeding_batchnorm_and_a_residual_add_is_not_folded():
    result = run(Residual())
    assert skipped(result) == {"bn": "XBN103"}


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Containers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList([Block(4) for _ in range(2)])
        self.heads = nn.ModuleDict(
            {"left": nn.Sequential(nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))}
        )
        self.alias = self.blocks[1]  # one module registered at two paths

    def forward(self, x):
        x = self.seq(x)
        for block in self.blocks:
            x = block(x)
        return self.heads["left"](x)


def test_batchnorms_at_any_depth_are_replaced_by_identity_at_every_path():
    result = run(Containers())
    assert folded(result) == {
        ("seq.0", "seq.1"),
        ("blocks.0.conv", "blocks.0.bn"),
        ("blocks.1.conv", "blocks.1.bn"),
        ("heads.left.0.0", "heads.left.0.1"),
    }
    model = result.model
    for path in ("seq.1", "blocks.0.bn", "blocks.1.bn", "alias.bn", "heads.left.0.1"):
        assert isinstance(model.get_submodule(path), nn.Identity), path
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


class Concat(nn.Module):
    def forward(self, xs):
        return torch.cat(xs, 1)


class RoutedLayers(nn.Module):
    """Detection zoos build their network from a table and tag every layer with where its
    input comes from (`m.f`) and its index (`m.i`); forward() reads the tags of each layer it
    runs, the folded BatchNorm's replacement included."""

    def __init__(self) -> None:
        super().__init__()
        table = [
            (-1, nn.ConvTranspose2d, (3, 8, 2, 2)),
            (-1, nn.BatchNorm2d, (8,)),
            (-1, nn.Conv2d, (8, 4, 1)),
            ([-1, 2], Concat, ()),
        ]
        layers = []
        for i, (source, layer, args) in enumerate(table):
            module = layer(*args)
            module.i, module.f = i, source
            layers.append(module)
        self.model = nn.Sequential(*layers)
        self.save = [2]

    def forward(self, x):
        outputs = []
        for m in self.model:
            if m.f != -1:
                x = [x if j == -1 else outputs[j] for j in m.f]
            x = m(x)
            outputs.append(x if m.i in self.save else None)
        return x


def test_the_identity_replacing_a_batchnorm_keeps_the_attributes_the_model_set_on_it():
    result = run(RoutedLayers())
    assert folded(result) == {("model.0", "model.1")}
    replacement = result.model.get_submodule("model.1")
    assert isinstance(replacement, nn.Identity)
    assert (replacement.i, replacement.f) == (1, -1)
    assert not hasattr(replacement, "num_features")


class DataDependent(nn.Module):
    """torch.fx.symbolic_trace cannot trace the `if` on a tensor value."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.other = nn.Conv2d(4, 4, 1)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        if float(y.abs().sum()) > 0:
            y = self.bn2(self.other(y))
        return y


def test_model_that_fx_cannot_trace_is_folded():
    with pytest.raises(Exception):  # noqa: B017 (fx raises several kinds)
        torch.fx.symbolic_trace(DataDependent())
    result = run(DataDependent())
    assert folded(result) == {("conv", "bn"), ("other", "bn2")}


class DictModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.table = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6))

    def forward(self, batch: dict):
        features = self.image(batch["image"]).mean((2, 3))
        return {"features": features, "pair": (self.table(batch["table"]), batch["table"])}


def test_dict_inputs_and_outputs():
    batch = {"image": torch.randn(X), "table": torch.randn(2, 5)}
    result = run(DictModel(), batch)
    assert folded(result) == {("image.0", "image.1"), ("table.0", "table.1")}
    # 3 float outputs, on the example inputs only: forward() never branches on values
    assert result.verification.outputs_compared == 3


class Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.spare = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x))


def test_every_batchnorm_is_accounted_for_including_one_never_called():
    result = run(Unused())
    assert folded(result) == {("conv", "bn")}
    assert skipped(result) == {"spare": "XBN112"}


class InPlaceAndViews(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 1)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        y.view(-1)[:3].mul_(0.0)  # an in-place write through a view changes y itself
        z = self.conv2(torch.relu(self.bn(y)))
        z = z.clone()
        return self.bn2(z)


def test_in_place_writes_through_views_and_copies_block_the_fold():
    result = run(InPlaceAndViews())
    assert folded(result) == set()
    assert skipped(result) == {"bn": "XBN102", "bn2": "XBN102"}


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(F.conv2d(x, self.weight))


def test_batchnorm_after_a_functional_conv_is_skipped():
    result = run(Functional())
    assert skipped(result) == {"bn": "XBN108"}


class Unregistered(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.hidden = [nn.BatchNorm2d(4)]  # a plain list: PyTorch does not see this layer

    def forward(self, x):
        return self.hidden[0](self.conv(x))


def test_batchnorm_in_a_plain_list_is_reported_not_folded():
    result = run(Unregistered())
    assert folded(result) == set()
    assert [s.code for s in result.skipped] == ["XBN205"]


class StandardisedConv(nn.Conv2d):
    """Weight standardisation: its forward rescales the weight, so a fold cannot be promised."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


def test_conv_subclass_with_its_own_forward_is_unknown_like_the_static_half():
    result = run(nn.Sequential(StandardisedConv(3, 4, 3), nn.BatchNorm2d(4)))
    assert folded(result) == set()
    assert skipped(result) == {"1": "XBN204"}
    assert "overrides forward()" in result.skipped[0].reason
