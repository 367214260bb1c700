"""The static builder's tensor side: running forward() abstractly into a LayerGraph.

Module calls inline the called module's forward (nn.Sequential's forward is the chain of its
children), so a conv at the end of a child's forward and a BatchNorm in the parent become one
edge. Tensor values are `Tensor(node)`: the node that produced them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypedDict

import libcst as cst

from bnlint import rules
from bnlint.ftypes import (
    FOLD_TARGETS,
    LayerAttrs,
    LayerCall,
    ModuleFrame,
    NodeKind,
    SourceLocation,
)
from bnlint.graph import LayerGraph
from bnlint.static import ranks
from bnlint.static.frames import Frame, Param
from bnlint.static.index import ProjectClass, ProjectFunction
from bnlint.static.torch_api import (
    AVERAGING_MODES,
    INTERPOLATIONS,
    SPLITTING_METHODS,
    TENSOR_METHODS,
    TorchClass,
)
from bnlint.static.values import (
    BUILT_APART,
    PIECES,
    Choice,
    Const,
    FunctionRef,
    Mapping,
    ModuleInst,
    OutsideBuilt,
    Raised,
    Seq,
    Tails,
    Tensor,
    Unknown,
    Value,
    all_const,
    as_positional,
    node_text,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from bnlint.static.classes import FoundMethod
    from bnlint.static.interp import Interpreter

log = logging.getLogger("bnlint.static.forward")

# The class a scope names for a slot that may hold a norm layer the analysis cannot resolve,
# when that slot is one layer (bnlint.static.analysis judges it as the BatchNorm it may be).
UNRESOLVED_NORM = "<unresolved norm layer>"

# Names model code gives norm layers (`bn1`, `norm`, `norm_layer`, `pre_norm`): a slot so
# named that holds something the analysis cannot resolve may hold a BatchNorm.
# Words that name a norm layer (`norm_layer`, `self.bn1`), but not the reparametrisations
# `weight_norm(conv)` / `spectral_norm(conv)`, which give back the layer they wrap.
NORM_WORDS = re.compile(r"(?i)(?<!weight_)(?<!spectral_)norm|(^|[_.'`(])bn\d*($|[_.'`(])")

_LAYER_KINDS = frozenset(
    {NodeKind.CONV, NodeKind.CONV_TRANSPOSE, NodeKind.LINEAR, NodeKind.BATCHNORM}
)
# Options of a conditional construction followed each on a path of its own, at most.
_MAX_BLOCK_OPTIONS = 4
_ARITHMETIC: dict[type[cst.CSTNode], NodeKind] = {
    cst.Add: NodeKind.ADD,
    cst.AddAssign: NodeKind.ADD,
    cst.Subtract: NodeKind.ADD,
    cst.SubtractAssign: NodeKind.ADD,
    cst.Multiply: NodeKind.MUL,
    cst.MultiplyAssign: NodeKind.MUL,
}


class NodeDetails(TypedDict, total=False):
    """What a node may say beyond its kind, label and place (the fields of LayerCall)."""

    scope: tuple[ModuleFrame, ...]
    module_id: Hashable | None
    attrs: LayerAttrs
    construction: SourceLocation | None
    rule_code: str | None
    reason: str | None


class ForwardBuilder:
    """Turns the tensor operations of one root model's forward() into a LayerGraph."""

    def __init__(
        self,
        interp: Interpreter,
        scopes: dict[int, tuple[ModuleFrame, ...]],
        open_boundary: bool = False,
    ) -> None:
        """`open_boundary`: the root is a class analysed on its own, so its forward() input
        comes from a caller and its output goes back to one, neither of which is seen."""
        self.interp = interp
        self.scopes = scopes
        self.open_boundary = open_boundary
        self.boundary: list[LayerCall] = []  # the open input and output nodes
        self.graph = LayerGraph()
        self.conditional_depth = 0
        # the path of each undecidable branch being run, outermost first (LayerCall.paths)
        self.paths: tuple[int, ...] = ()
        self.called: set[int] = set()  # uids of modules with a node in the graph
        self.dynamic: list[str] = []  # where modules were reached by computed names
        self.gaps: list[str] = []  # module calls the analysis could not follow
        # what forward() took out of a container by iterating it: id(member) -> (container,
        # its name there), so that a member the analysis cannot resolve is still a slot
        self.members: dict[int, tuple[ModuleInst, str]] = {}
        # slots that may hold a norm layer the analysis could not resolve (see _maybe_norm)
        self.unresolved_norms: list[LayerCall] = []
        # Conv/Linear subclasses whose own forward() is being followed
        self.layer_forwards: set[int] = set()
        # BatchNorm subclasses whose forward() ran without calling the BatchNorm itself (it
        # normalises with F.batch_norm on statistics of its own choosing): uid -> why
        self.normalised_itself: dict[int, str] = {}
        # torch.stack nodes of a known list: node id -> (the axis stacked, how many tensors)
        self.stacked: dict[int, tuple[int, int]] = {}

    # ---- nodes ------------------------------------------------------------------------

    def add(
        self,
        kind: NodeKind,
        label: str,
        inputs: list[Value],
        location: SourceLocation | None,
        rank: int | None = None,
        **extra: Unpack[NodeDetails],
    ) -> Tensor:
        """A node fed by the tensors in `inputs`; `rank`: the dimensions of what it makes."""
        if rank is not None:
            extra["attrs"] = replace(extra.get("attrs") or LayerAttrs(), rank=rank)
        node = self.graph.add(
            LayerCall(
                node_id=self.graph.next_id,
                kind=kind,
                label=label,
                location=location,
                conditional=self.conditional_depth > 0,
                paths=self.paths,
                **extra,
            )
        )
        for producer in _tensors(inputs):
            self.graph.connect(producer.node, node)
        return Tensor(node)

    def input_node(self, label: str) -> Tensor:
        if not self.open_boundary:
            return self.add(NodeKind.INPUT, label, [], None)
        tensor = self.add(
            NodeKind.UNKNOWN,
            label,
            [],
            None,
            rule_code=rules.INPUT_FROM_CALLER.code,
            reason=f"its input is the forward() argument '{label}', which comes "
            "from whoever calls this class",
        )
        self.boundary.append(tensor.node)
        return tensor

    def output(self, value: Value) -> None:
        if not self.open_boundary:
            self.add(NodeKind.OUTPUT, "output", [value], None)
            return
        self.boundary.append(
            self.add(
                NodeKind.UNKNOWN,
                "output",
                [value],
                None,
                rule_code=rules.INPUT_FROM_CALLER.code,
                reason="its output goes back to whoever calls this class",
            ).node
        )

    def closed_graph(self) -> LayerGraph:
        """The graph as it is when the root is the whole model: the forward() arguments are
        the model inputs and what it returns the model output."""
        replaced = {
            node.node_id: replace(
                node,
                kind=NodeKind.INPUT if node.label != "output" else NodeKind.OUTPUT,
                rule_code=None,
                reason=None,
            )
            for node in self.boundary
        }
        return self.graph.with_nodes(replaced)

    def note_dynamic(self, where: str) -> None:
        self.dynamic.append(where)

    # ---- module calls -----------------------------------------------------------------

    def call_module(
        self,
        module: Value,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        callee = node.func
        direct = (
            isinstance(callee, cst.Attribute)
            and isinstance(callee.value, cst.Name)
            and callee.value.value == "self"
        )
        if isinstance(module, Choice):
            return self._conditional_call(module, args, frame, node)
        assert isinstance(module, ModuleInst)
        label = node_text(callee) if direct else self._path_label(module)
        location = frame.file.location(node) if direct else module.construction
        return self.invoke(module, args, kwargs, frame, node, label, location)

    def invoke(
        self,
        inst: ModuleInst,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.CSTNode,
        label: str,
        location: SourceLocation | None,
    ) -> Value:
        # A class that overrides __call__ runs that instead of forward().
        found = self.interp.classes.method(inst.cls, "__call__")
        if found is None or found[1] is None:
            found = self.interp.classes.method(inst.cls, "forward")
        if inst.uid not in self.scopes and _is_leaf(inst, found):
            # an unregistered container is followed: its layers are reported one by one
            return self._unregistered(inst, args, label, location)
        if found is not None and found[1] is not None:
            owner, definition = found
            assert isinstance(owner, ProjectClass)
            if inst.torch_base.kind in FOLD_TARGETS:
                # A Conv/Linear subclass with its own forward(): followed; its convolution
                # with its own weight is the layer's call (bnlint.static.forward: own_layer),
                # one with a weight it derives is not something a fold can rewrite.
                self.called.add(inst.uid)
                self.layer_forwards.add(inst.uid)
                func = FunctionRef(
                    ProjectFunction(
                        owner.file, definition, f"{owner.qualname}.{definition.name.value}"
                    )
                )
                try:
                    return self.interp.call_function(
                        func, args, kwargs, node, self_value=inst, cls=owner
                    )
                finally:
                    self.layer_forwards.discard(inst.uid)
            func = FunctionRef(
                ProjectFunction(owner.file, definition, f"{owner.qualname}.{definition.name.value}")
            )
            output = self.interp.call_function(func, args, kwargs, node, self_value=inst, cls=owner)
            if inst.torch_base.kind is NodeKind.BATCHNORM and inst.uid not in self.called:
                method = f"{owner.name}.{definition.name.value}"
                self.normalised_itself.setdefault(
                    inst.uid,
                    f"it is called, but its forward() ({method}) raises on every path the "
                    "analysis follows with this input"
                    if isinstance(output, Raised)
                    else f"it is called, but its forward() ({method}) normalises without "
                    "calling the BatchNorm itself, on tensors the analysis does not take for "
                    "its own statistics",
                )
            return output
        return self.torch_forward(inst, inst.torch_base, args, kwargs, frame, node, label, location)

    def torch_forward(
        self,
        inst: ModuleInst,
        torch_cls: TorchClass,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.CSTNode,
        label: str | None = None,
        location: SourceLocation | None = None,
    ) -> Value:
        """What calling a module does when its forward is torch's own."""
        label = label or self._path_label(inst)
        location = location or inst.construction
        if torch_cls.container == "sequential":
            value = args[0] if args else Unknown("Sequential called without input")
            for position, child in enumerate(inst.children.values()):
                if _unknown_before(inst, position):
                    value = self._gap(
                        value,
                        f"the contents of {label} are not fully known: {inst.incomplete}",
                        location,
                    )
                if isinstance(child, Const) and child.value is None:
                    continue
                if isinstance(child, (ModuleInst, Choice)):
                    place = (inst, list(inst.children)[position])
                    value = self.call_child(child, [value], frame, node, place)
                elif isinstance(child, Tails) and child.apart():
                    value = self._each_path(child, value, frame, node)
                else:
                    why = getattr(child, "reason", "") or "it is not a module"
                    member = list(inst.children)[position]
                    code = getattr(child, "code", None) or rules.UNKNOWN_CALL.code
                    maybe = self._maybe_norm_in(inst, member, why, code, [value], location)
                    if maybe is None and isinstance(child, OutsideBuilt):
                        self.interp.note_unread(child, f"`{label}[{position}]`", inst.class_name)
                    value = self._slot_call(
                        maybe,
                        NodeKind.UNKNOWN,
                        "unknown",
                        [value],
                        location,
                        rule_code=code,
                        reason=f"{label} holds a layer the analysis cannot resolve ({why})",
                    )
                    self.gaps.append(f"{label} holds a layer the analysis cannot resolve ({why})")
            if inst.incomplete and _unknown_before(inst, len(inst.children)):
                value = self._gap(
                    value,
                    f"the contents of {label} are not fully known: {inst.incomplete}",
                    location,
                )
            return value
        if torch_cls.container is not None:
            return Unknown(f"{label} is a container and cannot be called")
        if torch_cls.passthrough:
            return args[0] if args else Const(None)
        kind = torch_cls.kind or NodeKind.OTHER
        self.called.add(inst.uid)
        extra: NodeDetails = {}
        attrs = LayerAttrs()
        if kind in _LAYER_KINDS:
            attrs = layer_attrs(inst, torch_cls)
            extra = {"module_id": inst.uid, "attrs": attrs, "construction": inst.construction}
        input_rank = rank_of(args[:1])
        if kind is NodeKind.BATCHNORM and input_rank is None:
            input_rank = self._rank_that_runs(args[:1], attrs)
        rank = ranks.of_module(torch_cls.short_name, inst.layer_args, input_rank)
        if rank is None and kind is not NodeKind.RESHAPE:  # einops' Reduce says its own
            rank = ranks.of_layer(kind, attrs, input_rank)
        if "mode" in torch_cls.params:  # nn.Upsample and friends
            extra["attrs"] = _resampling(inst.layer_args.get("mode"))
            rank = rank_of(args[:1])
        if torch_cls.short_name == "Rearrange":  # einops: an axis reordering moves channels
            reordered = ranks.rearranged_axes(inst.layer_args.get("pattern"), input_rank)
            if reordered is not None:
                extra["attrs"] = LayerAttrs(moves_axes=reordered[0], rank=reordered[1])
        extra["scope"] = self._scope(inst)
        return self.add(kind, label, args[:1], location, rank=rank, **extra)

    def _each_path(self, tails: Tails, value: Value, frame: Frame, node: cst.CSTNode) -> Value:
        """A Sequential's members from where undecidable branches built it differently: each
        path's members run in turn, and what reaches the next member depends on the path."""
        outputs = []
        for members in tails.members():
            output = value
            for member in members:
                if isinstance(member, Tails) and member.apart():
                    output = self._each_path(member, output, frame, node)
                elif isinstance(member, (ModuleInst, Choice)):
                    output = self.call_child(member, [output], frame, node)
                elif not (isinstance(member, Const) and member.value is None):
                    why = getattr(member, "reason", "") or "it is not a module"
                    output = self._gap(
                        output,
                        f"a Sequential holds a layer the analysis cannot resolve ({why})",
                        frame.file.location(node),
                        getattr(member, "code", None),
                    )
            outputs.append(output)
        if all(output is outputs[0] for output in outputs):
            return outputs[0]
        return self.merge_tensors(outputs, BUILT_APART, rules.CONDITIONAL_LAYER.code)

    def call_child(
        self,
        child: ModuleInst | Choice,
        args: list[Value],
        frame: Frame,
        node: cst.CSTNode,
        member: tuple[ModuleInst, str] | None = None,
    ) -> Value:
        """`member`: the container and the name the child has in it, when it is one's."""
        if isinstance(child, Choice):
            return self._conditional_call(child, args, frame, node, member)
        return self.invoke(
            child, args, {}, frame, node, self._path_label(child), child.construction
        )

    def _conditional_call(
        self,
        module: Choice,
        args: list[Value],
        frame: Frame,
        node: cst.CSTNode,
        member: tuple[ModuleInst, str] | None = None,
    ) -> Value:
        label = node_text(node.func) if isinstance(node, cst.Call) else "a module"
        if member is not None:
            label = f"{self._path_label(member[0])}.{member[1]}"
        same_layer = self._one_layer_type(module.options)
        if same_layer is not None:
            return self._either_layer(same_layer, args, label, frame.file.location(node))
        kinds = sorted({_describe_option(o) for o in module.options})
        constructions = self._one_slot(module.options)
        if constructions is not None:
            why = f"which class {label} is built as ({' or '.join(kinds)}): {module.reason}"
            return self._each_construction(constructions, args, why, frame, node)
        blocks = self._one_block(module.options)
        if blocks is not None:
            # a block built one way or another by configuration (a shortcut that is empty
            # or a conv and its BatchNorm): each is followed on a path of its own
            why = f"how {label} is built: {module.reason}"
            return self._each_construction(blocks, args, why, frame, node)
        self.gaps.append(module.reason)
        maybe = None
        if any(isinstance(o, Unknown) for o in module.options):
            # one of the things the slot may hold is not known: it may be a norm layer
            code, where = rules.CONDITIONAL_LAYER.code, frame.file.location(node)
            maybe = (
                self._maybe_norm_in(*member, module.reason, code, args[:1], where)
                if member is not None
                else self._maybe_norm(label, module.reason, code, args[:1], frame, where)
            )
        return self._slot_call(
            maybe,
            NodeKind.UNKNOWN,
            label,
            args[:1],
            frame.file.location(node),
            rule_code=rules.CONDITIONAL_LAYER.code,
            reason=f"{label} is built as {' or '.join(kinds)} depending on {module.reason}",
        )

    def _one_layer_type(self, options: tuple[Value, ...]) -> list[ModuleInst] | None:
        """The options of a conditional construction when every one is a torch layer of the
        same kind at the same place (Conv2d or Conv3d, say): each arm then gives the same
        verdict, up to the constructor facts they disagree on, which become unknown."""
        insts = [o for o in options if isinstance(o, ModuleInst)]
        if len(insts) != len(options) or len({i.torch_base.kind for i in insts}) != 1:
            return None
        first = insts[0]
        if first.torch_base.kind not in _LAYER_KINDS or first.torch_base.container is not None:
            return None
        for inst in insts:  # a subclass with its own forward() is not that layer
            found = self.interp.classes.method(inst.cls, "forward")
            if found is not None and found[1] is not None:
                return None
        if len({_path(self._scope(i)) for i in insts}) != 1 or not self._scope(first):
            return None
        return insts

    def _one_slot(self, options: tuple[Value, ...]) -> list[ModuleInst] | None:
        """The options of a conditional construction when every one is a Conv/Linear of the
        same kind built for the same place, some with a forward() of their own (a conv that
        pads its input itself, or not, by configuration): whichever was built is the layer
        there, and each is followed on a path of its own."""
        insts = self._built_for_one_place(options)
        if insts is None or len({i.torch_base.kind for i in insts}) != 1:
            return None
        return insts if insts[0].torch_base.kind in FOLD_TARGETS else None

    def _one_block(self, options: tuple[Value, ...]) -> list[ModuleInst] | None:
        """The options of a conditional construction when every one is a module (a container
        or a block, not a layer the matcher folds) built for the same place, and there are
        few: whichever was built is the module there."""
        insts = self._built_for_one_place(options)
        if insts is None or len(insts) > _MAX_BLOCK_OPTIONS:
            return None
        return None if any(i.torch_base.kind in _LAYER_KINDS for i in insts) else insts

    def _built_for_one_place(self, options: tuple[Value, ...]) -> list[ModuleInst] | None:
        """The options when every one is a module and all sit at one place of the tree."""
        insts = [o for o in options if isinstance(o, ModuleInst)]
        if len(insts) != len(options) or not self._scope(insts[0]):
            return None
        return insts if len({_path(self._scope(i)) for i in insts}) == 1 else None

    def _each_construction(
        self,
        insts: list[ModuleInst],
        args: list[Value],
        reason: str,
        frame: Frame,
        node: cst.CSTNode,
    ) -> Value:
        outputs: list[Value] = []

        def run(inst: ModuleInst) -> None:
            outputs.append(
                self.invoke(inst, args, {}, frame, node, self._path_label(inst), inst.construction)
            )

        self.interp.branches(
            [partial(run, inst) for inst in insts],
            reason,
            frame,
            data_dependent=False,
            code=rules.CONDITIONAL_LAYER.code,
        )
        if all(output is outputs[0] for output in outputs):
            return outputs[0]
        return self.merge_tensors(outputs, reason, rules.CONDITIONAL_LAYER.code)

    def _either_layer(
        self,
        insts: list[ModuleInst],
        args: list[Value],
        label: str,
        location: SourceLocation | None,
    ) -> Value:
        first = insts[0]
        self.called.update(i.uid for i in insts)
        facts = [layer_attrs(i, i.torch_base) for i in insts]
        agreed: dict[str, Any] = {
            name: getattr(facts[0], name) if len({getattr(f, name) for f in facts}) == 1 else None
            for name in LayerAttrs.__dataclass_fields__
        }
        derived = [f.weight_derived for f in facts if f.weight_derived is not None]
        if derived:
            # weight-normed in some of the layers it may be: a reason, not a certainty
            agreed["weight_derived"] = derived[0]
            agreed["weight_derived_certain"] = len(derived) == len(facts) and all(
                f.weight_derived_certain for f in facts
            )
        else:
            agreed["weight_derived_certain"] = True
        merged = LayerAttrs(**agreed)
        kind = first.torch_base.kind or NodeKind.OTHER
        return self.add(
            kind,
            label,
            args[:1],
            location,
            rank=ranks.of_layer(kind, merged, rank_of(args[:1])),
            scope=self._scope(first),
            module_id=first.uid,
            attrs=merged,
            construction=first.construction,
        )

    def _unregistered(
        self, inst: ModuleInst, args: list[Value], label: str, location: SourceLocation | None
    ) -> Value:
        reason = f"{label} is kept in a plain Python list or dict, so PyTorch does not register it"
        if inst.torch_base.kind is NodeKind.BATCHNORM:
            self.called.add(inst.uid)
            return self.add(
                NodeKind.BATCHNORM,
                label,
                args[:1],
                location,
                scope=self.scopes.get(-inst.uid, ()),
                module_id=inst.uid,
                rule_code=rules.UNREGISTERED_CONTAINER_UNKNOWN.code,
                reason=reason,
                construction=inst.construction,
            )
        return self.add(
            NodeKind.UNKNOWN,
            label,
            args[:1],
            location,
            rule_code=rules.UNREGISTERED_CONTAINER_UNKNOWN.code,
            reason=reason,
        )

    def _gap(
        self, value: Value, reason: str, location: SourceLocation | None, code: str | None = None
    ) -> Value:
        self.gaps.append(reason)
        return self._unknown_tensor([value], reason, location, code or rules.UNKNOWN_CALL.code)

    def _unknown_tensor(
        self, inputs: list[Value], reason: str, location: SourceLocation | None, code: str
    ) -> Tensor:
        return self.add(
            NodeKind.UNKNOWN, "unknown", inputs, location, rule_code=code, reason=reason
        )

    def untracked_batch_norm_input(
        self, qualname: str, args: list[Value], frame: Frame, location: SourceLocation | None
    ) -> list[Value]:
        """The arguments of F.batch_norm on a value the analysis did not follow as a tensor
        (the cat of a list it could not count), that value made a tensor when a BatchNorm
        subclass normalises it with its own statistics: it is still that BatchNorm's call.
        (F.batch_norm on a weight, as weight standardisation does, is no BatchNorm's call.)"""
        inst = frame.self_inst
        if not (
            len(args) > 1
            and isinstance(inst, ModuleInst)
            and inst.torch_base.kind is NodeKind.BATCHNORM
            and isinstance(args[1], Param)
            and args[1].owner is inst
        ):
            return args
        reason = f"the analysis did not follow the tensor {qualname}() is given" + (
            f" ({args[0].reason})" if isinstance(args[0], Unknown) else ""
        )
        return [
            self._unknown_tensor(args[:1], reason, location, rules.UNKNOWN_CALL.code),
            *args[1:],
        ]

    def _scope(self, inst: ModuleInst) -> tuple[ModuleFrame, ...]:
        return self.scopes.get(inst.uid) or self.scopes.get(-inst.uid, ())

    def _path_label(self, inst: ModuleInst) -> str:
        scope = self.scopes.get(inst.uid) or self.scopes.get(-inst.uid)
        if not scope or len(scope) == 1:
            return inst.cls.qualname.rsplit(".", 1)[-1]
        return ".".join(frame.name for frame in scope[1:])

    # ---- functions, methods, arithmetic -----------------------------------------------

    def torch_op(
        self,
        qualname: str,
        kind: NodeKind | None,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
    ) -> Value:
        short = qualname.replace("torch.nn.functional.", "F.")
        location = frame.file.location(node)
        args, kwargs = as_positional(args, kwargs, ("input",))  # F.interpolate(input=x, ...)
        inputs = [*args, *kwargs.values()]
        if kind in (NodeKind.FUNCTIONAL_CONV, NodeKind.FUNCTIONAL_BN):
            names = _CONV_PARAMS if kind is NodeKind.FUNCTIONAL_CONV else _BATCH_NORM_PARAMS
            args, kwargs = as_positional(args, kwargs, names)
            owned = self._own_layer_call(kind, args, kwargs, frame, location)
            if owned is not None:
                return owned
        name = qualname.rsplit(".", 1)[-1]
        rank = ranks.of_function(name, kind, args, kwargs, rank_of(args[:1]))
        if qualname in INTERPOLATIONS:
            mode = kwargs.get("mode", args[3] if len(args) > 3 else Const(INTERPOLATIONS[qualname]))
            return self.add(
                NodeKind.OTHER,
                short,
                args[:1],
                location,
                rank=rank_of(args[:1]),
                attrs=_resampling(mode),
            )
        if kind is None:
            return self.add(NodeKind.OTHER, short, inputs, location, rank=rank)
        if kind is NodeKind.RESHAPE and args and isinstance(args[0], Tensor):
            attrs = _leading_flatten(args[0], name, args[1:], kwargs)
            return self.add(kind, short, args[:1], location, rank=rank, attrs=attrs)
        if kind is NodeKind.CAT:
            return self._concatenation(qualname, short, args, kwargs, location)
        if kind in (NodeKind.ADD, NodeKind.MUL):
            operands = [*args[:2], *(kwargs[k] for k in ("input", "other") if k in kwargs)]
            if sum(isinstance(v, Tensor) for v in operands) < 2:
                # torch.mul(x, 2.0), torch.add(x, self.bias): scaling or shifting one tensor
                return self.add(NodeKind.OTHER, short, _flatten(inputs), location, rank=rank)
            if kind is NodeKind.MUL:
                return self.add(
                    kind,
                    short,
                    _flatten(inputs),
                    location,
                    rank=ranks.common([rank_of([v]) for v in operands]),
                )
            return self._sum(
                short, operands, qualname == "torch.add" and _alpha_is_one(kwargs), location
            )
        result = self.add(
            kind,
            short,
            inputs[:1] if kind is not NodeKind.FUNCTIONAL_CONV else inputs,
            location,
            rank=rank,
        )
        if qualname.endswith(("chunk", "split", "unbind")):
            return self._pieces(result, name, args[:1], args[1:], kwargs)
        return result

    def _own_layer_call(
        self,
        kind: NodeKind,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        location: SourceLocation | None,
    ) -> Value | None:
        """F.conv2d(x, self.weight, ...) inside a Conv subclass's forward(), or F.batch_norm(x,
        self.running_mean, ...) inside a BatchNorm subclass, is that module's own call."""

        inst = frame.self_inst
        handed = args[1] if len(args) >= 2 and isinstance(args[1], Param) else None
        if (
            handed is not None
            and isinstance(handed.owner, ModuleInst)
            and handed.owner.uid in self.layer_forwards
        ):
            # a layer's forward() handed its own weight to a helper that convolves with it
            # (`return conv2d_same(x, self.weight, self.bias, ...)`)
            inst = handed.owner
        # scopes hold modules only: an object's forward() calls no layer of its own
        if not isinstance(inst, ModuleInst) or inst.uid not in self.scopes or len(args) < 2:
            return None
        own = args[1] if isinstance(args[1], Param) and args[1].owner is inst else None
        if kind is NodeKind.FUNCTIONAL_BN and inst.torch_base.kind is NodeKind.BATCHNORM:
            if own is None:
                return None
            self.called.add(inst.uid)
            attrs = layer_attrs(inst, inst.torch_base)
            return self.add(
                NodeKind.BATCHNORM,
                self._path_label(inst),
                args[:1],
                inst.construction,
                rank=ranks.of_layer(NodeKind.BATCHNORM, attrs, rank_of(args[:1])),
                scope=self.scopes[inst.uid],
                module_id=inst.uid,
                attrs=attrs,
                construction=inst.construction,
            )
        if kind is not NodeKind.FUNCTIONAL_CONV or inst.uid not in self.layer_forwards:
            return None
        label = self._path_label(inst)
        if own is None or own.name != "weight":
            return self.add(
                NodeKind.UNKNOWN,
                label,
                args[:1],
                location,
                rank=rank_of(args[:1]),
                rule_code=rules.UNKNOWN_CALL.code,
                reason=f"{label} computes its output in its own forward() with a "
                "weight it derives there, which a fold cannot rewrite",
                scope=self.scopes[inst.uid],
                module_id=inst.uid,
            )
        layer_kind = inst.torch_base.kind or NodeKind.OTHER
        attrs = _called_with(layer_attrs(inst, inst.torch_base), inst, args, kwargs)
        return self.add(
            layer_kind,
            label,
            args[:1],
            location,
            rank=ranks.of_layer(layer_kind, attrs, rank_of(args[:1])),
            scope=self.scopes[inst.uid],
            module_id=inst.uid,
            attrs=attrs,
            construction=inst.construction,
        )

    def method_op(
        self,
        tensor: Tensor,
        name: str,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.CSTNode,
    ) -> Value:
        kind = TENSOR_METHODS.get(name, NodeKind.OTHER)
        if name == "__getitem__":
            kind = NodeKind.RESHAPE
        label = f".{name}()" if name != "__getitem__" else "indexing"
        rank = ranks.of_method(name, args, kwargs, tensor.node.attrs.rank)
        if name in ("view_as", "reshape_as", "expand_as"):
            rank = rank_of(args[:1])  # the shape of the other tensor
        if kind is NodeKind.ADD:
            return self._sum(
                label,
                [tensor, *args[:1]],
                name in ("add", "add_") and _alpha_is_one(kwargs),
                frame.file.location(node),
            )
        if kind is NodeKind.MUL:
            operands = [tensor, *args]
            if not all(isinstance(v, Tensor) for v in _flatten(operands)) or len(operands) < 2:
                kind = NodeKind.OTHER
            return self.add(kind, label, operands, frame.file.location(node), rank=rank)
        attrs = _leading_flatten(tensor, name, args, kwargs)
        result = self.add(kind, label, [tensor], frame.file.location(node), rank=rank, attrs=attrs)
        if name in SPLITTING_METHODS:
            return self._pieces(result, name, [tensor], args, kwargs)
        return result

    def _pieces(
        self,
        result: Tensor,
        name: str,
        split: list[Value],
        args: list[Value],
        kwargs: dict[str, Value],
    ) -> Seq:
        """The tensors chunk(), split() or unbind() hand back: as many as a torch.stack of a
        known list put on the axis unbind() takes apart (`torch.stack(feats).unbind(0)`),
        else an unknown number of them."""
        if name == "unbind" and split and isinstance(split[0], Tensor):
            stacked = self.stacked.get(split[0].node.node_id)
            written = args[0] if args else kwargs.get("dim", Const(0))
            if stacked is not None and stacked[0] == _integer(written):
                return Seq((result,) * stacked[1])
        return Seq((result,) * 2, complete=False, why_incomplete=PIECES)

    def arithmetic(
        self,
        operator: cst.CSTNode,
        left: Value,
        right: Value,
        frame: Frame,
        node: cst.CSTNode,
        inplace: bool,
    ) -> Value:
        kind = _ARITHMETIC.get(type(operator), NodeKind.OTHER)
        label = node_text(operator).strip()
        if kind is NodeKind.ADD:
            return self._sum(
                label,
                [left, right],
                isinstance(operator, (cst.Add, cst.AddAssign)),
                frame.file.location(node),
            )
        both = isinstance(left, Tensor) and isinstance(right, Tensor)
        if not both:
            kind = NodeKind.OTHER  # scaling or shifting by a constant
        rank = ranks.common([rank_of([v]) for v in (left, right) if isinstance(v, Tensor)])
        return self.add(kind, label, [left, right], frame.file.location(node), rank=rank)

    # ---- merges: what a fold through a concatenation or a sum needs to know ------------

    def _sum(
        self, label: str, operands: list[Value], plain: bool, location: SourceLocation | None
    ) -> Tensor:
        """`a + b`, `a += b`, `torch.add(a, b)`, `a.add_(b)` (plain: every term with
        coefficient 1), or a difference; with a constant term it is a plain shift."""
        rank = ranks.common([rank_of([v]) for v in operands if isinstance(v, Tensor)])
        if len(operands) != 2 or not all(isinstance(v, Tensor) for v in operands):
            return self.add(NodeKind.OTHER, label, operands, location, rank=rank)
        return self.add(
            NodeKind.ADD,
            label,
            operands,
            location,
            rank=rank,
            attrs=LayerAttrs(plain_merge=plain, operands=2),
        )

    def _concatenation(
        self,
        qualname: str,
        label: str,
        args: list[Value],
        kwargs: dict[str, Value],
        location: SourceLocation | None,
    ) -> Tensor:
        """torch.cat and friends: the tensors joined, in order, and the axis. A tensor the
        analysis cannot see becomes an unknown operand, never a missing one, so that a
        concatenation is never taken for one of fewer layers."""
        name = qualname.rsplit(".", 1)[-1]
        joined = args[0] if args else kwargs.get("tensors", Unknown(f"{label} without tensors"))
        items = list(joined.items) if isinstance(joined, Seq) else []
        operands: list[Value] = [
            v if isinstance(v, Tensor) else self._unseen(label, v, location) for v in items
        ]
        if not isinstance(joined, Seq) or not joined.complete:
            why = (
                joined.why_incomplete
                if isinstance(joined, Seq)
                else getattr(joined, "reason", "they are not a list the analysis follows")
            )
            operands.append(
                self._unseen(label, Unknown(why or "the list is not fully known"), location)
            )
        written = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis"))
        axis = {"hstack": 1, "vstack": 0}.get(name, 0) if written is None else _integer(written)
        attrs = LayerAttrs(
            axis=axis if name != "stack" else None,
            plain_merge=name != "stack",
            operands=len(operands),
        )
        rank = ranks.common([rank_of([v]) for v in operands])
        if name == "stack":  # a new axis in front of the tensors joined
            rank = rank + 1 if rank is not None else None
        elif name in ("vstack", "dstack") and (rank or 0) < 3:
            rank = None  # these promote tensors of few dimensions
        joined_node = self.add(NodeKind.CAT, label, operands, location, rank=rank, attrs=attrs)
        if name == "stack" and isinstance(joined, Seq) and joined.complete and axis is not None:
            self.stacked[joined_node.node.node_id] = (axis, len(items))
        return joined_node

    def _unseen(self, label: str, value: Value, location: SourceLocation | None) -> Tensor:
        code = getattr(value, "code", None)
        why = getattr(value, "reason", "it is not a tensor the analysis tracks")
        return self.add(
            NodeKind.UNKNOWN,
            "unknown",
            [],
            location,
            rule_code=code if code in rules.RULES else rules.UNKNOWN_CALL.code,
            reason=f"the analysis cannot tell every tensor {label} joins ({why})",
        )

    def note_members(self, container: ModuleInst) -> None:
        """forward() iterates `container`: its members the analysis cannot resolve are
        remembered as its slots (`for lin, norm in zip(self.lins, self.norms)`)."""
        for name, member in container.children.items():
            if isinstance(member, (Unknown, Choice)):
                self.members[id(member)] = (container, name)

    def unknown_call(
        self,
        args: list[Value],
        kwargs: dict[str, Value],
        frame: Frame,
        node: cst.Call,
        reason: str,
        code: str | None,
        callee: Value | None = None,
    ) -> Value:
        inputs = _flatten([*args, *kwargs.values()])
        text = node_text(node.func)
        if code == rules.DYNAMIC_ATTRIBUTE.code:
            # A layer picked by a computed name is called, whatever it is given: the layers
            # it may be are not "never called".
            self.note_dynamic(text)
        if not any(isinstance(v, Tensor) for v in inputs):
            return Unknown(reason, code)
        if code != rules.DYNAMIC_ATTRIBUTE.code:
            self.gaps.append(reason)
        if code == rules.UNRESOLVED_MODULE.code and not text.startswith("self."):
            code = rules.UNKNOWN_CALL.code  # an outside function, not an outside layer
        code = code if code in rules.RULES else rules.UNKNOWN_CALL.code
        location = frame.file.location(node)
        maybe = self._maybe_norm(text, reason, code, inputs, frame, location)
        slot = self.members.get(id(callee)) if maybe is None else None
        if slot is not None:
            # a container's member the analysis cannot resolve, named like a norm where it
            # is held or where it is called (`self.norms`, `norm(x)`)
            container, name = slot
            hint = f"{self._path_label(container)} {text}"
            maybe = self._maybe_norm_in(container, name, reason, code, inputs, location, hint=hint)
        return self._slot_call(
            maybe,
            NodeKind.UNKNOWN,
            text,
            inputs,
            location,
            rule_code=code,
            reason=f"its input passes through `{text}(...)`, which the analysis "
            f"cannot follow ({reason})",
        )

    def outside_function(
        self, inputs: list[Tensor], frame: Frame, node: cst.Call, reason: str
    ) -> Value:
        """A function defined outside the analysed files, handed tensors and constants only:
        no module of the model can run inside it, so it is an op the analysis cannot see,
        which may also hand back a tensor it was given unchanged (a reshape that is a no-op
        on some inputs). What follows it sees either."""
        text = node_text(node.func)
        location = frame.file.location(node)  # not a gap: it can call no module of the model
        op = self.add(NodeKind.OTHER, f"{text}(...)", list(inputs), location)
        return self.merge_tensors(
            [*inputs, op],
            f"what `{text}(...)` does, which the analysis cannot see ({reason})",
            rules.UNKNOWN_CALL.code,
        )

    @staticmethod
    def names_a_norm(text: str) -> bool:
        """Whether code names a layer the way code names norm layers (`self.bn1`)."""
        return NORM_WORDS.search(text) is not None

    def _maybe_norm(
        self,
        text: str,
        reason: str,
        code: str,
        inputs: list[Value],
        frame: Frame,
        location: SourceLocation,
    ) -> LayerCall | None:
        """A slot of the module that may hold a norm layer (`self.bn`, a `norm_layer` it was
        given) applied to a Conv/Linear output, when the analysis cannot resolve what it
        holds: the BatchNorm it may be, which gets a verdict of its own, never silence."""
        name = text[5:] if text.startswith("self.") else ""
        # in a function nested in forward() (`def _inner_forward(x)`), `self` is the
        # enclosing method's, seen through the closure
        inst = frame.self_inst or frame.env.get("self") or (frame.closure or {}).get("self")
        if not name or not isinstance(inst, ModuleInst):
            return None
        # a child named like a norm is one; a child named otherwise whose value comes from
        # something named like a norm may be a whole block built around one
        return self._maybe_norm_in(
            inst, name, reason, code, inputs, location, bool(NORM_WORDS.search(name))
        )

    def _maybe_norm_in(
        self,
        inst: ModuleInst,
        name: str,
        reason: str,
        code: str,
        inputs: list[Value],
        location: SourceLocation | None,
        single: bool = True,
        hint: str = "",
    ) -> LayerCall | None:
        """The BatchNorm slot `name` of `inst` may hold (a child, or a Sequential's member);
        `single`: the slot is one layer, which may be judged as the BatchNorm it may be;
        `hint`: other names the slot goes by."""
        if inst.uid not in self.scopes or not (
            NORM_WORDS.search(name) or NORM_WORDS.search(reason) or NORM_WORDS.search(hint)
        ):
            return None
        if not any(isinstance(v, Tensor) for v in inputs):
            return None
        label = ".".join(f.name for f in self.scopes[inst.uid][1:] if f.name) or ""
        label = f"{label}.{name}" if label else name
        return LayerCall(
            node_id=-1,
            kind=NodeKind.BATCHNORM,
            label=label,
            scope=self.scopes[inst.uid]
            + (ModuleFrame(name, UNRESOLVED_NORM if single else "<unresolved layer>"),),
            module_id=("slot", inst.uid, name),
            location=location,
            rule_code=code,
            reason=f"it may hold a BatchNorm, but the analysis cannot tell what it is: {reason}",
        )

    def _slot_call(
        self,
        maybe: LayerCall | None,
        kind: NodeKind,
        label: str,
        inputs: list[Value],
        location: SourceLocation | None,
        **extra: Unpack[NodeDetails],
    ) -> Tensor:
        """The op a slot the analysis cannot resolve is in the graph; `maybe`, the BatchNorm
        it may hold, is kept with the op's node (bnlint.static.analysis judges it there)."""
        op = self.add(kind, label, inputs, location, **extra)
        if maybe is not None:
            self.unresolved_norms.append(
                replace(maybe, node_id=op.node.node_id, paths=op.node.paths)
            )
        return op

    def merge_tensors(self, options: list[Value], reason: str, code: str) -> Value:
        # A path that hands on a value the analysis did not follow as a tensor is a path
        # all the same: its unknown tensor stands in the join, so that the join is never
        # taken for the paths the analysis could follow alone.
        joined = [
            self._unknown_tensor(
                [],
                f"on one of its paths the analysis did not follow the tensor ({o.reason})",
                None,
                code,
            )
            if isinstance(o, Unknown)
            else o
            for o in options
        ]
        return self.add(
            NodeKind.CONTROL_FLOW,
            "control flow",
            joined,
            None,
            rank=ranks.common([rank_of([v]) for v in joined]),
            rule_code=code,
            reason=f"which tensor reaches it depends on {reason}",
        )

    def _rank_that_runs(self, args: list[Value], attrs: LayerAttrs) -> int | None:
        """The rank of a BatchNorm's input chosen by control flow the analysis cannot
        decide, when every option but one would make the BatchNorm raise (a BatchNorm1d
        takes 2-D or 3-D input, a BatchNorm2d 4-D): the model runs only with that one."""
        if not args or not isinstance(args[0], Tensor):
            return None
        options = {a.attrs.rank for a in self.graph.alternatives(args[0].node)}
        running = {rank for rank in options if attrs.takes_input_of_rank(rank)}
        return running.pop() if len(running) == 1 else None

    def split(self, tensor: Tensor, count: int) -> list[Value]:
        piece = self.add(NodeKind.RESHAPE, "unpacking", [tensor], None)
        return [piece] * count


_MAY_BE_LAYER_OUTPUT = frozenset({*FOLD_TARGETS, NodeKind.UNKNOWN, NodeKind.CONTROL_FLOW})


def layer_attrs(inst: ModuleInst, cls: TorchClass) -> LayerAttrs:
    args = inst.layer_args

    def const(name: str) -> object:
        value = args.get(name)
        return value.value if isinstance(value, Const) else None

    def integer(name: str) -> int | None:
        value = const(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def flag(name: str) -> bool | None:
        value = const(name)
        if isinstance(value, bool):
            return value
        if name == "bias" and isinstance(value, (int, type(None))) and name in args:
            return bool(value)
        return None

    derived = inst.weight_derived
    why_derived = derived.why if derived is not None else None
    kind = cls.kind
    if kind is NodeKind.LINEAR:
        return LayerAttrs(
            in_channels=integer("in_features"),
            out_channels=integer("out_features"),
            bias=flag("bias"),
            type_name=inst.class_name,
            weight_derived=why_derived,
            weight_derived_certain=derived is None or derived.certain,
        )
    if kind is NodeKind.BATCHNORM:
        return LayerAttrs(
            num_features=integer("num_features"),
            spatial_dims=cls.spatial_dims,
            affine=flag("affine"),
            track_running_stats=flag("track_running_stats"),
            type_name=inst.class_name,
        )
    return LayerAttrs(
        in_channels=integer("in_channels"),
        out_channels=integer("out_channels"),
        spatial_dims=cls.spatial_dims,
        groups=integer("groups"),
        pads=_pads(args),
        bias=flag("bias"),
        type_name=inst.class_name,
        weight_derived=why_derived,
        weight_derived_certain=derived is None or derived.certain,
    )


def _leading_flatten(
    tensor: Tensor, name: str, args: list[Value], kwargs: dict[str, Value]
) -> LayerAttrs:
    """A reshape that may lay a Linear's features out on axis 1 of a 2-D tensor
    (LayerAttrs.flattens_leading), which a BatchNorm1d after it normalises, or the axes it
    moves when it only reorders them (LayerAttrs.moves_axes)."""
    made_by = tensor.node
    features = made_by.attrs.out_channels if made_by.kind is NodeKind.LINEAR else None
    flattens = ranks.flattens_leading(name, args, kwargs, made_by.attrs.rank, features)
    if flattens is None:
        # or one that only reorders axes, which may bring a layer's channels to axis 1
        reordered = ranks.reordered_axes(name, args, kwargs, made_by.attrs.rank)
        if reordered is None:
            return LayerAttrs()
        return LayerAttrs(moves_axes=reordered[0], rank=reordered[1])
    return LayerAttrs(flattens_leading=flattens, rank=2 if flattens else None)


def _resampling(mode: Value | None) -> LayerAttrs:
    """A resampling's facts: whether a per-channel scale and shift pass through it (its mode
    averages within a channel), None when the mode is not known."""
    if isinstance(mode, Const) and isinstance(mode.value, str):
        return LayerAttrs(keeps_channel_affine=mode.value in AVERAGING_MODES)
    return LayerAttrs()


# F.conv*d and F.batch_norm parameters in order, for calls that name them
_CONV_PARAMS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_BATCH_NORM_PARAMS = ("input", "running_mean", "running_var", "weight", "bias")


def _called_with(
    attrs: LayerAttrs, inst: ModuleInst, args: list[Value], kwargs: dict[str, Value]
) -> LayerAttrs:
    """A Conv subclass's own F.conv*(x, self.weight, bias, stride, padding, dilation,
    groups): the padding and groups that call uses, not the constructor's."""
    groups = _integer(kwargs.get("groups", args[6] if len(args) > 6 else Const(1)))
    padding = kwargs.get("padding", args[4] if len(args) > 4 else Const(0))
    pads = _pads(
        {"padding": padding, "kernel_size": inst.layer_args.get("kernel_size", Const(None))}
    )
    return replace(attrs, pads=pads, groups=groups)


def _pads(args: dict[str, Value]) -> bool | None:
    """Whether the convolution adds zeros around its input. Reflected, replicated or
    circular padding copies input values instead: a per-channel scale and shift before the
    convolution reaches the padding as it reaches the rest, so such padding blocks no fold."""
    mode = args.get("padding_mode", Const("zeros"))
    if not isinstance(mode, Const):
        return None
    if mode.value != "zeros":
        return False
    padding = args.get("padding")
    if not isinstance(padding, (Const, Seq)):
        return None
    if isinstance(padding, Seq):
        values = [p.value if isinstance(p, Const) else None for p in padding.items]
        if None in values or not padding.complete:
            return None
        return any(v != 0 for v in values)
    value = padding.value
    if value == "valid":
        return False
    if value == "same":
        kernel = args.get("kernel_size")
        if isinstance(kernel, Const) and isinstance(kernel.value, int):
            return kernel.value > 1
        if isinstance(kernel, Seq) and all_const(kernel.items):
            return any(k.value > 1 for k in kernel.items)
        return None
    if isinstance(value, int):
        return value != 0
    if isinstance(value, tuple):
        return any(v != 0 for v in value)
    return None


def _describe_option(option: Value) -> str:
    if isinstance(option, ModuleInst):
        return option.cls.qualname.rsplit(".", 1)[-1]
    if isinstance(option, Const) and option.value is None:
        return "None"
    return "something not known"


def _flatten(values: list[Value]) -> list[Value]:
    flat: list[Value] = []
    for value in values:
        if isinstance(value, Seq):
            flat.extend(_flatten(list(value.items)))
        elif isinstance(value, Mapping):
            flat.extend(_flatten(list(value.items.values())))
        elif isinstance(value, Choice):
            flat.extend(_flatten(list(value.options)))
        else:
            flat.append(value)
    return flat


def _tensors(values: list[Value]) -> list[Tensor]:
    return [v for v in _flatten(values) if isinstance(v, Tensor)]


def rank_of(values: list[Value]) -> int | None:
    """The rank of the first of `values`, when it is a tensor whose rank is known."""
    return values[0].node.attrs.rank if values and isinstance(values[0], Tensor) else None


def _integer(value: Value) -> int | None:
    if (
        isinstance(value, Const)
        and isinstance(value.value, int)
        and not isinstance(value.value, bool)
    ):
        return value.value
    return None


def _alpha_is_one(kwargs: dict[str, Value]) -> bool:
    alpha = kwargs.get("alpha")
    return alpha is None or (isinstance(alpha, Const) and alpha.value == 1)


def _is_leaf(inst: ModuleInst, forward: FoundMethod | None) -> bool:
    """A layer the builder records as one node, rather than a module whose forward() (its
    own or a torch container's) it follows."""
    if inst.torch_base.container is not None:
        return False
    has_own_forward = forward is not None and forward[1] is not None
    return not has_own_forward or inst.torch_base.kind in _LAYER_KINDS


def _path(scope: tuple[ModuleFrame, ...]) -> tuple[str, ...]:
    return tuple(frame.name for frame in scope)


def _unknown_before(inst: ModuleInst, position: int) -> bool:
    """Modules the analysis does not know may run before the child at `position` of a
    Sequential (or at its end, when `position` is the number of children)."""
    if not inst.incomplete:
        return False
    return inst.unknown_at is None or position in inst.unknown_at
