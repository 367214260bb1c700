"""`bnlint fold` and `bnlint graph` from the command line: declared model names, malformed
targets, one output rule, factories that exit, untrained statistics, -q, and the progress
line a terminal shows (and a pipe does not)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from .helpers import REPO_ROOT, write  # noqa: E402

pytestmark = pytest.mark.runtime

MODELS = """
import sys

import torch
from torch import nn


def trained():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())
    model[1].running_mean.uniform_(-1, 1)
    model[1].running_var.uniform_(0.5, 2.0)
    return model


def fresh():
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU())


def quits():
    sys.exit(3)


def lazy():
    return nn.Sequential(nn.LazyConv2d(4, 3, bias=False), nn.LazyBatchNorm2d(), nn.ReLU())
"""

PYPROJECT = """
[tool.bnlint.models]
small = { factory = "tinyzoo.models:trained", input-shape = [1, 3, 8, 8] }
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a src/ layout declaring one model; its modules are forgotten after."""
    write(
        tmp_path,
        {
            "pyproject.toml": PYPROJECT,
            "src/tinyzoo/__init__.py": "",
            "src/tinyzoo/models.py": MODELS,
        },
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in [n for n in sys.modules if n == "tinyzoo" or n.startswith("tinyzoo.")]:
        del sys.modules[name]


def test_fold_accepts_a_declared_model_name(bnlint, project):
    run = bnlint("fold", "small", cwd=project)
    assert run.code == 0, run.err
    assert "Folded 1 BatchNorm:" in run.out and "Verification passed" in run.out


def test_graph_accepts_a_declared_model_name(bnlint, project):
    run = bnlint("graph", "small", "--format", "mermaid", cwd=project)
    assert run.code == 0, run.err
    assert 'title: "tinyzoo.models:trained: 1 folded, 0 unfoldable, 0 unknown"' in run.out


def test_the_command_line_overrides_what_a_declared_model_declares(bnlint, project):
    run = bnlint("fold", "small", "--input-shape", "2,3,6,6", "--format", "json", cwd=project)
    assert run.code == 0, run.err
    assert '"model": "small"' in run.out


@pytest.mark.parametrize("command", ["fold", "graph"])
def test_a_module_without_factory_is_malformed(bnlint, project, command):
    run = bnlint(command, "pkg.mod", "--input-shape", "1,3,8,8", cwd=project)
    assert run.code == 2
    assert "'pkg.mod' is malformed: expected MODULE:FACTORY" in run.err
    assert "declared in" in run.err and "small" in run.err
    assert "did you mean 'pkg.mod:FACTORY'?" in run.err


def test_only_a_model_name_reads_the_configuration(bnlint, project):
    (project / "src" / "pyproject.toml").write_text("[tool.bnlint]\nbogus = 1\n")
    by_factory = bnlint(
        "fold", "tinyzoo.models:trained", "--input-shape", "1,3,8,8", cwd=project / "src"
    )
    assert by_factory.code == 0, by_factory.err
    by_name = bnlint("fold", "small", cwd=project / "src")
    assert by_name.code == 2 and "unknown key 'bogus'" in by_name.err


def test_a_factory_that_exits_is_named_and_exits_2(bnlint, project):
    run = bnlint("fold", "tinyzoo.models:quits", "--input-shape", "1,3,8,8", cwd=project / "src")
    assert run.code == 2
    assert (
        "the factory 'tinyzoo.models:quits' exited (sys.exit(3)) instead of returning a model"
        in run.err
    )


def test_a_model_with_lazy_layers_is_run_once_and_folded(bnlint, project):
    run = bnlint("fold", "tinyzoo.models:lazy", "--input-shape", "1,3,8,8", cwd=project / "src")
    assert run.code == 0, run.err
    assert "lazy layers" not in run.err
    assert "Folded 1 BatchNorm" in run.out


def test_untrained_statistics_are_called_out(bnlint, project):
    run = bnlint(
        "fold",
        "tinyzoo.models:fresh",
        "--input-shape",
        "1,3,8,8",
        "--dtype",
        "float16",
        cwd=project / "src",
    )
    assert run.code == 0, run.err
    assert "statistics it was built with (running_mean 0, running_var 1)" in run.err
    assert "--checkpoint" in run.err
    trained = bnlint(
        "fold", "tinyzoo.models:trained", "--input-shape", "1,3,8,8", cwd=project / "src"
    )
    assert "running_mean 0" not in trained.err


def test_quiet_fold_prints_the_outcome_without_tables(bnlint, project):
    run = bnlint("fold", "-q", "small", cwd=project)
    assert run.code == 0
    assert run.out.splitlines()[0] == "Folded 1 BatchNorm, skipped 0."
    assert run.out.splitlines()[1].startswith("Verification passed:")
    assert len(run.out.splitlines()) == 2


def test_quiet_confirm_prints_the_two_summaries(bnlint, project):
    run = bnlint("check", "-q", "--confirm", "src", "--no-cache", cwd=project)
    assert run.code == 0, run.err
    static, runtime = run.out.splitlines()  # no findings, no table: the two summaries
    assert static.startswith("No findings in 2 files; folds: ")
    assert runtime.startswith("Confirmed 1 model against the static analysis: ")
    assert "0 disagreements" in runtime


@pytest.mark.parametrize("command, name", [("fold", "folded.pt"), ("graph", "plan.dot")])
def test_fold_and_graph_never_overwrite_without_force(bnlint, project, command, name):
    (project / name).write_text("kept")
    refused = bnlint(command, "small", "-o", name, cwd=project)
    assert refused.code == 2 and f"{name} exists; pass --force to overwrite it" in refused.err
    assert (project / name).read_text() == "kept"
    forced = bnlint(command, "small", "-o", name, "--force", cwd=project)
    assert forced.code == 0, forced.err
    assert (project / name).read_bytes() != b"kept"


# --- the progress line -------------------------------------------------------------------------


def _run_in_pty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run `python -m bnlint ARGS` with its standard error on a terminal."""
    controller, terminal = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "bnlint", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
    )
    os.close(terminal)
    seen = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    return process.wait(timeout=120), seen.decode(errors="replace")


def test_a_terminal_sees_each_step(project):
    code, shown = _run_in_pty(["fold", "small"], project)
    assert code == 0
    steps = [
        step
        for step in ("building small", "capturing", "folding", "verifying")
        if f"bnlint: {step}..." in shown
    ]
    assert steps == ["building small", "capturing", "folding", "verifying"]
    assert shown.endswith("\r\x1b[K")  # the line is erased when the work is done


def test_a_pipe_sees_no_progress(project):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bnlint", "fold", "small"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert done.stderr == ""


def test_the_readme_fold_example_runs_without_numpy_warnings():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), "src"]))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bnlint",
            "fold",
            "zoo.unfoldable:preact_resnet_tiny",
            "--input-shape",
            "1,3,32,32",
        ],
        cwd=REPO_ROOT / "examples",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0
    assert "NumPy" not in done.stderr
