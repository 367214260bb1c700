"""Which files `bnlint check PATHS` analyses."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from bnlint.config import Config, with_overrides
from bnlint.discovery import PathNotFoundError, discover, find_project_root

from .helpers import write

SOURCE = "import torch\n"


def found(root, *paths, **overrides) -> list[str]:
    config = with_overrides(Config(root=root), **overrides)
    return [os.path.relpath(p, root) for p in discover([root / p for p in paths], config)]


def test_directories_yield_python_files_and_skip_hidden_and_default_excludes(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/net.py": SOURCE,
            "pkg/README.md": "x",
            ".venv/lib/torch/nn.py": SOURCE,
            "pkg/.cache/x.py": SOURCE,
            "pkg/__pycache__/net.py": SOURCE,
            "venv/lib/x.py": SOURCE,
            "dist/x.py": SOURCE,
        },
    )
    assert found(tmp_path, ".") == ["pkg/__init__.py", "pkg/net.py"]


def test_nested_gitignore_files_are_honoured_like_git(tmp_path):
    write(
        tmp_path,
        {
            ".gitignore": "generated/\n*_out.py\n",
            "pkg/.gitignore": "!keep_out.py\nscratch.py\n",
            "pkg/net.py": SOURCE,
            "pkg/scratch.py": SOURCE,
            "pkg/keep_out.py": SOURCE,
            "pkg/drop_out.py": SOURCE,
            "generated/model.py": SOURCE,
            "top_out.py": SOURCE,
        },
    )
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert found(tmp_path, ".") == ["pkg/keep_out.py", "pkg/net.py"]
    # Walking a subfolder still applies the .gitignore files above it.
    assert found(tmp_path, "pkg") == ["pkg/keep_out.py", "pkg/net.py"]


def test_gitignore_applies_without_a_repository_inside_the_project(tmp_path):
    write(tmp_path, {".gitignore": "scratch/\n", "scratch/x.py": SOURCE, "net.py": SOURCE})
    assert found(tmp_path, ".") == ["net.py"]


def test_explicit_files_are_checked_even_when_excluded_unless_force_exclude(tmp_path):
    write(
        tmp_path,
        {
            ".gitignore": "ignored.py\n",
            "build/gen.py": SOURCE,
            "ignored.py": SOURCE,
            "odd_name": SOURCE,
            "net.py": SOURCE,
        },
    )
    explicit = ("build/gen.py", "ignored.py", "odd_name", "net.py")
    assert found(tmp_path, *explicit) == ["build/gen.py", "ignored.py", "net.py", "odd_name"]
    assert found(tmp_path, *explicit, force_exclude=True) == ["net.py", "odd_name"]
    assert found(tmp_path, "build", force_exclude=True) == []
    assert found(tmp_path, "build") == ["build/gen.py"]


def test_an_explicitly_named_ignored_folder_is_checked_like_a_project_of_its_own(tmp_path):
    write(
        tmp_path,
        {
            ".gitignore": "generated/\n",
            "generated/a.py": SOURCE,
            "generated/sub/b.py": SOURCE,
            "generated/.gitignore": "sub/\n",
        },
    )
    assert found(tmp_path, ".") == []
    assert found(tmp_path, "generated") == ["generated/a.py"]
    assert found(tmp_path, "generated", force_exclude=True) == []


def test_extend_exclude_globs_are_anchored_when_they_contain_a_slash(tmp_path):
    write(tmp_path, {"a/tests/x.py": SOURCE, "tests/x.py": SOURCE, "a/net.py": SOURCE})
    assert found(tmp_path, ".", extend_exclude=["/tests"]) == ["a/net.py", "a/tests/x.py"]
    assert found(tmp_path, ".", extend_exclude=["tests"]) == ["a/net.py"]


def test_a_missing_path_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"net.py": SOURCE})
    with pytest.raises(PathNotFoundError, match=r"^src/missing\.py: no such file or directory$"):
        discover([Path("net.py"), Path("src/missing.py")], Config(root=tmp_path))


def test_symlink_loops_terminate_and_linked_files_are_checked_once(tmp_path):
    write(tmp_path, {"pkg/net.py": SOURCE})
    (tmp_path / "pkg" / "loop").symlink_to(tmp_path / "pkg", target_is_directory=True)
    (tmp_path / "pkg" / "alias.py").symlink_to(tmp_path / "pkg" / "net.py")
    (tmp_path / "elsewhere").symlink_to(tmp_path / "pkg", target_is_directory=True)
    result: list[list[str]] = []
    worker = threading.Thread(target=lambda: result.append(found(tmp_path, ".")), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "discovery hangs on a symlink loop"
    assert len(result[0]) == 1  # one real file, however many links lead to it


def test_project_root_is_the_nearest_folder_with_pyproject_or_git(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "src/pkg/net.py": SOURCE})
    assert find_project_root(tmp_path / "src" / "pkg" / "net.py") == tmp_path
    (tmp_path / "src" / ".git").mkdir()
    assert find_project_root(tmp_path / "src" / "pkg") == tmp_path / "src"


def test_the_engine_gets_the_project_root_to_read_imports_from(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"pyproject.toml": "", "src/pkg/base.py": SOURCE, "src/pkg/net.py": SOURCE})
    bnlint("check", "net.py", cwd=tmp_path / "src" / "pkg")
    files, roots = fake_engine.calls[-1]
    assert [f.name for f in files] == ["net.py"]
    assert roots == (tmp_path,)
