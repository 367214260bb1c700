"""Measure bnlint against the parser it is built on, at several corpus sizes, in one run.

    python benchmarks/run.py [--sizes 250,500,1000] [--seed 0] [--jobs N] [--workdir DIR]
    python benchmarks/run.py --corpus REPO:PACKAGE --leaf FILE [--jobs N] [--no-runtime]

With --corpus, a real source tree is measured instead (a zoo unpacked by
benchmarks/zoo_accuracy/prepare.py, say `--corpus /tmp/zoo-sources/pytorch-image-models:timm
--leaf timm/models/resnet.py`): `bnlint check PACKAGE` from the repository folder, with the
same steps; the edited and single-file steps use the leaf. The tree is copied first, so the
edit never touches the original.

For each size a seeded synthetic model zoo is generated (benchmarks/zoo.py), then timed, each
as a separate process the way a user runs it:

  parse       bare `libcst.parse_module` of every file: the floor of any libcst analyzer
  cold        `bnlint check --no-cache --jobs 1`
  cold -jN    `bnlint check --no-cache --jobs N` (N: the machine's processors)
  fill        `bnlint check --jobs N` into an empty cache
  warm        the same again, nothing changed
  warm engine the engine's own share of a warm run (analyze() in a process, timed inside it;
              the CPU and memory columns are the whole process's)
  touched     one model file's modification time changed, content not
  edited      one model file edited (a comment appended)
  edited code a number in that file's last factory changed (checked against no cache)
  single      `bnlint check FILE` on that file, as pre-commit runs it, cache warm
  single cold the same with an empty cache

Every output is compared with the `cold` one (the single-file runs with cold's verdicts on
that file): a mismatch stops the benchmark. Each row gives wall time, CPU time (user + system
of the process tree), the critical path (the process's own CPU plus its busiest worker's: the
wall time an idle machine would show, see benchmarks/measure.py), each as a ratio to `parse`,
lines per second (of wall time) and the peak memory of the process tree. bnlint runs from a
copy of the package taken at the start, so that edits made while the benchmark runs neither
change what is measured nor invalidate its cache.

The runtime half is timed afterwards by benchmarks/fold_bench.py (needs torch; skip with
--no-runtime).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.measure import Measurement, measure  # noqa: E402
from benchmarks.zoo import generate  # noqa: E402

_PARSE = (
    "import sys, libcst\n"
    "for path in open(sys.argv[1]).read().split('\\n'):\n"
    "    libcst.parse_module(open(path, 'rb').read())\n"
)
# The engine alone on a warm cache: what `bnlint check` costs beyond starting Python,
# discovering files, applying the configuration and printing.
_ENGINE = (
    "import os, sys, time\n"
    "from bnlint.static.engine import analyze\n"
    "files = open(sys.argv[1]).read().split('\\n')\n"
    "started = time.perf_counter()\n"
    "analyze(files, search_roots=[os.getcwd()], cache_dir=sys.argv[2])\n"
    "print(time.perf_counter() - started)\n"
)


@dataclass(frozen=True)
class Row:
    size: int
    lines: int
    step: str
    wall: float
    cpu: float
    critical: float  # estimated wall time on an idle machine (benchmarks/measure.py)
    peak_mb: float
    wall_ratio: float
    cpu_ratio: float
    critical_ratio: float
    lines_per_s: float


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="250,500,1000",
        help="corpus sizes in files, comma-separated (default: 250,500,1000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jobs",
        type=int,
        default=_processors(),
        help="processes for the parallel runs (default: the processors)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where corpora, caches and results go (default: a temporary "
        "folder, removed afterwards)",
    )
    parser.add_argument(
        "--corpus",
        help="REPO:PACKAGE, a real source tree to measure instead of the generated zoo",
    )
    parser.add_argument("--leaf", help="with --corpus: the file edited and checked alone")
    parser.add_argument(
        "--no-runtime",
        action="store_true",
        help="skip the runtime timings (bnlint.fold against torch.fx)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bnlint-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.corpus and not args.leaf:
        parser.error("--corpus needs --leaf")
    try:
        if args.corpus:
            repo, _, package = args.corpus.partition(":")
            rows = run_real(Path(repo), package, args.leaf, jobs=args.jobs, workdir=workdir)
        else:
            rows = run(sizes, seed=args.seed, jobs=args.jobs, workdir=workdir)
        (workdir / "static.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
        print(f"\nresults: {workdir / 'static.json'}")
        if not args.no_runtime:
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "fold_bench.py"),
                    "--json",
                    str(workdir / "runtime.json"),
                ],
                check=True,
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def run(sizes: list[int], *, seed: int, jobs: int, workdir: Path) -> list[Row]:
    """Every step at every size; raises AssertionError when outputs disagree."""
    code = _start(workdir, jobs)
    rows: list[Row] = []
    for size in sizes:
        root = workdir / f"zoo-{size}"
        shutil.rmtree(root, ignore_errors=True)
        corpus = generate(root, files=size, seed=seed)
        leaf = sorted(p for p in corpus.files if p.name == "variants.py")[0]
        rows.extend(
            _measure(
                root, ".", corpus.files, corpus.lines, leaf, f"zoo-{size}", jobs, workdir, code
            )
        )
    return rows


def run_real(repo: Path, package: str, leaf: str, *, jobs: int, workdir: Path) -> list[Row]:
    """Every step on a copy of a real source tree, checked as `bnlint check PACKAGE` from
    its repository folder."""
    code = _start(workdir, jobs)
    root = workdir / repo.name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(repo, root, ignore=shutil.ignore_patterns("__pycache__", ".bnlint_cache"))
    files = sorted((root / package).rglob("*.py"))
    lines = sum(len(p.read_bytes().splitlines()) for p in files)
    return _measure(root, package, files, lines, root / leaf, repo.name, jobs, workdir, code)


def _start(workdir: Path, jobs: int) -> Path:
    code = _snapshot(workdir / "code")
    print(
        f"bnlint from {code}; {jobs} processes for parallel runs; "
        f"machine load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'files':>6} {'lines':>7}  {'step':<12} {'wall s':>8} {'cpu s':>8} {'crit s':>7}"
        f" {'peak MB':>8} {'wall/parse':>10} {'cpu/parse':>9} {'crit/parse':>9} "
        f"{'lines/s':>9}"
    )
    return code


def _measure(
    root: Path,
    target: str,
    files: list[Path],
    lines: int,
    leaf: Path,
    label: str,
    jobs: int,
    workdir: Path,
    code: Path,
) -> list[Row]:
    size = len(files)
    listing = workdir / f"files-{label}.txt"
    listing.write_text("\n".join(str(p) for p in files))
    env = _environment(code)
    cache = workdir / f"cache-{label}"
    shutil.rmtree(cache, ignore_errors=True)
    rows: list[Row] = []
    baseline = measure([sys.executable, "-c", _PARSE, str(listing)], cwd=root, env=env)

    def row(step: str, result: Measurement) -> Measurement:
        found = Row(
            size,
            lines,
            step,
            result.wall,
            result.cpu,
            result.critical,
            result.peak_mb,
            result.wall / baseline.wall,
            result.cpu / baseline.cpu,
            result.critical / baseline.critical,
            lines / result.wall,
        )
        rows.append(found)
        print(
            f"{size:>6} {lines:>7}  {step:<12} {found.wall:>8.2f} {found.cpu:>8.2f} "
            f"{found.critical:>7.2f} {found.peak_mb:>8.0f} {found.wall_ratio:>10.2f} "
            f"{found.cpu_ratio:>9.2f} {found.critical_ratio:>9.2f} {found.lines_per_s:>9.0f}",
            flush=True,
        )
        return result

    row("parse", baseline)
    check = [sys.executable, "-m", "bnlint", "check", "--format", "json", "--exit-zero", "-q"]
    cold = row("cold", measure([*check, "--no-cache", "--jobs", "1", target], cwd=root, env=env))
    expected = json.loads(cold.stdout)
    steps = [
        (f"cold -j{jobs}", ["--no-cache", "--jobs", str(jobs)]),
        ("fill", ["--jobs", str(jobs), "--cache-dir", str(cache)]),
        ("warm", ["--cache-dir", str(cache)]),
    ]
    for step, flags in steps:
        _same(expected, row(step, measure([*check, *flags, target], cwd=root, env=env)), step)
    engine = measure([sys.executable, "-c", _ENGINE, str(listing), str(cache)], cwd=root, env=env)
    row(
        "warm engine",
        Measurement(float(engine.stdout), engine.cpu, engine.peak_mb, "", engine.critical),
    )
    os.utime(leaf)
    _same(
        expected,
        row("touched", measure([*check, "--cache-dir", str(cache), target], cwd=root, env=env)),
        "touched",
    )
    with leaf.open("a") as stream:
        stream.write("\n# edited by the benchmark\n")
    _same(
        expected,
        row("edited", measure([*check, "--cache-dir", str(cache), target], cwd=root, env=env)),
        "edited",
    )
    # A change of code: a number in the file's last factory (what its definitions read after
    # it is built again; those before it are kept). Checked against a run without a cache.
    _edit_last_function(leaf)
    edited = row(
        "edited code", measure([*check, "--cache-dir", str(cache), target], cwd=root, env=env)
    )
    fresh = measure([*check, "--no-cache", "--jobs", str(jobs), target], cwd=root, env=env)
    expected = json.loads(fresh.stdout)  # what the single-file steps must give from now on
    _same(expected, edited, "edited code")
    relative = str(leaf.relative_to(root))
    for step, cache_dir in (("single", cache), ("single cold", workdir / f"empty-{label}")):
        shutil.rmtree(cache_dir, ignore_errors=True) if step == "single cold" else None
        single = row(
            step, measure([*check, "--cache-dir", str(cache_dir), relative], cwd=root, env=env)
        )
        _same(_only(expected, relative), single, step, only=relative)
    return rows


def _edit_last_function(path: Path) -> None:
    """Add one to the first whole number in the last top-level function that has one."""
    text = path.read_text()
    functions = [s for s in ast.parse(text).body if isinstance(s, ast.FunctionDef)]
    for function in reversed(functions):
        numbers = [
            n
            for n in ast.walk(function)
            if isinstance(n, ast.Constant) and type(n.value) is int and n.lineno == n.end_lineno
        ]
        if numbers:
            number = numbers[0]
            lines = text.splitlines(keepends=True)
            line = lines[number.lineno - 1].encode()
            edited = line[: number.col_offset] + str(number.value + 1).encode()
            lines[number.lineno - 1] = (edited + line[number.end_col_offset :]).decode()
            path.write_text("".join(lines))
            return
    raise ValueError(f"{path} has no function with a number to edit")


def _same(expected: dict, result: Measurement, step: str, only: str | None = None) -> None:
    found = json.loads(result.stdout)
    if only is not None:
        found = _only(found, only)
    if _verdicts(found) != _verdicts(expected):
        raise AssertionError(f"`{step}` disagrees with the cold one-process run")


def _only(report: dict, path: str) -> dict:
    return {
        "diagnostics": [d for d in report["diagnostics"] if d["path"] == path],
        "modules": [m for m in report["modules"] if m["path"] == path],
    }


def _verdicts(report: dict) -> tuple[str, str]:
    return (
        json.dumps(report["diagnostics"], sort_keys=True),
        json.dumps(report["modules"], sort_keys=True),
    )


def _snapshot(target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        REPO / "bnlint", target / "bnlint", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def _environment(code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BNLINT_CACHE_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(code)
    env["NO_COLOR"] = "1"
    return env


def _processors() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
    sys.exit(code)
