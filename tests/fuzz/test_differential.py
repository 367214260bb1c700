"""Differential fuzzing: on random model programs, the static analyzer and the runtime checker
give every BatchNorm the same verdict.

Each program is written to a temporary package, analysed from source, imported, built, and
folded for real (tests/fuzz/oracle.py says exactly what counts as agreement). Seeds are
fixed, so a failure reproduces with `python -m tests.fuzz.run --seed N --count 1`; a failing
program is shrunk and its minimal source is part of the failure message.

The long run (`-m slow`) checks 5,000 programs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

pytestmark = pytest.mark.runtime
pytest.importorskip("torch")

from bnlint.ftypes import CheckResult, Direction, Status  # noqa: E402
from tests.fuzz import oracle  # noqa: E402
from tests.fuzz.campaign import Campaign, reproducer, run_campaign  # noqa: E402
from tests.fuzz.emit import emit  # noqa: E402
from tests.fuzz.oracle import check_programs  # noqa: E402
from tests.fuzz.program import (  # noqa: E402
    ENABLED_CONSTRUCTS,
    GATED_CONSTRUCTS,
    UNDECIDABLE,
    Leaf,
    Node,
    Program,
    construct_mix,
    constructs,
    gated_constructs,
    generate,
    walk,
)
from tests.fuzz.shrink import shrink, size  # noqa: E402

DEFAULT_SEEDS = range(200)
LONG_SEEDS = range(5000)


@pytest.fixture(scope="module")
def default_campaign() -> Campaign:
    return run_campaign(DEFAULT_SEEDS)


def _report(campaign: Campaign) -> str:
    shown, parts = set(), [campaign.summary()]
    for outcome in campaign.failures:
        kind = outcome.problems[0].kind
        if kind not in shown and len(shown) < 2:  # shrinking costs seconds: two kinds at most
            shown.add(kind)
            parts.append(reproducer(outcome))
        else:
            parts.append(f"seed {outcome.program.seed}: {outcome.problems[0]}")
    return "\n\n".join(parts)


def test_static_and_runtime_agree_on_every_batchnorm_of_200_programs(default_campaign):
    assert default_campaign.programs == 200
    assert not default_campaign.failures, _report(default_campaign)


@pytest.mark.slow
def test_static_and_runtime_agree_on_every_batchnorm_of_5000_programs():
    campaign = run_campaign(LONG_SEEDS)
    assert campaign.programs == 5000
    assert not campaign.failures, _report(campaign)


# --- the default run covers what the analyzer claims to understand ------------------------

REQUIRED = {
    "node:child",
    "node:child:norm_default",
    "node:child:norm_partial",
    "node:child:norm_class",
    "node:seq:args",
    "node:seq:ordered",
    "node:seq:star",
    "node:seq:helper",
    "node:seq:subclass",
    "node:seq:add_module",
    "node:mlist:for",
    "node:mlist:index",
    "node:mlist:range",
    "node:mlist:hetero",
    "node:mlist:sequential",
    "node:cfg:bn",
    "node:cfg:plain",
    "node:mdict:keys",
    "node:mdict:values",
    "node:mdict:items",
    "node:helper",
    "node:residual:add",
    "node:residual:iadd",
    "node:residual:torch_add",
    "node:cat:fold",
    "node:cat:plain",
    "node:sum:fold",
    "node:sum:plain",
    "node:repeat",
    "node:tap",
    "node:head",
    "node:guard:on",
    "node:guard:off",
    "leaf:conv:subclass",
    "leaf:conv:partial",
    "leaf:bn:subclass",
    *(f"node:opaque:{style}" for style in UNDECIDABLE),
    "leaf:conv",
    "leaf:convT",
    "leaf:linear",
    "leaf:fconv",
    "leaf:pool",
    "leaf:scale",
    "leaf:contiguous",
    "leaf:bn:affine_off",
    "leaf:bn:no_stats",
    *(
        f"leaf:act:{style}"
        for style in (
            "module",
            "module_inplace",
            "functional",
            "torch",
            "method",
            "method_inplace",
            "functional_inplace",
        )
    ),
    "leaf:drop:dropout",
    "leaf:drop:identity",
    "leaf:drop:functional",
} | ENABLED_CONSTRUCTS


def _class_depth(stages, depth=0) -> int:
    deepest = depth
    for stage in stages:
        if isinstance(stage, Node):
            inner = depth + (stage.kind in ("child", "mlist"))
            for chain in stage.chains:
                deepest = max(deepest, _class_depth(chain, inner))
    return deepest


def test_the_default_programs_compose_every_construct_of_the_generator():
    programs = [generate(seed) for seed in DEFAULT_SEEDS]
    seen = set().union(*(constructs(p) for p in programs))
    assert REQUIRED <= seen, sorted(REQUIRED - seen)
    assert {p.dims for p in programs} == {0, 1, 2, 3}  # Linear, Conv1d, Conv2d, Conv3d
    assert max(_class_depth(p.chain) for p in programs) >= 4  # user classes nested 4 deep


def test_the_default_run_meets_every_verdict_the_halves_can_agree_on(default_campaign):
    agreements = default_campaign.agreements
    assert agreements["confirmed_foldable"] > 100 and agreements["confirmed_unfoldable"] > 100
    assert agreements["static_unknown"] > 0  # next to undecidable constructs only
    assert default_campaign.directions["conv_bn"] > 100
    assert default_campaign.directions["bn_conv"] > 10
    assert default_campaign.directions["through a merge"] > 5  # into every layer of a cat/sum
    assert default_campaign.cross_class_folds > 50  # layers in different containers
    # Folds across forward() calls: a conv that ends a child's forward and a BatchNorm in the
    # parent, a conv in the parent and a BatchNorm that starts the child's forward, and the
    # same for BatchNorms folding into the following layer.
    across = default_campaign.cross_forward
    assert across["conv_bn:conv_deeper"] > 5 and across["conv_bn:bn_deeper"] > 5
    assert across["bn_conv:conv_deeper"] > 0 and across["bn_conv:bn_deeper"] > 0
    assert default_campaign.undecidable_programs > 20


# --- the oracle and the shrinker catch what they must ---------------------------------------


def _planted(fault):
    """The real static engine with one verdict rule broken."""
    real = oracle.analyze

    def analyze(files, **kwargs) -> CheckResult:
        result = real(files, **kwargs)
        modules = tuple(replace(m, folds=tuple(fault(e) for e in m.folds)) for m in result.modules)
        return replace(result, modules=modules)

    return analyze


def _forgets_bn_conv(entry):
    if entry.status is Status.FOLDABLE and entry.direction is Direction.BN_CONV:
        return replace(entry, direction=None, status=Status.UNFOLDABLE, code="XBN102")
    return entry


def _doubts_every_fold(entry):
    if entry.status is Status.FOLDABLE:
        return replace(entry, conv=None, direction=None, status=Status.UNKNOWN, code="XBN204")
    return entry


CONV, BN = Leaf("conv"), Leaf("bn")


def test_a_wrong_static_verdict_is_a_disagreement_and_shrinks_to_the_two_layers(monkeypatch):
    # The first long program with a BatchNorm that folds into the following layer, which
    # the static half finds.
    honest = next(
        o
        for o in check_programs([generate(seed) for seed in range(40)])
        if size(o.program) > 12
        and any(
            row.runtime.direction is Direction.BN_CONV
            and row.static is not None
            and row.static.status is Status.FOLDABLE
            for row in o.table.rows
        )
    )
    assert honest.problems == []
    program = honest.program
    monkeypatch.setattr(oracle, "analyze", _planted(_forgets_bn_conv))
    (outcome,) = check_programs([program])
    assert outcome.problems and outcome.problems[0].kind == "disagreement"
    small = shrink(outcome)
    assert size(small.program) <= 3, emit(small.program).source
    source = emit(small.program).source
    assert "BatchNorm" in source and ("Conv" in source or "Linear" in source)


def test_unknown_is_a_problem_except_next_to_an_undecidable_construct(monkeypatch):
    monkeypatch.setattr(oracle, "analyze", _planted(_doubts_every_fold))
    plain = Program(seed=1, dims=2, width=3, chain=(CONV, BN))
    beside = Program(
        seed=2, dims=2, width=3, chain=(Node("opaque", ((CONV,),), style="operator_call"), BN)
    )
    first, second = check_programs([plain, beside])
    assert [p.kind for p in first.problems] == ["unexpected-unknown"]
    assert second.problems == []


def test_every_undecidable_construct_really_is_unknown_to_the_static_half():
    # A BatchNorm inside the construct, between two convs; or (for the constructs that
    # choose a layer) a BatchNorm right before it.
    programs = [
        Program(
            seed=3,
            dims=2,
            width=3,
            chain=(Leaf("conv"), Node("opaque", ((BN,),), style=style), Leaf("conv", kernel=3)),
        )
        for style in UNDECIDABLE
        if style not in ("cond_init", "own_forward")
    ]
    programs += [
        Program(seed=3, dims=2, width=3, chain=(BN, Node("opaque", ((CONV,),), style=style)))
        for style in ("cond_init", "own_forward")
    ]
    for outcome in check_programs(programs):
        statuses = Counter(row.static.status for row in outcome.table.rows if row.static)
        assert statuses[Status.UNKNOWN] >= 1, emit(outcome.program).source
        assert outcome.problems == []


# --- the gated constructs ---------------------------------------------------------------------


def _first_program_with(construct: str) -> Program:
    mix = frozenset({construct})
    return next(
        program
        for program in (generate(seed, constructs=mix) for seed in range(2000))
        if construct in gated_constructs(program)
    )


def test_every_gated_construct_is_generated_and_its_model_runs_in_every_variant():
    # Whatever the analyzer says of them (see `python -m tests.fuzz.run --constructs all`),
    # the programs are valid models: they build, run, fold and verify in every variant.
    programs = [_first_program_with(construct) for construct in sorted(GATED_CONSTRUCTS)]
    broken = [
        (sorted(gated_constructs(o.program)), o.problems)
        for o in check_programs(programs)
        if o.table is None
        or any(p.kind in ("invalid-program", "crash", "unverified") for p in o.problems)
    ]
    assert broken == []


def test_every_simplification_the_shrinker_tries_on_a_gated_construct_is_a_program():
    from tests.fuzz.shrink import _variants

    for construct in sorted(GATED_CONSTRUCTS):
        program = _first_program_with(construct)
        for variant in _variants(program):
            compile(emit(variant).source, f"seed {program.seed} ({construct})", "exec")


def test_only_the_gated_constructs_in_the_mix_are_generated():
    assert ENABLED_CONSTRUCTS <= set(GATED_CONSTRUCTS)
    default = set().union(*(gated_constructs(generate(seed)) for seed in range(300)))
    assert default <= ENABLED_CONSTRUCTS
    mix = construct_mix("node:zip")
    assert mix == {"node:zip:arg", "node:zip:enumerate", "node:zip:index"}
    zipped = set().union(*(gated_constructs(generate(seed, constructs=mix)) for seed in range(300)))
    assert zipped == mix


HIDDEN_PADDING = Program(
    seed=5,
    dims=2,
    width=3,
    chain=(Leaf("conv"), Leaf("act", style="module"), BN, Leaf("conv", style="kwargs")),
)


def test_a_hidden_choice_runs_both_ways_and_only_unknown_is_right_where_they_differ():
    # The BatchNorm follows an activation; the conv after it takes its kernel from outside the
    # analysed files: a 1x1 kernel in one variant (it folds), 3x3 zero-padded in the other
    # (it does not). A certain static verdict is refuted by one of the two.
    (outcome,) = check_programs([HIDDEN_PADDING])
    assert outcome.emitted.variants == 2
    assert "**conv_options(0)" in outcome.emitted.source
    (row,) = [r for r in outcome.table.rows if r.runtime.bn.startswith("bn")]
    kinds = [p.kind for p in outcome.problems]
    if row.static is not None and row.static.status is Status.UNKNOWN:
        assert kinds == []
    else:
        assert kinds == ["disagreement"], outcome.problems


def test_unknown_is_no_problem_where_the_variants_differ(monkeypatch):
    monkeypatch.setattr(oracle, "analyze", _planted(_doubts_everything))
    (outcome,) = check_programs([HIDDEN_PADDING])
    assert outcome.problems == []


def _doubts_everything(entry):
    return replace(entry, conv=None, direction=None, status=Status.UNKNOWN, code="XBN204")


def test_generation_is_deterministic():
    assert generate(7) == generate(7)
    assert emit(generate(7)).source == emit(generate(7)).source
    assert [s for s in walk(generate(7).chain)] != [s for s in walk(generate(8).chain)]


LIST_WITH_A_HIDDEN_MEMBER = Program(
    seed=4,  # the generator puts the hidden ReLU right after the conv
    dims=2,
    width=3,
    chain=(
        Node(
            "branchdict",
            ((Leaf("conv", out=4, kernel=3), BN, Leaf("bn", style="affine_off")),),
            style="list",
        ),
    ),
)


def test_a_name_a_hidden_member_shifts_onto_another_batchnorm_is_not_judged_by_name():
    # A ReLU added to a list on a hidden branch, after the conv: `body.2` is the first
    # BatchNorm in one variant and the second in the other. The runtime happens to say
    # "unfoldable" of both, but they are different BatchNorms: nothing is decided by name.
    (outcome,) = check_programs([LIST_WITH_A_HIDDEN_MEMBER])
    assert outcome.emitted.variants == 2
    relu_first = (
        "if choose(0):\n            layers0.append(nn.ReLU())\n"
        "        layers0.append(nn.BatchNorm2d(4))"
    )
    assert relu_first in outcome.emitted.source
    assert outcome.problems == []
