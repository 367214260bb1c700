"""Running both halves of bnlint on generated programs and judging every BatchNorm.

A batch of programs is written as one temporary package, analysed by the static engine in one
call (as `bnlint check` would), then each program is imported, its model built, its BatchNorm
statistics randomised, and folded by the runtime checker. The two are compared with the same
code `bnlint check --confirm` uses, and then more strictly:

- a disagreement (a static fold refuted, or a runtime fold static called unfoldable, or
  different partners) is a problem;
- so is a BatchNorm the static half has no verdict on, a static verdict on a BatchNorm that
  does not exist, and a folded model that fails verification;
- a static "unknown" is a problem unless the BatchNorm sits next to a construct the
  generator labels undecidable: next means that its producer or consumers, their other
  consumers or producers, or the other call sites of those modules, run inside the marked
  module in the runtime graph (through a merge, its operands' layers count as producers); or,
  in a program with such a construct, the BatchNorm is never called (an opaque call could
  call it).

A program that makes hidden choices (code outside the analysed files decides a layer's
options, a layer's presence, a tensor's rank: tests/fuzz/outside.py) runs once per variant,
each choice made both ways. The correct static verdict is then what every variant's runtime
says when they agree, and unknown when they do not: a certain static verdict that one variant
refutes is a disagreement (a guess), an unknown where the variants differ is no problem.
"""

from __future__ import annotations

import importlib
import itertools
import os
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import networkx
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from bnlint.confirm.compare import compare_model
from bnlint.confirm.observe import observation_of
from bnlint.ftypes import (
    MERGES,
    Agreement,
    CheckResult,
    ModelAgreement,
    ModelObservation,
    NodeKind,
    Status,
)
from bnlint.runtime.capture import capture_graph
from bnlint.runtime.fold import fold
from bnlint.static.engine import analyze
from tests.fuzz.emit import Emitted, emit
from tests.fuzz.emit_idioms import OUTSIDE
from tests.fuzz.program import Program

_BATCHES = itertools.count()


@dataclass(frozen=True)
class Problem:
    kind: str  # disagreement, unexpected-unknown, missing-verdict, phantom-verdict,
    #            not-analysed, unverified, crash, invalid-program
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass
class Outcome:
    program: Program
    emitted: Emitted
    table: ModelAgreement | None = None
    observation: ModelObservation | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def batchnorms(self) -> int:
        return sum(len(row.instances) for row in self.table.rows) if self.table else 0


@contextmanager
def single_threaded() -> Iterator[None]:
    """Tiny tensors: threads only cost (tenfold on a busy two-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_programs(
    programs: Sequence[Program],
    workdir: Path | None = None,
    *,
    until: Callable[[Outcome], bool] | None = None,
) -> list[Outcome]:
    """Both halves on every program; one Outcome each, in order (with `until`, only up to
    the first outcome it accepts)."""
    with tempfile.TemporaryDirectory(prefix="bnlint-fuzz-", dir=workdir) as directory:
        # The analysed package under `root`; the outside module beside it, where the static
        # half does not look and the runtime imports it.
        root, outside = Path(directory) / "analysed", Path(directory) / "outside"
        root.mkdir()
        outside.mkdir()
        shutil.copy(Path(__file__).with_name("outside.py"), outside / f"{OUTSIDE}.py")
        package = f"bnlint_fuzz_{os.getpid()}_{next(_BATCHES)}"
        (root / package).mkdir()
        (root / package / "__init__.py").write_text("")
        outcomes, files = [], []
        for index, program in enumerate(programs):
            emitted = emit(program)
            path = root / package / f"p{index}.py"
            path.write_text(emitted.source)
            files.append(path)
            outcomes.append(Outcome(program, emitted))
        static = analyze(files, search_roots=[root])
        by_module = _split(static, [f"{package}.p{i}" for i in range(len(programs))])
        sys.path[:0] = [str(root), str(outside)]
        try:
            with single_threaded():
                for index, outcome in enumerate(outcomes):
                    name = f"{package}.p{index}"
                    _check_one(outcome, name, by_module[name])
                    sys.modules.pop(name, None)
                    if until is not None and until(outcome):
                        outcomes = outcomes[: index + 1]
                        break
        finally:
            sys.path.remove(str(root))
            sys.path.remove(str(outside))
            for name in [n for n in sys.modules if n.split(".")[0] in (package, OUTSIDE)]:
                del sys.modules[name]
    return outcomes


def _split(result: CheckResult, modules: list[str]) -> dict[str, CheckResult]:
    parts: dict[str, list] = {name: [] for name in modules}
    for report in result.modules:
        parts[report.class_name.rpartition(".")[0]].append(report)
    return {name: CheckResult(result.files, (), tuple(reports)) for name, reports in parts.items()}


@dataclass
class _Run:
    """One variant of a program, built, folded and compared."""

    variant: int
    model: nn.Module
    inputs: tuple[torch.Tensor, ...]
    observation: ModelObservation
    table: ModelAgreement


def _check_one(outcome: Outcome, module_name: str, static: CheckResult) -> None:
    runs = []
    for variant in range(outcome.emitted.variants):
        run = _run(outcome, module_name, static, variant)
        if isinstance(run, Problem):
            outcome.problems.append(run)
            return
        runs.append(run)
    outcome.table, outcome.observation = runs[0].table, runs[0].observation
    outcome.problems.extend(_judge(runs, static, outcome.emitted, module_name))


def _run(outcome: Outcome, module_name: str, static: CheckResult, variant: int) -> _Run | Problem:
    program, emitted = outcome.program, outcome.emitted
    importlib.import_module(OUTSIDE).VARIANT = variant
    try:
        module = importlib.import_module(module_name)
        torch.manual_seed(program.seed)
        model = module.Net().eval()
        _randomise_statistics(model)
        # float64: a wrong fold is off by far more than 1e-9, while float32 rounding, which
        # BatchNorms on batch statistics amplify, could fail the verification of a right one.
        model = model.double()
        generator = torch.Generator().manual_seed(program.seed)
        inputs = (torch.randn(emitted.input_shape, generator=generator, dtype=torch.float64),)
        model(*inputs)
    except Exception as error:
        return Problem("invalid-program", _one_line(error) + _in_variant(emitted, variant))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fold(model, inputs, random_inputs=1, seed=program.seed)
    except Exception as error:
        return Problem(
            "crash",
            f"runtime checker{_in_variant(emitted, variant)}: "
            f"{_one_line(error)}\n{traceback.format_exc(limit=-3)}",
        )
    observation = observation_of(model, result)
    table = compare_model(f"seed {program.seed}", f"{module_name}:Net", static, observation)
    return _Run(variant, model, inputs, observation, table)


def _in_variant(emitted: Emitted, variant: int) -> str:
    return f" (variant {variant})" if emitted.variants > 1 else ""


def _judge(
    runs: list[_Run], static: CheckResult, emitted: Emitted, module_name: str
) -> list[Problem]:
    problems: list[Problem] = []
    # What each variant's runtime says of each BatchNorm: where they differ, the hidden
    # choice decides the verdict, and unknown is the right static answer. A BatchNorm some
    # variants lack (a hidden layer before it in a list shifts its index) has a hidden name:
    # silence about it is no problem either. Nor is a name that a hidden layer shifts onto
    # another BatchNorm in another variant: which BatchNorm it is, is hidden (told apart by
    # their order among the model's BatchNorms).
    said: dict[tuple[str, str], list] = {}
    for run in runs:
        order = {
            path: position
            for position, (path, _) in enumerate(
                (p, m) for p, m in run.model.named_modules() if isinstance(m, _BatchNorm)
            )
        }
        for row in run.table.rows:
            verdict = row.runtime
            said.setdefault((verdict.owner, verdict.bn), []).append(
                (
                    verdict.status,
                    verdict.direction,
                    verdict.conv,
                    tuple(order.get(path) for path in row.instances),
                )
            )
    decided = {
        key
        for key, verdicts in said.items()
        if len(verdicts) == len(runs) and len(set(verdicts)) == 1
    }
    for run in runs:
        where = _in_variant(emitted, run.variant)
        if not run.table.verified:
            problems.append(Problem("unverified", f"{run.table.verification or ''}{where}"))
        allowed: set[str] | None = None
        downstream: set[str] = set()
        for row in run.table.rows:
            key = f"{row.runtime.owner}: {row.runtime.conv or '-'} -> {row.runtime.bn}{where}"
            hidden = (row.runtime.owner, row.runtime.bn) not in decided
            if row.agreement is Agreement.NOT_ANALYSED:
                problems.append(Problem("not-analysed", f"{key}: {row.detail}"))
            elif row.static is None:  # silence, even where the runtime folds
                if not hidden:
                    problems.append(Problem("missing-verdict", f"{key}: {row.detail}"))
            elif row.agreement is Agreement.DISAGREEMENT:
                problems.append(Problem("disagreement", f"{key}: {row.detail}"))
            elif row.static.status is Status.UNKNOWN or row.runtime.status is Status.UNKNOWN:
                if hidden:
                    continue
                if allowed is None:
                    allowed, downstream = _near_undecidable(
                        run.model, run.inputs, emitted, module_name
                    )
                # A tensor's rank flows from anywhere upstream (XBN208): an undecidable
                # construct before the Linear leaves it unknown however far away it is.
                excused = downstream if row.static.code == "XBN208" else set()
                if row.static.code == "XBN208" and emitted.rank_unknown:
                    continue
                if not set(row.instances) <= allowed | excused:
                    problems.append(
                        Problem(
                            "unexpected-unknown",
                            f"{key}: static: "
                            f"{row.static.status.value} {row.static.code}: "
                            f"{row.static.reason}; {row.detail}",
                        )
                    )
    problems.extend(_phantoms(static, [run.model for run in runs]))
    return problems


def _phantoms(static: CheckResult, models: list[nn.Module]) -> list[Problem]:
    """Static verdicts on BatchNorms the model does not have in any variant."""
    variants = [dict(model.named_modules(remove_duplicate=False)) for model in models]
    modules = variants[0]
    problems = []
    for report in static.modules:
        short = report.class_name.rpartition(".")[2]
        places = [path for path, m in modules.items() if type(m).__qualname__ == short]
        for entry in report.folds:
            for place in places:
                path = f"{place}.{entry.bn}" if place else entry.bn
                if not any(isinstance(v.get(path), _BatchNorm) for v in variants):
                    problems.append(
                        Problem(
                            "phantom-verdict",
                            f"{report.class_name}: "
                            f"{entry.conv or '-'} -> {entry.bn} "
                            f"{entry.status.value}"
                            f" {entry.code or ''}: {path} is no BatchNorm",
                        )
                    )
    return problems


def _near_undecidable(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], emitted: Emitted, module_name: str
) -> tuple[set[str], set[str]]:
    """The model paths of the BatchNorms next to a module the generator marked undecidable,
    and of those anywhere downstream of one."""
    marked = []
    for path, module in model.named_modules():
        for cls, attr in emitted.marks:
            if type(module).__qualname__ == cls and type(module).__module__ == module_name:
                marked.append(f"{path}.{attr}" if path else attr)
    if not marked:
        return set(), set()
    graph = capture_graph(model, inputs).graph

    def inside(call) -> bool:
        path = call.module_path if call.scope else None
        return path is not None and any(path == m or path.startswith(m + ".") for m in marked)

    allowed = set()
    for bn in graph.nodes():
        if bn.kind is not NodeKind.BATCHNORM:
            continue
        producers = graph.producers(bn)
        if not producers:  # never called: an opaque call anywhere could have called it
            allowed.add(bn.label)
            continue
        # Through a merge the operands' layers are the producers (folds through a sum/cat).
        producers += [
            p for merge in producers if merge.kind in MERGES for p in graph.producers(merge)
        ]
        near = {bn.node_id: bn}
        for call in producers + graph.consumers(bn):
            near[call.node_id] = call
        for call in [c for c in near.values() if c.module_id is not None]:
            for site in graph.nodes():
                if site.module_id == call.module_id:
                    near[site.node_id] = site
        ring = dict(near)
        for call in near.values():
            for other in graph.producers(call) + graph.consumers(call):
                ring[other.node_id] = other
        if any(inside(call) for call in ring.values()):
            allowed.add(bn.label)
    downstream = {
        bn.label
        for bn in graph.nodes(NodeKind.BATCHNORM)
        if any(inside(graph.node(a)) for a in networkx.ancestors(graph.digraph, bn.node_id))
    }
    return allowed, downstream


def _randomise_statistics(model: nn.Module) -> None:
    """Statistics far from the defaults, so that a wrong fold changes the output."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                if module.running_mean is not None:
                    module.running_mean.uniform_(-1.0, 1.0)
                    module.running_var.uniform_(0.5, 2.0)
                if module.affine:
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.5, 0.5)


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
