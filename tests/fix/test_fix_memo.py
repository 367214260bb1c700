"""Fixes kept in the cache directory: a run where nothing changed finds every fix without
parsing a file again, and an edit finds the fix of the new text."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint import api
from bnlint.fix import attach
from bnlint.fix.attach import attach_fixes
from bnlint.ftypes import CheckResult, Edit

from .helpers import project

NET = """
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3{padding})
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(self.conv(x))
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "p").mkdir()
    return project(tmp_path / "p", NET.format(padding=""))


def _fixed(path: Path, cache: Path) -> CheckResult:
    result = api.check([path.parent], config=path.parent / "pyproject.toml")
    return attach_fixes(result, cache_dir=cache)


def _bias_fix(result: CheckResult) -> tuple[Edit, ...]:
    [finding] = [d for d in result.diagnostics if d.code == "XBN401"]
    assert finding.fix is not None
    return finding.fix.edits


def test_a_kept_fix_is_found_without_parsing_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _project(tmp_path)
    cache = tmp_path / "cache"
    first = _fixed(path, cache)

    def no_parsing(data: bytes) -> None:
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(attach, "parse_fix_source", no_parsing)
    assert _fixed(path, cache) == first


def test_an_edited_file_gets_the_fix_of_its_new_text(tmp_path: Path) -> None:
    path = _project(tmp_path)
    cache = tmp_path / "cache"
    before = _fixed(path, cache)
    path.write_text(path.read_text().replace("3)", "3, padding=1)", 1))
    after = _fixed(path, cache)
    assert _bias_fix(before) != _bias_fix(after)
    assert after == _fixed(path, tmp_path / "fresh")


def test_without_a_cache_directory_nothing_is_kept(tmp_path: Path) -> None:
    path = _project(tmp_path)
    result = api.check([path.parent], config=path.parent / "pyproject.toml")
    assert attach_fixes(result) == attach_fixes(result)
    assert not list(tmp_path.rglob("fixes"))
