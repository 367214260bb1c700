"""How well `bnlint check` predicts what the runtime checker observes on the zoos' own models.

    python benchmarks/zoo_accuracy/score.py --sources /tmp/zoo-sources

Runs `bnlint check PACKAGE --format json --no-cache` from each zoo's repository folder (as its
users would), times it and a bare libcst parse of the same files, compares the verdicts with
truth/ZOO.json (written by runtime_truth.py; torch is not needed here) and prints a table per
zoo and overall. Every miss is written to misses/ZOO.md with its runtime evidence and the
place of the class, for a developer to work through.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import libcst

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from misses import write_misses  # noqa: E402
from zoos import BY_NAME, ZOOS, Zoo  # noqa: E402

Key = tuple[str, str, str, str]  # owner class, conv, bn, direction
BatchNorm = tuple[str, str]  # owner class, bn
# A BatchNorm the example input never reached (an auxiliary head in eval mode, an encoder
# stage a decoder does not read): nothing is learnt about it, so it is not scored.
NEVER_CALLED = "unfoldable XBN112"


@dataclass(frozen=True)
class StaticRun:
    modules: list[dict[str, Any]]  # the JSON report's "modules"
    seconds: float
    cpu_seconds: float  # of bnlint and its workers: what the wall time is on an idle machine
    files: int
    lines: int
    parse_seconds: float


@dataclass
class Score:
    """The comparison of one zoo; the lists are what misses/ZOO.md details."""

    zoo: str
    runtime_folds: int = 0
    found: list[Key] = field(default_factory=list)
    missed: list[Key] = field(default_factory=list)
    wrong: list[Key] = field(default_factory=list)  # foldable, runtime never folds, leaves alone
    wrong_partner: list[Key] = field(default_factory=list)  # runtime folds the bn otherwise
    unfolded: int = 0
    flagged: int = 0
    not_flagged: list[BatchNorm] = field(default_factory=list)
    merges: int = 0
    merges_found: int = 0
    silent: list[BatchNorm] = field(default_factory=list)
    never_called: int = 0  # BatchNorms the runtime never reached nor folded: not scored
    models_run: int = 0
    models_failed: int = 0
    bnlint_seconds: float = 0.0
    bnlint_cpu_seconds: float = 0.0
    parse_seconds: float = 0.0
    files: int = 0
    lines: int = 0

    def summary(self) -> dict[str, Any]:
        figures = {
            name: value for name, value in asdict(self).items() if not isinstance(value, list)
        }
        figures.update(
            found=len(self.found),
            missed=len(self.missed),
            wrong=len(self.wrong),
            wrong_partner=len(self.wrong_partner),
            silent=len(self.silent),
            silent_classes=len({owner for owner, _ in self.silent}),
            recall=ratio(len(self.found), self.runtime_folds),
            flagged_ratio=ratio(self.flagged, self.unfolded),
        )
        return figures


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def run_static(
    zoo: Zoo, sources: Path, bnlint: Sequence[str], jobs: int | None, keep: Path | None
) -> StaticRun:
    """`bnlint check` from the zoo's repository folder; its report is kept in `keep`/ZOO.json
    when `keep` is given."""
    cwd = sources / zoo.check_dir()
    command = [*bnlint, "check", zoo.package, "--format", "json", "--no-cache"]
    command += ["--jobs", str(jobs)] if jobs else []
    for name in zoo.depends_on:  # installed beside it, as its users have them
        command += ["--library-path", str(sources / BY_NAME[name].check_dir())]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode not in (0, 1):  # 1: findings
        raise SystemExit(
            f"{' '.join(command)} (in {cwd}) exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    files = sorted((cwd / zoo.package).rglob("*.py"))
    texts = [path.read_text(encoding="utf-8") for path in files]
    started = time.perf_counter()
    for text in texts:
        libcst.parse_module(text)
    run = StaticRun(
        json.loads(done.stdout)["modules"],
        seconds,
        cpu,
        len(files),
        sum(text.count("\n") for text in texts),
        time.perf_counter() - started,
    )
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{zoo.name}.json").write_text(done.stdout)
        (keep / f"{zoo.name}.timing.json").write_text(
            json.dumps({name: value for name, value in asdict(run).items() if name != "modules"})
        )
    return run


def kept_static(zoo: Zoo, kept: Path) -> StaticRun:
    """A report and its timing kept by an earlier `--keep-static` run."""
    timing = json.loads((kept / f"{zoo.name}.timing.json").read_text())
    modules = json.loads((kept / f"{zoo.name}.json").read_text())["modules"]
    return StaticRun(modules=modules, **timing)


def score(zoo: Zoo, truth: dict[str, Any], static: StaticRun) -> Score:
    result = Score(
        zoo.name,
        models_run=len(truth["models_run"]),
        models_failed=len(truth["models_failed"]),
        bnlint_seconds=static.seconds,
        bnlint_cpu_seconds=static.cpu_seconds,
        parse_seconds=static.parse_seconds,
        files=static.files,
        lines=static.lines,
    )
    folds: set[Key] = set()
    left_alone: set[BatchNorm] = set()
    never_called: set[BatchNorm] = set()
    for owner, conv, bn, direction, outcomes, _ in truth["keys"]:
        if "foldable" in outcomes:
            folds.add((owner, conv, bn, direction))
        if any(outcome not in ("foldable", NEVER_CALLED) for outcome in outcomes):
            left_alone.add((owner, bn))
        elif NEVER_CALLED in outcomes:
            never_called.add((owner, bn))
    entries = static_entries(static.modules)
    foldable = {key for key, status in entries if status == "foldable"}
    flagged = {(key[0], key[2]) for key, status in entries if status != "foldable"}
    mentioned = {(key[0], key[2]) for key, _ in entries}
    folded_bns = {(owner, bn) for owner, _, bn, _ in folds}
    result.runtime_folds = len(folds)
    result.found = sorted(folds & foldable)
    result.missed = sorted(folds - foldable)
    for key in sorted(foldable - folds):
        if (key[0], key[2]) in folded_bns:
            result.wrong_partner.append(key)
        elif (key[0], key[2]) in left_alone:
            result.wrong.append(key)
    result.unfolded = len(left_alone)
    result.flagged = len(left_alone & flagged)
    result.not_flagged = sorted(left_alone - flagged)
    merges = {key for key in folds if is_merge(key[1])}
    result.merges, result.merges_found = len(merges), len(merges & foldable)
    result.silent = sorted((folded_bns | left_alone) - mentioned)
    result.never_called = len(never_called - folded_bns - left_alone)
    return result


def static_entries(modules: list[dict[str, Any]]) -> list[tuple[Key, str]]:
    """Every fold entry of the report as (key, status); a BatchNorm may have several."""
    return [
        ((module["class"], fold["conv"] or "", fold["bn"], fold["direction"] or ""), fold["status"])
        for module in modules
        for fold in module["folds"]
    ]


def is_merge(conv: str) -> bool:
    return conv.startswith("cat(") or "+" in conv


def table(scores: list[Score]) -> str:
    head = (
        "| zoo | files | lines | models run (failed) | foldable pairs found | recall "
        "| wrong foldable | (other partner) | unfolded BNs flagged | ratio | merges found "
        "| silent BNs (classes) | never called | bnlint s (CPU s) | parse s |"
    )
    rows = [head, "|---" * (head.count("|") - 1) + "|"]
    for s in scores:
        m = s.summary()
        rows.append(
            f"| {s.zoo} | {s.files} | {s.lines:,} | {s.models_run} ({s.models_failed}) "
            f"| {m['found']} / {s.runtime_folds} | {_fmt(m['recall'])} | {m['wrong']} "
            f"| {m['wrong_partner']} | {s.flagged} / {s.unfolded} | {_fmt(m['flagged_ratio'])} "
            f"| {s.merges_found} / {s.merges} | {m['silent']} ({m['silent_classes']}) "
            f"| {s.never_called} | {s.bnlint_seconds:.1f} ({s.bnlint_cpu_seconds:.1f}) "
            f"| {s.parse_seconds:.1f} |"
        )
    return "\n".join(rows)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def overall(scores: list[Score]) -> Score:
    total = Score("overall")
    for s in scores:
        for name, value in vars(s).items():
            if name != "zoo":
                setattr(total, name, getattr(total, name) + value)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, help="prepare.py's --out (to run bnlint)")
    parser.add_argument("--truth", type=Path, default=HERE / "truth")
    parser.add_argument("--zoo", action="append", choices=sorted(BY_NAME))
    parser.add_argument("--bnlint", help="the bnlint executable (default: bnlint on PATH)")
    parser.add_argument("--jobs", type=int, help="passed to bnlint check (default: its own)")
    parser.add_argument(
        "--misses", type=Path, default=HERE / "misses", help="folder for the per-zoo miss lists"
    )
    parser.add_argument(
        "--keep-static",
        type=Path,
        metavar="DIR",
        help="keep each zoo's bnlint JSON report in DIR/ZOO.json",
    )
    parser.add_argument(
        "--static-from",
        type=Path,
        metavar="DIR",
        help="score the reports kept by --keep-static instead of running bnlint",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if not args.sources and not args.static_from:
        parser.error("give --sources (to run bnlint) or --static-from")
    bnlint = [args.bnlint or shutil.which("bnlint") or "bnlint"]
    scores = []
    for zoo in [BY_NAME[name] for name in args.zoo] if args.zoo else ZOOS:
        truth_file = args.truth / f"{zoo.name}.json"
        if not truth_file.exists():
            print(f"{zoo.name}: no {truth_file}, skipped", file=sys.stderr)
            continue
        truth = json.loads(truth_file.read_text())
        static = (
            kept_static(zoo, args.static_from)
            if args.static_from
            else run_static(zoo, args.sources, bnlint, args.jobs, args.keep_static)
        )
        scores.append(score(zoo, truth, static))
        write_misses(
            args.misses / f"{zoo.name}.md", scores[-1], truth, static.modules, zoo.check_dir()
        )
    scores.append(overall(scores))
    if args.json:
        print(json.dumps([s.summary() for s in scores], indent=1))
    else:
        print(table(scores))
        print(f"\nmisses: {args.misses}/ZOO.md")


if __name__ == "__main__":
    main()
