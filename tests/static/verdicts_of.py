"""The fold verdicts `analyze` gives on a model written in a test, by `Class: bn` key."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.static.engine import analyze


def verdicts_of(
    tmp_path: Path,
    source: str,
    header: str = "",
    *,
    module: str = "model.py",
    project: bool = False,
) -> dict[str, tuple]:
    """`source` (dedented, after `header`) as `module` under `tmp_path`, analysed alone or,
    with `project`, with `tmp_path` as the project it imports from; each entry's (conv,
    status, code)."""
    path = tmp_path / module
    path.write_text(header + textwrap.dedent(source))
    result = analyze([path], search_roots=[tmp_path] if project else ())
    return {
        f"{module.class_name.rpartition('.')[2]}: {entry.bn}": (
            entry.conv,
            entry.status,
            entry.code,
        )
        for module in result.modules
        for entry in module.folds
    }
