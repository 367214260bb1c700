"""The working copy is a deep copy: what `copy.deepcopy` shares stays shared in it, and
nothing of it is shared with the user's model, whether a tensor is cloned directly or
through the generic protocol."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bnlint.runtime.copying import copy_model  # noqa: E402

pytestmark = pytest.mark.runtime


class Views(nn.Module):
    """Buffers that share storage: a whole buffer and a view of it, registered base first
    or view first, and a plain attribute holding another view."""

    def __init__(self, view_first: bool) -> None:
        super().__init__()
        base = torch.arange(8.0)
        if view_first:
            self.register_buffer("head", base[:4])
            self.register_buffer("whole", base)
        else:
            self.register_buffer("whole", base)
            self.register_buffer("head", base[:4])
        self.tail = base[4:]
        self.register_buffer("alone", torch.ones(3))
        self.register_buffer("count", torch.tensor(0, dtype=torch.long))
        self.conv = nn.Conv2d(2, 2, 1)


@pytest.mark.parametrize("view_first", [False, True], ids=["base-first", "view-first"])
def test_views_of_one_storage_stay_views_of_one_new_storage(view_first):
    model = Views(view_first)
    copied = copy_model(model)
    copied.whole.mul_(10)
    assert copied.head.tolist() == [0.0, 10.0, 20.0, 30.0]
    assert copied.tail.tolist() == [40.0, 50.0, 60.0, 70.0]
    assert model.whole.tolist() == list(range(8))  # the user's model is untouched


def test_the_copy_shares_what_deepcopy_shares_and_nothing_with_the_original():
    model = Views(view_first=False)
    copied, reference = copy_model(model), copy.deepcopy(model)

    def storages(m: nn.Module) -> list[int]:
        tensors = [m.whole, m.head, m.tail, m.alone, m.count, m.conv.weight, m.conv.bias]
        return [t.untyped_storage().data_ptr() for t in tensors]

    def sharing(pointers: list[int]) -> list[int]:
        return [pointers.index(p) for p in pointers]

    assert sharing(storages(copied)) == sharing(storages(reference))
    assert not set(storages(copied)) & set(storages(model))
    twins = copied.state_dict(keep_vars=True)
    for name, tensor in model.state_dict(keep_vars=True).items():
        twin = twins[name]
        assert type(twin) is type(tensor) and twin.requires_grad == tensor.requires_grad
        assert twin.dtype == tensor.dtype and twin.stride() == tensor.stride()
        assert torch.equal(twin, tensor)


class Tied(nn.Module):
    """A weight tied between two layers, a frozen one, and a set of names held twice."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
        self.b.weight = self.a.weight
        self.a.bias.requires_grad_(False)
        self.register_buffer("scratch", torch.zeros(2), persistent=False)
        self.names = {"x", "y"}
        self.b.names = self.names


def test_parameters_and_sets_are_copied_as_deepcopy_copies_them():
    model = Tied()
    copied, reference = copy_model(model), copy.deepcopy(model)
    assert copied.b.weight is copied.a.weight  # still tied
    assert type(copied.a.weight) is nn.Parameter
    assert copied.a.weight is not model.a.weight
    assert not copied.a.bias.requires_grad and copied.b.bias.requires_grad
    assert torch.equal(copied.a.weight, model.a.weight)
    assert copied.names == {"x", "y"} and copied.names is not model.names
    assert copied.b.names is copied.names  # shared as in the original
    assert (
        copied._non_persistent_buffers_set == reference._non_persistent_buffers_set == {"scratch"}
    )
    assert copied._non_persistent_buffers_set is not model._non_persistent_buffers_set
    assert set(copied.state_dict()) == set(reference.state_dict())


class Heads(nn.Module):
    """Heads kept in a plain list (PyTorch does not register them), one tied to a registered
    layer, and the list held twice."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 2, 1)
        self.heads = [nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)), self.stem]
        self.same_heads = self.heads


def test_modules_in_plain_lists_are_copied_as_deepcopy_copies_them():
    model = Heads()
    copied, reference = copy_model(model), copy.deepcopy(model)
    assert type(copied.heads) is list and copied.heads is not model.heads
    assert copied.same_heads is copied.heads
    assert copied.heads[1] is copied.stem  # the same module object, as in the original
    assert copied.heads[0] is not model.heads[0]
    first = copied.heads[0][0].weight
    assert first is not model.heads[0][0].weight and torch.equal(first, model.heads[0][0].weight)
    assert [type(m) for m in copied.heads[0].modules()] == [
        type(m) for m in reference.heads[0].modules()
    ]
    assert copied.heads[0][1].running_var.untyped_storage().data_ptr() != (
        model.heads[0][1].running_var.untyped_storage().data_ptr()
    )


class WeightNormed(nn.Module):
    """A vocoder-style stack: a conv under the legacy `weight_norm` (its weight a computed
    tensor kept as a plain attribute) before a plain Conv/BatchNorm pair."""

    def __init__(self) -> None:
        super().__init__()
        self.wn = nn.utils.weight_norm(nn.Conv2d(3, 4, 3, padding=1, bias=False))
        self.wn_bn = nn.BatchNorm2d(4)
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(self.wn_bn(self.wn(x))))


def test_a_weight_normed_model_is_copied_and_its_plain_pair_folded():
    import warnings

    from bnlint.runtime.fold import fold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weight_norm's deprecation
        model = WeightNormed().eval()
        model(torch.randn(1, 3, 8, 8))  # the weight is a computed tensor from here on
        with pytest.raises(RuntimeError):
            copy.deepcopy(model)  # what copy.deepcopy does with it
        twin = copy_model(model)
        assert twin.wn.weight is not model.wn.weight
        assert torch.equal(twin.wn.weight, model.wn.weight)
        result = fold(model, (torch.randn(2, 3, 8, 8),))
    # wn_bn cannot fold into the weight-normed conv; it folds into the 1x1 conv after it
    assert sorted((f.conv, f.bn) for f in result.folds) == [("conv", "bn"), ("conv", "wn_bn")]
    assert [s.bn for s in result.skipped] == []
    assert result.verification.passed


class Lazy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.LazyConv2d(4, 3, bias=False)
        self.bn = nn.LazyBatchNorm2d()

    def forward(self, x):
        return self.bn(self.conv(x))


def test_a_lazy_model_is_refused_with_what_to_do_and_folds_once_it_has_run():
    from bnlint.runtime.fold import FoldError, fold

    model = Lazy()
    with pytest.raises(FoldError, match=r"lazy layers \('conv', 'bn'\).*run the model once"):
        fold(model, (torch.randn(2, 3, 8, 8),))
    model.eval()(torch.randn(2, 3, 8, 8))
    result = fold(model, (torch.randn(2, 3, 8, 8),))
    assert [(f.conv, f.bn) for f in result.folds] == [("conv", "bn")]


def test_a_write_on_either_side_leaves_the_other_as_it_was():
    """A write into either model (in place, through numpy) never reaches the other."""
    model = Views(view_first=False)
    copied = copy_model(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        copied.conv.weight.add_(1.0)
        copied.alone.numpy()[:] = 7.0
        model.conv.bias.mul_(0.0)
        model.count.add_(5)
    assert torch.equal(copied.conv.weight, before["conv.weight"] + 1.0)
    assert torch.equal(model.conv.weight, before["conv.weight"])
    assert model.alone.tolist() == [1.0, 1.0, 1.0]
    assert copied.alone.tolist() == [7.0, 7.0, 7.0]
    assert torch.equal(copied.conv.bias, before["conv.bias"])
    assert copied.count.item() == 0 and model.count.item() == 5
