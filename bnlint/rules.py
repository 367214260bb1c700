"""The rule catalogue: each rule's code, name, severity, message and fix, in one place.

Codes start with `XBN`. A leading letter that no flake8 plugin or ruff linter owns means a
`--ignore=B`, `--select=F` or `ignore = ["N"]` elsewhere can never swallow a bnlint code.
The prose of each rule (why it matters, examples, known limits) lives in `rules/<CODE>.md`;
the tests run the examples there against this catalogue.

Code ranges: XBN0xx the file could not be analysed, XBN1xx unfoldable, XBN2xx unknown
(the analysis cannot decide), XBN3xx real bugs, XBN4xx redundancies.
"""

from __future__ import annotations

from dataclasses import dataclass

from bnlint.ftypes import Severity, Status


@dataclass(frozen=True)
class Rule:
    code: str
    name: str  # kebab-case, names the pattern, not the fix
    severity: Severity
    status: Status | None  # the verdict a BatchNorm gets under this rule; None for findings
    summary: str  # one line: what the rule detects
    message: str  # str.format template; fields are supplied by whoever raises the rule
    fix: str  # one line: how to make the finding go away

    def format(self, **fields: object) -> str:
        return self.message.format(**fields)


def _rule(
    code: str,
    name: str,
    severity: Severity,
    status: Status | None,
    summary: str,
    message: str,
    fix: str,
) -> Rule:
    return Rule(code, name, severity, status, summary, message, fix)


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741 (table columns)
UNFOLDABLE, UNKNOWN = Status.UNFOLDABLE, Status.UNKNOWN

SYNTAX_ERROR = _rule(
    "XBN001",
    "syntax-error",
    E,
    None,
    "The file does not parse as Python.",
    "cannot analyse file: {detail}",
    "Fix the syntax error; the other files are still checked.",
)
DECODE_ERROR = _rule(
    "XBN002",
    "undecodable-file",
    E,
    None,
    "The file is not valid text in its declared encoding (or is binary).",
    "cannot analyse file: {detail}",
    "Save the file as UTF-8 (or declare its encoding), or exclude it.",
)
UNREADABLE_FILE = _rule(
    "XBN003",
    "unreadable-file",
    E,
    None,
    "The file cannot be read (permissions, a broken link, a vanished file).",
    "cannot read file: {detail}",
    "Make the file readable or exclude it.",
)
TOO_COMPLEX = _rule(
    "XBN004",
    "too-complex-to-analyse",
    E,
    None,
    "The file nests expressions or classes deeper than the analyzer follows.",
    "cannot analyse file: {detail}",
    "Split the deeply nested expression, or exclude the generated file.",
)

BN_AFTER_ACTIVATION = _rule(
    "XBN101",
    "bn-after-activation",
    W,
    UNFOLDABLE,
    "A BatchNorm's input comes from an activation, not from a Conv/Linear.",
    "BatchNorm {bn} cannot be folded: its input comes from {producer}, not a Conv/Linear",
    "Move the BatchNorm directly after the Conv/Linear, before the activation.",
)
BN_AFTER_OTHER_OP = _rule(
    "XBN102",
    "bn-after-non-foldable-op",
    W,
    UNFOLDABLE,
    "A BatchNorm's input comes from an op (pooling, view, scaling, another layer) that a fold "
    "cannot pass through.",
    "BatchNorm {bn} cannot be folded: its input comes from {producer}, not a Conv/Linear",
    "Put the BatchNorm directly after the Conv/Linear it normalises.",
)
PRODUCER_OUTPUT_SHARED = _rule(
    "XBN103",
    "conv-output-shared",
    W,
    UNFOLDABLE,
    "The Conv/Linear before a BatchNorm also feeds another consumer, which folding would change.",
    "BatchNorm {bn} cannot be folded into {producer}: its output is also used by {others}",
    "Branch after the BatchNorm instead of before it, or keep the BatchNorm.",
)
BN_AFTER_MERGE = _rule(
    "XBN104",
    "bn-after-merge",
    W,
    UNFOLDABLE,
    "A BatchNorm's input is a merge of branches that no fold can split: a product, a "
    "difference, or a sum or concatenation with a branch that is not a Conv/Linear output.",
    "BatchNorm {bn} cannot be folded: its input is the merge {producer} of several branches, "
    "and {detail}",
    "Normalise each branch after its own Conv, before the merge.",
)
BN_SHARED_ACROSS_SITES = _rule(
    "XBN105",
    "bn-reused-with-different-inputs",
    W,
    UNFOLDABLE,
    "One BatchNorm module is applied at several call sites with different producers.",
    "BatchNorm {bn} cannot be folded: it is applied at {sites} call sites with different "
    "producers ({producers})",
    "Give each call site its own BatchNorm module.",
)
CONV_SHARED_ACROSS_SITES = _rule(
    "XBN106",
    "conv-reused-without-bn",
    W,
    UNFOLDABLE,
    "A Conv/Linear module is called at several sites and not every call is followed by the "
    "same BatchNorm.",
    "BatchNorm {bn} cannot be folded into {producer}: that module is also called at {others} "
    "without this BatchNorm, and folding would change those calls",
    "Use a separate Conv/Linear module for each call site that is normalised differently.",
)
BN_WITHOUT_RUNNING_STATS = _rule(
    "XBN107",
    "bn-without-running-stats",
    W,
    UNFOLDABLE,
    "A BatchNorm built with track_running_stats=False normalises with batch statistics in eval "
    "mode too.",
    "BatchNorm {bn} cannot be folded: it is built with track_running_stats=False, so it uses "
    "batch statistics at inference",
    "Keep track_running_stats=True (the default) for layers you want to fold.",
)
FUNCTIONAL_LAYER = _rule(
    "XBN108",
    "functional-conv-or-bn",
    W,
    UNFOLDABLE,
    "A functional F.conv*/F.linear/F.batch_norm call has no module whose parameters a fold "
    "could rewrite.",
    "{what} cannot be folded: {detail}",
    "Use nn.Conv*/nn.Linear/nn.BatchNorm* modules instead of the functional form.",
)
BN_BEFORE_PADDED_CONV = _rule(
    "XBN109",
    "bn-before-padded-conv",
    W,
    UNFOLDABLE,
    "A BatchNorm that feeds a zero-padding Conv cannot fold into it exactly: the padded zeros "
    "would receive the BatchNorm's shift.",
    "BatchNorm {bn} cannot be folded into the following {consumer}, which pads its input "
    "({detail}) so that the shift would leak into the padding, {producer_reason}",
    "Put the BatchNorm after the Conv, or pad explicitly before the BatchNorm.",
)
BN_BEFORE_GROUPED_CONV = _rule(
    "XBN110",
    "bn-before-grouped-conv",
    W,
    UNFOLDABLE,
    "A BatchNorm that feeds a grouped Conv is not folded into it.",
    "BatchNorm {bn} cannot be folded into the following {consumer}, which is grouped "
    "(groups={groups}), {producer_reason}",
    "Put the BatchNorm after the Conv.",
)
BN_ON_MODEL_INPUT = _rule(
    "XBN111",
    "bn-without-neighbour-layer",
    W,
    UNFOLDABLE,
    "A BatchNorm has no Conv/Linear before it (it normalises the model input) and none it could "
    "fold into after it.",
    "BatchNorm {bn} cannot be folded: its input is the model input {producer} and "
    "{consumer_reason}",
    "Keep it, or place it right after a Conv/Linear.",
)
BN_NEVER_CALLED = _rule(
    "XBN112",
    "bn-never-called",
    W,
    UNFOLDABLE,
    "A BatchNorm is registered but forward() never calls it.",
    "BatchNorm {bn} is never called by forward(); there is nothing to fold",
    "Remove the unused BatchNorm, or call it.",
)
BN_INVALID_RUNNING_STATS = _rule(
    "XBN113",
    "bn-invalid-running-stats",
    W,
    UNFOLDABLE,
    "A BatchNorm's running statistics are missing, not finite, or negative, or its tensors "
    "do not hold one value per feature, so folding them would write garbage into the layer "
    "(found by the runtime checker).",
    "BatchNorm {bn} cannot be folded: {detail}",
    "Recompute the statistics (run the model in train mode over data) or load a checkpoint "
    "with valid ones.",
)
LAYER_WEIGHT_SHARED_OR_DERIVED = _rule(
    "XBN114",
    "layer-weight-shared-or-derived",
    W,
    UNFOLDABLE,
    "The Conv/Linear a BatchNorm would fold into does not own its weight outright: it is "
    "computed by a parametrization (weight_norm, spectral_norm), tied to another layer, or "
    "touched by forward hooks (the last two show only on a built model).",
    "BatchNorm {bn} cannot be folded into {producer}: {detail}",
    "Give the layer its own weight, or remove the parametrization or hook before folding.",
)
BN_AFTER_NON_CHANNEL_CONCAT = _rule(
    "XBN115",
    "bn-after-non-channel-concat",
    W,
    UNFOLDABLE,
    "A BatchNorm follows a concatenation along an axis other than the channel axis, so its "
    "channels do not split between the concatenated layers.",
    "BatchNorm {bn} cannot be folded: {producer} concatenates along {axis}, not along the "
    "channel axis (dim=1)",
    "Concatenate along dim=1, or normalise each branch before the concatenation.",
)
BN_NORMALISES_OTHER_AXIS = _rule(
    "XBN116",
    "bn-normalises-other-axis",
    W,
    UNFOLDABLE,
    "A BatchNorm1d next to a Linear normalises another axis than the Linear's features: on a "
    "3-D input (N, L, F) BatchNorm1d reads dim 1, a Linear the last dim.",
    "BatchNorm {bn} cannot be folded into {layer}: {detail}; a BatchNorm normalises dim 1 and "
    "a Linear the last dim, which differ on an input of more than two dimensions",
    "Normalise the features the Linear uses (transpose to (N, F, L) for BatchNorm1d), or keep "
    "the BatchNorm.",
)

DYNAMIC_ATTRIBUTE = _rule(
    "XBN201",
    "dynamic-module-access",
    W,
    UNKNOWN,
    "A module is reached through a computed name (getattr with a non-literal name), so the "
    "analyzer cannot tell which layer it is.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Use a ModuleList/ModuleDict or literal attribute names.",
)
UNRESOLVED_MODULE = _rule(
    "XBN202",
    "unresolved-module",
    W,
    UNKNOWN,
    "A layer next to a BatchNorm is built from a name the analyzer cannot resolve to a class.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Analyse the file that defines the class too, or pass the layer type explicitly.",
)
DATA_DEPENDENT_FLOW = _rule(
    "XBN203",
    "data-dependent-control-flow",
    W,
    UNKNOWN,
    "Data-dependent control flow between a BatchNorm and its neighbour decides which layer "
    "feeds it.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Confirm with `bnlint fold` on real inputs.",
)
UNKNOWN_CALL = _rule(
    "XBN204",
    "untracked-dataflow",
    W,
    UNKNOWN,
    "A BatchNorm's input passes through code the analyzer cannot follow (an external function, "
    "an unsupported construct).",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Confirm with `bnlint fold`, or analyse the file that defines the function too.",
)
UNREGISTERED_CONTAINER_UNKNOWN = _rule(
    "XBN205",
    "bn-in-unregistered-container",
    W,
    UNKNOWN,
    "A BatchNorm kept in a plain Python list or dict is invisible to PyTorch, so no folder "
    "will see it.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Keep modules in nn.ModuleList / nn.ModuleDict.",
)
INPUT_FROM_CALLER = _rule(
    "XBN206",
    "input-from-caller",
    W,
    UNKNOWN,
    "A BatchNorm normalises a forward() argument and no analysed module calls this class, so "
    "its producer is unknown.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Analyse the files that use this module too.",
)
CONDITIONAL_LAYER = _rule(
    "XBN207",
    "conditional-layer",
    W,
    UNKNOWN,
    "The layer next to a BatchNorm is built differently in different branches of __init__, "
    "and not every branch allows the fold.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Confirm the configuration you ship with `bnlint fold`.",
)
LINEAR_RANK_UNKNOWN = _rule(
    "XBN208",
    "linear-input-rank-unknown",
    W,
    UNKNOWN,
    "A BatchNorm1d next to a Linear whose input the analyzer cannot show to be 2-D: on a "
    "tensor of more dimensions the Linear works on the last axis and the BatchNorm on axis 1.",
    "BatchNorm {bn}: fold-ability unknown: {detail}",
    "Flatten to (N, features) before the Linear (`torch.flatten(x, 1)`, `x.view(n, -1)`), so "
    "the shapes are plain in the source, or confirm with `bnlint fold`.",
)
FOLD_FAILED_VERIFICATION = _rule(
    "XBN209",
    "fold-failed-verification",
    W,
    UNKNOWN,
    "A fold the rules allow did not reproduce the original when it was made: the rewritten "
    "layer, or the model's output with the fold, is further from the original than rounding "
    "allows (found by the runtime checker).",
    "BatchNorm {bn} was not folded into {producer}: {detail}",
    "Make the layer's forward() use its weight and bias as they are, or keep the BatchNorm.",
)

CHANNEL_MISMATCH = _rule(
    "XBN301",
    "bn-channel-mismatch",
    E,
    UNFOLDABLE,
    "A BatchNorm's num_features differs from the channels of the layer feeding it: the model "
    "fails at run time.",
    "BatchNorm {bn} has num_features={bn_channels} but {producer} produces {channels} channels",
    "Make num_features equal the Conv's out_channels (Linear's out_features).",
)
DIMENSION_MISMATCH = _rule(
    "XBN302",
    "bn-dimension-mismatch",
    E,
    UNFOLDABLE,
    "A BatchNorm of the wrong dimensionality follows a layer (BatchNorm1d after Conv2d).",
    "BatchNorm {bn} is {bn_type} but {producer} is {producer_type}; it expects {expected}",
    "Use the BatchNorm matching the layer: Conv1d/Linear -> BatchNorm1d, Conv2d -> "
    "BatchNorm2d, Conv3d -> BatchNorm3d.",
)
UNREGISTERED_MODULES = _rule(
    "XBN303",
    "modules-in-plain-container",
    E,
    None,
    "Modules stored in a plain Python list or dict attribute are not registered: their "
    "parameters are not trained, saved, moved to a device, or seen by any folder.",
    "'{target}' holds modules in a plain Python {container}; PyTorch does not register them "
    "({detail})",
    "Wrap the container in nn.ModuleList / nn.ModuleDict.",
)

REDUNDANT_BIAS = _rule(
    "XBN401",
    "redundant-bias-before-bn",
    I,
    None,
    "A Conv/Linear with a bias directly feeds a foldable BatchNorm, which subtracts the mean "
    "and makes the bias redundant.",
    "{producer} has bias=True but feeds BatchNorm {bn}, which makes the bias redundant",
    "Pass bias=False to the Conv/Linear.",
)

UNREAD_LIBRARY_MODULE = _rule(
    "XBN402",
    "module-from-unread-library",
    I,
    None,
    "forward() runs a module built by a library bnlint cannot read where it runs (a "
    "backbone from a model library that is not installed beside bnlint): no BatchNorm "
    "inside that module gets a verdict.",
    "{target} in forward() comes from `{call}(...)` of '{package}', which bnlint cannot "
    "read here: no BatchNorm inside it is checked",
    "Install the library where bnlint runs (installed model libraries are read), point "
    "--library-path at it, or check the built model with `bnlint fold`.",
)


def _collect() -> dict[str, Rule]:
    rules = [value for value in globals().values() if isinstance(value, Rule)]
    return {rule.code: rule for rule in sorted(rules, key=lambda r: r.code)}


RULES: dict[str, Rule] = _collect()
RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES.values()}


def get_rule(code: str) -> Rule:
    return RULES[code]
