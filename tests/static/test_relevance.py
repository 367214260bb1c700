"""The report on a file combines only the observations that bear on it (its classes' fold
keys, those placed in it, those seen inside instances of its classes): it must be the
report that combining every observation of its context gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bnlint.parallel import analyse_files
from bnlint.static.callers import CallerGraph
from bnlint.static.relevance import ContextIndex
from bnlint.static.scan import scan_project
from bnlint.static.verdicts import report_on

ROOTS = {
    "crossfile": Path(__file__).resolve().parents[1] / "fixtures" / "static" / "crossfile" / "src",
    "examples": Path(__file__).resolve().parents[2] / "examples",
}


class _Everything(ContextIndex):
    def bearing_on(self, target, context):  # type: ignore[no-untyped-def]
        return [o for contribution in context for o in contribution.observations]


@pytest.mark.parametrize("tree", sorted(ROOTS))
def test_the_observations_bearing_on_a_file_give_its_whole_report(tree: str) -> None:
    root = os.path.realpath(ROOTS[tree])
    files = sorted(str(p) for p in Path(root).rglob("*.py") if "__pycache__" not in p.parts)
    scan = scan_project(files, [root], {})
    graph = CallerGraph(scan.facts, scan.words, scan.attributes)
    contributions = analyse_files(
        [scan.key(f) for f in files], search_roots=[root], source_roots=scan.source_roots
    )
    index = ContextIndex()
    compared = 0
    for path in contributions:
        context = [contributions[m] for m in graph.context(path) if m in contributions]
        target = contributions[path]
        selected = report_on(target, context, index)
        assert selected == report_on(target, context, _Everything()), path
        compared += bool(selected.modules)
    assert compared >= 3  # the trees have model files with classes to report
