"""bnlint as a real pre-commit hook: pre-commit clones this checkout, builds a virtualenv,
pip-installs bnlint into it (without torch) and runs the hook on a model repository.

About 10 s on the CI machine (one virtualenv, shared by the tests of this module), so it runs
by default; test_engine_end_to_end.py covers the same command line without pre-commit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO_ROOT, write
from .test_engine_end_to_end import MODEL_FINDING, PROJECT, git, init_repository

# What the hook repository needs to build the package, copied from the working tree so that
# the test exercises the code under test rather than the last commit.
_HOOK_REPO_FILES = (
    "bnlint",
    "rules",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    ".pre-commit-hooks.yaml",
)


@pytest.fixture(scope="module")
def hook_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    pytest.importorskip("pre_commit")
    if not any((REPO_ROOT / "rules").glob("*.md")):
        pytest.fail(
            "rules/ holds no rule page: pyproject.toml force-includes that folder in "
            "the wheel, so bnlint cannot be installed from a clone"
        )
    hook = tmp_path_factory.mktemp("hook") / "bnlint"
    hook.mkdir()
    for name in _HOOK_REPO_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, hook / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        elif source.is_file():
            shutil.copy2(source, hook / name)
    init_repository(hook)
    git(hook, "add", ".")
    git(hook, "commit", "-q", "-m", "bnlint under test")
    return hook, git(hook, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One hook environment for the module: the second run reuses the installed virtualenv.
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    env.update(PRE_COMMIT_HOME=str(home), NO_COLOR="1", PRE_COMMIT_COLOR="never")
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def model_repository(tmp_path: Path, hook_repository: tuple[Path, str]) -> Path:
    hook, rev = hook_repository
    project = write(tmp_path / "zoo", PROJECT)
    write(
        project,
        {
            ".pre-commit-config.yaml": f"""
        repos:
          - repo: {hook}
            rev: {rev}
            hooks:
              - id: bnlint
    """
        },
    )
    init_repository(project)
    return project


def test_pre_commit_all_files_reports_the_finding_and_skips_excluded_files(
    model_repository, pre_commit_home
):
    git(model_repository, "add", ".")
    run = pre_commit(model_repository, pre_commit_home, "--all-files")
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "bnlint" in output and "Failed" in output
    assert MODEL_FINDING in output
    assert "generated/bad.py" not in output  # excluded by [tool.bnlint], despite being passed


def test_pre_commit_on_a_staged_subset(model_repository, pre_commit_home):
    git(
        model_repository,
        "add",
        "pyproject.toml",
        ".pre-commit-config.yaml",
        "src/zoo/clean.py",
        "generated/bad.py",
    )
    clean = pre_commit(model_repository, pre_commit_home)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Passed" in clean.stdout

    # Staging the model alone: its parent class and builder are read from the unstaged
    # layers.py on disk, so the verdict is the one the whole tree gets.
    git(model_repository, "add", "src/zoo/model.py")
    failing = pre_commit(model_repository, pre_commit_home)
    assert failing.returncode == 1
    assert MODEL_FINDING in failing.stdout
    assert "layers.py" not in failing.stdout.replace("from zoo.layers", "")


def test_the_hook_environment_has_no_torch(model_repository, pre_commit_home):
    git(model_repository, "add", ".")
    pre_commit(model_repository, pre_commit_home, "--all-files")
    pythons = list(pre_commit_home.glob("repo*/py_env-*/bin/python"))
    assert pythons, "pre-commit did not build a hook environment"
    probe = subprocess.run(
        [
            str(pythons[0]),
            "-c",
            "import importlib.util as u;"
            "print(u.find_spec('torch') is None, u.find_spec('bnlint') is None)",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.split() == ["True", "False"]
    # The installed wheel carries the rule pages: `bnlint rule` prints the repository's page.
    page = next(iter(sorted((REPO_ROOT / "rules").glob("XBN*.md"))))
    shown = subprocess.run(
        [str(pythons[0]), "-m", "bnlint", "rule", page.stem],
        capture_output=True,
        text=True,
        cwd=model_repository,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.rstrip("\n") == page.read_text().rstrip("\n")
