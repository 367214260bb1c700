"""Analysing files in several processes (`bnlint check --jobs N`).

Each file's contribution (bnlint.static.fileverdicts) depends only on that file and what it
imports, and every process resolves imports identically (bnlint.static.project), so files can
go to any worker in any order and the merged result is the one a single process computes.
Workers keep what they parsed between tasks; a task is a run of files in locality order
(bnlint.static.callers), so that a model family, the blocks it imports and the scripts that
build it are parsed by one worker, not by every worker. A file that would keep one worker
busy long after the others (a model file checked alone with a small context) is shared out:
each worker builds every n-th of its definitions (bnlint.static.roots.Share), and the shares
are merged into the contribution one process makes.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bnlint.static.fileverdicts import FileShare
    from bnlint.static.libraries import LibraryRoot
    from bnlint.static.project import Project
    from bnlint.static.records import FileVerdicts, Kept
    from bnlint.static.roots import Share

log = logging.getLogger("bnlint.parallel")

# Below this much source, starting workers (and having each parse the shared imports
# again) costs more than it saves. Starting two workers costs about 15 ms, and the time a
# file takes follows the models it builds more than its size: one file checked alone with
# its context of 6 files (timm's resnet.py, 190 kB) took 17.3 s in one process and 11.4 s in
# two, byobnet.py 15.1 s and 9.2 s; two files of a few hundred bytes 0.34 s either way.
MIN_PARALLEL_BYTES = 16 * 1024
_TASKS_PER_WORKER = 8
# Parsed trees all processes together keep between analyses (about 1 MB each): a model zoo's
# shared layers and the families being analysed stay parsed; memory stays bounded.
PARSED_TREES = 400
# One process walks every file in locality order, so fewer trees cover what it reads next.
# Measured on timm (304 files) in one process: 400 trees 601 MB peak and 218.8 s, 100 trees
# 477 MB and 212.0 s. Workers get runs of files that each start a new working set: at 50
# trees a worker instead of 200, `--jobs 2` took 11 % longer (119.9 s against 108.1 s).
# Again with the definitions' footprints kept (session 31): 100 trees 535 MB and 163.8 s,
# 85 trees 500 MB and 171.7 s, 80 trees 490 MB and 170.3 s, 70 trees 483 MB and 176.5 s.
SERIAL_PARSED_TREES = 80

_project: Project | None = None  # a worker's own project, kept between its tasks


def default_jobs() -> int:
    """The processors this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def analyse_files(
    paths: Sequence[str],
    *,
    search_roots: Sequence[str],
    source_roots: Sequence[str],
    jobs: int = 1,
    sources: Mapping[Path, bytes] | Mapping[str, bytes] | None = None,
    weights: Mapping[str, int] | None = None,
    allowed: Collection[str] | None = None,
    libraries: Sequence[LibraryRoot] = (),
    done: Callable[[str], None] | None = None,
    kept: Mapping[str, Kept] | None = None,
) -> dict[str, FileVerdicts]:
    """Every file's contribution (paths absolute and resolved), computed in up to `jobs`
    processes; `done` is told of each file as it is finished; `kept`, by file, what an
    earlier run built of it that still holds."""
    from bnlint.static.fileverdicts import analyse_file, merge_shares
    from bnlint.static.project import Project

    if not paths:
        return {}
    weights = weights or {}
    kept = kept or {}
    total = sum(weights.get(p, 0) for p in paths)
    if jobs <= 1 or total < MIN_PARALLEL_BYTES:
        project = Project(
            search_roots, source_roots, sources, allowed, SERIAL_PARSED_TREES, libraries
        )
        serial: dict[str, FileVerdicts] = {}
        for path in paths:
            serial[path] = analyse_file(project, Path(path), kept.get(path))
            if done is not None:
                done(path)
        return serial
    work = _shared_out(paths, weights, jobs)
    tasks = [
        [(path, share, kept.get(path)) for path, share in task]
        for task in _tasks(work, weights, jobs * _TASKS_PER_WORKER)
    ]
    jobs = min(jobs, len(tasks))
    log.info("analysing %d files in %d processes (%d tasks)", len(paths), jobs, len(tasks))
    context = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    expected = Counter(path for path, _ in work)
    arrived: dict[str, list[FileShare]] = {}
    found: dict[str, FileVerdicts] = {}
    with context.Pool(
        jobs,
        initializer=_start_worker,
        initargs=(
            list(search_roots),
            list(source_roots),
            dict(sources or {}),
            None if allowed is None else list(allowed),
            max(50, PARSED_TREES // jobs),
            tuple(libraries),
        ),
    ) as pool:
        for results in pool.imap_unordered(_run_task, tasks):
            for share in results:
                shares = arrived.setdefault(share.path, [])
                shares.append(share)
                if len(shares) == expected[share.path]:
                    found[share.path] = merge_shares(arrived.pop(share.path))
                    if done is not None:
                        done(share.path)
    return {path: found[path] for path in paths}


def _shared_out(
    paths: Sequence[str], weights: Mapping[str, int], jobs: int
) -> list[tuple[str, Share]]:
    """Each file with the share of its definitions a task builds: all of them, but for a
    file larger than half a worker's part of the whole, which every worker shares. (Its
    models, not its size, decide what it costs; size is what is known before parsing.)"""
    from bnlint.static.roots import WHOLE, Share

    total = sum(weights.get(p, 1) for p in paths)
    work: list[tuple[str, Share]] = []
    for path in paths:
        if weights.get(path, 1) * 2 * jobs > total:
            work.extend((path, Share(index, jobs)) for index in range(jobs))
        else:
            work.append((path, WHOLE))
    return work


def _tasks(
    work: Sequence[tuple[str, Share]], weights: Mapping[str, int], count: int
) -> list[list[tuple[str, Share]]]:
    """`work` (in locality order) cut into about `count` runs of similar size; the last
    fifth in runs four times smaller, so that no worker is left alone with a long task at
    the end. A share of a file weighs its part of the file."""

    def weight(item: tuple[str, Share]) -> int:
        path, share = item
        return max(1, weights.get(path, 1) // share.count)

    total = sum(weight(item) for item in work)
    limit = max(1, total // max(1, count))
    tasks: list[list[tuple[str, Share]]] = [[]]
    size = done = 0
    for item in work:
        if size >= (limit if done < total * 0.8 else max(1, limit // 4)):
            tasks.append([])
            size = 0
        tasks[-1].append(item)
        size += weight(item)
        done += weight(item)
    return tasks


def _start_worker(
    search_roots: list[str],
    source_roots: list[str],
    sources: dict[Path, bytes] | dict[str, bytes],
    allowed: list[str] | None,
    trees: int,
    libraries: tuple[LibraryRoot, ...],
) -> None:
    from bnlint.static.project import Project

    global _project
    _project = Project(search_roots, source_roots, sources, allowed, trees, libraries)


def _run_task(work: list[tuple[str, Share, Kept | None]]) -> list[FileShare]:
    from bnlint.static.fileverdicts import analyse_share

    assert _project is not None, "worker not started"
    return [analyse_share(_project, Path(path), share, kept) for path, share, kept in work]
