"""What the runtime checker says about every BatchNorm of the zoos' own models: the truth that
score.py measures the static analyzer against. Run it in the runtime venv (README.md):

    /work/venvs/zoo/bin/python benchmarks/zoo_accuracy/runtime_truth.py --work /tmp/zoo-truth

Steps, per zoo: list every model the zoo exposes; build each on the meta device to learn its
size and structure; pick representatives (per family, i.e. model file or network class: every
class that holds a BatchNorm, and a few further structures, smallest first); build and fold
them for real, each in a worker process that a crash or a timeout ends without ending the run.
Every result is cached under --work, so an interrupted run resumes where it stopped. Finally
the verdicts are merged by fold key into truth/ZOO.json, each key under the zoo that defines
its owner class (an smp model built on a torchvision ResNet tells about torchvision's blocks).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from truth_worker import current_path, result_path  # noqa: E402
from zoos import BY_NAME, ZOOS, zoo_of_class  # noqa: E402

WORKER = HERE / "truth_worker.py"


@dataclass(frozen=True)
class Budget:
    plan_seconds: float = 120.0
    run_seconds: float = 300.0
    params: int = 60_000_000  # larger variants only when they hold a class no smaller one does
    params_hard: int = 150_000_000
    extra_shapes: int = 6  # representatives per family picked for a new structure alone


def candidates(zoo: str, work: Path) -> list[tuple[str, str]]:
    target = work / "candidates" / f"{zoo}.json"
    if not target.exists():
        subprocess.run([sys.executable, str(WORKER), "list", str(work), zoo], check=True)
    return [(model_id, family) for model_id, family in json.loads(target.read_text())]


def supervise(mode: str, model_ids: list[str], work: Path, timeout: float) -> None:
    """Run a worker over the models without a result; when it hangs past `timeout` on one
    model or dies on it, record that and start a new worker on the rest."""
    if not model_ids:
        return
    zoo = model_ids[0].partition(":")[0]
    log = (work / f"worker-{zoo}.log").open("a")
    current = current_path(work, model_ids[0])
    while pending := [m for m in model_ids if not result_path(work, mode, m).exists()]:
        print(f"{zoo} {mode}: {len(pending)} models to go", flush=True)
        tasks = work / f"tasks-{mode}-{zoo}.txt"
        tasks.write_text("\n".join(pending))
        current.unlink(missing_ok=True)
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), mode, str(work), str(tasks)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        running, since = "", time.monotonic()
        while worker.poll() is None:
            time.sleep(0.5)
            now_running = json.loads(current.read_text())["id"] if current.exists() else ""
            if now_running != running:
                running, since = now_running, time.monotonic()
            if running and time.monotonic() - since > timeout:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                _record_failure(work, mode, running, f"timeout: over {timeout:.0f} s")
        if worker.returncode != 0 and running and not result_path(work, mode, running).exists():
            _record_failure(work, mode, running, f"worker died (exit {worker.returncode})")
        elif worker.returncode != 0 and not running:
            raise SystemExit(f"the {mode} worker failed before its first model: see {log.name}")


def _record_failure(work: Path, mode: str, model_id: str, cause: str) -> None:
    target = result_path(work, mode, model_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"id": model_id, "status": "failed", "error": cause}))


def select(
    members: list[tuple[str, str]], plans: dict[str, dict[str, Any]], budget: Budget
) -> tuple[list[str], Counter[str], list[str]]:
    """Representatives: per family, smallest first, every model that adds a class holding a
    BatchNorm, plus up to `extra_shapes` that add only a structure. Models that could not be
    planned are run when their family has no planned model. Returns (chosen, skip reasons,
    models too large to run that held a class nothing chosen holds)."""
    families: dict[str, list[str]] = defaultdict(list)
    for model_id, family in members:
        families[family].append(model_id)
    chosen: list[str] = []
    skipped: Counter[str] = Counter()
    too_large: list[str] = []
    for _family, ids in sorted(families.items()):
        planned = sorted(
            (m for m in ids if plans[m]["status"] == "ok"), key=lambda m: (plans[m]["params"], m)
        )
        if not planned:
            chosen += sorted(ids)[:2]
            skipped["family not plannable, first two run"] += max(0, len(ids) - 2)
            continue
        skipped["not plannable (family planned)"] += len(ids) - len(planned)
        classes: set[str] = set()
        shapes: set[str] = set()
        extra = 0
        for model_id in planned:
            plan = plans[model_id]
            new_classes = set(plan["bn_classes"]) - classes
            new_shapes = set(plan["shapes"]) - shapes
            if not new_shapes:
                skipped["no BatchNorm structure not seen in a smaller model"] += 1
                continue
            if plan["params"] > budget.params_hard or (
                not new_classes and plan["params"] > budget.params
            ):
                skipped["over the parameter budget"] += 1
                if new_classes:
                    too_large.append(model_id)
                continue
            if not new_classes and extra >= budget.extra_shapes:
                skipped["family covered"] += 1
                continue
            extra += not new_classes
            chosen.append(model_id)
            classes |= new_classes
            shapes |= new_shapes
    return chosen, skipped, too_large


def load(work: Path, mode: str, model_id: str) -> dict[str, Any]:
    return json.loads(result_path(work, mode, model_id).read_text())


def write_truth(
    runs: dict[str, list[dict[str, Any]]], selection: dict[str, Any], out: Path
) -> None:
    """truth/ZOO.json for every zoo: the models it ran, and the fold keys of its classes."""
    import torch  # only for the version it records

    outcomes: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)
    example: dict[tuple[str, str, str, str], str] = {}
    classes: dict[str, str] = {}
    for results in runs.values():
        for result in results:
            if result["status"] != "ok":
                continue
            classes.update(result["classes"])
            seen: set[tuple[tuple[str, str, str, str], str]] = set()
            for owner, conv, bn, direction, status, code, _ in result["verdicts"]:
                key = (owner, conv, bn, direction)
                seen.add((key, status if status == "foldable" else f"{status} {code}"))
                example.setdefault(key, result["id"])
            for key, outcome in seen:
                outcomes[key][outcome] += 1
    out.mkdir(parents=True, exist_ok=True)
    for zoo in [zoo for zoo in ZOOS if zoo.name in selection]:
        results = runs.get(zoo.name, [])
        truth = {
            "zoo": zoo.name,
            "requirement": zoo.requirement,
            "torch": torch.__version__,
            "models_run": {
                r["id"]: {
                    "input": r["input"],
                    "verified": r["verified"],
                    "batchnorms": sum(v[-1] for v in r["verdicts"]),
                }
                for r in results
                if r["status"] == "ok"
            },
            "models_failed": {r["id"]: r["error"] for r in results if r["status"] != "ok"},
            **selection.get(zoo.name, {}),
            "classes": {name: where for name, where in sorted(classes.items()) if zoo.owns(name)},
            "bases_elsewhere": {
                name: bases
                for name in sorted(classes)
                if zoo.owns(name) and (bases := _bases_elsewhere(name))
            },
            "keys": [
                [*key, dict(sorted(outcomes[key].items())), example[key]]
                for key in sorted(outcomes)
                if zoo.owns(key[0])
            ],
        }
        (out / f"{zoo.name}.json").write_text(_one_item_a_line(truth))
    unowned = sorted({key[0] for key in outcomes if zoo_of_class(key[0]) is None})
    if unowned:
        print(f"owner classes in no zoo (left out): {', '.join(unowned)}")


def selected(
    zoo: str, work: Path, budget: Budget, plan: bool = True
) -> tuple[list[str], dict[str, Any]] | None:
    """The zoo's representatives (its candidates planned first, unless `plan` is False: then
    None when a plan is missing) and how they were chosen."""
    members = candidates(zoo, work)
    if plan:
        supervise("plan", [m for m, _ in members], work, budget.plan_seconds)
    elif not all(result_path(work, "plan", m).exists() for m, _ in members):
        return None
    plans = {m: load(work, "plan", m) for m, _ in members}
    chosen, skipped, too_large = select(members, plans, budget)
    return chosen, {
        "models_listed": len(members),
        "models_skipped": dict(skipped),
        "too_large_with_new_classes": too_large,
    }


def _bases_elsewhere(name: str) -> list[str]:
    """The base classes of a class that another library defines (torch.nn's own aside): what
    they build is out of sight when the zoo's folder is checked alone."""
    import importlib

    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        own = parts[0]
        return [
            f"{base.__module__}.{base.__qualname__}"
            for base in target.__mro__[1:]
            if base.__module__.split(".")[0] not in (own, "torch", "builtins")
        ]
    return []


def _one_item_a_line(truth: dict[str, Any]) -> str:
    """JSON with each model and each key on a line of its own: compact, and diffs well."""

    def block(value: Any) -> str:
        if isinstance(value, dict) and value:
            return (
                "{\n"
                + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
                + "\n}"
            )
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join(f" {json.dumps(item)}" for item in value) + "\n]"
        return json.dumps(value)

    return (
        "{\n"
        + ",\n".join(f"{json.dumps(name)}: {block(value)}" for name, value in truth.items())
        + "\n}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="cache of per-model results")
    parser.add_argument("--out", type=Path, default=HERE / "truth")
    parser.add_argument(
        "--zoo",
        action="append",
        choices=sorted(BY_NAME),
        help="run only this zoo's models (repeatable); the truth files are "
        "written from every zoo's cached results",
    )
    parser.add_argument("--plan-only", action="store_true", help="stop after the selection")
    parser.add_argument(
        "--no-run",
        action="store_true",
        help="only write the truth files, from the results cached so far",
    )
    args = parser.parse_args()
    budget = Budget()
    args.work.mkdir(parents=True, exist_ok=True)
    for zoo in [] if args.no_run else args.zoo or [zoo.name for zoo in ZOOS]:
        started = time.monotonic()
        chosen, how = selected(zoo, args.work, budget)  # type: ignore[misc]
        print(
            f"{zoo}: {how['models_listed']} models, {len(chosen)} chosen, "
            f"skipped {how['models_skipped']}",
            flush=True,
        )
        if not args.plan_only:
            supervise("run", chosen, args.work, budget.run_seconds)
            failed = sum(load(args.work, "run", m)["status"] != "ok" for m in chosen)
            print(
                f"{zoo}: {len(chosen) - failed} run, {failed} failed, "
                f"{time.monotonic() - started:.0f} s",
                flush=True,
            )
    if args.plan_only:
        return
    runs: dict[str, list[dict[str, Any]]] = {}
    selection: dict[str, Any] = {}
    for zoo in ZOOS:
        if not (args.work / "candidates" / f"{zoo.name}.json").exists():
            continue
        found = selected(zoo.name, args.work, budget, plan=False)
        if found is None:
            continue
        chosen, selection[zoo.name] = found
        runs[zoo.name] = [
            load(args.work, "run", m) for m in chosen if result_path(args.work, "run", m).exists()
        ]
    write_truth(runs, selection, args.out)


if __name__ == "__main__":
    main()
