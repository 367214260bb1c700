"""LayerGraph: the dataflow of one model, as both builders produce it and the matcher reads it."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import replace

import networkx as nx

from bnlint.ftypes import LayerCall, NodeKind


class LayerGraph:
    """A DiGraph of LayerCall nodes; an edge means "the producer's output is an input of".

    Builders add nodes with `add()` and dataflow with `connect()`; the matcher only reads.
    Each `connect()` fills the consumer's next operand slot, so a merge knows the order of its
    operands (which channels of a concatenation each producer owns) and that `x + x` has two.
    """

    def __init__(self) -> None:
        self._graph: nx.DiGraph = nx.DiGraph()
        self._next_id = 0
        self._arity: dict[int, int] = {}  # operand slots filled so far, by consumer
        self._calls: dict[int, LayerCall] = {}
        # The calls of each module object, in the order they were added: a module called at
        # several sites is looked up once per BatchNorm, so a scan of every node would make
        # matching quadratic in the size of the model.
        self._by_module: dict[Hashable, list[LayerCall]] = {}
        # Static builder only: each id of LayerCall.paths -> the ids of every path of the
        # same undecidable split (its alternatives), itself included.
        self._splits: dict[int, tuple[int, ...]] = {}

    @property
    def next_id(self) -> int:
        """The id the next node added will get: a node made with it is stored as it is."""
        return self._next_id

    def add(self, call: LayerCall) -> LayerCall:
        """Store `call` under a fresh id (whatever id it carried) and return the stored node."""
        node = call if call.node_id == self._next_id else replace(call, node_id=self._next_id)
        self._next_id += 1
        self._graph.add_node(node.node_id, call=node)
        self._calls[node.node_id] = node
        if node.module_id is not None:
            self._by_module.setdefault(node.module_id, []).append(node)
        return node

    def connect(self, producer: LayerCall, consumer: LayerCall) -> None:
        """Make `producer`'s output the next operand of `consumer`."""
        slot = self._arity.get(consumer.node_id, 0)
        self._arity[consumer.node_id] = slot + 1
        edge = (producer.node_id, consumer.node_id)
        slots = self._graph.edges[edge]["slots"] if self._graph.has_edge(*edge) else ()
        self._graph.add_edge(*edge, slots=(*slots, slot))

    def add_split(self, paths: tuple[int, ...]) -> None:
        """Record that the path ids `paths` are the alternatives of one undecidable split."""
        for path in paths:
            self._splits[path] = paths

    def split_of(self, path: int) -> tuple[int, ...]:
        """Every path of the split `path` belongs to (just `path` when none was recorded)."""
        return self._splits.get(path, (path,))

    def node(self, node_id: int) -> LayerCall:
        return self._calls[node_id]

    def nodes(self, kind: NodeKind | None = None) -> Iterator[LayerCall]:
        for call in self._calls.values():
            if kind is None or call.kind is kind:
                yield call

    def calls_of(self, module_id: Hashable) -> list[LayerCall]:
        """Every node that calls the module object `module_id`, in the order added."""
        return list(self._by_module.get(module_id, ()))

    def producers(self, call: LayerCall) -> list[LayerCall]:
        return [self.node(p) for p in self._graph.predecessors(call.node_id)]

    def alternatives(self, call: LayerCall) -> list[LayerCall]:
        """The tensors a control-flow merge may pass on (nested merges looked through); a
        node that is no merge is its own one alternative."""
        found: list[LayerCall] = []
        pending = [call]
        while pending:
            current = pending.pop()
            if current.kind is NodeKind.CONTROL_FLOW and len(found) < 64:
                pending.extend(self.producers(current))
            else:
                found.append(current)
        return found

    def consumers(self, call: LayerCall) -> list[LayerCall]:
        return [self.node(c) for c in self._graph.successors(call.node_id)]

    def operands(self, call: LayerCall) -> list[LayerCall]:
        """The producers of `call` in operand order, each once per operand slot it fills."""
        filled = sorted(
            (slot, producer)
            for producer in self._graph.predecessors(call.node_id)
            for slot in self._graph.edges[producer, call.node_id]["slots"]
        )
        return [self.node(producer) for _, producer in filled]

    def with_nodes(self, replaced: dict[int, LayerCall]) -> LayerGraph:
        """A copy whose nodes of the given ids are replaced (same edges)."""
        twin = LayerGraph()
        twin._graph = self._graph.copy()
        twin._next_id = self._next_id
        twin._arity = dict(self._arity)
        twin._calls = dict(self._calls)
        twin._splits = self._splits
        for node_id, call in replaced.items():
            node = replace(call, node_id=node_id)
            twin._graph.nodes[node_id]["call"] = node
            twin._calls[node_id] = node
        for node in twin._calls.values():
            if node.module_id is not None:
                twin._by_module.setdefault(node.module_id, []).append(node)
        return twin

    def __len__(self) -> int:
        count: int = self._graph.number_of_nodes()
        return count

    @property
    def digraph(self) -> nx.DiGraph:
        """The underlying networkx graph, for drawing and inspection (do not mutate)."""
        return self._graph
