"""Numerics and guarantees: dtypes, invalid statistics, tied weights, verification that cannot
be fooled, and a user's model that is never touched unless asked."""

from __future__ import annotations

import logging
import warnings

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import bnlint  # noqa: E402
from bnlint.runtime import apply  # noqa: E402

from .helpers import fold, folded, randomise, skipped  # noqa: E402

pytestmark = pytest.mark.runtime


def net() -> nn.Sequential:
    return randomise(
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=2),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 6),
            nn.BatchNorm1d(6),
        )
    )


ALL = {("0", "1"), ("3", "4"), ("8", "9")}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_half_bfloat16_and_double_models_fold_and_keep_their_dtype(dtype):
    model = net().to(dtype)
    result = fold(model, torch.randn(2, 3, 10, 10, dtype=dtype))
    assert folded(result) == ALL
    assert result.verified, result.verification.failures
    assert {p.dtype for p in result.model.parameters()} == {dtype}
    # fp16/bf16 folds are computed in float64 and rounded once: the error stays at the
    # dtype's own rounding level.
    limit = {torch.float16: 1e-2, torch.bfloat16: 5e-2, torch.float64: 1e-12}[dtype]
    assert result.verification.max_rel_error < limit


@pytest.mark.parametrize(
    "statistic, value, detail",
    [
        ("running_var", -1.0, "negative"),
        ("running_var", float("nan"), "NaN"),
        ("running_mean", float("inf"), "NaN or infinity"),
        ("running_var", None, "missing"),
    ],
)
def test_invalid_running_statistics_are_refused_and_the_rest_folds(statistic, value, detail):
    model = net()
    bn = model[4]
    if value is None:  # both gone: torch then normalises with batch statistics
        bn.running_mean = bn.running_var = None
    else:
        getattr(bn, statistic)[2] = value
    result = fold(model, torch.randn(2, 3, 10, 10))
    assert folded(result) == ALL - {("3", "4")}
    assert skipped(result) == {"4": "XBN113"}
    assert detail in result.skipped[0].reason
    assert result.verified


def test_tied_weights_are_never_folded_into():
    model = net()
    twin = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    twin.weight = model[0].weight  # two layers, one weight

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.twin = model, twin

        def forward(self, x):
            return self.body(x), self.twin(x)

    result = fold(Tied(), torch.randn(2, 3, 10, 10))
    assert skipped(result)["body.1"] == "XBN114"
    assert "tied" in result.skipped[0].reason
    assert ("body.3", "body.4") in folded(result)


def plant_forgotten_mean(monkeypatch):
    real = apply.bn_affine

    def wrong(bn):  # forgets the running mean
        scale, _ = real(bn)
        return scale, torch.zeros_like(scale)

    monkeypatch.setattr(apply, "bn_affine", wrong)


def test_a_planted_wrong_fold_is_left_out_and_the_rest_of_the_model_returned(monkeypatch):
    plant_forgotten_mean(monkeypatch)
    result = fold(net(), torch.randn(2, 3, 10, 10))
    assert folded(result) == set()  # every fold forgot its mean: none is kept
    assert skipped(result) == {"1": "XBN209", "4": "XBN209", "9": "XBN209"}
    assert "its folded weights are off by" in result.skipped[0].reason
    assert result.verified and result.model is not None
    assert result.verification.max_abs_error == 0.0  # the returned model is the original


def test_all_or_nothing_returns_no_model_when_a_fold_is_wrong(monkeypatch):
    plant_forgotten_mean(monkeypatch)
    result = fold(net(), torch.randn(2, 3, 10, 10), all_or_nothing=True)
    assert not result.verified
    assert result.model is None
    assert folded(result) == ALL  # the folds that were tried, with their errors
    assert result.verification.failures
    assert max(f.relative_error for f in result.folds) > 1e-2  # the per-fold error points at it


def test_tolerances_are_user_settable():
    strict = fold(net(), torch.randn(2, 3, 10, 10), rtol=0.0, atol=0.0, all_or_nothing=True)
    assert strict.verification.max_abs_error > 0  # float32 folds are not bit-exact ...
    assert not strict.verified  # ... so a zero tolerance refuses them
    # Without all-or-nothing, the folds that change the output at all are left out.
    exact = fold(net(), torch.randn(2, 3, 10, 10), rtol=0.0, atol=0.0)
    assert exact.verified and exact.verification.max_abs_error == 0.0
    assert "XBN209" in skipped(exact).values()
    assert fold(net(), torch.randn(2, 3, 10, 10), rtol=1e-3).verification.rtol == 1e-3


def test_per_fold_errors_are_measured_in_isolation():
    result = fold(net(), torch.randn(2, 3, 10, 10))
    for record in result.folds:
        assert record.max_error is not None and record.relative_error < 1e-5


def test_the_input_model_is_untouched_and_its_modes_restored():
    model = net()
    model.train()
    model[3].eval()
    model[0].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    result = fold(model, torch.randn(2, 3, 10, 10))
    assert result.model is not model and folded(result) == ALL
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == [False] + [True] * 10
    assert isinstance(model[1], nn.BatchNorm2d)


def test_inplace_folds_the_given_model_and_restores_its_mode():
    model = net()
    model.train()
    result = fold(model, torch.randn(2, 3, 10, 10), inplace=True)
    assert result.model is model
    assert isinstance(model[1], nn.Identity) and model.training


def test_each_skip_warns_and_logs(caplog):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.BatchNorm2d(4))
    with (
        warnings.catch_warnings(record=True) as caught,
        caplog.at_level(logging.INFO, "bnlint.runtime"),
    ):
        warnings.simplefilter("always")
        bnlint.fold(randomise(model), torch.randn(2, 3, 8, 8))
    assert [w.category for w in caught] == [bnlint.FoldWarning]
    assert "XBN101" in str(caught[0].message)
    assert any("XBN101" in r.getMessage() for r in caplog.records)


def test_a_model_that_does_not_run_on_the_inputs_raises_with_the_cause():
    with pytest.raises(bnlint.runtime.fold.FoldError, match="expected input.*4 channels"):
        bnlint.fold(net(), torch.randn(2, 4, 10, 10))


def test_a_model_on_the_meta_device_is_refused():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(bnlint.runtime.fold.FoldError, match="meta device"):
        bnlint.fold(model, torch.randn(1, 3, 8, 8))


def test_dataparallel_is_unwrapped():
    result = fold(nn.DataParallel(net()), torch.randn(2, 3, 10, 10))
    assert folded(result) == ALL


def test_a_failure_halfway_through_folding_leaves_the_model_bit_for_bit_intact(monkeypatch):
    model = net()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []

    def explode(layer, scale, shift):
        calls.append(layer)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        real(layer, scale, shift)

    real = apply._scale_outputs
    monkeypatch.setattr(apply, "_scale_outputs", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        bnlint.fold(model, torch.randn(2, 3, 10, 10), inplace=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and isinstance(model[1], nn.BatchNorm2d)


class SumAfterAFold(nn.Module):
    """bn(a(x) + b(bn0(conv0(x)))): a fold through a sum, fed by another fold upstream."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0, self.bn0 = nn.Conv2d(3, 5, 1), nn.BatchNorm2d(5)
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(5, 4, 1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.a(x) + self.b(self.bn0(self.conv0(x))))


def test_a_fold_through_a_merge_is_measured_without_the_error_of_folds_upstream(monkeypatch):
    real = apply._scale_outputs

    def corrupt_conv0(layer, scale, shift):
        real(layer, scale, shift + (1.0 if layer.out_channels == 5 else 0.0))

    monkeypatch.setattr(apply, "_scale_outputs", corrupt_conv0)
    result = fold(randomise(SumAfterAFold()), torch.randn(2, 3, 6, 6), all_or_nothing=True)
    errors = {record.bn: record.relative_error for record in result.folds}
    assert set(errors) == {"bn0", "bn"}
    assert errors["bn0"] > 1e-2  # the corrupted fold is blamed ...
    assert errors["bn"] < 1e-5  # ... and not the sum fold downstream of it
    assert not result.verified
    kept = fold(randomise(SumAfterAFold()), torch.randn(2, 3, 6, 6))
    assert folded(kept) == {("a+b", "bn")} and skipped(kept) == {"bn0": "XBN209"}
    assert kept.verified


def test_a_sum_fold_that_adds_the_shift_twice_is_caught(monkeypatch):
    from bnlint.runtime import multi_fold

    def every_layer_gets_the_shift(merge, layers, scale, shift):
        return [(scale, shift) for _ in layers]

    monkeypatch.setattr(multi_fold, "_shares", every_layer_gets_the_shift)
    result = fold(randomise(SumAfterAFold()), torch.randn(2, 3, 6, 6))
    assert ("a+b", "bn") not in folded(result) and skipped(result)["bn"] == "XBN209"
    assert ("conv0", "bn0") in folded(result) and result.verified


def test_a_layer_folded_on_both_sides_is_kept_when_its_bias_terms_cancel():
    # A pre-norm block: BatchNorm -> 1x1 conv -> BatchNorm. The conv's bias is stored once
    # between the two folds, and its terms (every input shift times its weights, then the
    # second BatchNorm's shift) largely cancel: the check allows the roundings of the terms,
    # not of the small result, and keeps both folds.
    block = nn.Sequential(nn.BatchNorm2d(192), nn.Conv2d(192, 384, 1), nn.BatchNorm2d(384))
    model = randomise(block, seed=3)
    with torch.no_grad():
        bn = model[0]
        bn.bias.normal_(0.0, 2.0)  # large input shifts: large terms
        out = model[2]
        # The second BatchNorm's shift cancels most of the conv's bias.
        bias = model[1].bias + model[1].weight.flatten(1) @ (
            bn.bias - bn.running_mean * bn.weight / bn.running_var.sqrt()
        )
        out.bias.copy_(-bias * out.weight / out.running_var.sqrt() + 1e-3)
        out.running_mean.zero_()
    result = fold(model, torch.randn(2, 192, 4, 4))
    assert folded(result) == {("1", "0"), ("1", "2")}, [s.reason for s in result.skipped]
    assert result.verified


def test_float64_folds_are_kept_when_the_batchnorm_shift_cancels_its_terms():
    # In a float64 model the exact fold the check compares with is float64 too: its scale
    # (a difference of batch_norm's outputs) and its shift (beta - mean * scale, nearly
    # cancelling here) carry roundings as large as the folded values'. Correct folds are kept.
    kept = 0
    for seed in range(20):
        model = randomise(
            nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16)), seed=seed
        ).double()
        with torch.no_grad():
            bn = model[1]
            bn.running_mean.uniform_(50.0, 100.0)
            bn.running_var.uniform_(0.01, 0.1)
            bn.weight.uniform_(0.01, 0.05)
            scale = bn.weight / (bn.running_var + bn.eps).sqrt()
            bn.bias.copy_(bn.running_mean * scale * (1 + 1e-9))
        result = fold(model, torch.randn(2, 3, 8, 8, dtype=torch.float64))
        kept += folded(result) == {("0", "1")}
    assert kept == 20
