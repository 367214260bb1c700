"""What `bnlint.fold` promises about the user's model and about its own verdict (issue 7):
the model is never run or changed unless `inplace=True`, an in-place fold is all or nothing,
wrappers are unwrapped, weights used elsewhere are never folded into, and a wrong fold is
never passed as verified."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import bnlint  # noqa: E402
from bnlint.runtime import apply  # noqa: E402

from .helpers import fold, folded, randomise, skipped  # noqa: E402

pytestmark = pytest.mark.runtime

X = (2, 3, 10, 10)


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


def state_of(model: nn.Module) -> dict[str, Any]:
    """Everything a fold could change, bit for bit: every parameter and buffer (its bytes,
    dtype, requires_grad and object identity) and every module (its class and mode)."""

    def raw(tensor: torch.Tensor) -> bytes:
        # bytes via tolist(): numpy is not a dependency of bnlint or its tests
        return bytes(tensor.detach().reshape(-1).contiguous().view(torch.uint8).tolist())

    state: dict[str, Any] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        state[f"parameter {name}"] = (id(param), param.dtype, param.requires_grad, raw(param))
    for name, buffer in model.named_buffers(remove_duplicate=False):
        state[f"buffer {name}"] = (id(buffer), buffer.dtype, raw(buffer))
    for name, module in model.named_modules(remove_duplicate=False):
        state[f"module {name}"] = (
            id(module),
            type(module),
            module.training,
            getattr(module, "eps", None),
        )
    return state


def prepared() -> nn.Sequential:
    """A model in a state a user might hand over: training mode, one layer frozen and in eval,
    a NaN in a BatchNorm's statistics (which bitwise comparison must still see as equal)."""
    model = net()
    model.train()
    model[3].eval()
    model[0].weight.requires_grad_(False)
    model[4].running_mean[0] = float("nan")
    return model


def explode_on_call(monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    """Make the `failing_call`-th conv rewrite raise, after the earlier ones went through."""
    real, calls = apply._scale_outputs, []

    def rewrite(layer: nn.Module, scale: torch.Tensor, shift: torch.Tensor) -> None:
        calls.append(layer)
        if len(calls) == failing_call:
            raise RuntimeError("disk on fire")
        real(layer, scale, shift)

    monkeypatch.setattr(apply, "_scale_outputs", rewrite)


# --- the user's model --------------------------------------------------------------------


@pytest.mark.parametrize(
    "failing_call, inplace",
    [
        (2, False),  # while folding the copy
        (2, True),  # while folding the copy, before the in-place step
        (3, True),  # the first rewrite of the in-place step (the copy had 2 folds)
        (4, True),  # halfway through the in-place step: one layer already rewritten
    ],
    ids=["copy", "copy-inplace", "inplace-first", "inplace-halfway"],
)
def test_a_failure_while_folding_leaves_the_model_bit_for_bit_intact(
    monkeypatch, failing_call, inplace
):
    model = prepared()  # the NaN statistics leave 2 folds: (0, 1) and (8, 9)
    before = state_of(model)
    explode_on_call(monkeypatch, failing_call)
    with pytest.raises(RuntimeError, match="disk on fire"):
        bnlint.fold(model, torch.randn(X), inplace=inplace)
    assert state_of(model) == before


def test_without_inplace_the_model_is_neither_changed_nor_run():
    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = net()
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))
            self.seen: list[tuple[int, ...]] = []

        def forward(self, x):
            self.calls += 1  # state a forward pass changes
            self.seen.append(tuple(x.shape))
            return self.body(x)

    model = Counting()
    before = state_of(model)
    result = fold(model, torch.randn(X))
    assert folded(result) == {("body.0", "body.1"), ("body.3", "body.4"), ("body.8", "body.9")}
    assert state_of(model) == before
    assert int(model.calls) == 0 and model.seen == []


def test_inplace_folds_the_model_itself_and_keeps_its_modes_and_frozen_weights():
    model = prepared()
    result = fold(model, torch.randn(X), inplace=True)
    assert result.model is model
    assert folded(result) == {("0", "1"), ("8", "9")}
    assert isinstance(model[1], nn.Identity) and isinstance(model[4], nn.BatchNorm2d)
    assert model.training and model[1].training and not model[3].training
    assert model[0].weight.requires_grad is False  # frozen stays frozen
    assert model[8].weight.requires_grad is True


def test_inplace_with_a_failed_verification_changes_nothing(monkeypatch):
    plant_forgotten_mean(monkeypatch)
    model = prepared()
    before = state_of(model)
    result = fold(model, torch.randn(X), inplace=True, all_or_nothing=True)
    assert not result.verified and result.model is None
    assert state_of(model) == before


def test_inplace_makes_only_the_folds_that_verified(monkeypatch):
    plant_forgotten_mean(monkeypatch)  # every fold is wrong: none may reach the model
    model = prepared()
    before = state_of(model)
    result = fold(model, torch.randn(X), inplace=True)
    assert result.verified and result.model is model and folded(result) == set()
    assert state_of(model) == before


# --- wrappers ----------------------------------------------------------------------------


def test_dataparallel_inside_a_model_is_looked_through():
    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.DataParallel(net())

        def forward(self, x):
            return self.backbone(x)

    result = fold(Wrapped(), torch.randn(X))
    assert folded(result) == {(f"backbone.module.{c}", f"backbone.module.{b}") for c, b in ALL}


def test_distributed_data_parallel_is_unwrapped_and_inplace_returns_the_wrapper(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():
        pytest.skip("torch.distributed is not built in")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        wrapped = nn.parallel.DistributedDataParallel(net())
        result = fold(wrapped, torch.randn(X))
        assert folded(result) == ALL
        assert isinstance(result.model, nn.Sequential)  # the folded copy is the inner model
        assert isinstance(wrapped.module[1], nn.BatchNorm2d)  # untouched
        result = fold(wrapped, torch.randn(X), inplace=True)
        assert result.model is wrapped and isinstance(wrapped.module[1], nn.Identity)
    finally:
        dist.destroy_process_group()


def test_a_model_sharded_by_fsdp_is_refused_with_what_to_do_instead(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    fsdp = pytest.importorskip("torch.distributed.fsdp")
    mesh_module = pytest.importorskip("torch.distributed.device_mesh")
    if not dist.is_available():
        pytest.skip("torch.distributed is not built in")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        model = net()
        fsdp.fully_shard(model, mesh=mesh_module.init_device_mesh("cpu", (1,)))
        with pytest.raises(bnlint.runtime.fold.FoldError, match="sharded by FSDP.*--checkpoint"):
            bnlint.fold(model, torch.randn(X))
    finally:
        dist.destroy_process_group()


# Importing torch._dynamo touches deprecated torch.jit APIs; that is torch's business.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torch_compile_wrapper_is_unwrapped_without_compiling():
    compiled = torch.compile(net())
    result = fold(compiled, torch.randn(X))
    assert folded(result) == ALL and result.verified


# --- weights another computation uses ----------------------------------------------------


class TiedHead(nn.Module):
    """The classifier weight is also used, functionally, to score a second input."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(8, 4)
        self.head_bn = nn.BatchNorm1d(4)

    def forward(self, x):
        h = self.features(x)
        return self.head_bn(self.head(h)), F.linear(h.flip(0), self.head.weight)


def test_a_weight_also_read_by_a_function_in_forward_is_never_folded_into():
    result = fold(randomise(TiedHead()), torch.randn(X))
    assert folded(result) == {("features.0", "features.1")}
    assert skipped(result) == {"head_bn": "XBN114"}
    reason = next(s.reason for s in result.skipped if s.bn == "head_bn")
    assert "its weight is also read by F.linear" in reason
    assert result.verified


def test_batchnorm_statistics_read_elsewhere_keep_the_batchnorm():
    class Peeking(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return y * self.bn.running_var.sqrt().view(1, -1, 1, 1)

    result = fold(randomise(Peeking()), torch.randn(X))
    assert skipped(result) == {"bn": "XBN114"}
    assert "the BatchNorm's running_var is also read by Tensor.sqrt in forward()" in (
        result.skipped[0].reason
    )


def test_reading_only_the_shape_or_dtype_of_a_weight_does_not_block_its_fold():
    class Careful(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            x = x.type_as(self.conv.weight)
            y = self.bn(self.conv(x))
            return y + torch.zeros_like(self.bn.running_mean).view(1, -1, 1, 1) * 0

    result = fold(randomise(Careful()), torch.randn(X))
    assert folded(result) == {("conv", "bn")}


def test_tied_weights_between_two_layers_are_never_folded_into():
    model = net()
    twin = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    twin.weight = model[0].weight

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body, self.twin = model, twin

        def forward(self, x):
            return self.body(x), self.twin(x)

    original = Tied()
    before = state_of(original)
    result = fold(original, torch.randn(X))
    assert skipped(result)["body.1"] == "XBN114"
    assert result.model.body[0].weight is result.model.twin.weight  # the tie survives
    assert state_of(original) == before


# --- verification that cannot be fooled --------------------------------------------------


def plant_forgotten_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    real = apply.bn_affine

    def forgets_the_mean(bn):
        scale, _ = real(bn)
        return scale, torch.zeros_like(scale)

    monkeypatch.setattr(apply, "bn_affine", forgets_the_mean)


def test_a_wrong_fold_that_the_model_output_hides_is_still_caught(monkeypatch):
    class FirstTwoChannels(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.conv(x))[:, :2]  # channels 2 and 3 never reach the output

    real = apply._scale_outputs

    def corrupt_last_channel(layer, scale, shift):
        # The last channel's bias ends 5 off, whenever the fold is written (now or batched).
        wrong = shift.clone()
        wrong[-1] += 5.0
        real(layer, scale, wrong)

    monkeypatch.setattr(apply, "_scale_outputs", corrupt_last_channel)
    result = fold(randomise(FirstTwoChannels()), torch.randn(X), all_or_nothing=True)
    assert result.verification.max_abs_error == 0.0 or result.verification.max_abs_error < 1e-5
    assert not result.verified and result.model is None
    assert any(
        "the fold of bn into conv: its folded weights are off by" in f
        for f in result.verification.failures
    )
    kept = fold(randomise(FirstTwoChannels()), torch.randn(X))
    assert folded(kept) == set() and skipped(kept) == {"bn": "XBN209"}


def test_a_model_that_draws_random_numbers_in_eval_mode_still_verifies():
    class AlwaysDropping(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            return F.dropout(self.bn(self.conv(x)), 0.5)  # training=True by default

    model, inputs = randomise(AlwaysDropping()), torch.randn(X)
    state = torch.get_rng_state()
    result = fold(model, inputs)
    assert folded(result) == {("conv", "bn")}
    assert result.verified, result.verification.failures
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone


class Classifier(nn.Module):
    """Returns class indices only: no floating-point output to compare."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x)).mean((2, 3)).argmax(1)


def test_a_wrong_fold_in_a_model_with_only_integer_outputs_is_caught(monkeypatch):
    assert fold(randomise(Classifier()), torch.randn(X)).verified
    plant_forgotten_mean(monkeypatch)
    result = fold(randomise(Classifier()), torch.randn(X), all_or_nothing=True)
    assert result.verification.outputs_compared == 0
    assert not result.verified and result.model is None
    assert skipped(fold(randomise(Classifier()), torch.randn(X))) == {"bn": "XBN209"}


def test_a_forward_that_writes_into_its_input_neither_changes_it_nor_fails_verification():
    class Doubling(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x):
            x.mul_(2)  # not idempotent: a second run on the same tensor sees other data
            return self.bn(self.conv(x))

    inputs = torch.randn(X)
    before = inputs.clone()
    result = fold(randomise(Doubling()), inputs)
    assert result.verified, result.verification.failures
    assert torch.equal(inputs, before)


def test_a_train_of_the_models_own_that_returns_nothing_is_followed():
    """Backbones that re-freeze stages override `train()` and return None (OpenMMLab's do):
    putting the model in eval mode must not take eval()'s result for the model."""

    class Freezing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = net()

        def forward(self, x):
            return self.body(x)

        def train(self, mode=True):
            super().train(mode)
            for module in self.body.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()  # norm_eval: statistics stay frozen while training

    model = Freezing()
    result = fold(model, torch.randn(X))
    assert folded(result) == {("body.0", "body.1"), ("body.3", "body.4"), ("body.8", "body.9")}
    assert isinstance(result.model, Freezing)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_a_batchnorm_inside_a_scripted_submodule_is_named_not_silently_left():
    """torch.jit.script runs its modules where no hook records them: the BatchNorm in a
    scripted block cannot fold, and the result says so (it was in neither list)."""

    class PartlyScripted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.jit.script(
                nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
            )
            self.body = net()[3:]

        def forward(self, x):
            return self.body(self.stem(x))

    model = randomise(PartlyScripted())
    with pytest.warns(bnlint.FoldWarning, match="torch.jit.script"):
        result = bnlint.fold(model, torch.randn(X))
    assert folded(result) == {("body.3", "body.4"), ("body.8", "body.9")}
    assert skipped(result) == {"stem.1": "XBN204"}


def test_a_batchnorm_with_a_forward_hook_keeps_it():
    """A hook that collects a BatchNorm's output (feature extraction) changes no output, so
    no verification would notice a fold removing it: the BatchNorm stays, and says why."""
    model = net()
    features: list[torch.Tensor] = []
    model[4].register_forward_hook(lambda module, args, output: features.append(output))
    result = fold(model, torch.randn(X))
    assert folded(result) == {("0", "1"), ("8", "9")}
    assert skipped(result) == {"4": "XBN114"}
    assert "hooks" in result.skipped[0].reason
    features.clear()
    result.model(torch.randn(X))
    assert len(features) == 1


class KeywordBackbone(nn.Module):
    """Called as Hugging Face models are: keyword arguments only, a flag among them, and a
    dict of outputs; a branch on the mask's values makes the random inputs count."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, *, pixel_values, pixel_mask=None, output_hidden_states=False):
        if pixel_mask is not None and bool(pixel_mask.sum() > 0):
            pixel_values = pixel_values * pixel_mask[:, None]
        hidden = self.bn(self.conv(pixel_values))
        outputs = {"pooled": hidden.mean((2, 3))}
        if output_hidden_states:
            outputs["hidden"] = hidden
        return outputs


def test_keyword_arguments_are_passed_varied_and_checked(monkeypatch):
    inputs = {
        "pixel_values": torch.randn(X),
        "pixel_mask": torch.ones(X[0], *X[2:]),
        "output_hidden_states": True,
    }
    before = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    result = fold(randomise(KeywordBackbone()), (), example_kwargs=inputs)
    assert folded(result) == {("conv", "bn")}
    assert result.verified, result.verification.failures
    # both outputs compared, on the example and on random inputs like it
    assert result.verification.inputs_compared > 1
    assert result.verification.outputs_compared >= 2 * result.verification.inputs_compared
    assert torch.equal(inputs["pixel_values"], before["pixel_values"])
    plant_forgotten_mean(monkeypatch)
    wrong = fold(randomise(KeywordBackbone()), (), example_kwargs=inputs, all_or_nothing=True)
    assert not wrong.verified and wrong.model is None


class SetsItselfUp(nn.Module):
    """Scales its input by a factor it sets from the first input it sees, as a data-dependent
    initialisation does (Glow's ActNorm): forward() branches on whether it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.register_buffer("factor", torch.zeros(()))

    def forward(self, x):
        if not bool(self.factor):
            self.factor.fill_(1.0 / float(x.abs().max()))
        return self.bn(self.conv(x * self.factor))


def copies_made(monkeypatch: pytest.MonkeyPatch) -> list[nn.Module]:
    """The models `fold` copies from now on."""
    from bnlint.runtime import fold as fold_module

    made: list[nn.Module] = []
    real = fold_module._copy
    monkeypatch.setattr(fold_module, "_copy", lambda model: made.append(model) or real(model))
    return made


def test_random_inputs_are_answered_by_the_model_in_the_state_it_is_returned_in(monkeypatch):
    # The capture's pass sets the factor from the example; the folded model keeps it. The
    # original answers for the random inputs in that state too, so the fold is judged by the
    # dtype's tolerance (a fresh copy would set the factor from a random input instead).
    copies = copies_made(monkeypatch)
    model = randomise(SetsItselfUp())
    result = fold(model, torch.randn(X))
    assert folded(result) == {("conv", "bn")} and result.verified
    assert result.verification.inputs_compared == 4  # the example and three random inputs
    assert result.verification.method == "tolerance"
    assert len(copies) == 1  # the working copy only
    assert not bool(model.factor)  # the user's model never ran
