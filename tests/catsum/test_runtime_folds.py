"""`bnlint.fold` folds a BatchNorm after a channel concatenation or a sum of Conv/Linear outputs
into all of those layers, and the folded model computes what the original computes; every
other merge keeps its BatchNorm, with the reason."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.modules.batchnorm import _BatchNorm  # noqa: E402

from bnlint.ftypes import Merge  # noqa: E402
from tests.runtime.helpers import fold, randomise  # noqa: E402

pytestmark = pytest.mark.runtime

Forward = Callable[[nn.Module, "torch.Tensor"], "torch.Tensor"]


class Model(nn.Module):
    """Layers given as keyword arguments, and a forward given as a function of them."""

    def __init__(self, forward: Forward, **layers: nn.Module) -> None:
        super().__init__()
        self._forward = forward
        for name, layer in layers.items():
            self.add_module(name, layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self, x)


def conv(cin: int, cout: int, k: int = 1, **options: object) -> nn.Conv2d:
    options.setdefault("bias", False)
    return nn.Conv2d(cin, cout, k, padding=k // 2, **options)


def folded_exactly(model: nn.Module, x: torch.Tensor):
    """Fold; the result must be verified and match the original on a fresh input too."""
    randomise(model)
    original = copy.deepcopy(model).eval()
    result = fold(model, x)
    assert result.verified, result.verification.failures
    fresh = torch.randn_like(x)
    with torch.no_grad():
        want, got = original(fresh), result.model(fresh)
    assert torch.allclose(want, got, rtol=1e-4, atol=1e-5 * float(want.abs().max()))
    return result


def kept(model: nn.Module, x: torch.Tensor) -> dict[str, str]:
    """Fold; nothing may fold; returns {bn: code} of the BatchNorms left alone."""
    randomise(model)
    result = fold(model, x)
    assert result.folds == () and result.verified
    assert any(isinstance(m, _BatchNorm) for m in result.model.modules())
    return {s.bn: s.code for s in result.skipped}


X = torch.randn(2, 4, 8, 8)


# ---- concatenation ------------------------------------------------------------------------


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("bias", [False, True])
def test_cat_along_channels_folds_each_conv_with_its_slice(groups: int, bias: bool) -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat([m.a(x), m.b(x)], 1)),
        a=conv(4, 4, 3, groups=groups, bias=bias),
        b=conv(4, 8, 1, groups=groups),
        bn=nn.BatchNorm2d(12),
    )
    result = folded_exactly(model, X)
    (record,) = result.folds
    assert (record.conv, record.producers, record.merge) == ("cat(a,b)", ("a", "b"), Merge.CAT)
    assert isinstance(result.model.bn, nn.Identity)
    assert result.model.a.bias is not None and result.model.b.bias is not None


@pytest.mark.parametrize("dim", [1, -3])
def test_cat_along_the_channel_axis_by_keyword_or_negative_dim_folds(dim: int) -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat((m.a(x), m.b(x), m.c(x)), dim=dim)),
        a=conv(4, 2),
        b=conv(4, 3, 3),
        c=conv(4, 5),
        bn=nn.BatchNorm2d(10),
    )
    assert folded_exactly(model, X).folds[0].conv == "cat(a,b,c)"


@pytest.mark.parametrize("dim", [-1, 3, 2, 0])
def test_cat_along_another_axis_keeps_its_batchnorm(dim: int) -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat([m.a(x), m.b(x)], dim=dim)),
        a=conv(4, 4),
        b=conv(4, 4, 3),
        bn=nn.BatchNorm2d(4),
    )
    assert kept(model, X) == {"bn": "XBN115"}


@pytest.mark.parametrize("dim", [1, -1])
def test_linear_outputs_concatenated_along_the_features_fold(dim: int) -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat([m.fc_a(x), m.fc_b(x)], dim=dim)),
        fc_a=nn.Linear(6, 3),
        fc_b=nn.Linear(6, 5, bias=False),
        bn=nn.BatchNorm1d(8),
    )
    result = folded_exactly(model, torch.randn(5, 6))
    assert result.folds[0].conv == "cat(fc_a,fc_b)"


def test_linear_outputs_concatenated_along_the_batch_keep_their_batchnorm() -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat([m.fc_a(x), m.fc_b(x)], dim=0)),
        fc_a=nn.Linear(6, 4),
        fc_b=nn.Linear(6, 4),
        bn=nn.BatchNorm1d(4),
    )
    assert kept(model, torch.randn(5, 6)) == {"bn": "XBN115"}


def test_transposed_and_grouped_convs_concatenated_fold() -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat([m.up(x), m.a(m.up2(x))], 1)),
        up=nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2, bias=False),
        up2=nn.Upsample(scale_factor=2),
        a=conv(4, 2),
        bn=nn.BatchNorm2d(8),
    )
    assert folded_exactly(model, X).folds[0].conv == "cat(up,a)"


def test_a_branch_read_elsewhere_keeps_the_batchnorm_and_the_model() -> None:
    model = Model(
        lambda m, x: (lambda a: m.bn(torch.cat([a, m.b(x)], 1)) + a.mean())(m.a(x)),
        a=conv(4, 4),
        b=conv(4, 4),
        bn=nn.BatchNorm2d(8),
    )
    assert kept(model, X) == {"bn": "XBN103"}


def test_a_branch_that_is_no_layer_output_keeps_the_batchnorm() -> None:
    model = Model(lambda m, x: m.bn(torch.cat([x, m.a(x)], 1)), a=conv(4, 4), bn=nn.BatchNorm2d(8))
    assert kept(model, X) == {"bn": "XBN104"}


def test_stacking_keeps_the_batchnorm() -> None:
    model = Model(
        lambda m, x: m.bn(torch.stack([m.a(x), m.b(x)], 1)),
        a=conv(4, 4),
        b=conv(4, 4),
        bn=nn.BatchNorm3d(2),
    )
    assert kept(model, X) == {"bn": "XBN104"}


# ---- sum ----------------------------------------------------------------------------------


def test_sum_of_two_convs_folds_into_both() -> None:
    model = Model(
        lambda m, x: m.bn(m.a(x) + m.b(x)), a=conv(4, 4, 3), b=conv(4, 4), bn=nn.BatchNorm2d(4)
    )
    result = folded_exactly(model, X)
    (record,) = result.folds
    assert (record.conv, record.producers, record.merge) == ("a+b", ("a", "b"), Merge.SUM)
    # The shift goes into one layer; the other stays bias-free, as it was built.
    assert result.model.a.bias is not None and result.model.b.bias is None


def test_sum_puts_the_shift_where_a_bias_already_is() -> None:
    model = Model(
        lambda m, x: m.bn(m.a(x) + m.b(x)),
        a=conv(4, 4, 3),
        b=conv(4, 4, bias=True),
        bn=nn.BatchNorm2d(4),
    )
    result = folded_exactly(model, X)
    assert result.model.a.bias is None and result.model.b.bias is not None


@pytest.mark.parametrize("spelling", ["chain", "inplace", "torch.add", "method"])
def test_sum_of_three_convs_folds_into_all_three(spelling: str) -> None:
    def forward(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if spelling == "chain":
            out = m.a(x) + m.b(x) + m.c(x)
        elif spelling == "inplace":
            out = m.a(x)
            out += m.b(x)
            out += m.c(x)
        elif spelling == "torch.add":
            out = torch.add(torch.add(m.a(x), m.b(x)), m.c(x))
        else:
            out = m.a(x).add(m.b(x)).add_(m.c(x))
        return m.bn(out)

    model = Model(
        forward,
        a=conv(4, 4, 3),
        b=conv(4, 4, groups=4),
        c=conv(4, 4, bias=True),
        bn=nn.BatchNorm2d(4),
    )
    result = folded_exactly(model, X)
    assert result.folds[0].producers == ("a", "b", "c")


def test_sum_of_linear_and_transposed_conv_outputs_folds() -> None:
    lin = Model(
        lambda m, x: m.bn(m.a(x) + m.b(x)),
        a=nn.Linear(6, 4),
        b=nn.Linear(6, 4),
        bn=nn.BatchNorm1d(4),
    )
    assert folded_exactly(lin, torch.randn(5, 6)).folds[0].conv == "a+b"
    up = Model(
        lambda m, x: m.bn(m.a(x) + m.b(x)),
        a=nn.ConvTranspose2d(4, 4, 2, stride=2, groups=2, bias=False),
        b=nn.ConvTranspose2d(4, 4, 2, stride=2),
        bn=nn.BatchNorm2d(4),
    )
    assert folded_exactly(up, X).folds[0].conv == "a+b"


def test_sum_with_an_identity_shortcut_keeps_the_batchnorm() -> None:
    model = Model(lambda m, x: m.bn(m.a(x) + x), a=conv(4, 4, 3), bn=nn.BatchNorm2d(4))
    assert kept(model, X) == {"bn": "XBN104"}


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a - b,
        lambda a, b: torch.add(a, b, alpha=2),
        lambda a, b: a + a,
        lambda a, b: a * b,
    ],
    ids=["difference", "alpha", "same-output-twice", "product"],
)
def test_merges_no_fold_can_split_keep_the_batchnorm(combine: Callable) -> None:
    model = Model(
        lambda m, x: m.bn(combine(m.a(x), m.b(x))), a=conv(4, 4), b=conv(4, 4), bn=nn.BatchNorm2d(4)
    )
    assert kept(model, X) == {"bn": "XBN104"}


def test_one_layer_computing_two_branches_keeps_the_batchnorm() -> None:
    model = Model(lambda m, x: m.bn(m.a(x) + m.a(x.flip(3))), a=conv(4, 4), bn=nn.BatchNorm2d(4))
    assert kept(model, X) == {"bn": "XBN104"}


def test_a_single_channel_branch_broadcast_over_the_others_keeps_the_batchnorm() -> None:
    model = Model(
        lambda m, x: m.bn(m.a(x) + m.b(x)), a=conv(4, 4), b=conv(4, 1), bn=nn.BatchNorm2d(4)
    )
    assert kept(model, X) == {"bn": "XBN104"}


def test_a_parameter_added_to_a_conv_output_keeps_the_batchnorm() -> None:
    model = Model(lambda m, x: m.bn(m.a(x) + m.offset), a=conv(4, 4), bn=nn.BatchNorm2d(4))
    model.offset = nn.Parameter(torch.randn(1, 4, 1, 1))
    # A plain shift (XBN102, as the static half says), or a merge with a branch no layer
    # produced (XBN104), depending on whether the capture counts parameters as operands.
    assert kept(model, X)["bn"] in {"XBN102", "XBN104"}


@pytest.mark.parametrize("shared", ["branch", "sum"])
def test_a_branch_or_the_sum_read_elsewhere_keeps_the_batchnorm(shared: str) -> None:
    def forward(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        a = m.a(x)
        s = a + m.b(x)
        return m.bn(s) + (a if shared == "branch" else s)

    model = Model(forward, a=conv(4, 4), b=conv(4, 4), bn=nn.BatchNorm2d(4))
    assert kept(model, X) == {"bn": "XBN103"}


# ---- refusals on the model object ---------------------------------------------------------


def test_a_tied_branch_weight_refuses_the_whole_fold_and_changes_nothing() -> None:
    model = Model(
        lambda m, x: m.bn(m.a(x) + m.b(x)) + m.c(x),
        a=conv(4, 4),
        b=conv(4, 4),
        c=conv(4, 4),
        bn=nn.BatchNorm2d(4),
    )
    randomise(model)
    model.b.weight = model.c.weight
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = fold(model, X)
    assert {s.bn: s.code for s in result.skipped} == {"bn": "XBN114"}
    assert result.folds == () and result.verified
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_invalid_statistics_refuse_a_fold_through_a_concatenation() -> None:
    model = Model(
        lambda m, x: m.bn(torch.cat([m.a(x), m.b(x)], 1)),
        a=conv(4, 4),
        b=conv(4, 4),
        bn=nn.BatchNorm2d(8),
    )
    randomise(model)
    model.bn.running_var[3] = float("nan")
    result = fold(model, X)
    assert {s.bn: s.code for s in result.skipped} == {"bn": "XBN113"}


def test_a_merge_fold_composes_with_a_fold_before_the_same_layer() -> None:
    model = Model(
        lambda m, x: m.bn_after(m.a(m.bn_before(x)) + m.b(x)),
        bn_before=nn.BatchNorm2d(4),
        a=conv(4, 4),
        b=conv(4, 4, 3),
        bn_after=nn.BatchNorm2d(4),
    )
    result = folded_exactly(model, X)
    assert {(f.conv, f.bn) for f in result.folds} == {("a", "bn_before"), ("a+b", "bn_after")}
