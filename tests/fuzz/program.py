"""Random model programs for the differential fuzzer, as a small tree the emitter turns into
source and the shrinker cuts down.

A program is a chain of stages run by the root module. A stage is a `Leaf` (one layer or op)
or a `Node` that holds chains of its own (a child class, a Sequential, a residual branch...).
Channel counts are not stored where they can be inferred: a stage knows only the channels it
produces, when it changes them, so deleting a stage keeps every program valid.

`generate(seed)` is deterministic: the same seed gives the same program on every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Union

# Constructs the static half cannot decide by design: the verdicts of the BatchNorms next to
# them may be unknown. `Node.kind == "opaque"` with one of these styles marks its module.
# own_forward: a Conv/Linear subclass that replaces forward(), unknown to both halves.
UNDECIDABLE = ("data_if", "operator_call", "getattr", "cond_init", "own_forward")

# Constructs kept out of the default mix until a finding is fixed: {construct: finding}.
# A construct is "node:<kind>", "node:<kind>:<style>", "leaf:<kind>" or "leaf:<kind>:<style>".
# (F1, a fold through a cat keyed by its first layer only, was kept out as "node:cat:fold"
# until the static half keyed such folds by all their layers.)
DISABLED: dict[str, str] = {}

# Constructs written the way model zoos write them, each a case the static half once got
# wrong or could not read (issues 11 and 12). Each is generated only when named in the mix:
# ENABLED_CONSTRUCTS is the default mix; `python -m tests.fuzz.run --constructs all` runs
# every one, so that a construct the analyzer does not handle yet shows its disagreements
# without failing the default run. Enable a construct here once the analyzer handles it:
# every one is enabled now; a new construct starts out of the mix until it is.
GATED_CONSTRUCTS: dict[str, str] = {
    "leaf:conv:kwargs": "a Conv built with **options from a function outside the analysed "
    "files (kernel 1, or kernel 3 with padding 1: a hidden choice)",
    "leaf:conv:args": "a Conv built with *args from a function outside the analysed files",
    "leaf:conv:by_config": "a Conv whose class a function picks by a setting nobody can "
    "read statically: one subclass pads its input itself, the other convolves as torch "
    "does, each with a forward() of its own",
    "leaf:bn:own_forward": "a BatchNorm subclass with its own forward (F.batch_norm, then an "
    "activation or nothing)",
    "node:rank:hidden": "Linear then BatchNorm1d on a tensor that code outside the analysed "
    "files makes (N, C) or (N, C, C): a hidden choice",
    "node:rank:tokens": "Linear over the last axis of a known (N, C, C) tensor, then "
    "BatchNorm1d(C) over the other axis",
    "node:rank:flatten": "Linear then BatchNorm1d after a flatten or view(n, -1): 2-D, known",
    "node:rank:conv1d": "Linear over the length axis of a Conv1d's (N, C, L) output, then "
    "BatchNorm1d(C)",
    "node:branchdict:ordered": "an OrderedDict of layers, one added on a hidden branch, in a "
    "Sequential",
    "node:branchdict:moduledict": "a dict of layers, one added on a hidden branch, in a "
    "ModuleDict iterated by forward()",
    "node:branchdict:list": "a list of layers, one added on a hidden branch, in a Sequential",
    "node:zip:arg": "for m0, m1, x in zip(self.m0, self.m1, feats): over a list argument",
    "node:zip:enumerate": "for i, (m0, m1, x) in enumerate(zip(self.m0, self.m1, feats)):",
    "node:zip:index": "[self.m1[i](self.m0[i](x)) for i, x in enumerate(feats)]: layers picked "
    "by the index of a list argument's element, in a comprehension of unknown length",
    "node:match:value": "the layers called inside a match/case block on a constant",
    "node:match:or": 'the layers called inside a `case "a" | "b":` block',
    "node:dunder": "a wrapper module that overrides __call__ instead of forward()",
    "node:child:registry_dict": "the norm looked up by name in a dict",
    "node:child:registry_object": "the norm from a registry object: factories registered by "
    "a decorator, looked up with __getitem__[name, dims]",
    "node:child:lambda_default": "norm_layer defaults to a call that returns a lambda",
    "node:child:lambda_passed": "the caller passes a lambda as norm_layer",
    "node:child:dataclass": "a @dataclass config field with a default decides the norm",
    "node:child:dim_tuple": "(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1], and "
    "the same for the Conv",
    "node:child:class_checks": "the norm resolved by isinstance/issubclass/`in {...}`/"
    "__name__ checks on the class value passed (a class, a name or "
    "a partial)",
    "node:child:partial_func": "a functools.partial passed as norm_layer, unwrapped by .func",
    "node:child:enum": "the norm chosen by members of a functional Enum and a class-based one "
    "with auto() (`norm_type in (NormType.Batch, NormType.BatchZero)`, `kind is NormKind.BATCH`)",
    "node:ntuple": "blocks built in a loop over zip(as_tuple(n)(block), widths), with "
    "itertools.repeat and a collections.abc.Iterable check",
    "node:ckpt": "layers called through torch.utils.checkpoint or directly, switched by "
    "self.grad_checkpointing",
    "node:condition:truth": "a stage __init__ builds when a value from outside the analysed "
    "files is true (an Identity otherwise), run by forward() under the same condition",
    "node:condition:compare": "the same under `self.ratio != 1`, the ratio from outside",
    "node:condition:flag": "the same under a flag __init__ sets to True with the stage and to "
    "False with the Identity",
    "node:condition:switch": "a stage built for certain, run under a flag __init__ sets to "
    "True and another method sets to False (the model as built runs it)",
}
ENABLED_CONSTRUCTS: frozenset[str] = frozenset(GATED_CONSTRUCTS)

ACT_STYLES = (
    "module",
    "module_inplace",
    "functional",
    "torch",
    "method",
    "method_inplace",
    "functional_inplace",
    "silu_module",
)
BN_STYLES = ("plain",) * 6 + (
    "eps",
    "eps",
    "affine_off",
    "affine_off",
    "no_stats",
    "subclass",
    "own_forward",
)
CONV_STYLES = ("",) * 6 + ("subclass", "partial", "kwargs", "args", "by_config")
DROP_STYLES = ("dropout", "identity", "functional")
SEQ_STYLES = ("args", "ordered", "star", "helper", "subclass", "add_module")
CHILD_STYLES = (
    "plain",
    "norm_default",
    "norm_partial",
    "norm_class",
    "registry_dict",
    "registry_object",
    "lambda_default",
    "lambda_passed",
    "dataclass",
    "dim_tuple",
    "class_checks",
    "partial_func",
    "enum",
)
MLIST_STYLES = ("for", "index", "range", "hetero", "sequential")
MDICT_STYLES = ("keys", "values", "items")
RANK_STYLES = ("hidden", "tokens", "flatten")  # on (N, C) features; "conv1d" on (N, C, L)
BRANCHDICT_STYLES = ("ordered", "moduledict", "list")
ZIP_STYLES = ("arg", "enumerate", "index")
MATCH_STYLES = ("value", "or")
CONDITION_STYLES = ("truth", "compare", "flag", "switch")
NTUPLE_STYLES = ("repeat", "iterable")
RESIDUAL_STYLES = ("add", "radd", "iadd", "torch_add")
HEAD_STYLES = ("adaptive_module", "mean", "functional")


@dataclass(frozen=True)
class Leaf:
    kind: str  # conv, convT, linear, fconv, bn, act, pool, drop, scale, contiguous
    out: int | None = None  # conv/convT/linear/fconv: channels produced
    kernel: int = 1  # conv/convT: 1 (no padding) or 3 (padding 1)
    groups: str = "one"  # conv: one, two, depthwise
    bias: bool = False
    style: str = ""

    @property
    def construct(self) -> str:
        return f"leaf:{self.kind}" + (f":{self.style}" if self.style else "")


@dataclass(frozen=True)
class Node:
    kind: str  # child, seq, residual, cat, repeat, mlist, mdict, helper, opaque, head, tap
    chains: tuple[tuple[Stage, ...], ...] = ()
    style: str = ""
    count: int = 2

    @property
    def construct(self) -> str:
        return f"node:{self.kind}" + (f":{self.style}" if self.style else "")


Stage = Union[Leaf, Node]  # noqa: UP007 (a runtime alias on Python 3.10)

# Node kinds whose constructs are gated style by style: the kind is in the mix when one of
# its styles is.
_STYLED_KINDS = {
    "rank": RANK_STYLES + ("conv1d",),
    "branchdict": BRANCHDICT_STYLES,
    "zip": ZIP_STYLES,
    "match": MATCH_STYLES,
    "condition": CONDITION_STYLES,
}


@dataclass(frozen=True)
class Program:
    seed: int
    dims: int  # 1, 2, 3: convolutions of that many spatial dims; 0: features only (Linear)
    width: int  # channels (features) of the model input
    chain: tuple[Stage, ...]


def walk(stages: tuple[Stage, ...]):
    """Every stage, depth first."""
    for stage in stages:
        yield stage
        if isinstance(stage, Node):
            for chain in stage.chains:
                yield from walk(chain)


def constructs(program: Program) -> set[str]:
    found = set()
    for stage in walk(program.chain):
        found.add(stage.construct)
        found.add(
            stage.construct.rsplit(":", 1)[0] if stage.construct.count(":") > 1 else stage.construct
        )
    return found


def is_undecidable(program: Program) -> bool:
    return any(isinstance(s, Node) and s.kind == "opaque" for s in walk(program.chain))


def gated_constructs(program: Program) -> set[str]:
    """The gated constructs (GATED_CONSTRUCTS) the program uses."""
    return {name for name in constructs(program) if name in GATED_CONSTRUCTS}


def construct_mix(names: str) -> frozenset[str]:
    """A mix named on the command line: "default", "all", or names separated by commas (a
    kind, "node:rank", stands for all its styles)."""
    if names == "default":
        return ENABLED_CONSTRUCTS
    if names == "all":
        return frozenset(GATED_CONSTRUCTS)
    chosen = set()
    for name in filter(None, (n.strip() for n in names.split(","))):
        matching = {c for c in GATED_CONSTRUCTS if c == name or c.startswith(name + ":")}
        if not matching:
            raise ValueError(
                f"no gated construct is named {name!r}; known: "
                f"{', '.join(sorted(GATED_CONSTRUCTS))}"
            )
        chosen |= matching
    return frozenset(chosen)


# --- generation ------------------------------------------------------------------------------

MODULE_LEAVES = ("conv", "convT", "linear", "bn", "act", "pool", "drop")  # have a module form


@dataclass
class _Budget:
    layers: int  # leaves still allowed in the whole program
    undecidable: bool  # this program may use one undecidable construct
    used_undecidable: bool = False
    classes: int = 0


@dataclass
class Generator:
    rng: random.Random
    budget: _Budget
    disabled: dict[str, str] = field(default_factory=lambda: dict(DISABLED))
    enabled: frozenset[str] = ENABLED_CONSTRUCTS  # the gated constructs in the mix
    dims: int = 2  # the program's: a "rank" node on (N, C, L) needs Conv1d features

    def allowed(self, construct: str) -> bool:
        parts = construct.split(":")
        prefixes = [":".join(parts[:n]) for n in range(2, len(parts) + 1)]
        if any(p in self.disabled for p in prefixes):
            return False
        if any(p in GATED_CONSTRUCTS and p not in self.enabled for p in prefixes):
            return False
        kind = parts[1] if parts[0] == "node" and len(parts) == 2 else None
        if kind in _STYLED_KINDS:
            return any(self.allowed(f"node:{kind}:{s}") for s in _STYLED_KINDS[kind])
        return True

    def pick(self, kind: str, styles: tuple[str, ...], prefix: str = "node") -> str:
        options = [s for s in styles if self.allowed(f"{prefix}:{kind}:{s}")]
        return self.rng.choice(options or styles)

    # A chain: mostly leaves, with a preference for the pairs folds are about.
    def chain(
        self,
        depth: int,
        linear: bool,
        length: int,
        *,
        modules_only: bool = False,
        root: bool = False,
        flat: bool = False,
    ) -> tuple[Stage, ...]:
        stages: list[Stage] = []
        for _ in range(length):
            if self.budget.layers <= 0:
                break
            previous = stages[-1] if stages else None
            stages.append(self.stage(depth, linear, previous, modules_only=modules_only, flat=flat))
        if root and not linear and self.rng.random() < 0.35:
            stages.append(Node("head", style=self.pick("head", HEAD_STYLES)))
            stages.extend(self.chain(depth, True, self.rng.randint(1, 4)))
        return tuple(stages)

    def stage(
        self,
        depth: int,
        linear: bool,
        previous: Stage | None,
        *,
        modules_only: bool,
        flat: bool = False,
    ) -> Stage:
        rng = self.rng
        nested = depth < 4 and self.budget.layers > 3 and not flat
        weights: dict[str, float] = {"leaf": 6.0}
        if nested:
            weights.update(
                {
                    "child": 1.6,
                    "seq": 1.2,
                    "residual": 0.9,
                    "repeat": 0.4,
                    "mlist": 0.5,
                    "mdict": 0.4,
                    "cfg": 0.3,
                    "dunder": 0.2,
                }
            )
            if not modules_only:
                weights.update(
                    {
                        "cat": 0.7,
                        "sum": 0.4,
                        "helper": 0.4,
                        "guard": 0.4,
                        "branchdict": 0.3,
                        "zip": 0.3,
                        "match": 0.3,
                        "ntuple": 0.2,
                        "ckpt": 0.2,
                        "condition": 0.3,
                    }
                )
                if (
                    any(self.allowed(f"node:rank:{s}") for s in RANK_STYLES)
                    if linear
                    else self.dims == 1 and self.allowed("node:rank:conv1d")
                ):
                    weights["rank"] = 0.8
        if not modules_only and depth == 0:
            weights["tap"] = 0.2
        if (
            not modules_only
            and self.budget.undecidable
            and not self.budget.used_undecidable
            and nested
        ):
            weights["opaque"] = 1.5
        if modules_only:
            # Elements of a Sequential must be callable: no ModuleList/ModuleDict, no branches.
            weights = {
                k: w for k, w in weights.items() if k in ("leaf", "child", "seq", "cfg", "dunder")
            }
        weights = {
            k: w for k, w in weights.items() if k in ("leaf", "rank") or self.allowed(f"node:{k}")
        }
        kind = rng.choices(list(weights), list(weights.values()))[0]
        if kind == "leaf":
            return self.leaf(linear, previous, modules_only=modules_only)
        return self.node(kind, depth, linear)

    def leaf(self, linear: bool, previous: Stage | None, *, modules_only: bool) -> Leaf:
        rng = self.rng
        self.budget.layers -= 1
        producer = isinstance(previous, Leaf) and previous.kind in (
            "conv",
            "convT",
            "linear",
            "fconv",
        )
        merge = isinstance(previous, Node) and previous.kind in ("cat", "sum")
        if (producer and rng.random() < 0.6) or (merge and rng.random() < 0.5):
            kind = "bn"
        else:
            kinds = {"bn": 2.0, "act": 2.0, "drop": 0.4}
            if linear:
                kinds.update({"linear": 3.0, "fconv": 0.2})
            else:
                kinds.update({"conv": 3.0, "convT": 0.5, "pool": 0.4, "fconv": 0.2})
            if not modules_only:
                kinds.update({"scale": 0.2, "contiguous": 0.15})
            else:
                kinds.pop("fconv", None)
            kinds = {k: w for k, w in kinds.items() if self.allowed(f"leaf:{k}")}
            kind = rng.choices(list(kinds), list(kinds.values()))[0]
        if kind in ("conv", "convT", "linear", "fconv"):
            out = rng.choice((2, 3, 4, 4, 6, 8)) if rng.random() < 0.6 else None
            groups = "one"
            if kind == "conv":
                groups = rng.choices(("one", "two", "depthwise"), (8, 1, 1))[0]
            style = self.pick("conv", CONV_STYLES, "leaf") if kind == "conv" else ""
            return Leaf(
                kind,
                out=out,
                kernel=rng.choice((1, 3)) if kind in ("conv", "convT") else 1,
                groups=groups,
                bias=rng.random() < 0.3,
                style=style,
            )
        if kind == "bn":
            return Leaf("bn", style=self.pick("bn", BN_STYLES, "leaf"))
        if kind == "act":
            styles = ("module", "module_inplace", "silu_module") if modules_only else ACT_STYLES
            return Leaf("act", style=self.pick("act", styles, "leaf"))
        if kind == "drop":
            styles = ("dropout", "identity") if modules_only else DROP_STYLES
            return Leaf("drop", style=self.pick("drop", styles, "leaf"))
        if kind == "pool":
            styles = ("module",) if modules_only else ("module", "functional")
            return Leaf("pool", style=rng.choice(styles))
        return Leaf(kind)

    def node(self, kind: str, depth: int, linear: bool) -> Node:
        rng = self.rng
        short = rng.randint(1, 4)
        if kind == "child":
            return Node(
                "child",
                (self.chain(depth + 1, linear, rng.randint(1, 5)),),
                style=self.pick("child", CHILD_STYLES),
            )
        if kind == "seq":
            return Node(
                "seq",
                (self.chain(depth + 1, linear, short, modules_only=True),),
                style=self.pick("seq", SEQ_STYLES),
            )
        if kind == "residual":
            return Node(
                "residual",
                (self.chain(depth + 1, linear, short),),
                style=self.pick("residual", RESIDUAL_STYLES),
            )
        if kind in ("cat", "sum"):
            # "fold": every branch ends in a layer, so a BatchNorm after the merge may fold
            # into all of them; "plain": branches as they come (pass-through ones included).
            style = self.pick(kind, ("fold", "plain"))
            branches = []
            for _ in range(rng.choice((2, 2, 3))):
                branch = self.chain(depth + 1, linear, rng.randint(0, 3))
                if style == "fold":
                    layer = "linear" if linear else rng.choice(("conv", "conv", "convT"))
                    branch += (
                        Leaf(
                            layer,
                            out=rng.choice((2, 3, 4)) if kind == "cat" else None,
                            bias=rng.random() < 0.3,
                        ),
                    )
                    self.budget.layers -= 1
                branches.append(branch)
            return Node(kind, tuple(branches), style=style)
        if kind == "repeat":
            target = (
                self.leaf(linear, None, modules_only=True)
                if rng.random() < 0.6
                else Node(
                    "child",
                    (self.chain(depth + 1, linear, rng.randint(1, 3)),),
                    style=self.pick("child", CHILD_STYLES),
                )
            )
            return Node("repeat", ((target,),), style=rng.choice(("plain", "act_between")), count=2)
        if kind == "mlist":
            style = self.pick("mlist", MLIST_STYLES)
            modules_only = style == "hetero"
            return Node(
                "mlist",
                (self.chain(depth + 1, linear, short, modules_only=modules_only),),
                style=style,
                count=rng.choice((1, 2, 3)),
            )
        if kind == "mdict":
            return Node(
                "mdict",
                (self.chain(depth + 1, linear, short, modules_only=True),),
                style=self.pick("mdict", MDICT_STYLES),
            )
        if kind == "cfg":
            # A VGG-style table of widths and "M" (pooling) read by a loop in __init__.
            entries = tuple(
                Leaf("pool")
                if not linear and rng.random() < 0.25
                else Leaf(
                    "conv" if not linear else "linear",
                    out=rng.choice((2, 4, 6, 8)),
                    kernel=rng.choice((1, 3)),
                )
                for _ in range(rng.randint(1, 4))
            )
            self.budget.layers -= len(entries)
            return Node("cfg", (entries,), style=rng.choice(("bn", "bn", "plain")))
        if kind == "helper":
            return Node("helper", (self.chain(depth + 1, linear, short),))
        if kind == "guard":
            # `if self.use_n:` on a constant set in __init__: the analysis must decide it.
            return Node(
                "guard",
                (self.chain(depth + 1, linear, short),),
                style=rng.choice(("on", "on", "on", "off")),
            )
        if kind == "opaque":
            self.budget.used_undecidable = True
            styles = [s for s in UNDECIDABLE if self.allowed(f"node:opaque:{s}")]
            style = rng.choice(styles or list(UNDECIDABLE))
            if style in ("cond_init", "own_forward"):
                inner: tuple[Stage, ...] = (
                    Leaf("conv" if not linear else "linear", kernel=rng.choice((1, 3))),
                )
                self.budget.layers -= 1
            else:
                # Layer modules only (no child classes, no functional ops): every op inside
                # is a module call the oracle can place; and at least one is not a no-op.
                inner = self.chain(
                    depth + 1, linear, rng.randint(1, 3), modules_only=True, flat=True
                )
                if all(isinstance(s, Leaf) and s.kind == "drop" for s in inner):
                    inner += (Leaf("linear" if linear else "conv"),)
            return Node("opaque", (inner,), style=style)
        if kind == "tap":
            return Node("tap")
        return self.idiom(kind, depth, linear)

    def idiom(self, kind: str, depth: int, linear: bool) -> Node:
        """The gated constructs (GATED_CONSTRUCTS) that are nodes."""
        rng = self.rng
        short = rng.randint(1, 4)
        if kind == "rank":
            # Linear and BatchNorm1d (and activations) on one tensor whose rank is the point.
            style = self.pick("rank", RANK_STYLES) if linear else "conv1d"
            extras = tuple(
                rng.choice(
                    (Leaf("act", style="functional"), Leaf("linear"), Leaf("bn", style="plain"))
                )
                for _ in range(rng.randint(0, 2))
            )
            inner = (Leaf("linear"), Leaf("bn", style="plain")) + extras
            self.budget.layers -= len(inner)
            return Node("rank", (inner,), style=style)
        if kind == "branchdict":
            # Module layers only: one more is added between two of them on a hidden branch.
            return Node(
                "branchdict",
                (self.chain(depth + 1, linear, rng.randint(2, 4), modules_only=True, flat=True),),
                style=self.pick("branchdict", BRANCHDICT_STYLES),
            )
        if kind == "zip":
            return Node(
                "zip",
                (self.chain(depth + 1, linear, short, modules_only=True, flat=True),),
                style=self.pick("zip", ZIP_STYLES),
                count=rng.choice((2, 2, 3)),
            )
        if kind == "match":
            # count 1: the chain is the case taken; 0: a case never taken.
            return Node(
                "match",
                (self.chain(depth + 1, linear, short),),
                style=self.pick("match", MATCH_STYLES),
                count=rng.choice((1, 1, 0)),
            )
        if kind == "dunder":
            return Node("dunder", (self.chain(depth + 1, linear, rng.randint(1, 4)),))
        if kind == "ntuple":
            return Node(
                "ntuple",
                (self.chain(depth + 1, linear, rng.randint(1, 3)),),
                style=rng.choice(NTUPLE_STYLES),
                count=rng.choice((1, 2, 3)),
            )
        if kind == "ckpt":
            return Node("ckpt", (self.chain(depth + 1, linear, short, modules_only=True),))
        if kind == "condition":
            return Node(
                "condition",
                (self.chain(depth + 1, linear, short, modules_only=True),),
                style=self.pick("condition", CONDITION_STYLES),
            )
        raise AssertionError(kind)


def generate(
    seed: int, *, disabled: dict[str, str] | None = None, constructs: frozenset[str] | None = None
) -> Program:
    """The program of `seed`; `constructs` are the gated constructs in the mix (default:
    ENABLED_CONSTRUCTS)."""
    rng = random.Random(seed)
    dims = rng.choices((0, 1, 2, 3), (2, 2, 4, 1))[0]
    budget = _Budget(layers=rng.randint(4, 22), undecidable=rng.random() < 0.3)
    generator = Generator(
        rng,
        budget,
        dict(DISABLED if disabled is None else disabled),
        ENABLED_CONSTRUCTS if constructs is None else constructs,
        dims,
    )
    chain = generator.chain(0, dims == 0, rng.randint(2, 7), root=True)
    return Program(seed=seed, dims=dims, width=rng.choice((3, 4, 6)), chain=chain)
