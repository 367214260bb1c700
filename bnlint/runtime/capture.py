"""The runtime builder: one real forward pass recorded as a LayerGraph.

Module hooks (pre and post, installed globally for the duration of the pass) see every module
call; a TorchFunctionMode sees every torch function, tensor method and operator called between
them. Each tensor is mapped to the node that produced it, keyed by object identity and by its
in-place version counter, so an in-place op (`x.relu_()`, `x += y`) or a write through a view
becomes its own node and later readers of the tensor see it. Because nothing is traced
symbolically, data-dependent `if`s, dict/tuple inputs and outputs and arbitrary Python in
forward() all just run; the price is that the graph reflects the inputs given.

The module hooks are process-wide while the pass runs: modules called meanwhile by another
thread would be recorded too, so do not capture while other threads run models.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as module_hooks
from torch.nn.modules.batchnorm import _BatchNorm
from torch.overrides import TorchFunctionMode

from bnlint import rules
from bnlint.ftypes import FOLD_TARGETS, LayerAttrs, LayerCall, ModuleFrame, NodeKind
from bnlint.graph import LayerGraph
from bnlint.runtime import kinds
from bnlint.runtime.multi_fold import merge_facts
from bnlint.runtime.paths import module_paths
from bnlint.runtime.tensors import call, leaves, map_tensors, storage_key, tensors, version
from bnlint.runtime.verify import fresh_copy, seeded_rng

CAPTURE_NOTE = (
    "the dataflow was recorded from one forward pass on the given example inputs; "
    "inputs that take other branches of data-dependent code may use the layers "
    "differently"
)


_FAILED = object()


class CaptureError(Exception):
    """The model could not run on the example inputs (the cause is chained)."""


@dataclass(frozen=True)
class Capture:
    graph: LayerGraph
    note: str = CAPTURE_NOTE
    # Tensors of a Conv/Linear/BatchNorm that forward() also reads outside that module, by
    # full name ("head.weight") -> the first op that read it ("F.linear"): a fold that rewrote
    # them would change that op too.
    foreign_reads: Mapping[str, str] = field(default_factory=dict)
    # What the model returned on the example inputs (a copy): the original's output that the
    # folded model must reproduce.
    output: Any = None
    # The op that handed tensor values to Python before a later layer call (a branch on
    # `x.sum() > 0`, a size from `nonzero()`), or None: with none, other inputs of the same
    # shapes run the layers the same way.
    value_dependent: str | None = None
    # BatchNorms whose tensors forward() touches outside them, if only for a shape or dtype:
    # once folded they stay in place, computing the identity, so that this code still runs.
    reached_batchnorms: frozenset[str] = frozenset()


def capture_graph(model: nn.Module, example_inputs: tuple[Any, ...]) -> Capture:
    """Run `model(*example_inputs)` once (eval mode is the caller's business) under no_grad and
    record what fed what. The model runs on a copy of the inputs, which it may write into."""
    example_inputs = fresh_copy(example_inputs)
    recorder = _Recorder(model)
    recorder.add_inputs(example_inputs)
    mode = _RecordingMode(recorder)
    recorder.mode = mode
    pre = module_hooks.register_module_forward_pre_hook(recorder.before_module)
    post = module_hooks.register_module_forward_hook(
        recorder.after_module, with_kwargs=True, always_call=True
    )
    try:
        # Seeded like the verification runs, and without touching the caller's RNG.
        with seeded_rng(), torch.no_grad():
            with mode:
                output = call(model, example_inputs)
    except Exception as error:  # the user's forward may raise anything
        raise CaptureError(f"{type(error).__name__}: {error}") from error
    finally:
        pre.remove()
        post.remove()
        # The handle forgets the hook's with_kwargs entry: left there, it would count as a
        # global hook for the rest of the process (torch.compile(module) warns about one).
        module_hooks._global_forward_hooks_with_kwargs.pop(post.id, None)
    recorder.add_output(output)
    recorder.add_uncalled_batchnorms()
    # A copy: the model may hand out a buffer it overwrites on the next call.
    return Capture(
        graph=recorder.graph(),
        foreign_reads=dict(recorder.foreign_reads),
        output=map_tensors(output, lambda t: t.detach().clone()),
        value_dependent=recorder.value_dependent(),
        reached_batchnorms=frozenset(recorder.reached_batchnorms),
    )


@dataclass(slots=True)  # one per module call: slots make it cheaper to make and to read
class _Frame:
    """One module call in progress."""

    module: nn.Module
    kind: NodeKind | None  # None: its inner ops are recorded
    silent: bool = False  # inside another module's single node: record nothing
    passthrough: bool = False
    versions: Sequence[tuple[torch.Tensor, int]] = ()
    bn_calls: int = 0
    suspended: bool = False  # the recording mode is off the mode stack while this frame runs


class _Recorder:
    def __init__(self, model: nn.Module) -> None:
        self._model = model
        self._paths = module_paths(model)
        # The parameters and buffers of every layer a fold may rewrite, by tensor identity.
        self._layer_tensors: dict[int, tuple[nn.Module, str]] = {}
        for module in self._paths.modules:
            if kinds.is_fold_layer(module):
                for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
                    if tensor is not None:
                        self._layer_tensors.setdefault(id(tensor), (module, name))
        self.foreign_reads: dict[str, str] = {}
        self.reached_batchnorms: set[str] = set()
        self._hidden_bns: dict[int, str] = {}  # BatchNorm run inside an opaque op -> its label
        self._calls: list[LayerCall] = []
        self._edges: list[tuple[int, int]] = []
        # id(tensor) -> (a weak reference to it, node id, version when produced): tensors are
        # not kept alive by the capture, and a lookup is one dict access.
        self._producer: dict[int, tuple[weakref.ref[torch.Tensor], int, int]] = {}
        # In-place writes by storage: a view written in place changes every alias. The written
        # tensor is kept alive so that its storage address cannot be reused meanwhile.
        self._writes: dict[tuple[int, str], dict[int, tuple[int, torch.Tensor]]] = {}
        self._stack: list[_Frame] = []
        self._quiet = 0  # frames on the stack inside which nothing is recorded
        self._called_bns: set[int] = set()
        self._value_read: tuple[int, str] | None = None  # (nodes recorded before it, the op)
        self._labels: dict[int, str] = {}  # id(module) -> its label, as `_label` names it
        self._layer_attrs: dict[int, LayerAttrs] = {}
        self._attrs_by_facts: dict[tuple[Any, ...], LayerAttrs] = {}  # see kinds.layer_attrs
        self.mode: TorchFunctionMode | None = None  # the mode that reports to this recorder

    # --- graph -------------------------------------------------------------------------------

    def _add(
        self,
        kind: NodeKind,
        label: str,
        producers: list[int],
        *,
        module: nn.Module | None = None,
        attrs: LayerAttrs | None = None,
        rule_code: str | None = None,
        reason: str | None = None,
    ) -> int:
        node_id = len(self._calls)
        scope: tuple[ModuleFrame, ...] = ()
        module_id = None
        if module is not None:
            scope, module_id = self._scope(module), id(module)
        self._calls.append(
            LayerCall(
                node_id=node_id,
                kind=kind,
                label=label,
                scope=scope,
                module_id=module_id,
                attrs=attrs or _NO_ATTRS,
                rule_code=rule_code,
                reason=reason,
            )
        )
        self._edges.extend((p, node_id) for p in producers)  # one edge per operand, in order
        return node_id

    def value_dependent(self) -> str | None:
        """The first op that read tensor values, if a module was called after it."""
        if self._value_read is None:
            return None
        first, label = self._value_read
        later_layers = any(call.module_id is not None for call in self._calls[first:])
        return label if later_layers else None

    def graph(self) -> LayerGraph:
        graph = LayerGraph()
        stored = [graph.add(call) for call in self._calls]
        for producer, consumer in self._edges:
            graph.connect(stored[producer], stored[consumer])
        return graph

    def _scope(self, module: nn.Module) -> tuple[ModuleFrame, ...]:
        scope = self._paths.scopes.get(id(module))
        if scope is None:  # reachable from no attribute: a closure, a global
            return (
                kinds.frame("", self._model),
                kinds.frame(f"<unregistered {type(module).__name__}>", module),
            )
        return scope

    def _label(self, module: nn.Module) -> str:
        label = self._paths.labels.get(id(module))
        if label is None:  # reachable from no attribute: a closure, a global
            label = self._labels.get(id(module))
            if label is None:
                label = self._labels[id(module)] = f"<unregistered {type(module).__name__}>"
        return label

    def _attrs(self, module: nn.Module) -> LayerAttrs:
        """The constructor facts of a layer (once per module, however often it is called)."""
        attrs = self._layer_attrs.get(id(module))
        if attrs is None:
            attrs = self._layer_attrs[id(module)] = kinds.layer_attrs(module, self._attrs_by_facts)
        return attrs

    # --- tensors -----------------------------------------------------------------------------

    def producer_of(self, tensor: torch.Tensor) -> int | None:
        entry = self._producer.get(id(tensor))
        if entry is None or entry[0]() is not tensor:  # a dead tensor whose id was reused
            return None
        _, node_id, produced_at = entry
        now = version(tensor)
        if now != produced_at:
            key = storage_key(tensor)
            written = self._writes.get(key, {}).get(now) if key is not None else None
            if written is not None:
                return written[0]
        return node_id

    def _assign(self, tensor: torch.Tensor, node_id: int) -> None:
        self._producer[id(tensor)] = (weakref.ref(tensor), node_id, version(tensor))

    def _written(self, tensor: torch.Tensor, node_id: int) -> None:
        self._assign(tensor, node_id)
        key = storage_key(tensor)
        if key is not None:
            self._writes.setdefault(key, {})[version(tensor)] = (node_id, tensor)

    def _producers(self, obj: Any) -> list[int]:
        found = tensors(obj)
        if len(found) == 1:  # most layers take one tensor
            producer = self.producer_of(found[0])
            return [] if producer is None else [producer]
        producers = (self.producer_of(t) for t in found)
        return list(dict.fromkeys(p for p in producers if p is not None))

    def _finish(
        self, node_id: int, outputs: list[torch.Tensor], before: Sequence[tuple[torch.Tensor, int]]
    ) -> None:
        """`node_id` produced these tensors and wrote into the inputs whose version moved."""
        for tensor, seen in before:
            if version(tensor) != seen:
                self._written(tensor, node_id)
        for tensor in outputs:
            self._assign(tensor, node_id)

    # --- inputs and outputs ------------------------------------------------------------------

    def add_inputs(self, example_inputs: tuple[Any, ...]) -> None:
        for path, tensor in leaves(example_inputs):
            if self.producer_of(tensor) is None:
                self._assign(tensor, self._add(NodeKind.INPUT, f"input{path}", []))

    def add_output(self, output: Any) -> None:
        self._add(NodeKind.OUTPUT, "output", self._producers(output))

    def add_uncalled_batchnorms(self) -> None:
        for module in self._paths.modules:
            scripted = kinds.is_scripted_batchnorm(module)
            if not (isinstance(module, _BatchNorm) or scripted) or id(module) in self._called_bns:
                continue
            label = self._label(module)
            rule, reason = rules.BN_NEVER_CALLED, None
            if scripted:
                rule, reason = rules.UNKNOWN_CALL, _SCRIPTED
            elif id(module) in self._hidden_bns:
                rule, reason = (
                    rules.UNKNOWN_CALL,
                    (
                        f"it runs inside {self._hidden_bns[id(module)]}, which the capture records "
                        "as one op"
                    ),
                )
            elif id(module) not in self._paths.registered:
                rule, reason = rules.UNREGISTERED_CONTAINER_UNKNOWN, _UNREGISTERED.format(label)
            self._add(
                NodeKind.BATCHNORM,
                label,
                [],
                module=module,
                attrs=_NO_ATTRS if scripted else self._attrs(module),
                rule_code=rule.code,
                reason=reason,
            )

    # --- module hooks ------------------------------------------------------------------------

    def before_module(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        # The hooks run while the recording mode is on: their own tensor queries (versions,
        # storages) must neither be recorded nor pay for a trip through the mode.
        with torch._C.DisableTorchFunction():
            frame = self._enter(module, args)
        if frame.suspended:
            # Nothing inside is recorded: spare its ops the trip through the mode. (Only the
            # mode comes off: a tensor subclass's own __torch_function__ still runs.)
            torch._C._pop_torch_function_stack()

    def _enter(self, module: nn.Module, args: tuple[Any, ...]) -> _Frame:
        if self._quiet:
            if isinstance(module, _BatchNorm):
                opaque = next(f.module for f in self._stack if f.kind or f.passthrough)
                self._hidden_bns.setdefault(id(module), f"'{self._label(opaque)}'")
            frame = _Frame(module, None, silent=True)
            self._quiet += 1
        else:
            frame = _Frame(
                module, kinds.module_kind(module), passthrough=kinds.is_passthrough(module)
            )
            if frame.kind is not None or frame.passthrough:
                frame.versions = [(t, version(t)) for t in tensors(args)]
                self._quiet += 1
                frame.suspended = self._mode_on_top()
        self._stack.append(frame)
        return frame

    def _mode_on_top(self) -> bool:
        """Whether the recording mode is the innermost torch function mode (forward() may
        have entered one of its own, which must stay as it is)."""
        depth = torch._C._len_torch_function_stack()
        return depth > 0 and torch._C._get_function_stack_at(depth - 1) is self.mode

    def after_module(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: Any, output: Any = _FAILED
    ) -> None:
        # Also called when forward raised (always_call), then as (module, args, None): the
        # frame must still be popped, for a caller that catches the error and carries on.
        frame = self._stack.pop()
        if frame.suspended:
            torch._C._push_on_torch_function_stack(self.mode)
        with torch._C.DisableTorchFunction():
            if frame.silent or frame.kind is not None or frame.passthrough:
                self._quiet -= 1
            if frame.silent or output is _FAILED:
                return
            if frame.passthrough:
                self._pass_through((args, kwargs), output)
            elif frame.kind is not None:
                self._module_node(frame, args, kwargs, output)
            elif isinstance(module, _BatchNorm) and frame.bn_calls == 0:
                self._called_bns.add(id(module))
                self._add(
                    NodeKind.BATCHNORM,
                    self._label(module),
                    [],
                    module=module,
                    attrs=kinds.layer_attrs(module),
                    rule_code=rules.UNKNOWN_CALL.code,
                    reason=f"its class {kinds.class_name(type(module))} replaces forward() "
                    "and does not call batch_norm, so the normalisation was not "
                    "seen",
                )

    def _pass_through(self, inputs: Any, output: Any) -> None:
        producers = self._producers(inputs)
        if len(producers) == 1:
            for tensor in tensors(output):
                self._assign(tensor, producers[0])

    def _module_node(
        self, frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        module, kind = frame.module, frame.kind
        assert kind is not None
        label = self._label(module)
        inputs = tensors(args)
        producers = self._producers(inputs + tensors(kwargs) if kwargs else inputs)
        rule_code = reason = None
        if kind is NodeKind.UNKNOWN:
            rule_code = rules.UNKNOWN_CALL.code
            reason = (
                f"{label} is a '{type(module).__qualname__}', which overrides forward() "
                "of its layer class"
            )
        elif id(module) not in self._paths.registered and kind in _REWRITTEN_BY_FOLDS:
            rule_code = rules.UNREGISTERED_CONTAINER_UNKNOWN.code
            reason = _UNREGISTERED.format(label)
            kind = kind if kind is NodeKind.BATCHNORM else NodeKind.UNKNOWN
        if kind is NodeKind.BATCHNORM:
            self._called_bns.add(id(module))
        node_id = self._layer_node(
            kind, module, label, producers, inputs, self._attrs(module), rule_code, reason
        )
        self._finish(node_id, tensors(output), frame.versions)

    def _layer_node(
        self,
        kind: NodeKind,
        module: nn.Module,
        label: str,
        producers: list[int],
        inputs: list[torch.Tensor],
        attrs: LayerAttrs,
        rule_code: str | None = None,
        reason: str | None = None,
    ) -> int:
        """The node of one layer call; returns the node its output comes from."""
        last_axis = kind is NodeKind.LINEAR and bool(inputs) and inputs[0].dim() >= 3
        if last_axis:
            # Linear works on the last axis; a BatchNorm works on axis 1. On a 3-D or larger
            # tensor these differ, as if the data were transposed on the way in and out.
            producers = [
                self._add(
                    NodeKind.RESHAPE,
                    f"{label} (features on the last axis of a {inputs[0].dim()}-D input)",
                    producers,
                    attrs=_FEATURES_LAST,
                )
            ]
        if kind is NodeKind.LINEAR and inputs:
            attrs = replace(attrs, rank=inputs[0].dim())  # which axis it works on
        node_id = self._add(
            kind, label, producers, module=module, attrs=attrs, rule_code=rule_code, reason=reason
        )
        if last_axis:
            node_id = self._add(
                NodeKind.RESHAPE,
                f"{label} (features on the last axis of a {inputs[0].dim()}-D output)",
                [node_id],
                attrs=_FEATURES_LAST,
            )
        return node_id

    # --- torch functions ---------------------------------------------------------------------

    def call(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._quiet:  # inside a layer torch implements: nothing to record
            return func(*args, **kwargs)
        name = kinds.function_name(func)
        if self._value_read is None and kinds.reads_values(name, args, kwargs):
            self._value_read = (len(self._calls), kinds.function_label(func))
        operands = tensors((args, kwargs))
        before = [(t, version(t)) for t in operands]
        if kinds.is_dropout_in_eval(name, args, kwargs):
            output = func(*args, **kwargs)
            self._pass_through(args[:1], output)
            return output
        output = func(*args, **kwargs)
        self._note_reached_batchnorms(operands)
        if name == "__iter__":
            items = list(output)  # iterating a tensor hands out rows: keep them tracked
            self._recorded(name, func, args, kwargs, before, items)
            return iter(items)
        self._recorded(name, func, args, kwargs, before, output)
        return output

    def _recorded(
        self,
        name: str,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        before: list[tuple[torch.Tensor, int]],
        output: Any,
    ) -> None:
        outputs = tensors(output)
        if outputs:
            self._note_foreign_reads(func, kinds.value_operands(name, args, kwargs))
        self._op(name, func, args, kwargs, before, output, outputs)

    def _note_foreign_reads(self, func: Callable[..., Any], operands: list[torch.Tensor]) -> None:
        """A layer's weight or statistics read by an op outside that layer's own call."""
        current = self._stack[-1].module if self._stack else None
        for tensor in operands:
            owner = self._layer_tensors.get(id(tensor))
            if owner is not None and owner[0] is not current:
                path = self._label(owner[0])
                name = f"{path}.{owner[1]}" if path else owner[1]
                self.foreign_reads.setdefault(name, kinds.function_label(func))

    def _note_reached_batchnorms(self, operands: list[torch.Tensor]) -> None:
        """A BatchNorm whose tensors an op outside it touches, if only for their shape."""
        current = self._stack[-1].module if self._stack else None
        for tensor in operands:
            owner = self._layer_tensors.get(id(tensor))
            if owner is not None and owner[0] is not current and isinstance(owner[0], _BatchNorm):
                self.reached_batchnorms.add(self._label(owner[0]))

    def _op(
        self,
        name: str,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        before: list[tuple[torch.Tensor, int]],
        output: Any,
        outputs: list[torch.Tensor],
    ) -> None:
        # Only tensors that carry the model's dataflow count as operands: `x * 2.0`, `x + b`
        # with a parameter b, are a scaling or shift, as the static half reads them too.
        # `y.view_as(x)` reads only x's shape: x's producer gains no reader.
        read = {id(t) for t in kinds.value_operands(name, args, kwargs)}
        found = [
            p for p in (self.producer_of(t) for t, _ in before if id(t) in read) if p is not None
        ]
        kind = kinds.function_kind(name, len(found))
        producers = list(dict.fromkeys(found))
        owner = self._stack[-1].module if self._stack else None
        if (
            kind is NodeKind.FUNCTIONAL_CONV
            and owner is not None
            and kinds.is_fold_layer(owner)
            and not isinstance(owner, _BatchNorm)
        ):
            # A Conv/Linear subclass with its own forward: this call is its layer computation.
            self._own_layer_call(owner, name, args, kwargs, before, outputs)
            return
        if kind is NodeKind.FUNCTIONAL_BN and isinstance(owner, _BatchNorm):
            # A BatchNorm subclass with its own forward: this call is its normalisation.
            self._stack[-1].bn_calls += 1
            self._called_bns.add(id(owner))
            node_id = self._add(
                NodeKind.BATCHNORM,
                self._label(owner),
                self._producers(args[:1]),
                module=owner,
                attrs=self._attrs(owner),
            )
            self._finish(node_id, outputs, before)
            return
        mutated = any(version(t) != seen for t, seen in before)
        if not producers or not (outputs or mutated):
            return  # constants stay untracked; sizes and flags are no dataflow
        attrs = kinds.op_attrs(name, args, kwargs, output)
        if kind in (NodeKind.CAT, NodeKind.ADD):
            # A fold through a merge needs its operands in order, repeats included.
            attrs, operands = merge_facts(kind, name, args, kwargs, output)
            producers = [p for p in map(self.producer_of, operands) if p is not None]
        self._finish(
            self._add(kind, kinds.function_label(func), producers, attrs=attrs), outputs, before
        )

    def _own_layer_call(
        self,
        owner: nn.Module,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        before: list[tuple[torch.Tensor, int]],
        outputs: list[torch.Tensor],
    ) -> None:
        label = self._label(owner)
        inputs = tensors(args[:1] if args else kwargs.get("input"))
        producers = self._producers(inputs)
        kind = kinds.own_layer_call(owner, name, args, kwargs)
        rule_code = reason = None
        attrs = self._attrs(owner)
        if kind is None:
            kind, rule_code = NodeKind.UNKNOWN, rules.UNKNOWN_CALL.code
            reason = (
                f"{label} is a '{type(owner).__qualname__}', which overrides forward() of "
                "its layer class and convolves with a weight or bias computed from its "
                "own, so a fold into them cannot be promised"
            )
        elif id(owner) not in self._paths.registered:
            kind, rule_code = NodeKind.UNKNOWN, rules.UNREGISTERED_CONTAINER_UNKNOWN.code
            reason = _UNREGISTERED.format(label)
        else:
            attrs = kinds.call_attrs(owner, kind, args, kwargs)
        node_id = self._layer_node(kind, owner, label, producers, inputs, attrs, rule_code, reason)
        self._finish(node_id, outputs, before)


_REWRITTEN_BY_FOLDS = FOLD_TARGETS | {NodeKind.BATCHNORM}
_SCRIPTED = (
    "it is compiled by torch.jit.script, which runs it out of the capture's sight: fold "
    "before scripting (bnlint.fold on the eager model, then torch.jit.script the result)"
)
_NO_ATTRS = LayerAttrs()  # frozen: one record serves every node without facts
_FEATURES_LAST = LayerAttrs(features_last=True)
_UNREGISTERED = (
    "{} is kept in a plain Python list, dict or other attribute, so PyTorch does "
    "not register it and no fold can rewrite it"
)


class _RecordingMode(TorchFunctionMode):
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self._recorder = recorder

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        return self._recorder.call(func, args, kwargs or {})
