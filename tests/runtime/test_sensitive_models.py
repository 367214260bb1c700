"""Models that amplify rounding, or whose outputs jump at a threshold, fold with every exact
fold verified; a planted mistake in the fold arithmetic is still caught on the same models.

The classifiers (split attention, selective kernels, channel shuffle) see raw, uncentred
inputs (a sensor's values, offset by 10^4) and carry BatchNorm statistics calibrated on that
data, so their first BatchNorm removes a large offset and float32 cancellation makes every
output noisy: a fixed relative tolerance of 1e-4 refuses their exact folds. The detector's
score threshold sits exactly on one of its scores, so that the folded model keeps one
detection more than the original.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from benchmarks.fold_models import (  # noqa: E402
    AttentionResNet,
    RetinaDetector,
    ShuffleNetV2,
    trained_statistics,
)
from bnlint.runtime import apply  # noqa: E402

from .helpers import fold, skipped  # noqa: E402

pytestmark = pytest.mark.runtime

OFFSET = 10_000.0


def calibrated(model: nn.Module, seed: int) -> tuple[nn.Module, torch.Tensor]:
    """`model` with the BatchNorm statistics of uncentred data, and an input of that data."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # the plain average over the batch
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 64, 64, generator=generator) + OFFSET)
    return model.eval(), torch.randn(1, 3, 64, 64, generator=generator) + OFFSET


def split_attention() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return calibrated(AttentionResNet("split", (1, 1, 1, 1), width=8, num_classes=10), 0)


def selective_kernel() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(1)
    return calibrated(AttentionResNet("selective", (1, 1, 1, 1), width=8, num_classes=10), 1)


def channel_shuffle() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(1)
    return calibrated(ShuffleNetV2((2, 2, 2), (8, 16, 32, 64, 128), num_classes=10), 1)


def detector_on_a_threshold() -> tuple[nn.Module, torch.Tensor]:
    """A detector whose score threshold is one of its own scores, chosen so that folding
    moves that score above it."""
    torch.manual_seed(0)
    model = trained_statistics(
        RetinaDetector(
            num_classes=3,
            layers=(1, 1, 1, 1),
            width=8,
            channels=16,
            anchors=2,
            head_depth=2,
            score_threshold=0.0,
            detections=10_000,
        )
    ).eval()
    x = torch.randn(1, 3, 64, 64)
    loose = fold(model, x, rtol=1.0, atol=1.0, all_or_nothing=True)
    with torch.no_grad():
        before, after = model(x)[0]["scores"], loose.model(x)[0]["scores"]
    flips = [s for s in before.tolist() if (before > s).sum() != (after > s).sum()]
    assert flips, "no score moves across a threshold: the fixture proves nothing"
    model.score_threshold = flips[0]
    return model, x


SENSITIVE = [split_attention, selective_kernel, channel_shuffle, detector_on_a_threshold]


def batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("build", SENSITIVE, ids=lambda b: b.__name__)
def test_a_fixed_tolerance_refuses_these_exact_folds(build):
    model, x = build()
    result = fold(model, x, rtol=1e-4, atol=1e-6, all_or_nothing=True)
    assert not result.verified and result.model is None
    assert all(f.relative_error < 1e-6 for f in result.folds)  # every fold exact at its layers


@pytest.mark.parametrize("build", SENSITIVE, ids=lambda b: b.__name__)
def test_every_exact_fold_is_verified_against_the_models_own_noise(build):
    model, x = build()
    result = fold(model, x)
    assert result.verified and result.model is not None, result.verification.failures
    assert len(result.folds) == batchnorms(model) and "XBN209" not in skipped(result).values()
    assert result.verification.method == "noise"
    assert result.verification.noise is not None or result.verification.notes


def test_an_output_that_jumps_at_a_threshold_is_named_not_compared():
    model, x = detector_on_a_threshold()
    notes = fold(model, x).verification.notes
    assert any("output[0]['scores']" in note and "not compared" in note for note in notes)


def forgets_gamma(monkeypatch):
    real = apply.bn_affine

    def wrong(bn):
        gamma = bn.weight
        bn.weight = None if not bn.affine else nn.Parameter(torch.ones_like(gamma))
        try:
            return real(bn)
        finally:
            bn.weight = gamma

    monkeypatch.setattr(apply, "bn_affine", wrong)


def uses_tensorflows_eps(monkeypatch):
    """The classic port mistake: eps 1e-3 (TensorFlow's default) for torch's 1e-5."""
    real = apply.bn_affine

    def wrong(bn):
        eps, bn.eps = bn.eps, 1e-3
        try:
            return real(bn)
        finally:
            bn.eps = eps

    monkeypatch.setattr(apply, "bn_affine", wrong)


def forgets_the_mean(monkeypatch):
    real = apply.bn_affine

    def wrong(bn):
        scale, _ = real(bn)
        shift = bn.bias.detach().double() if bn.affine else torch.zeros_like(scale)
        return scale, shift

    monkeypatch.setattr(apply, "bn_affine", wrong)


def visibly_changed(model: nn.Module, plant) -> set[str]:
    """The BatchNorms whose map the planted mistake moves by more than float32 rounding."""
    changed = set()
    for name, bn in model.named_modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            var = bn.running_var.double()
            if plant is forgets_gamma:
                moved = (bn.weight.double() - 1).abs()
            elif plant is forgets_the_mean:
                moved = bn.running_mean.abs()
            else:
                moved = (1 - ((var + bn.eps) / (var + 1e-3)).sqrt()).abs()
            if bool((moved > 1e-6).any()):
                changed.add(name)
    return changed


# The calibrated classifiers keep gamma = 1 (dropping it changes nothing there); the detector
# has the learnt gammas of a trained network.
PLANTED = [
    (build, plant) for build in SENSITIVE for plant in (uses_tensorflows_eps, forgets_the_mean)
]
PLANTED.append((detector_on_a_threshold, forgets_gamma))


@pytest.mark.parametrize("build, plant", PLANTED, ids=lambda x: x.__name__)
def test_a_planted_mistake_is_caught_on_a_sensitive_model(monkeypatch, build, plant):
    model, x = build()
    wrong = visibly_changed(model, plant)
    assert wrong, "the planted mistake changes nothing: the test proves nothing"
    plant(monkeypatch)
    strict = fold(model, x, all_or_nothing=True)
    assert not strict.verified and strict.model is None
    kept = fold(model, x)
    assert kept.verified
    # Every fold the mistake changes is left out, with the rule that says so; a fold it does
    # not change beyond rounding (a huge variance next to eps) is as right as the exact one.
    assert wrong <= {bn for bn, code in skipped(kept).items() if code == "XBN209"}
    assert not wrong & {f.bn for f in kept.folds}


class ScoreGate(nn.Module):
    """A head whose output jumps where a score crosses its threshold: a detection kept or
    dropped, with the rest of the output continuous."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.threshold: float | None = None  # None: the raw scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.bn(self.conv(x)).flatten()
        if self.threshold is None:
            return scores
        kept = scores.double() > self.threshold
        return torch.cat([scores, torch.where(kept, 100.0, 0.0).to(scores.dtype)])


def gate_only_the_fold_moves() -> tuple[nn.Module, torch.Tensor]:
    """A ScoreGate whose threshold lies between a score of the original and the same score
    of the folded model, where no one-rounding nudge of the original's weights reaches."""
    from bnlint.runtime.judge import NUDGES, _nudged

    for seed in range(200):
        torch.manual_seed(seed)
        model = trained_statistics(ScoreGate()).eval()
        x = torch.randn(1, 3, 6, 6)
        with torch.no_grad():
            before = model(x).double()
            after = fold(model, x, rtol=1.0, atol=1.0).model(x).double()
            nudged = [_nudged(copy.deepcopy(model), n)(x).double() for n in NUDGES]
        for i in torch.nonzero(before != after).flatten().tolist():
            threshold = float((before[i] + after[i]) / 2)
            side = bool(before[i] > threshold)
            if all(bool(n[i] > threshold) == side for n in nudged):
                model.threshold = threshold
                return model, x
    raise AssertionError("no score that only the fold moves across a threshold")


def test_a_jump_only_the_folds_roundings_cause_is_judged_in_float64():
    model, x = gate_only_the_fold_moves()
    result = fold(model, x)
    assert result.verified and len(result.folds) == 1, result.verification.failures
    assert result.verification.method == "float64"
    assert result.verification.max_abs_error == 100.0  # reported, not hidden
    assert any("judged in float64" in note for note in result.verification.notes)


def test_a_planted_mistake_is_caught_where_float64_judges(monkeypatch):
    model, x = gate_only_the_fold_moves()
    uses_tensorflows_eps(monkeypatch)
    result = fold(model, x)
    assert result.folds == () and skipped(result) == {"bn": "XBN209"}
