"""The vocabulary every half of bnlint speaks: frozen dataclasses and enums (and the file a
message being written is reported in, which decides how it names places)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePath


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Status(str, Enum):
    FOLDABLE = "foldable"
    UNFOLDABLE = "unfoldable"
    UNKNOWN = "unknown"


class Direction(str, Enum):
    CONV_BN = "conv_bn"  # BatchNorm after the layer, folded into the preceding layer
    BN_CONV = "bn_conv"  # BatchNorm before the layer, folded into the following layer


class Merge(str, Enum):
    """How a fold into several layers splits the BatchNorm between them (always conv_bn)."""

    CAT = "cat"  # channel concatenation: each layer absorbs its slice of scale and shift
    SUM = "sum"  # plain sum: every layer absorbs the scale, one of them the shift


class NodeKind(str, Enum):
    """What a LayerGraph node computes; the matcher decides on these kinds alone."""

    CONV = "conv"
    CONV_TRANSPOSE = "conv_transpose"
    LINEAR = "linear"
    BATCHNORM = "batchnorm"
    ACTIVATION = "activation"
    POOL = "pool"
    RESHAPE = "reshape"  # view, flatten, permute, transpose, squeeze, indexing
    ADD = "add"
    CAT = "cat"
    MUL = "mul"
    OTHER = "other"  # a known op that is none of the above (LayerNorm, Upsample, scalar mul...)
    FUNCTIONAL_CONV = "functional_conv"  # F.conv2d / F.linear: no module to fold into
    FUNCTIONAL_BN = "functional_bn"  # F.batch_norm: no module to fold
    CONTROL_FLOW = "control_flow"  # values merged by data-dependent branches or loops
    UNKNOWN = "unknown"  # something the builder could not see into; carries a rule and reason
    INPUT = "input"
    OUTPUT = "output"


FOLD_TARGETS = frozenset({NodeKind.CONV, NodeKind.CONV_TRANSPOSE, NodeKind.LINEAR})
MERGES = frozenset({NodeKind.ADD, NodeKind.CAT, NodeKind.MUL})


@dataclass(frozen=True)
class SourceLocation:
    """A 1-based span in a source file."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ModuleFrame:
    """One module on the path from the model root to a layer.

    `name` is the attribute name under the parent, exactly as `named_modules()` prints it
    ("" for the root); `class_name` is the qualified class name; `is_plain_container` is true
    only for classes that are exactly nn.Sequential, nn.ModuleList or nn.ModuleDict.
    """

    name: str
    class_name: str
    is_plain_container: bool = False
    location: SourceLocation | None = None  # where the class is defined, when known
    # Where this instance was built (the static half: the constructor call); a verdict that
    # holds only for some instances of a class names them by it. Not part of the identity.
    built_at: SourceLocation | None = field(default=None, compare=False)
    # The class is defined in an installed model library the project uses, not in the
    # project: it never owns a fold key (the project class holding it does).
    library: bool = field(default=False, compare=False)
    # For a library class: the project code whose call built it (where a verdict on what it
    # holds is reported).
    placed_at: SourceLocation | None = field(default=None, compare=False)


@dataclass(frozen=True)
class LayerAttrs:
    """Constructor facts about a layer; None means not known."""

    in_channels: int | None = None
    out_channels: int | None = None
    num_features: int | None = None
    spatial_dims: int | None = None  # 1, 2 or 3 for conv and BatchNorm{1,2,3}d
    groups: int | None = None
    pads: bool | None = None  # adds zero padding to its input
    bias: bool | None = None
    affine: bool | None = None
    track_running_stats: bool | None = None
    type_name: str | None = None  # e.g. "torch.nn.Conv2d" or a user subclass
    # Merge nodes (cat, add) only: what the folds through a merge need to know.
    axis: int | None = None  # cat: the existing axis joined, as written (negative from the end)
    # Dimensions of the tensors the node joins (cat) or produces (Linear), when the builder
    # knows: a Linear on more than two dimensions works on another axis than a BatchNorm.
    rank: int | None = None
    plain_merge: bool | None = None  # a plain torch.cat (not stack) / a sum with no - or alpha
    operands: int | None = None  # tensor operands, counting repeats and untracked tensors
    # Resampling that maps each channel on its own as a weighted average (nearest or linear
    # interpolation): f(a * x + b) = a * f(x) + b for a per-channel scale a and shift b, so a
    # BatchNorm's scale and shift pass through it unchanged.
    keeps_channel_affine: bool | None = None
    # Reshapes only: the op merges every axis before the last into one (`x.flatten(0, 1)` of
    # an (N, L, F) tensor), so a Linear's features become axis 1 of an (N*L, F) tensor, the
    # axis a BatchNorm1d normalises. True when certain; False when it flattens from axis 0 but
    # the input's rank is not known (it may leave more axes); None for any other op.
    flattens_leading: bool | None = None
    # The input or output of a Linear called on a tensor of three or more dimensions, as the
    # runtime records them: its features on the last axis.
    features_last: bool | None = None
    # Reshapes that only reorder axes: each (output axis, input axis) the op moves, every
    # other axis staying where it is (`x.transpose(1, 2)`: ((1, 2), (2, 1)); `contiguous()`:
    # ()). Negative axes count from the end, where `rank` does not say how many there are.
    moves_axes: tuple[tuple[int, int], ...] | None = None
    # Conv/Linear only: why its weight is not its own to rewrite (weight_norm, spectral_norm
    # or another parametrization computes it from other tensors before each call).
    weight_derived: str | None = None
    # False when only some configurations derive it (the analysis followed a switch it
    # cannot read): the fold is then possible in the others.
    weight_derived_certain: bool = True

    def takes_input_of_rank(self, rank: int | None) -> bool:
        """False when a torch BatchNorm would raise on an input of `rank` (BatchNorm1d takes
        2-D or 3-D input, BatchNorm2d/3d 4-D/5-D); True when it may run, or when the rank or
        the class is not known (a subclass may override forward)."""
        if rank is None or self.type_name not in _TORCH_BATCHNORMS or self.spatial_dims is None:
            return True
        return rank in ((2, 3) if self.spatial_dims == 1 else (self.spatial_dims + 2,))


_TORCH_BATCHNORMS = frozenset(
    f"torch.nn.{lazy}BatchNorm{dims}d" for lazy in ("", "Lazy") for dims in (1, 2, 3)
)


@dataclass(frozen=True)
class LayerCall:
    """A LayerGraph node: one call of a layer or one other op, with where it came from."""

    node_id: int
    kind: NodeKind
    label: str  # how a user names it: "self.bn2", "F.relu", "layer1.0.bn2"
    scope: tuple[ModuleFrame, ...] = ()  # root .. the called module itself; () for plain ops
    module_id: Hashable | None = None  # identity of the module object, shared across calls
    attrs: LayerAttrs = field(default_factory=LayerAttrs)
    location: SourceLocation | None = None  # call site, or construction site for containers
    construction: SourceLocation | None = None  # where the module was built
    rule_code: str | None = None  # for UNKNOWN / CONTROL_FLOW nodes: the rule that explains them
    reason: str | None = None
    # Runs only on some paths of data-dependent control flow (static builder only): evidence
    # from such a node can make a verdict unknown, never unfoldable.
    conditional: bool = False
    # The paths of control flow the analysis cannot decide (of any kind) it runs on, outermost
    # first, one id per path taken (static builder only): () on every path.
    paths: tuple[int, ...] = ()

    @property
    def module_path(self) -> str:
        return ".".join(frame.name for frame in self.scope[1:])

    def describe(self, *, built: bool = False) -> str:
        """The name a message uses: the label plus where it is (its call site, or with `built`
        where it was constructed) when the source is known: `'stem.0' (line 45)` in the file
        the message is reported in (see `reported_in`), `'stem.0' (layers.py:45)` in another."""
        where = (self.construction or self.location) if built else self.location
        if where is None:
            return f"'{self.label}'"
        home = _REPORTED_IN.get()
        if home is not None and where.path != home:
            return f"'{self.label}' ({PurePath(where.path).name}:{where.line})"
        return f"'{self.label}' (line {where.line})"


# The file the message being written will be reported in; describe() names any other file.
_REPORTED_IN: ContextVar[str | None] = ContextVar("bnlint_reported_in", default=None)


@contextmanager
def reported_in(location: SourceLocation | None) -> Iterator[None]:
    """Messages written inside the block are reported at `location`."""
    token = _REPORTED_IN.set(location.path if location is not None else None)
    try:
        yield
    finally:
        _REPORTED_IN.reset(token)


@dataclass(frozen=True)
class FoldKey:
    """How a fold is named (DESIGN.md): owner class plus both layers relative to the owner."""

    owner: str
    conv: str  # a fold through a merge names all its layers: "cat(a,b)" or "a+b"
    bn: str
    producers: tuple[str, ...] = ()  # a fold through a merge: its layers, in operand order
    merge: Merge | None = None

    def __str__(self) -> str:
        return f"{self.owner}: {self.conv} -> {self.bn}"


@dataclass(frozen=True)
class FoldPair:
    conv: LayerCall  # for a fold through a merge, the first of `producers`
    bn: LayerCall
    direction: Direction
    # A fold through a merge (conv_bn only): every layer whose outputs the merge combines, in
    # operand order, and how it combines them. () and None for a fold into one layer.
    producers: tuple[LayerCall, ...] = ()
    merge: Merge | None = None

    @property
    def layers(self) -> tuple[LayerCall, ...]:
        """Every layer the fold rewrites."""
        return self.producers or (self.conv,)


@dataclass(frozen=True)
class Skip:
    """A BatchNorm left alone, with the rule that blocked it."""

    bn: LayerCall
    status: Status
    code: str
    reason: str
    partner: LayerCall | None = None  # the layer it would have folded with, when there is one


@dataclass(frozen=True)
class Finding:
    """A diagnostic the matcher raises beside the verdicts (real bugs, redundant bias)."""

    code: str
    message: str
    node: LayerCall
    location: SourceLocation | None = None  # where to point; defaults to the node's location


@dataclass(frozen=True)
class FoldPlan:
    folds: tuple[FoldPair, ...]
    skips: tuple[Skip, ...]
    findings: tuple[Finding, ...]


class Applicability(str, Enum):
    """Whether `bnlint check --fix` may apply a fix on its own (ruff's terms)."""

    SAFE = "safe"  # keeps what the model computes; applied by --fix
    UNSAFE = "unsafe"  # changes something users may rely on (checkpoint keys); --unsafe-fixes


@dataclass(frozen=True)
class Edit:
    """Replace the 1-based span from (line, column) up to, not including, (end_line,
    end_column) with `content`; an empty span inserts."""

    content: str
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Fix:
    """Source edits that make a finding go away, applied all together or not at all."""

    applicability: Applicability
    message: str  # what the edits do: "Wrap in nn.ModuleList"
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Diagnostic:
    """One reported finding, positioned in a file (1-based line and column)."""

    code: str
    name: str
    severity: Severity
    message: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    owner: str | None = None  # dotted class that owns the verdict, when there is one
    help: str | None = None  # how to fix it
    fix: Fix | None = None  # source edits that fix it, when bnlint knows them


@dataclass(frozen=True)
class FoldEntry:
    """One BatchNorm's verdict in a module's fold plan (DESIGN.md `modules[].folds`)."""

    conv: str | None  # relative to the owner; None when there is no partner layer
    bn: str
    direction: Direction | None
    status: Status
    code: str | None
    reason: str | None = None
    producers: tuple[str, ...] = ()  # a fold through a merge: its layers, relative to the owner
    merge: Merge | None = None
    # The static half, which judges a class on its own and then every instance of it: where
    # the instances this verdict holds for were built ("net.py:20"), when it is not the
    # class's own verdict; and what other instances showed ("unknown in 1 of 3 ...").
    sites: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleReport:
    """One nn.Module class found in the analysed files, with the verdicts it owns."""

    class_name: str  # dotted, derived from the file path
    path: str
    line: int
    folds: tuple[FoldEntry, ...] = ()


@dataclass(frozen=True)
class FileTiming:
    """How long the static analysis of one file took in this run (not taken from the cache),
    and each of its roots (a class analysed on its own, a factory's model)."""

    path: str
    seconds: float
    roots: tuple[tuple[str, float], ...] = ()  # ("class Block", seconds), slowest first


@dataclass(frozen=True)
class CheckResult:
    """Everything `bnlint check` found: what reporters print and library users consume."""

    files: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]
    modules: tuple[ModuleReport, ...]
    # the files analysed in this run, slowest first: how a run went, not what it found
    timings: tuple[FileTiming, ...] = field(default=(), compare=False)

    def count(self, status: Status) -> int:
        return sum(1 for m in self.modules for f in m.folds if f.status is status)


# --- `bnlint check --confirm`: the static verdicts set against one real model ----------------


class Agreement(str, Enum):
    """How the static verdict on a BatchNorm compares with what the runtime checker did."""

    CONFIRMED_FOLDABLE = "confirmed_foldable"  # both fold it, into the same layer
    CONFIRMED_UNFOLDABLE = "confirmed_unfoldable"  # static: unfoldable; runtime: not folded
    STATIC_UNKNOWN = "static_unknown"  # static could not decide; the runtime verdict teaches
    # static: foldable; the example input never reached it, so the run says nothing of it
    NOT_EXERCISED = "not_exercised"
    DISAGREEMENT = "disagreement"  # static foldable refuted, or folded where static said no
    NOT_ANALYSED = "not_analysed"  # its owner class is in none of the checked files


@dataclass(frozen=True)
class SideVerdict:
    """One half's verdict on one BatchNorm, named by fold key (paths relative to `owner`)."""

    owner: str
    conv: str | None
    bn: str
    direction: Direction | None
    status: Status
    code: str | None
    reason: str | None = None
    # A static verdict on some instances of the owner class only: where they were built, as
    # the static half printed it (FoldEntry.sites); () for the class's own and at runtime.
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuntimeBatchNorm:
    """What the runtime checker did with one BatchNorm module of a built model."""

    path: str  # full model path, as named_modules() prints it
    partner: str | None  # full model path of the layer it folded (or would fold) with
    verdict: SideVerdict


@dataclass(frozen=True)
class ModelModule:
    """One entry of a built model's named_modules(): where it sits and what class it is."""

    path: str  # "" for the root
    class_name: str  # module.qualname, as the static half names classes
    is_plain_container: bool = False
    # where the factory built it: the resolved file and line of the expression ("/src/m.py:63"),
    # when known; the static half names the instances a verdict holds for so
    built_at: str | None = None


@dataclass(frozen=True)
class ModelObservation:
    """A declared model, built and folded by the runtime checker: everything the comparison
    needs, torch-free."""

    modules: tuple[ModelModule, ...]
    batchnorms: tuple[RuntimeBatchNorm, ...]
    verified: bool
    verification: str  # one line: the figures, or why verification failed


@dataclass(frozen=True)
class AgreementRow:
    """One fold key of one model: both verdicts, the agreement, and the model paths it covers."""

    agreement: Agreement
    runtime: SideVerdict
    static: SideVerdict | None  # None: the static half has no verdict on this BatchNorm
    instances: tuple[str, ...]  # model paths of the BatchNorms this row covers
    detail: str  # one line: why the halves disagree, or what the runtime taught


@dataclass(frozen=True)
class ModelAgreement:
    """The agreement table of one declared model ([tool.bnlint.models])."""

    name: str
    factory: str
    rows: tuple[AgreementRow, ...] = ()
    error: str | None = None  # the model could not be built, run or folded: why
    verified: bool | None = None  # the folded model computed the same function
    verification: str | None = None

    def count(self, agreement: Agreement) -> int:
        return sum(1 for row in self.rows if row.agreement is agreement)
