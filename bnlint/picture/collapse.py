"""Drawing identical consecutive blocks once, so that a large model stays readable.

A block is a module whose name is an index under its parent (`layer1.0`, `features.3`): the
children of a Sequential or ModuleList. Consecutive blocks whose nodes match one for one (same
kinds, names relative to the block, layer configuration, verdicts and internal wiring) form a run;
the run is drawn as its first block, titled "×N". Runs nest: the blocks inside the drawn block
of a run can form runs of their own.

Plain ops (`+`, `torch.cat`) carry no module path, so they are given to a block by when they
ran: both builders number nodes in execution order, and an op belongs to the block whose
layers ran last before it. The last block of a parent is followed by the parent's own code
(`F.relu(self.blocks(x))`), so its trailing ops are left out when that makes it match its
twins and they read nothing from before it (a residual add of the block's input is the block's
own). A block that interleaves with other modules (a module called from two places) is never
collapsed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import networkx as nx

from bnlint.ftypes import LayerCall, NodeKind
from bnlint.graph import LayerGraph

Tagger = Callable[[LayerCall], Hashable]


@dataclass(frozen=True)
class Run:
    count: int  # how many identical blocks
    first: str  # module path of the block drawn for all of them
    class_name: str
    members: tuple[int, ...]  # node ids drawn directly inside (not inside a nested run)
    parent: int | None  # index of the run whose drawn block holds this one


@dataclass
class Collapse:
    """Which nodes are drawn and which drawn node stands for each hidden one."""

    kept: set[int]
    runs: list[Run] = field(default_factory=list)
    _step: dict[int, int] = field(default_factory=dict)  # hidden node -> its twin one run up
    _blocks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # node -> (run, k)
    _renames: list[tuple[str, str]] = field(default_factory=list)  # path prefix -> shown as

    @classmethod
    def none(cls, graph: LayerGraph) -> Collapse:
        return cls(kept={call.node_id for call in graph.nodes()})

    def representative(self, node_id: int) -> int | None:
        while node_id in self._step:
            node_id = self._step[node_id]
        return node_id if node_id in self.kept else None

    def crosses_run(self, tail: int, head: int) -> bool:
        """Whether an edge joins two different blocks of one run (block k feeding block k+1):
        drawn once, the run would show it as a loop, so it is left out."""
        while True:
            tail_runs = dict(self._blocks.get(tail, ()))
            for run, block in self._blocks.get(head, ()):
                if run in tail_runs and tail_runs[run] != block:
                    return True
            up = (self._step.get(tail, tail), self._step.get(head, head))
            if up == (tail, head):
                return False
            tail, head = up

    def title(self, run: Run) -> str:
        """`×3 layer1.[0-2] BasicBlock`: how many, which (ranges of outer runs included)."""
        return f"×{run.count} {self.rename_path(run.first)} {run.class_name}"

    def rename(self, call: LayerCall) -> str:
        """How a box names a node: its module path with every collapsed index as a range."""
        return self.rename_path(call.module_path) if call.module_path else call.label

    def rename_path(self, path: str) -> str:
        for prefix, shown in self._renames:
            if _inside(path, prefix):
                path = shown + path[len(prefix) :]
        return path


@dataclass
class _Block:
    path: str
    index: int
    class_name: str
    members: list[int]  # node ids, execution order
    usable: bool
    signature: Hashable = None
    sign: Callable[[_Block], Hashable] | None = None
    own: frozenset[int] = frozenset()  # the members inside the block's module

    def trimmed(self, size: int, producers: Callable[[int], list[int]]) -> _Block | None:
        """The block without the plain ops beyond its first `size` members, when those ops
        are evidently the parent's: the last block of a Sequential is followed by the
        parent's code (`F.relu(self.blocks(x))`), not by a twin. An op that reads anything
        from before the block (a residual add of the block's input) is the block's own."""
        dropped = self.members[size:]
        if (
            not self.usable
            or not dropped
            or self.sign is None
            or self.own & set(dropped)
            or any(p < self.members[0] for n in dropped for p in producers(n))
        ):
            return None
        block = _Block(
            self.path,
            self.index,
            self.class_name,
            self.members[:size],
            True,
            sign=self.sign,
            own=self.own,
        )
        block.signature = self.sign(block)
        return block


def collapse_repeats(graph: LayerGraph, tag: Tagger) -> Collapse:
    calls = {call.node_id: call for call in graph.nodes()}
    digraph = graph.digraph
    connected = {n for n in calls if digraph.degree(n) > 0}
    scoped = sorted(n for n, call in calls.items() if call.scope)
    unscoped = sorted(
        n
        for n, call in calls.items()
        if not call.scope and call.kind not in (NodeKind.INPUT, NodeKind.OUTPUT)
    )
    parents = _blocks_by_parent(calls)
    result = Collapse(kept=set(calls))
    hidden: list[str] = []  # paths of blocks drawn through their run's first block
    run_of_block: dict[str, int] = {}  # path of a drawn first block -> its run
    for parent in sorted(parents, key=lambda p: (p.count("."), p)):
        if any(_inside(parent, h) for h in hidden):
            continue
        blocks = [
            _block(path, index, name, calls, scoped, unscoped, connected, digraph, tag)
            for index, (path, name) in sorted(parents[parent].items())
        ]
        for run in _runs(blocks, lambda n: list(digraph.predecessors(n))):
            first = run[0]
            run_id = len(result.runs)
            outer = max(
                ((len(p), r) for p, r in run_of_block.items() if _inside(first.path, p)),
                default=(0, None),
            )[1]
            for k, block in enumerate(run):
                for node in block.members:
                    result._blocks.setdefault(node, []).append((run_id, k))
                if k:
                    hidden.append(block.path)
                    for twin, node in zip(first.members, block.members, strict=False):
                        result._step[node] = twin
                        result.kept.discard(node)
            run_of_block[first.path] = run_id
            shown = f"{parent + '.' if parent else ''}[{first.index}-{run[-1].index}]"
            result._renames.append((first.path, shown))
            result.runs.append(
                Run(len(run), first.path, first.class_name, tuple(first.members), outer)
            )
    result._renames.sort(key=lambda rename: -len(rename[0]))
    _innermost_members(result)
    return result


def _innermost_members(result: Collapse) -> None:
    """A node inside a nested run is drawn in that run only."""
    inner: dict[int, int] = {}
    for run_id, run in enumerate(result.runs):
        for node in run.members:
            inner[node] = run_id  # runs are listed outer first, so the last one wins
    result.runs[:] = [
        Run(
            run.count,
            run.first,
            run.class_name,
            tuple(n for n in run.members if inner[n] == run_id),
            run.parent,
        )
        for run_id, run in enumerate(result.runs)
    ]


def _inside(path: str, block: str) -> bool:
    return path == block or path.startswith(block + ".")


def _blocks_by_parent(calls: dict[int, LayerCall]) -> dict[str, dict[int, tuple[str, str]]]:
    """parent path -> index -> (block path, block class)."""
    parents: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    for call in calls.values():
        names = [frame.name for frame in call.scope[1:]]
        for depth, frame in enumerate(call.scope[1:]):
            if frame.name.isdigit():
                parents[".".join(names[:depth])][int(frame.name)] = (
                    ".".join(names[: depth + 1]),
                    frame.class_name.rsplit(".", 1)[-1],
                )
    return parents


def _block(
    path: str,
    index: int,
    class_name: str,
    calls: dict[int, LayerCall],
    scoped: list[int],
    unscoped: list[int],
    connected: set[int],
    digraph: nx.DiGraph,
    tag: Tagger,
) -> _Block:
    inside = [n for n in scoped if _inside(calls[n].module_path, path)]
    block = _Block(path, index, class_name, inside, usable=False)
    live = [n for n in inside if n in connected]
    if not live:
        return block
    low, high = live[0], live[-1]
    members = set(inside)
    if any(low < n < high and n in connected and n not in members for n in scoped):
        return block  # interleaved with other modules: a shared or re-entered module
    end = next(
        (n for n in scoped if n > high and n in connected and n not in members), max(calls) + 1
    )
    block.members = sorted(members | {n for n in unscoped if low <= n < end})
    block.usable = True
    block.own = frozenset(members)
    block.sign = lambda b: _signature(b, calls, digraph, tag)
    block.signature = block.sign(block)
    return block


def _signature(
    block: _Block, calls: dict[int, LayerCall], digraph: nx.DiGraph, tag: Tagger
) -> Hashable:
    position = {node: i for i, node in enumerate(block.members)}
    nodes = []
    for node in block.members:
        call = calls[node]
        path = call.module_path
        name = path[len(block.path) :] if path else call.label
        nodes.append((name, tag(call)))
    inner, entering, leaving = set(), set(), set()
    for node in block.members:
        for head in digraph.successors(node):
            if head in position:
                inner.add((position[node], position[head]))
            else:
                leaving.add(position[node])
        if any(tail not in position for tail in digraph.predecessors(node)):
            entering.add(position[node])
    return (tuple(nodes), frozenset(inner), frozenset(entering), frozenset(leaving))


def _runs(blocks: list[_Block], producers: Callable[[int], list[int]]) -> list[list[_Block]]:
    runs: list[list[_Block]] = []
    current: list[_Block] = []
    for position, block in enumerate(blocks):
        if current and block.usable and block.index == current[-1].index + 1:
            twin = block
            if block.signature != current[-1].signature and position == len(blocks) - 1:
                twin = block.trimmed(len(current[-1].members), producers) or block
            if twin.signature == current[-1].signature:
                current.append(twin)
                continue
        if len(current) > 1:
            runs.append(current)
        current = [block] if block.usable else []
    if len(current) > 1:
        runs.append(current)
    return runs
