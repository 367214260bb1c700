"""The zoo accuracy score counts what benchmarks/zoo_accuracy/README.md says it counts: a small
runtime truth and a static report, each kind of agreement and miss present once."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from benchmarks.zoo_accuracy.misses import write_misses
from benchmarks.zoo_accuracy.score import StaticRun, score
from benchmarks.zoo_accuracy.zoos import BY_NAME

TRUTH = {
    "models_run": {"z:a": {}, "z:b": {}},
    "models_failed": {"z:c": "TypeError: ..."},
    "classes": {"pkg.m.Block": "pkg/m.py:3", "pkg.m.Quiet": "pkg/m.py:30"},
    "keys": [
        ["pkg.m.Block", "conv1", "bn1", "conv_bn", {"foldable": 2}, "z:a"],  # found
        ["pkg.m.Block", "conv2", "bn2", "conv_bn", {"foldable": 1}, "z:a"],  # missed
        ["pkg.m.Block", "", "bn3", "", {"unfoldable XBN101": 2}, "z:a"],  # flagged
        ["pkg.m.Block", "", "bn4", "", {"unfoldable XBN102": 1}, "z:b"],  # wrongly foldable
        ["pkg.m.Block", "cat(a,b)", "bn5", "conv_bn", {"foldable": 1}, "z:b"],  # merge found
        ["pkg.m.Block", "", "aux_bn", "", {"unfoldable XBN112": 1}, "z:b"],  # never reached
        ["pkg.m.Quiet", "conv", "bn", "conv_bn", {"foldable": 1}, "z:b"],  # silent
    ],
}


def fold(
    conv: str | None,
    bn: str,
    status: str,
    direction: str | None = "conv_bn",
    code: str | None = None,
) -> dict[str, object]:
    return {"conv": conv, "bn": bn, "direction": direction, "status": status, "code": code}


MODULES = [
    {
        "class": "pkg.m.Block",
        "path": "pkg/m.py",
        "line": 3,
        "folds": [
            fold("conv1", "bn1", "foldable"),
            fold("conv1", "bn1", "unknown", None, "XBN207"),  # a second verdict: still found
            fold("conv2", "bn2", "foldable", "bn_conv"),  # the wrong direction: a miss
            fold(None, "bn3", "unfoldable", None, "XBN101"),
            fold("conv4", "bn4", "foldable"),
            fold("cat(a,b)", "bn5", "foldable"),
        ],
    },
    {"class": "pkg.m.Quiet", "path": "pkg/m.py", "line": 30, "folds": []},
]


def test_each_count_takes_its_keys() -> None:
    static = StaticRun(MODULES, seconds=1.0, cpu_seconds=1.0, files=1, lines=40, parse_seconds=0.1)
    result = score(BY_NAME["timm"], TRUTH, static)
    assert result.found == [
        ("pkg.m.Block", "cat(a,b)", "bn5", "conv_bn"),
        ("pkg.m.Block", "conv1", "bn1", "conv_bn"),
    ]
    assert set(result.missed) == {
        ("pkg.m.Block", "conv2", "bn2", "conv_bn"),
        ("pkg.m.Quiet", "conv", "bn", "conv_bn"),
    }
    assert result.wrong == [("pkg.m.Block", "conv4", "bn4", "conv_bn")]
    assert result.wrong_partner == [("pkg.m.Block", "conv2", "bn2", "bn_conv")]
    assert (result.flagged, result.unfolded) == (1, 2)
    assert result.not_flagged == [("pkg.m.Block", "bn4")]
    assert (result.merges_found, result.merges) == (1, 1)
    assert result.silent == [("pkg.m.Quiet", "bn")]
    assert result.never_called == 1
    assert result.summary()["recall"] == 0.5


def test_the_miss_list_names_evidence_and_place(tmp_path: Path) -> None:
    static = StaticRun(MODULES, 1.0, 1.0, 1, 40, 0.1)
    target = tmp_path / "timm.md"
    write_misses(
        target, score(BY_NAME["timm"], TRUTH, static), TRUTH, MODULES, PurePosixPath("repo")
    )
    text = target.read_text()
    assert "- `pkg.m.Block: conv4 -> bn4` (conv_bn) at pkg/m.py:3" in text
    assert "runtime: no partner: unfoldable XBN102 in 1 models, e.g. z:b" in text
    assert "- `pkg.m.Quiet` at pkg/m.py:30 (reported with 0 entries): `bn`" in text
