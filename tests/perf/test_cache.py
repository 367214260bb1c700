"""The cache: a warm run says exactly what a cold run says, a change anywhere a verdict
depends on is seen, and a damaged cache is never believed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bnlint.ftypes import CheckResult
from bnlint.static import scan as scan_module
from bnlint.static.engine import analyze
from tests.perf.conftest import Zoo, only

REPO = Path(__file__).resolve().parents[2]


def _copy_zoo(zoo: Zoo, tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "zoo"
    shutil.copytree(zoo.root, root)
    return root, [root / p.relative_to(zoo.root) for p in zoo.files]


def test_a_warm_run_says_exactly_what_a_cold_run_says_and_parses_nothing(
    zoo: Zoo, tmp_path: Path, parsed: list[Path]
) -> None:
    cache = tmp_path / "cache"
    cold = analyze(zoo.files, search_roots=[zoo.root], cache_dir=cache)
    assert cold == zoo.reference
    parsed.clear()
    warm = analyze(zoo.files, search_roots=[zoo.root], cache_dir=cache)
    assert warm == zoo.reference
    assert parsed == []


def test_a_single_file_run_reuses_what_the_whole_tree_run_cached(
    zoo: Zoo, tmp_path: Path, parsed: list[Path]
) -> None:
    cache = tmp_path / "cache"
    analyze(zoo.files, search_roots=[zoo.root], cache_dir=cache)
    parsed.clear()
    blocks = next(p for p in zoo.files if p.name == "blocks.py")
    alone = analyze([blocks], search_roots=[zoo.root], cache_dir=cache)
    assert only(alone, blocks) == only(zoo.reference, blocks)
    assert parsed == []


def test_an_edited_file_is_analysed_again_and_nothing_else_changes(
    zoo: Zoo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed: list[Path]
) -> None:
    root, files = _copy_zoo(zoo, tmp_path)
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    before = analyze(files, search_roots=[root], cache_dir=cache)
    heads = next(p for p in files if p.name == "heads.py")
    heads.write_text(heads.read_text() + "\n# a comment changes no verdict\n")
    parsed.clear()
    after = analyze(files, search_roots=[root], cache_dir=cache)
    assert after == before
    assert heads in parsed
    assert len(parsed) < len(files) / 2


PARENT = """\
import torch.nn as nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))
"""

CHILD = """\
from base import Base


class Child(Base):
    pass
"""


def _family(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text("")
    (root / "base.py").write_text(PARENT)
    (root / "child.py").write_text(CHILD)
    return root, root / "base.py", root / "child.py"


def _verdicts(result: CheckResult, path: Path) -> dict[str, list[tuple[str, str]]]:
    return {m.class_name: [(f.bn, f.status.value) for f in m.folds] for m in only(result, path)[1]}


def test_the_cache_remembers_why_python_cannot_read_a_file_it_never_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed: list[Path]
) -> None:
    # A script with a syntax error and a binary file, neither with a class: reported on
    # every run, checked once, and no longer reported once fixed.
    root, base, _ = _family(tmp_path)
    script, blob = root / "train.py", root / "blob.py"
    script.write_text("def main(:\n    pass\n")
    blob.write_bytes(b"\x93NUMPY\x01\x00v\x00")
    files = [base, script, blob]
    checks: list[int] = []
    real = scan_module.python_refusal

    def counting(data: bytes, limit: int):  # type: ignore[no-untyped-def]
        checks.append(len(data))
        return real(data, limit)

    monkeypatch.setattr(scan_module, "python_refusal", counting)
    monkeypatch.chdir(root)
    cache = tmp_path / "cache"
    cold = analyze(files, search_roots=[root], cache_dir=cache)
    findings = [(d.path, d.code, d.line, d.column) for d in cold.diagnostics]
    assert findings == [("blob.py", "XBN002", 1, 8), ("train.py", "XBN001", 1, 10)]
    assert len(checks) == 2
    checks.clear()
    parsed.clear()
    assert analyze(files, search_roots=[root], cache_dir=cache) == cold
    assert analyze([script], search_roots=[root], cache_dir=cache).diagnostics == tuple(
        d for d in cold.diagnostics if d.path == "train.py"
    )
    assert (checks, parsed) == ([], [])
    script.write_text("def main():\n    pass\n")
    fixed = analyze(files, search_roots=[root], cache_dir=cache)
    assert [d.path for d in fixed.diagnostics] == ["blob.py"]
    assert len(checks) == 1


def test_editing_a_parent_class_changes_the_verdicts_on_its_subclass(tmp_path: Path) -> None:
    root, base, child = _family(tmp_path)
    cache = tmp_path / "cache"
    first = analyze([child], search_roots=[root], cache_dir=cache)
    assert _verdicts(first, child) == {"child.Child": [("bn", "foldable")]}
    # The activation now sits between the conv and the BatchNorm: nothing to fold into.
    base.write_text(
        PARENT.replace("self.act(self.bn(self.conv(x)))", "self.bn(self.act(self.conv(x)))")
    )
    second = analyze([child], search_roots=[root], cache_dir=cache)
    assert _verdicts(second, child) == {"child.Child": [("bn", "unfoldable")]}
    assert second == analyze([child], search_roots=[root])


def test_a_module_added_where_an_import_pointed_at_nothing_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "net.py").write_text(
        textwrap.dedent("""\
        import torch.nn as nn
        from helpers import make_norm


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = make_norm(8)

            def forward(self, x):
                return self.bn(self.conv(x))
        """)
    )
    cache = tmp_path / "cache"
    net = root / "net.py"
    unresolved = analyze([net], search_roots=[root], cache_dir=cache)
    (root / "helpers.py").write_text(
        "import torch.nn as nn\n\n\ndef make_norm(n):\n    return nn.BatchNorm2d(n)\n"
    )
    resolved = analyze([net], search_roots=[root], cache_dir=cache)
    assert resolved != unresolved
    assert resolved == analyze([net], search_roots=[root])
    assert _verdicts(resolved, net) == {"net.Net": [("bn", "foldable")]}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty", "wrong shape"])
def test_a_damaged_cache_is_ignored(tmp_path: Path, damage: str) -> None:
    root, base, child = _family(tmp_path)
    files = [base, child]
    cache = tmp_path / "cache"
    expected = analyze(files, search_roots=[root])
    assert analyze(files, search_roots=[root], cache_dir=cache) == expected
    stored = sorted(p for p in cache.rglob("*") if p.is_file() and p.parent.parent.name == "v1")
    tables = {p.name.partition("-")[0] for p in stored}
    assert tables == {"index", "contributions", "definitions", "closures", "holds"}
    for path in stored:
        data = path.read_bytes()
        if damage == "garbage":
            path.write_bytes(b"\x00not a cache\xff" * 10)
        elif damage == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "flipped":
            path.write_bytes(data[:-10] + bytes([data[-10] ^ 0x40]) + data[-9:])
        elif damage == "empty":
            path.write_bytes(b"")
        else:  # a valid checksum, but not what this bnlint writes
            _rewrite_valid(
                path,
                {"paths": ["x"], "digests": [1, 2], "reports": [[0]]}
                if path.name == "index"
                else {str(child): [1]},
            )
    assert analyze(files, search_roots=[root], cache_dir=cache) == expected
    assert analyze(files, search_roots=[root], cache_dir=cache) == expected


def _rewrite_valid(path: Path, value: object) -> None:
    import hashlib
    import json
    import zlib

    body = zlib.compress(json.dumps(value).encode())
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    path.write_bytes(b"bnlint-cache " + digest.encode() + b"\n" + body)


def test_sources_given_in_memory_bypass_the_cache(tmp_path: Path) -> None:
    root, base, child = _family(tmp_path)
    cache = tmp_path / "cache"
    broken = PARENT.replace("self.act(self.bn(self.conv(x)))", "self.bn(self.act(self.conv(x)))")
    in_memory = analyze(
        [child], search_roots=[root], cache_dir=cache, sources={base: broken.encode()}
    )
    assert _verdicts(in_memory, child) == {"child.Child": [("bn", "unfoldable")]}
    assert not cache.exists()
    on_disk = analyze([child], search_roots=[root], cache_dir=cache)
    assert _verdicts(on_disk, child) == {"child.Child": [("bn", "foldable")]}


# ---- the command line --------------------------------------------------------------------------


def _bnlint(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "BNLINT_CACHE_DIR"}
    environ.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bnlint", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_keeps_its_cache_in_the_project_and_clean_removes_it(tmp_path: Path) -> None:
    root, _, _ = _family(tmp_path)
    first = _bnlint("check", "--format", "json", ".", cwd=root)
    cache = root / ".bnlint_cache"
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    second = _bnlint("check", "--format", "json", ".", cwd=root)
    assert (second.returncode, second.stdout) == (first.returncode, first.stdout)
    cleaned = _bnlint("clean", cwd=root)
    assert cleaned.returncode == 0 and "removed" in cleaned.stderr
    assert not cache.exists()
    assert _bnlint("clean", cwd=root).returncode == 0


def test_the_cache_goes_where_it_is_told_and_nowhere_with_no_cache(tmp_path: Path) -> None:
    root, _, _ = _family(tmp_path)
    elsewhere, from_env = tmp_path / "elsewhere", tmp_path / "from-env"
    _bnlint("check", "--cache-dir", str(elsewhere), ".", cwd=root)
    _bnlint("check", ".", cwd=root, env={"BNLINT_CACHE_DIR": str(from_env)})
    _bnlint("check", "--no-cache", ".", cwd=root)
    assert elsewhere.is_dir() and from_env.is_dir()
    assert not (root / ".bnlint_cache").exists()
    assert _bnlint("clean", "--cache-dir", str(elsewhere), cwd=root).returncode == 0
    assert not elsewhere.exists()


def test_clean_refuses_a_folder_that_is_not_a_cache(tmp_path: Path) -> None:
    root, _, _ = _family(tmp_path)
    refused = _bnlint("clean", "--cache-dir", str(root), cwd=root)
    assert refused.returncode == 2 and "not a bnlint cache" in refused.stderr
    assert (root / "base.py").exists()


def test_concurrent_runs_sharing_a_cache_each_report_correctly(zoo: Zoo, tmp_path: Path) -> None:
    root, _ = _copy_zoo(zoo, tmp_path)
    expected = _bnlint("check", "--no-cache", "--format", "json", ".", cwd=root).stdout
    cache = tmp_path / "shared"
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bnlint",
                "check",
                "--format",
                "json",
                "--jobs",
                "1",
                "--cache-dir",
                str(cache),
                ".",
            ],
            cwd=root,
            env=environ,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert outputs == [expected] * 3
    warm = _bnlint("check", "--format", "json", "--cache-dir", str(cache), ".", cwd=root)
    assert warm.stdout == expected


def test_a_file_read_as_text_only_still_invalidates_what_it_decided(tmp_path: Path) -> None:
    """A star-imported module whose text never writes a name is not parsed to look for it;
    the cached verdict still depends on its bytes: once it defines the name, a warm run
    says what a cold run says."""
    package = tmp_path / "zoo"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("from .models import *\n")
    (package / "models" / "__init__.py").write_text("from .blocks import *\n")
    blocks = package / "models" / "blocks.py"
    blocks.write_text("from torch import nn\n\nclass Block(nn.Module):\n    pass\n")
    checked = tmp_path / "net.py"
    checked.write_text(
        textwrap.dedent(
            """
            import zoo
            from torch import nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 8, 1, bias=False)
                    self.extra = zoo.Extra(8) if hasattr(zoo, "Extra") else nn.Identity()

                def forward(self, x):
                    return self.extra(self.conv(x))
            """
        )
    )
    cache = tmp_path / "cache"
    before = analyze([checked], search_roots=[tmp_path], cache_dir=cache)
    assert [m.folds for m in before.modules] == [()]
    blocks.write_text(blocks.read_text() + "\nExtra = nn.BatchNorm2d\n")
    warm = analyze([checked], search_roots=[tmp_path], cache_dir=cache)
    cold = analyze([checked], search_roots=[tmp_path])
    assert warm == cold
    assert [e.bn for m in cold.modules for e in m.folds] == ["extra"]
