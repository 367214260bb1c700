"""`bnlint fold`: exit codes, output formats, and a folded model written only when verified."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from bnlint import cli  # noqa: E402

pytestmark = pytest.mark.runtime

MODELS = """
import torch
from torch import nn


def small(num_classes=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 1), nn.ReLU(), nn.BatchNorm2d(8),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, num_classes))
    for bn in (model[1], model[5]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
    return model


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 1)
        self.bn = nn.BatchNorm1d(3)

    def forward(self, batch, scale):
        return self.bn(self.conv(batch["signal"])) * scale


def make_inputs():
    return ({"signal": torch.randn(2, 2, 5)}, 2.0)


def broken():
    raise ValueError("no weights for this size")


def on_meta():
    with torch.device("meta"):
        return small()


def with_a_lambda():
    model = small()
    model.activation = lambda x: x  # deep-copies fine, cannot be pickled
    return model


NOT_CALLABLE = 3


def not_a_model():
    return {"weights": torch.zeros(1)}
"""


@pytest.fixture
def bnlint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run `bnlint ARGS` in-process in a folder holding `models.py`."""
    (tmp_path / "models.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "models", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["fold", *args])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    sys.modules.pop("models", None)


SHAPE = ("--input-shape", "2,3,12,12")


def test_folds_prints_the_table_and_writes_a_verified_model(bnlint, tmp_path):
    code, out, err = bnlint("models:small", *SHAPE, "-o", "folded.pt")
    assert code == 0, err
    assert "Folded 1 BatchNorm:" in out and "0     1   conv_bn" in out
    assert "Skipped 1 BatchNorm:" in out and "5   XBN101" in out
    assert "Verification passed" in out and "given example inputs" in out
    model = torch.load(tmp_path / "folded.pt", weights_only=False)
    assert isinstance(model[1], torch.nn.Identity)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_json_output_is_the_versioned_fold_object(bnlint):
    code, out, _ = bnlint(
        "models:small", *SHAPE, "--format", "json", "--kwargs", '{"num_classes": 7}'
    )
    assert code == 0
    report = json.loads(out)
    assert report["version"] == 1 and report["model"] == "models:small"
    assert report["folds"] == [
        {
            "conv": "0",
            "bn": "1",
            "direction": "conv_bn",
            "max_error": report["folds"][0]["max_error"],
            "relative_error": report["folds"][0]["relative_error"],
            "key": {"owner": "torch.nn.modules.container.Sequential", "conv": "0", "bn": "1"},
        }
    ]
    assert [(s["bn"], s["code"], s["name"]) for s in report["skipped"]] == [
        ("5", "XBN101", "bn-after-activation")
    ]
    assert report["verification"]["passed"] is True
    assert report["summary"] == {"batchnorms": 2, "folded": 1, "skipped": 1, "verified": True}
    assert report["output"] is None


def test_never_overwrites_without_force(bnlint, tmp_path):
    (tmp_path / "folded.pt").write_bytes(b"precious")
    code, _, err = bnlint("models:small", *SHAPE, "-o", "folded.pt")
    assert code == 2 and "exists" in err and "--force" in err
    assert (tmp_path / "folded.pt").read_bytes() == b"precious"
    assert bnlint("models:small", *SHAPE, "-o", "folded.pt", "--force")[0] == 0
    assert (tmp_path / "folded.pt").read_bytes() != b"precious"


def test_failed_verification_exits_1_and_writes_nothing(bnlint, tmp_path):
    code, out, _ = bnlint(
        "models:small", *SHAPE, "-o", "folded.pt", "--rtol", "0", "--atol", "0", "--all-or-nothing"
    )
    assert code == 1
    assert "Verification FAILED" in out
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["models.py"]


def test_inputs_factory_for_models_with_structured_inputs(bnlint):
    code, out, err = bnlint("models:TwoInputs", "--inputs", "models:make_inputs")
    assert code == 0, err
    assert "conv  bn  conv_bn" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (("models:broken", *SHAPE), "'models:broken' raised ValueError: no weights for this size"),
        (("nowhere:small", *SHAPE), "cannot import 'nowhere'"),
        (("models:missing", *SHAPE), "has no attribute 'missing'"),
        (("models:small",), "--input-shape or --inputs"),
        (("models:small", "--input-shape", "2,5,12,12"), "expected input[2, 5, 12, 12] to have 3"),
        (("models:NOT_CALLABLE", *SHAPE), "'models:NOT_CALLABLE' is not callable"),
        (("models:not_a_model", *SHAPE), "returned dict, not a torch.nn.Module"),
        (("models.small", *SHAPE), "'models.small' is malformed: expected MODULE:FACTORY"),
        (("models:on_meta", *SHAPE), "the model is on the meta device"),
    ],
)
def test_usage_and_model_errors_exit_2_with_one_line(bnlint, args, message):
    code, _, err = bnlint(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_malformed_kwargs_are_a_usage_error(bnlint, capsys):
    with pytest.raises(SystemExit) as exit_:
        bnlint("models:small", *SHAPE, "--kwargs", "[1]")
    assert exit_.value.code == 2
    assert "--kwargs must be a JSON object" in capsys.readouterr().err


def test_without_torch_it_says_how_to_install(tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from bnlint import cli\n"
        "sys.exit(cli.main(['fold', 'models:small', '--input-shape', '1,3,8,8']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "pip install 'bnlint[runtime]'" in done.stderr


def test_the_command_parser_and_package_import_without_torch():
    script = (
        "import argparse, sys\n"
        "import bnlint, bnlint.runtime\n"
        "from bnlint.runtime import command\n"
        "command.add_arguments(argparse.ArgumentParser())\n"
        "assert 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def nothing_written(folder: Path) -> bool:
    """No folded model and no temporary file beside where it would go."""
    return not any(p.name.startswith(("folded", ".folded")) for p in folder.iterdir())


def test_a_planted_wrong_fold_exits_1_and_writes_nothing(bnlint, tmp_path, monkeypatch):
    from bnlint.runtime import apply

    real = apply.bn_affine
    monkeypatch.setattr(apply, "bn_affine", lambda bn: (real(bn)[0], real(bn)[1] + 1.0))
    code, out, _ = bnlint("models:small", *SHAPE, "-o", "folded.pt", "--all-or-nothing")
    assert code == 1 and "Verification FAILED" in out
    assert nothing_written(tmp_path)


def test_a_planted_wrong_fold_is_left_out_and_named(bnlint, tmp_path, monkeypatch):
    from bnlint.runtime import apply

    real = apply.bn_affine
    monkeypatch.setattr(apply, "bn_affine", lambda bn: (real(bn)[0], real(bn)[1] + 1.0))
    code, out, _ = bnlint("models:small", *SHAPE, "-o", "folded.pt")
    assert code == 0 and "Verification passed" in out
    assert "XBN209" in out and "its folded weights are off by" in out


def test_a_model_that_cannot_be_saved_leaves_no_file_and_exits_2(bnlint, tmp_path):
    code, _, err = bnlint("models:with_a_lambda", *SHAPE, "-o", "folded.pt")
    assert code == 2 and "cannot write folded.pt" in err and "Traceback" not in err
    assert nothing_written(tmp_path)


def test_a_disk_failure_halfway_through_writing_leaves_no_partial_file(
    bnlint, tmp_path, monkeypatch
):
    (tmp_path / "folded.pt").write_bytes(b"previous version")

    def half_then_fail(obj, stream, *args, **kwargs):
        stream.write(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    code, _, err = bnlint("models:small", *SHAPE, "-o", "folded.pt", "--force")
    assert code == 2 and "No space left on device" in err
    assert (tmp_path / "folded.pt").read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --- checkpoints -----------------------------------------------------------------------


def user_models(folder: Path) -> Any:
    """The `models.py` of the `bnlint` fixture, imported as the command imports it."""
    import importlib

    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))  # sys.path is the fixture's copy
    return importlib.import_module("models")


def trained(tmp_path: Path, wrap=lambda state: state, name: str = "trained.pt") -> Path:
    """A checkpoint of `small()` with weights the factory would not produce."""
    model = user_models(tmp_path).small()
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(-3.0).add_(0.5)
        model[1].running_mean.fill_(0.25)
    torch.save(wrap(model.state_dict()), tmp_path / name)
    return tmp_path / name


def test_a_checkpoint_is_loaded_before_folding(bnlint, tmp_path):
    checkpoint = trained(tmp_path)
    code, _, err = bnlint(
        "models:small", *SHAPE, "--checkpoint", str(checkpoint), "-o", "folded.pt"
    )
    assert code == 0, err
    folded = torch.load(tmp_path / "folded.pt", weights_only=False)
    reference = user_models(tmp_path).small()
    reference.load_state_dict(torch.load(checkpoint, weights_only=True))
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(folded(x), reference.eval()(x), rtol=1e-4, atol=1e-5)


def test_training_script_checkpoints_with_a_wrapper_key_and_a_ddp_prefix_load(bnlint, tmp_path):
    checkpoint = trained(
        tmp_path,
        lambda state: {"epoch": 90, "state_dict": {f"module.{k}": v for k, v in state.items()}},
    )
    code, _, err = bnlint("models:small", *SHAPE, "--checkpoint", str(checkpoint))
    assert code == 0, err


def test_a_meta_device_model_takes_its_weights_from_the_checkpoint(bnlint, tmp_path):
    checkpoint = trained(tmp_path)
    code, out, err = bnlint("models:on_meta", *SHAPE, "--checkpoint", str(checkpoint))
    assert code == 0, err
    assert "Folded 1 BatchNorm" in out


class Payload:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(bnlint, tmp_path):
    marker = tmp_path / "PWNED"
    torch.save(
        {"0.weight": torch.zeros(8, 3, 3, 3), "payload": Payload(marker)}, tmp_path / "evil.pt"
    )
    code, _, err = bnlint("models:small", *SHAPE, "--checkpoint", "evil.pt")
    assert code == 2
    assert "holds a pickled Python object (io.open)" in err
    assert "weights_only=True" in err and err.count("\n") == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("whole-model", "holds a pickled Python object (torch.nn.modules.container.Sequential)"),
        ("garbage", "is not a file of tensors written by torch.save"),
        ("missing", "cannot read checkpoint missing.pt: No such file or directory"),
        (
            "wrong-keys",
            "does not fit the model: missing 0.weight, 1.weight, 1.bias (+12 more); "
            "unexpected conv.weight",
        ),
        ("wrong-shape", "size mismatch for 0.weight"),
        ("no-tensors", "holds no state dict"),
    ],
)
def test_checkpoint_problems_exit_2_with_one_line(bnlint, tmp_path, content, message):
    models = user_models(tmp_path)
    path = tmp_path / f"{content}.pt"
    if content == "whole-model":
        torch.save(models.small(), path)
    elif content == "garbage":
        path.write_bytes(b"\x00not a checkpoint")
    elif content == "wrong-keys":
        torch.save({"conv.weight": torch.zeros(1)}, path)
    elif content == "wrong-shape":
        state = models.small().state_dict()
        state["0.weight"] = torch.zeros(8, 3, 5, 5)
        torch.save(state, path)
    elif content == "no-tensors":
        torch.save({"epoch": 3}, path)
    code, _, err = bnlint("models:small", *SHAPE, "--checkpoint", path.name)
    assert code == 2
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_the_output_never_replaces_the_checkpoint_even_with_force(bnlint, tmp_path):
    checkpoint = trained(tmp_path)
    before = checkpoint.read_bytes()
    code, _, err = bnlint(
        "models:small", *SHAPE, "--checkpoint", "trained.pt", "-o", "trained.pt", "--force"
    )
    assert code == 2 and "is the checkpoint being folded" in err
    assert checkpoint.read_bytes() == before


class ConcatHead(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 2, 1), torch.nn.Conv2d(3, 4, 1)
        self.bn = torch.nn.BatchNorm2d(6)

    def forward(self, x):
        return self.bn(torch.cat([self.a(x), self.b(x)], dim=1))


def test_json_names_every_layer_of_a_fold_through_a_merge():
    import warnings

    import bnlint
    from bnlint.runtime import report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = bnlint.fold(ConcatHead(), torch.randn(2, 3, 4, 4))
    (entry,) = report.to_json(result)["folds"]
    assert (entry["conv"], entry["bn"], entry["producers"], entry["merge"]) == (
        "cat(a,b)",
        "bn",
        ["a", "b"],
        "cat",
    )
    assert entry["key"] == {"owner": f"{__name__}.ConcatHead", "conv": "cat(a,b)", "bn": "bn"}
