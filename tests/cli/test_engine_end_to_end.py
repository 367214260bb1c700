"""The real command line over the real static engine, on a small project with cross-file
models: what a terminal user, a CI job and a pre-commit hook see."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .helpers import run_subprocess, write

PROJECT = {
    "pyproject.toml": """
        [project]
        name = "zoo"

        [tool.bnlint]
        extend-exclude = ["generated"]
    """,
    "src/zoo/__init__.py": "",
    # The parent class and the builder function live in another file than the model.
    "src/zoo/layers.py": """
        import torch.nn as nn


        def make_norm(channels):
            return nn.BatchNorm1d(channels)


        class Stem(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)

            def forward(self, x):
                return self.conv(x)
    """,
    "src/zoo/model.py": """
        import torch.nn as nn

        from zoo.layers import Stem, make_norm


        class Net(Stem):
            def __init__(self):
                super().__init__()
                self.bn = nn.BatchNorm2d(8)
                self.head = nn.Conv2d(8, 4, 1, bias=False)
                self.norm = make_norm(4)

            def forward(self, x):
                x = self.bn(super().forward(x))
                return self.norm(self.head(x))
    """,
    "src/zoo/clean.py": """
        import torch.nn as nn


        class Clean(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))
    """,
    # Excluded by the configuration: pre-commit still passes it when it is staged.
    "generated/bad.py": """
        import torch.nn as nn


        class Bad(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.act = nn.ReLU()
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.act(self.conv(x)))
    """,
}

MODEL_FINDING = (
    "src/zoo/model.py:15:16: XBN302 [bn-dimension-mismatch] BatchNorm 'self.norm' "
    "(line 15) is BatchNorm1d but 'self.head' (line 15) is Conv2d; it expects "
    "BatchNorm2d"
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write(tmp_path / "zoo", PROJECT)


def check_json(project: Path, *paths: str) -> dict:
    run = run_subprocess(["check", "--format", "json", *paths], cwd=project)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def test_the_whole_tree(project):
    run = run_subprocess(["check", "--format", "concise"], cwd=project)
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines() == [
        MODEL_FINDING,
        "Found 1 finding (1 error, 0 warnings, 0 info) in 4 files; "
        "folds: 2 foldable, 1 unfoldable, 0 unknown",
    ]


def test_a_file_checked_alone_gets_the_verdicts_it_gets_in_the_whole_tree(project):
    whole = check_json(project, ".")
    alone = check_json(project, "src/zoo/model.py")
    assert alone["diagnostics"] == [
        d for d in whole["diagnostics"] if d["path"] == "src/zoo/model.py"
    ]
    assert alone["modules"] == [m for m in whole["modules"] if m["path"] == "src/zoo/model.py"]
    # The verdicts needed the other file: the conv comes from the parent's forward and the
    # BatchNorm1d from a builder in layers.py.
    (net,) = alone["modules"]
    assert net["folds"] == [
        {"conv": "conv", "bn": "bn", "direction": "conv_bn", "status": "foldable", "code": None},
        {"conv": "head", "bn": "norm", "direction": None, "status": "unfoldable", "code": "XBN302"},
    ]
    # ...and only the file given is reported on.
    assert {m["path"] for m in alone["modules"]} == {"src/zoo/model.py"}
    # The same from inside the package folder: paths follow the working directory.
    inside = run_subprocess(["check", "--format", "json", "model.py"], cwd=project / "src" / "zoo")
    assert [d["path"] for d in json.loads(inside.stdout)["diagnostics"]] == ["model.py"]


def test_a_noqa_comment_silences_a_real_finding(project):
    model = project / "src" / "zoo" / "model.py"
    model.write_text(
        model.read_text().replace(
            "return self.norm(self.head(x))", "return self.norm(self.head(x))  # noqa: XBN302"
        )
    )
    run = run_subprocess(["check", "src"], cwd=project)
    assert run.returncode == 0, run.stdout
    assert run.stdout.startswith("No findings in 4 files")


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True
    ).stdout


def init_repository(project: Path) -> None:
    git(project, "init", "-q")
    git(project, "config", "user.email", "dev@example.com")
    git(project, "config", "user.name", "Dev")
    git(project, "config", "commit.gpgsign", "false")


def test_hook_command_on_staged_files_matches_what_pre_commit_runs(project):
    """What the pre-commit hook runs (`bnlint check --force-exclude FILES`) on a staged
    subset; test_pre_commit.py runs real pre-commit on the same project."""
    init_repository(project)
    git(project, "add", "pyproject.toml", "src/zoo/model.py", "generated/bad.py")
    staged = git(project, "diff", "--cached", "--name-only").split()
    python = [f for f in staged if f.endswith(".py")]
    assert python == ["generated/bad.py", "src/zoo/model.py"]
    run = run_subprocess(["check", "--force-exclude", *python], cwd=project)
    assert run.returncode == 1
    assert run.stdout.splitlines()[0] == MODEL_FINDING
    assert "generated/bad.py" not in run.stdout
    clean = run_subprocess(
        ["check", "--force-exclude", "src/zoo/clean.py", "generated/bad.py"], cwd=project
    )
    assert clean.returncode == 0, clean.stdout


def test_the_library_returns_the_same_result_and_prints_nothing(project, monkeypatch, capsys):
    import bnlint
    from bnlint.ftypes import Status

    monkeypatch.chdir(project)
    result = bnlint.check(["src"])
    assert capsys.readouterr() == ("", "")
    assert [(d.code, d.path, d.line) for d in result.diagnostics] == [
        ("XBN302", "src/zoo/model.py", 15)
    ]
    assert result.count(Status.FOLDABLE) == 2
    # The policy applies to library calls too: a config object or file narrows the findings.
    write(project, {"quiet.toml": 'ignore = ["XBN3"]\n'})
    assert bnlint.check(["src"], config="quiet.toml").diagnostics == ()
