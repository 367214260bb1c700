"""`bnlint check --format json` shows every layer of a fold through a merge."""

from __future__ import annotations

import json
from pathlib import Path

from bnlint.ftypes import CheckResult, Direction, FoldEntry, Merge, ModuleReport, Status
from bnlint.reporters import json_output
from bnlint.static.engine import analyze

FIXTURES = Path(__file__).parent / "fixtures"


def _folds(result: CheckResult) -> dict[str, dict[str, object]]:
    document = json_output.document(result)
    return {
        f"{m['class'].rsplit('.', 1)[-1]}.{fold['bn']}": fold
        for m in document["modules"]
        for fold in m["folds"]
    }


def test_a_merge_fold_lists_its_layers_and_how_they_merge() -> None:
    entry = FoldEntry(
        "cat(a,b)",
        "bn",
        Direction.CONV_BN,
        Status.FOLDABLE,
        None,
        producers=("a", "b"),
        merge=Merge.CAT,
    )
    result = CheckResult(
        files=("m.py",), diagnostics=(), modules=(ModuleReport("m.Net", "m.py", 3, (entry,)),)
    )
    fold = json.loads(json.dumps(json_output.document(result)))["modules"][0]["folds"][0]
    assert fold == {
        "conv": "cat(a,b)",
        "bn": "bn",
        "direction": "conv_bn",
        "status": "foldable",
        "code": None,
        "producers": ["a", "b"],
        "merge": "cat",
    }


def test_a_fold_into_one_layer_reads_as_in_version_1() -> None:
    folds = _folds(analyze([FIXTURES / "catsum_cat_channels.py"]))
    assert folds["BottleneckCSP.cv1_bn"] == {
        "conv": "cv1",
        "bn": "cv1_bn",
        "direction": "conv_bn",
        "status": "foldable",
        "code": None,
    }


def test_bnlint_check_json_names_every_layer_of_a_sum() -> None:
    folds = _folds(analyze([FIXTURES / "catsum_sum.py"]))
    assert folds["ThreeConvs.bn_chain"] == {
        "conv": "a+b+c",
        "bn": "bn_chain",
        "direction": "conv_bn",
        "status": "foldable",
        "code": None,
        "producers": ["a", "b", "c"],
        "merge": "sum",
    }
