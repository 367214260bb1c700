"""Run a command and measure it: wall time, CPU time of its whole process tree, the peak of
the tree's summed resident memory (sampled from /proc every 20 ms, so worker processes count;
where /proc is missing, the largest single process's maxrss is used instead), and the
critical path: the command's own CPU time plus that of its busiest child.

On a machine shared with other work the wall time measures the others too; the critical path
is what the wall time would be on an idle machine with a processor for every process (the
children run side by side while the parent waits), so it shows what parallelism buys when
the wall clock cannot."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Measurement:
    wall: float
    cpu: float  # user + system seconds of the command and every process it started
    peak_mb: float
    stdout: str
    critical: float = 0.0  # CPU seconds of the command plus its busiest child


def measure(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> Measurement:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = _TreeMemory(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = sampler.peak_bytes / 2**20 if sampler.peak_bytes else after.ru_maxrss / 1024
    return Measurement(wall, cpu, peak, stdout, sampler.critical_path(cpu))


class _TreeMemory(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_bytes = 0
        self.cpu: dict[int, float] = {}  # last CPU seconds seen per process of the tree
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()
        self.join()

    def critical_path(self, total: float) -> float:
        """The root's CPU time plus its busiest descendant's; `total` (from rusage, exact)
        when the tree was never seen with more than one process."""
        children = [cpu for pid, cpu in self.cpu.items() if pid != self.root]
        if not children:
            return total
        return total - sum(children) + max(children)

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self._done.is_set():
            self.peak_bytes = max(self.peak_bytes, self._tree_rss())
            self._done.wait(0.02)

    def _tree_rss(self) -> int:
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat", "rb") as stream:
                        fields = stream.read().rsplit(b")", 1)[1].split()
                    parents[int(name)] = int(fields[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree = {self.root}
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        total = 0
        for pid in tree:
            try:
                with open(f"/proc/{pid}/statm", "rb") as stream:
                    total += int(stream.read().split()[1]) * _PAGE
                with open(f"/proc/{pid}/stat", "rb") as stream:
                    fields = stream.read().rsplit(b")", 1)[1].split()
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
            except (OSError, IndexError, ValueError):
                continue
        return total
