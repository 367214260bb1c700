"""The agreement table of one model, from a static fold plan and a runtime observation.

No torch here: the runtime side is written out as the ModelObservation the runtime checker
would produce, so each test shows both halves' verdicts and the agreement a user reads.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bnlint.confirm.compare import compare_model
from bnlint.ftypes import (
    Agreement,
    CheckResult,
    Direction,
    FoldEntry,
    ModelModule,
    ModelObservation,
    ModuleReport,
    RuntimeBatchNorm,
    SideVerdict,
    Status,
)

CONV_BN = Direction.CONV_BN
FOLDABLE, UNFOLDABLE, UNKNOWN = Status.FOLDABLE, Status.UNFOLDABLE, Status.UNKNOWN

# A model `pkg.m.Net` with two `pkg.m.Block`s at blocks.0 and blocks.1 (a plain ModuleList),
# each holding conv and bn, and its own stem conv and bn.
MODULES = (
    ModelModule("", "pkg.m.Net"),
    ModelModule("stem", "torch.nn.modules.conv.Conv2d"),
    ModelModule("bn", "torch.nn.modules.batchnorm.BatchNorm2d"),
    ModelModule("blocks", "torch.nn.modules.container.ModuleList", is_plain_container=True),
    ModelModule("blocks.0", "pkg.m.Block"),
    ModelModule("blocks.0.conv", "torch.nn.modules.conv.Conv2d"),
    ModelModule("blocks.0.bn", "torch.nn.modules.batchnorm.BatchNorm2d"),
    ModelModule("blocks.1", "pkg.m.Block"),
    ModelModule("blocks.1.conv", "torch.nn.modules.conv.Conv2d"),
    ModelModule("blocks.1.bn", "torch.nn.modules.batchnorm.BatchNorm2d"),
)


def static(*modules: tuple[str, tuple[FoldEntry, ...]]) -> CheckResult:
    return CheckResult(
        files=("src/pkg/m.py",),
        diagnostics=(),
        modules=tuple(ModuleReport(name, "src/pkg/m.py", 1, entries) for name, entries in modules),
    )


def folded(path: str, partner: str, owner: str, conv: str, bn: str) -> RuntimeBatchNorm:
    return RuntimeBatchNorm(path, partner, SideVerdict(owner, conv, bn, CONV_BN, FOLDABLE, None))


def skipped(
    path: str,
    owner: str,
    bn: str,
    code: str,
    *,
    status: Status = UNFOLDABLE,
    partner: str | None = None,
    conv: str | None = None,
) -> RuntimeBatchNorm:
    return RuntimeBatchNorm(
        path, partner, SideVerdict(owner, conv, bn, None, status, code, f"reason {code}")
    )


def observed(*batchnorms: RuntimeBatchNorm, verified: bool = True) -> ModelObservation:
    return ModelObservation(MODULES, batchnorms, verified, "1 inputs compared")


def table(check: CheckResult, observation: ModelObservation) -> dict[str, Agreement]:
    result = compare_model("net", "pkg.m:Net", check, observation)
    return {f"{r.runtime.owner}: {r.runtime.bn}": r.agreement for r in result.rows}


BLOCK_FOLDS = ("pkg.m.Block", (FoldEntry("conv", "bn", CONV_BN, FOLDABLE, None),))
BLOCKS_FOLDED = (
    folded("blocks.0.bn", "blocks.0.conv", "pkg.m.Block", "conv", "bn"),
    folded("blocks.1.bn", "blocks.1.conv", "pkg.m.Block", "conv", "bn"),
)


def test_both_halves_fold_the_same_pair_in_every_instance():
    result = compare_model("net", "pkg.m:Net", static(BLOCK_FOLDS), observed(*BLOCKS_FOLDED))
    (row,) = result.rows
    assert row.agreement is Agreement.CONFIRMED_FOLDABLE
    assert row.instances == ("blocks.0.bn", "blocks.1.bn")
    assert result.count(Agreement.DISAGREEMENT) == 0


def test_both_halves_refuse_even_for_different_reasons():
    check = static(("pkg.m.Net", (FoldEntry(None, "bn", None, UNFOLDABLE, "XBN101"),)))
    same = compare_model("net", "f", check, observed(skipped("bn", "pkg.m.Net", "bn", "XBN101")))
    other = compare_model("net", "f", check, observed(skipped("bn", "pkg.m.Net", "bn", "XBN102")))
    assert same.rows[0].agreement is Agreement.CONFIRMED_UNFOLDABLE
    assert same.rows[0].detail == ""
    assert other.rows[0].agreement is Agreement.CONFIRMED_UNFOLDABLE
    assert "different reasons" in other.rows[0].detail and "XBN102" in other.rows[0].detail


def test_static_unknown_is_taught_by_the_runtime_verdict():
    check = static(("pkg.m.Net", (FoldEntry(None, "bn", None, UNKNOWN, "XBN203"),)))
    result = compare_model(
        "net", "f", check, observed(folded("bn", "stem", "pkg.m.Net", "stem", "bn"))
    )
    (row,) = result.rows
    assert row.agreement is Agreement.STATIC_UNKNOWN
    assert row.detail == "runtime: foldable into stem (conv_bn)"


def test_a_static_fold_refuted_at_runtime_is_a_disagreement_with_both_sides_evidence():
    observation = observed(BLOCKS_FOLDED[0], skipped("blocks.1.bn", "pkg.m.Block", "bn", "XBN107"))
    result = compare_model("net", "f", static(BLOCK_FOLDS), observation)
    (row,) = result.rows  # one key; the instance that does not fold decides
    assert row.agreement is Agreement.DISAGREEMENT
    assert row.detail == (
        "static: foldable into conv (conv_bn); runtime: unfoldable XBN107: reason XBN107"
    )


def test_a_runtime_fold_static_called_unfoldable_is_a_disagreement():
    check = static(("pkg.m.Net", (FoldEntry(None, "bn", None, UNFOLDABLE, "XBN101"),)))
    result = compare_model(
        "net", "f", check, observed(folded("bn", "stem", "pkg.m.Net", "stem", "bn"))
    )
    assert result.rows[0].agreement is Agreement.DISAGREEMENT
    assert result.rows[0].detail.startswith("static: unfoldable XBN101")


def test_folding_into_different_layers_is_a_disagreement():
    check = static(("pkg.m.Net", (FoldEntry("blocks.1.conv", "bn", CONV_BN, FOLDABLE, None),)))
    result = compare_model(
        "net", "f", check, observed(folded("bn", "stem", "pkg.m.Net", "stem", "bn"))
    )
    assert result.rows[0].agreement is Agreement.DISAGREEMENT
    assert "different layers" in result.rows[0].detail


def test_a_static_verdict_under_another_owner_is_found_through_the_model_tree():
    # Static saw no partner (Block owns the lone bn); the runtime folded it with the Net's
    # stem, so its key is owned by Net. The two still meet on the model path blocks.0.bn.
    check = static(("pkg.m.Block", (FoldEntry(None, "bn", None, UNKNOWN, "XBN206"),)))
    observation = observed(folded("blocks.0.bn", "stem", "pkg.m.Net", "stem", "blocks.0.bn"))
    (row,) = compare_model("net", "f", check, observation).rows
    assert row.agreement is Agreement.STATIC_UNKNOWN
    assert row.static is not None and row.static.owner == "pkg.m.Block"


def test_a_class_outside_the_checked_files_is_not_analysed_with_a_hint_at_its_namesake():
    check = static(("src.pkg.m.Block", ()))
    (row,) = compare_model("net", "f", check, observed(BLOCKS_FOLDED[0])).rows
    assert row.agreement is Agreement.NOT_ANALYSED
    assert row.detail == (
        "pkg.m.Block is defined in none of the checked files "
        "(the checked files define src.pkg.m.Block)"
    )


def test_an_analysed_class_without_a_verdict_is_a_miss_only_when_the_runtime_folds():
    check = static(("pkg.m.Block", ()), ("pkg.m.Net", ()))
    missed = compare_model("net", "f", check, observed(BLOCKS_FOLDED[0]))
    gap = compare_model("net", "f", check, observed(skipped("bn", "pkg.m.Net", "bn", "XBN111")))
    assert missed.rows[0].agreement is Agreement.DISAGREEMENT
    assert gap.rows[0].agreement is Agreement.STATIC_UNKNOWN
    assert gap.rows[0].detail.startswith("the static analysis gave no verdict")


def test_rows_list_agreements_first_and_disagreements_last():
    check = static(BLOCK_FOLDS, ("pkg.m.Net", (FoldEntry(None, "bn", None, UNFOLDABLE, "XBN101"),)))
    observation = observed(folded("bn", "stem", "pkg.m.Net", "stem", "bn"), *BLOCKS_FOLDED)
    assert list(table(check, observation).values()) == [
        Agreement.CONFIRMED_FOLDABLE,
        Agreement.DISAGREEMENT,
    ]


def test_a_class_verdict_merged_over_instances_holds_when_any_instance_stays_unfolded():
    # blocks.0.bn folds into the Net's stem (so its runtime key is owned by Net), blocks.1.bn
    # does not; the static half reports the class key Block: - -> bn, merged: unfoldable.
    check = static(
        ("pkg.m.Block", (FoldEntry(None, "bn", None, UNFOLDABLE, "XBN102"),)), ("pkg.m.Net", ())
    )
    observation = observed(
        folded("blocks.0.bn", "stem", "pkg.m.Net", "stem", "blocks.0.bn"),
        skipped("blocks.1.bn", "pkg.m.Block", "bn", "XBN102"),
    )
    rows = compare_model("net", "f", check, observation).rows
    assert [row.agreement for row in rows] == [Agreement.CONFIRMED_UNFOLDABLE] * 2
    assert rows[1].detail.startswith(
        "static judges pkg.m.Block: - -> bn over 2 instances; "
        "runtime folds these but not blocks.1.bn"
    )
    # When every instance folds, the merged static verdict is simply wrong.
    every = observed(
        folded("blocks.0.bn", "stem", "pkg.m.Net", "stem", "blocks.0.bn"),
        folded("blocks.1.bn", "blocks.0.conv", "pkg.m.Net", "blocks.0.conv", "blocks.1.bn"),
    )
    assert {row.agreement for row in compare_model("net", "f", check, every).rows} == {
        Agreement.DISAGREEMENT
    }


def test_a_fold_the_example_input_never_reached_is_not_exercised_not_refuted() -> None:
    table = compare_model(
        "net",
        "pkg.m:net",
        static(("pkg.m.Block", (FoldEntry("conv", "bn", CONV_BN, FOLDABLE, None),))),
        observed(
            folded("blocks.0.bn", "blocks.0.conv", "pkg.m.Block", "conv", "bn"),
            skipped("blocks.1.bn", "pkg.m.Block", "bn", "XBN112"),
        ),
    )
    # one key for both blocks, judged by its most severe runtime verdict: never called,
    # which proves nothing against the class's fold
    assert [row.agreement for row in table.rows] == [Agreement.NOT_EXERCISED]


def test_a_factory_that_returns_a_torch_container_meets_the_static_entry_of_its_class():
    # `def vgg(): return nn.Sequential(conv, bn, ...)`: the static half lists the folds under
    # torch.nn.Sequential, the runtime names the root's class by its module.
    check = static(("torch.nn.Sequential", (FoldEntry("0", "1", CONV_BN, FOLDABLE, None),)))
    observation = ModelObservation(
        (
            ModelModule("", "torch.nn.modules.container.Sequential", is_plain_container=True),
            ModelModule("0", "torch.nn.modules.conv.Conv2d"),
            ModelModule("1", "torch.nn.modules.batchnorm.BatchNorm2d"),
        ),
        (folded("1", "0", "torch.nn.modules.container.Sequential", "0", "1"),),
        True,
        "1 inputs compared",
    )
    (row,) = compare_model("vgg", "pkg.m:vgg", check, observation).rows
    assert row.agreement is Agreement.CONFIRMED_FOLDABLE


# The same model, told where each Block was built: blocks.0 at src/pkg/m.py:20, blocks.1 at
# line 21. The static half prints a site relative to the directory `bnlint check` runs in.
def built(root: Path) -> tuple[ModelModule, ...]:
    lines = {"blocks.0": 20, "blocks.1": 21}
    return tuple(
        replace(m, built_at=f"{root / 'src' / 'pkg' / 'm.py'}:{lines[m.path]}")
        if m.path in lines
        else m
        for m in MODULES
    )


def observed_built(root: Path, *batchnorms: RuntimeBatchNorm) -> ModelObservation:
    return ModelObservation(built(root), batchnorms, True, "1 inputs compared")


@pytest.fixture
def checked_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path.resolve()


def test_an_instance_judged_at_its_site_is_a_row_of_its_own(checked_in: Path):
    # Block folds by default; the one built at line 21 is weight-normed, and both halves
    # say so: that instance is confirmed unfoldable, the other confirmed foldable.
    check = static(
        (
            "pkg.m.Block",
            (
                FoldEntry("conv", "bn", CONV_BN, FOLDABLE, None),
                FoldEntry("conv", "bn", None, UNFOLDABLE, "XBN114", sites=("src/pkg/m.py:21",)),
            ),
        )
    )
    observation = observed_built(
        checked_in, BLOCKS_FOLDED[0], skipped("blocks.1.bn", "pkg.m.Block", "bn", "XBN114")
    )
    rows = compare_model("net", "f", check, observation).rows
    assert [(row.agreement, row.instances) for row in rows] == [
        (Agreement.CONFIRMED_FOLDABLE, ("blocks.0.bn",)),
        (Agreement.CONFIRMED_UNFOLDABLE, ("blocks.1.bn",)),
    ]
    assert rows[1].static is not None and rows[1].static.sites == ("src/pkg/m.py:21",)


def test_a_site_verdict_the_runtime_refutes_is_a_disagreement_naming_the_site(checked_in: Path):
    # The static half calls the instance built at line 21 unfoldable; the runtime folds it.
    reason = "its input comes from 'F.conv2d' (for the instances built at src/pkg/m.py:21)"
    check = static(
        (
            "pkg.m.Block",
            (
                FoldEntry("conv", "bn", CONV_BN, FOLDABLE, None),
                FoldEntry(
                    None, "bn", None, UNFOLDABLE, "XBN108", reason, sites=("src/pkg/m.py:21",)
                ),
            ),
        )
    )
    result = compare_model("net", "f", check, observed_built(checked_in, *BLOCKS_FOLDED))
    assert [(row.agreement, row.instances) for row in result.rows] == [
        (Agreement.CONFIRMED_FOLDABLE, ("blocks.0.bn",)),
        (Agreement.DISAGREEMENT, ("blocks.1.bn",)),
    ]
    assert result.rows[1].detail == (
        f"static: unfoldable XBN108: {reason}; runtime: foldable into conv (conv_bn)"
    )


def test_a_class_verdict_is_not_answered_by_a_site_verdict_on_other_instances(checked_in: Path):
    # The class is unfoldable with its defaults, the instance built at line 21 folds; the
    # runtime folds both, so the class verdict is refuted on blocks.0, whatever line 21 says.
    check = static(
        (
            "pkg.m.Block",
            (
                FoldEntry(None, "bn", None, UNFOLDABLE, "XBN114"),
                FoldEntry("conv", "bn", CONV_BN, FOLDABLE, None, sites=("src/pkg/m.py:21",)),
            ),
        )
    )
    rows = compare_model("net", "f", check, observed_built(checked_in, *BLOCKS_FOLDED)).rows
    assert [(row.agreement, row.instances) for row in rows] == [
        (Agreement.CONFIRMED_FOLDABLE, ("blocks.1.bn",)),
        (Agreement.DISAGREEMENT, ("blocks.0.bn",)),
    ]
    assert rows[1].detail == "static: unfoldable XBN114; runtime: foldable into conv (conv_bn)"
    # A site verdict without a reason of its own says in the detail where it holds.
    refuted = observed_built(
        checked_in, BLOCKS_FOLDED[0], skipped("blocks.1.bn", "pkg.m.Block", "bn", "XBN107")
    )
    rows = compare_model("net", "f", check, refuted).rows
    assert [(row.agreement, row.instances) for row in rows] == [
        (Agreement.DISAGREEMENT, ("blocks.0.bn",)),
        (Agreement.DISAGREEMENT, ("blocks.1.bn",)),
    ]
    assert rows[1].detail == (
        "static: foldable into conv (conv_bn) for the instances built at src/pkg/m.py:21; "
        "runtime: unfoldable XBN107: reason XBN107"
    )


def test_a_site_verdict_does_not_speak_for_an_instance_built_elsewhere(checked_in: Path):
    # The static half judged only the Block built at line 21 (no verdict of the class's own):
    # the one built at line 20 has no static verdict, and the table says so, rather than
    # lending it line 21's.
    check = static(
        (
            "pkg.m.Block",
            (FoldEntry(None, "bn", None, UNFOLDABLE, "XBN101", sites=("src/pkg/m.py:21",)),),
        )
    )
    refused = skipped("blocks.1.bn", "pkg.m.Block", "bn", "XBN101")
    observation = observed_built(checked_in, BLOCKS_FOLDED[0], refused)
    rows = compare_model("net", "f", check, observation).rows
    assert [(row.agreement, row.instances) for row in rows] == [
        (Agreement.CONFIRMED_UNFOLDABLE, ("blocks.1.bn",)),
        (Agreement.DISAGREEMENT, ("blocks.0.bn",)),
    ]
    assert rows[1].static is None
    assert rows[1].detail.startswith("the static analysis gave no verdict")


def test_a_batchnorm_that_is_itself_a_model_speaks_only_for_that_model():
    # A helper `def build_norm(): return nn.BatchNorm2d(...)` is a factory to the static half:
    # its model, the BatchNorm alone, has nothing before it (XBN111). It says nothing about
    # the BatchNorms inside another model, which the static half left without a verdict.
    check = static(
        (
            "torch.nn.BatchNorm2d",
            (FoldEntry(None, "", None, UNFOLDABLE, "XBN111", sites=("src/pkg/m.py:5",)),),
        ),
        ("pkg.m.Net", ()),
    )
    (row,) = compare_model(
        "net", "f", check, observed(skipped("bn", "pkg.m.Net", "bn", "XBN101"))
    ).rows
    assert (row.agreement, row.static) == (Agreement.STATIC_UNKNOWN, None)
    lone = ModelObservation(
        (ModelModule("", "torch.nn.modules.batchnorm.BatchNorm2d"),),
        (skipped("", "torch.nn.modules.batchnorm.BatchNorm2d", "", "XBN111"),),
        True,
        "1 inputs compared",
    )
    (row,) = compare_model("norm", "pkg.m:build_norm", check, lone).rows
    assert row.agreement is Agreement.CONFIRMED_UNFOLDABLE


def test_a_batchnorm_the_static_half_could_not_place_speaks_for_those_built_at_its_line(
    checked_in: Path,
):
    # The static half built Net with an unknown number of blocks (`nn.Sequential(*[Block()
    # for _ in cfg])`, cfg from a call it cannot follow): the BatchNorm each block builds at
    # line 7 is reported under Net by its line, not by a path. The runtime's BatchNorms of
    # Net built at line 7 are the ones it speaks of: unknown, not a verdict missing.
    lost = FoldEntry(None, "<BatchNorm built at line 7>", None, UNKNOWN, "XBN207")
    check = static(("pkg.m.Net", (lost,)))
    modules = tuple(
        replace(m, built_at=f"{checked_in / 'src' / 'pkg' / 'm.py'}:7")
        if m.path.endswith(".bn")
        else m
        for m in MODULES
    )
    across = folded("blocks.0.bn", "blocks.1.conv", "pkg.m.Net", "blocks.1.conv", "blocks.0.bn")
    observation = ModelObservation(modules, (across,), True, "1 inputs compared")
    (row,) = compare_model("net", "f", check, observation).rows
    assert row.agreement is Agreement.STATIC_UNKNOWN
    assert row.static is not None and row.static.code == "XBN207"
    # built elsewhere, it is a BatchNorm the static half gave no verdict
    elsewhere = ModelObservation(MODULES, (across,), True, "1 inputs compared")
    (row,) = compare_model("net", "f", check, elsewhere).rows
    assert row.agreement is Agreement.DISAGREEMENT and row.static is None
