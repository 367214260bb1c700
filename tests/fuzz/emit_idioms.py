"""The gated constructs (program.GATED_CONSTRUCTS) as source: how model zoos write norm
registries, lambdas, config dataclasses, dimension-indexed tuples, zip loops over forward()
arguments, match/case, __call__ overrides, checkpointing switches, and layers whose options
or input rank come from code outside the analysed files.

A mixin of the emitter (tests.fuzz.emit._Emitter): the methods use its helpers (chain,
register, child_expr, ...). Hidden choices call tests/fuzz/outside.py, imported under the
name OUTSIDE; a program that makes one runs in two variants (Emitted.variants).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tests.fuzz.outside import HIDDEN_BITS
from tests.fuzz.program import Leaf, Node

if TYPE_CHECKING:
    from tests.fuzz.emit import _Class, _Flow

OUTSIDE = "bnlint_fuzz_outside"
_SPATIAL_1D = 6  # the length of a Conv1d program's input (emit.SPATIAL[1])


class IdiomEmitter:
    """Mixed into tests.fuzz.emit._Emitter; see that class for the helpers used here."""

    # --- what the program imports and defines ------------------------------------------------

    def need(self, line: str) -> None:
        """An import line the module must have (written once, after the usual header)."""
        if line not in self.imports:
            self.imports.append(line)

    def hidden_choice(self, function: str) -> int:
        """The key of a new hidden choice made by `function` of the outside module."""
        self.need(f"from {OUTSIDE} import {function}")
        key = next(self.hidden)
        # Every combination of the choices is run (tests/fuzz/outside.py), up to three.
        self.variants = 2 ** min(key + 1, HIDDEN_BITS)
        return key

    # --- layer constructors --------------------------------------------------------------------

    def hidden_conv(self, ctor: str, ch: str, out: int, options: list[str], style: str) -> str:
        """A Conv whose kernel and padding come from outside: **options or *args."""
        if style == "kwargs":
            key = self.hidden_choice("conv_options")
            return f"{ctor}({', '.join([ch, str(out), f'**conv_options({key})', *options])})"
        key = self.hidden_choice("conv_args")
        return f"{ctor}({', '.join([ch, str(out), f'*conv_args({key})', *options])})"

    def conv_by_config(self, base: str) -> str:
        """A Conv whose class a setting from outside picks (EfficientNet ports'
        get_same_padding_conv2d): one subclass pads its input itself and convolves without
        padding, the other convolves as torch does; both with a forward() of their own."""
        key = self.hidden_choice("choose")
        dims = int(base[-2])
        same = self.define(
            f"SamePad{base[3:]}",
            f'''class SamePad{base[3:]}({base}):
    """Pads its input itself, then convolves with its own weight unchanged."""

    def __init__(self, *args, padding=0, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.same = padding

    def forward(self, x):
        if self.same:
            x = F.pad(x, [self.same] * {2 * dims})
        return F.conv{dims}d(x, self.weight, self.bias, self.stride, 0, self.dilation,
                          self.groups)''',
        )
        eager = self.define(
            f"Eager{base[3:]}",
            f'''class Eager{base[3:]}({base}):
    """Convolves as torch does, in a forward() of its own."""

    def forward(self, x):
        return F.conv{dims}d(x, self.weight, self.bias, self.stride, self.padding,
                          self.dilation, self.groups)''',
        )
        picker = self.define(
            f"conv{dims}d_class",
            f"""def conv{dims}d_class(same_padding):
    if same_padding:
        return {same}
    else:
        return {eager}""",
        )
        return f"{picker}(choose({key}))"

    def bn_own_forward(self, base: str) -> str:
        """A BatchNorm subclass whose forward calls F.batch_norm, then an activation or not."""
        name = f"BNAct{base[len('nn.BatchNorm') :]}"
        return self.define(
            name,
            f'''class {name}({base}):
    """BatchNorm and an activation in one module, with its own forward."""

    def __init__(self, num_features, act=False, **kwargs):
        super().__init__(num_features, **kwargs)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                         False, 0.0, self.eps)
        return self.act(x)''',
        )

    # --- how a child class gets its norm layer (node:child:<style>) --------------------------

    def norm_signature(self, cls: _Class) -> tuple[str, list[str]]:
        """The constructor's parameters after `cin`, and the lines that bind `norm_layer`."""
        k = 1 if cls.linear else self.dims
        bn = f"nn.BatchNorm{k}d"
        style = cls.norm_style
        default = ["        if norm_layer is None:", f"            norm_layer = {bn}"]
        if style == "registry_dict":
            self.define(
                "NORM_LAYERS",
                "NORM_LAYERS = {\n"
                + "".join(
                    f'    "batch{d}d": nn.BatchNorm{d}d,\n'
                    f'    "instance{d}d": nn.InstanceNorm{d}d,\n'
                    for d in (1, 2, 3)
                )
                + "}",
            )
            return f', norm="batch{k}d"', ["        norm_layer = NORM_LAYERS[norm]"]
        if style == "registry_object":
            self.define_registry()
            return f', norm="batch", dims={k}', ["        norm_layer = NORM[norm, dims]"]
        if style == "lambda_default":
            factory = self.define(
                f"bn{k}d_factory",
                f'''def bn{k}d_factory(momentum=0.1):
    """A layer-building lambda."""
    return lambda channels, **kwargs: {bn}(channels, momentum=momentum, **kwargs)''',
            )
            return f", norm_layer={factory}()", []
        if style == "dataclass":
            self.need("from dataclasses import dataclass")
            self.define(
                "NormConfig",
                """@dataclass
class NormConfig:
    kind: str = "batch"
    momentum: float = 0.1""",
            )
            return ", cfg: NormConfig = NormConfig()", [
                '        if cfg.kind == "batch":',
                f"            norm_layer = partial({bn}, momentum=cfg.momentum)",
                "        else:",
                f"            norm_layer = nn.InstanceNorm{k}d",
            ]
        if style == "enum":
            self.need("from enum import Enum, auto")
            self.define("NormType", 'NormType = Enum("NormType", "Batch BatchZero Instance")')
            self.define(
                "NormKind",
                """class NormKind(Enum):
    BATCH = auto()
    INSTANCE = auto()""",
            )
            return ", norm_type=NormType.Batch, kind=NormKind.BATCH", [
                "        batch = norm_type in (NormType.Batch, NormType.BatchZero)",
                "        if batch and kind is NormKind.BATCH:",
                f"            norm_layer = {bn}",
                "        else:",
                f"            norm_layer = nn.InstanceNorm{k}d",
            ]
        if style == "dim_tuple":
            lines = [
                "        norm_layer = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1]"
            ]
            if not cls.linear:
                lines.append("        conv_layer = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]")
            return f", dims={k}", lines
        if style == "class_checks":
            self.define_resolver()
            return f", norm_layer={bn}", ["        norm_layer = resolve_norm(norm_layer)"]
        if style == "partial_func":
            return ", norm_layer=None", default + [
                "        if isinstance(norm_layer, partial):",
                "            norm_layer = norm_layer.func",
            ]
        return ", norm_layer=None", default

    def norm_arguments(self, cls: _Class | None, style: str, linear: bool) -> list[str]:
        """What a caller passes to a child class of `style` (besides `cin`)."""
        k = 1 if linear else self.dims
        bn = f"nn.BatchNorm{k}d"
        pick = self.rng.random()
        if style == "registry_dict":
            return [] if pick < 0.5 else [f'norm="batch{k}d"']
        if style == "registry_object":
            return [] if pick < 0.3 else [f'"batch", {k}'] if pick < 0.6 else [f"dims={k}"]
        if style == "lambda_default":
            return [] if pick < 0.6 else [f"norm_layer=bn{k}d_factory(0.05)"]
        if style == "lambda_passed":
            return [f"norm_layer=lambda channels, **kwargs: {bn}(channels, **kwargs)"]
        if style == "dataclass":
            return (
                []
                if pick < 0.4
                else ["cfg=NormConfig(momentum=0.05)"]
                if pick < 0.7
                else ['cfg=NormConfig(kind="batch")']
            )
        if style == "dim_tuple":
            return [] if pick < 0.3 else [str(k)] if pick < 0.6 else [f"dims={k}"]
        if style == "enum":
            if pick < 0.4:
                return []
            return ["norm_type=NormType.BatchZero"] if pick < 0.7 else ["kind=NormKind.BATCH"]
        if style == "class_checks":
            # A class, its name, a partial of it, or a subclass: each check decides one.
            if pick < 0.25:
                return [f"norm_layer={bn}"]
            if pick < 0.5:
                return [f'norm_layer="BatchNorm{k}d"']
            if pick < 0.75:
                return [f"norm_layer=partial({bn}, momentum=0.05)"]
            plain = self.define(
                f"PlainBatchNorm{k}d",
                f"class PlainBatchNorm{k}d({bn}):\n"
                f'    """A subclass that keeps torch\'s forward."""',
            )
            return [f"norm_layer={plain}"]
        if style == "partial_func":
            return (
                [f"norm_layer=partial({bn}, momentum=0.05)"] if pick < 0.7 else [f"norm_layer={bn}"]
            )
        raise AssertionError(style)

    def define_registry(self) -> None:
        self.define(
            "LayerRegistry",
            '''class LayerRegistry:
    """Layer factories registered by name, looked up by [name, spatial dims]."""

    def __init__(self):
        self._makers = {}

    def register(self, name):
        def add(fn):
            self._makers[name] = fn
            return fn
        return add

    def __getitem__(self, key):
        name, dims = key
        return self._makers[name](dims)


NORM = LayerRegistry()


@NORM.register("batch")
def _batch_norm(dims):
    return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1]


@NORM.register("instance")
def _instance_norm(dims):
    return (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[dims - 1]''',
        )

    def define_resolver(self) -> None:
        self.define(
            "resolve_norm",
            '''_NORM_BY_NAME = {
    "batchnorm1d": nn.BatchNorm1d, "batchnorm2d": nn.BatchNorm2d, "batchnorm3d": nn.BatchNorm3d}


def resolve_norm(norm_layer):
    """A norm class from a class, a subclass of one, its name, or a partial of either."""
    assert isinstance(norm_layer, (type, str, partial))
    if isinstance(norm_layer, partial):
        norm_layer = norm_layer.func
    if isinstance(norm_layer, str):
        return _NORM_BY_NAME[norm_layer.lower()]
    if norm_layer in {nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d}:
        return norm_layer
    if issubclass(norm_layer, nn.modules.batchnorm._BatchNorm):
        return _NORM_BY_NAME[norm_layer.__name__.lower().replace("plain", "")]
    raise TypeError(norm_layer)''',
        )

    # --- nodes ---------------------------------------------------------------------------------

    def node_rank(self, cls, out, indent, flow, node) -> _Flow:
        """Linear and BatchNorm1d on a tensor of the style's rank; back to the flow's shape."""
        c, v, t = flow.c, flow.var, f"t{cls.number()}"
        last, channels = (_SPATIAL_1D, c) if node.style == "conv1d" else (c, c)
        if node.style == "hidden":
            key = self.hidden_choice("as_tokens")
            self.rank_unknown = True
            self.need(f"from {OUTSIDE} import from_tokens")
            out.append(f"{indent}{t} = as_tokens({v}, {key})")
        elif node.style == "tokens":
            out.append(f"{indent}{t} = {v}.unsqueeze(1).repeat(1, {c}, 1)")
        elif node.style == "flatten":
            text = (
                f"{v}.unsqueeze(-1).flatten(1)"
                if self.rng.random() < 0.5
                else f"{v}.view({v}.shape[0], -1)"
            )
            out.append(f"{indent}{t} = {text}")
        else:
            out.append(f"{indent}{t} = {v}")
        hidden = node.style == "hidden"  # t is what as_tokens returned, untouched
        for leaf in node.chains[0]:
            if not isinstance(leaf, Leaf):
                continue
            if leaf.kind == "linear":
                attr = self.register(cls, "fc", f"nn.Linear({last}, {last})", [])
                if node.style in ("tokens", "conv1d"):
                    self.marks.append((cls.name, attr))  # its rank is not the analysis's
            elif leaf.kind == "bn":
                attr = self.register(cls, "bn", f"nn.BatchNorm1d({channels})", [])
                if hidden:  # its input is unknown to the analysis, by design
                    self.marks.append((cls.name, attr))
            else:
                attr = ""
                out.append(f"{indent}{t} = F.relu({t})")
            if attr:
                out.append(f"{indent}{t} = self.{attr}({t})")
            hidden = False
        var = self.fresh(cls, flow)
        back = {"hidden": f"from_tokens({t})", "tokens": f"{t}.mean(1)"}.get(node.style, t)
        out.append(f"{indent}{var} = {back}")
        return replace(self.new(var, c, flow.linear), hidden=node.style == "hidden")

    def node_branchdict(self, cls, out, indent, flow, node) -> _Flow:
        """Layers collected in an OrderedDict, a dict or a list, one more (a ReLU) added on a
        hidden branch; a Sequential (or a ModuleDict forward() iterates) of them."""
        if not node.chains[0]:  # the shrinker emptied it
            return flow
        parts, before, after = self.seq_parts(cls, node.chains[0], flow)
        n, key = next(self.names), self.hidden_choice("choose")
        layers = f"layers{n}"
        at = self.rng.randint(1, len(parts))
        lines = [
            {"list": f"{layers} = []", "ordered": f"{layers} = OrderedDict()"}.get(
                node.style, f"{layers} = {{}}"
            )
        ]
        for index, (label, expr) in enumerate(parts + [("", "")]):
            if index == at:
                add = (
                    f"{layers}.append(nn.ReLU())"
                    if node.style == "list"
                    else f'{layers}["extra"] = nn.ReLU()'
                )
                lines += [f"if choose({key}):", f"    {add}"]
            if expr:
                lines.append(
                    f"{layers}.append({expr})"
                    if node.style == "list"
                    else f'{layers}["{label}"] = {expr}'
                )
        if node.style == "moduledict":
            attr = self.register(cls, "parts", f"nn.ModuleDict({layers})", before + lines)
            return self.loop(cls, out, indent, flow, f"self.{attr}.values()", after)
        built = f"nn.Sequential(*{layers})" if node.style == "list" else f"nn.Sequential({layers})"
        attr = self.register(cls, "body", built, before + lines)
        return self.call(cls, out, indent, flow, attr, after)

    def node_zip(self, cls, out, indent, flow, node) -> _Flow:
        """A child applying one column of layers to each tensor of a list argument, with
        zip over its ModuleLists and that list; its outputs summed or concatenated."""
        from tests.fuzz.emit import _Class  # the mixin's host module, which imports this one

        name = f"Zip{next(self.names)}"
        child = _Class(name, flow.c, norm=False, reuse=True, linear=flow.linear)
        inner = self.new("f", flow.c, flow.linear)
        inner.aliased = True  # the list holds the caller's tensors
        columns = []
        for position, stage in enumerate(node.chains[0]):
            expr, before, inner_after = self.module_expr(child, stage, inner)
            child.init.extend(f"        {line}" for line in before)
            copies = ", ".join([expr] * node.count)
            child.init.append(f"        self.col{position} = nn.ModuleList([{copies}])")
            columns.append(f"m{position}")
            inner = inner_after
        applied = "f"
        for column in columns:
            applied = f"{column}({applied})"
        names = ", ".join(columns + ["f"])
        zipped = ", ".join([f"self.col{p}" for p in range(len(columns))] + ["feats"])
        loop = (
            f"for {names} in zip({zipped}):"
            if node.style == "arg"
            else f"for i, ({names}) in enumerate(zip({zipped})):"
        )
        child.forward = [
            "        outs = []",
            f"        {loop}",
            f"            outs.append({applied})",
            "        return outs",
        ]
        if node.style == "index":  # RT-DETR's input projections
            indexed = "f"
            for position in range(len(columns)):
                indexed = f"self.col{position}[i]({indexed})"
                # which member a computed index picks is undecidable (XBN201)
                self.marks.append((name, f"col{position}"))
            child.forward = [f"        return [{indexed} for i, f in enumerate(feats)]"]
        self.blocks.append(self.render_class(child, "nn.Module", "cin", inputs="feats"))
        attr = self.register(cls, "heads", f"{name}({self.channels(cls, flow.c)})", [])
        scales = ["1.0", "0.5", "2.0"][: node.count]
        outs, v = f"outs{cls.number()}", flow.var
        # The list as a literal, a comprehension, or unbound from a stack: its length is
        # plain to see only in the first.
        feats = self.rng.choice(
            (
                f"[{', '.join([v] + [f'{v} * {s}' for s in scales[1:]])}]",
                f"[{v} * s for s in ({', '.join(scales)},)]",
                f"list(torch.stack([{', '.join(f'{v} * {s}' for s in scales)}]).unbind(0))",
            )
        )
        out.append(f"{indent}{outs} = self.{attr}({feats})")
        var = self.fresh(cls, flow)
        if self.rng.random() < 0.5:
            out.append(f"{indent}{var} = {' + '.join(f'{outs}[{i}]' for i in range(node.count))}")
            return self.new(var, inner.c, flow.linear)
        out.append(f"{indent}{var} = torch.cat({outs}, 1)")
        return self.new(var, inner.c * node.count, flow.linear)

    def node_match(self, cls, out, indent, flow, node) -> _Flow:
        """The chain in one case of a match on a constant set in __init__; count 1: that
        case is taken, 0: another one is."""
        from tests.fuzz.emit import retarget

        mode = f"mode{cls.number()}"
        cls.init.append(f'        self.{mode} = "{"a" if node.count else "c"}"')
        var = flow.var if cls.reuse else f"g{cls.number()}"
        if var != flow.var:
            out.append(f"{indent}{var} = {flow.var}")
        pattern = '"a" | "b"' if node.style == "or" else '"a"'
        out += [f"{indent}match self.{mode}:", f"{indent}    case {pattern}:"]
        saved = cls.reuse, cls.reuse_var
        cls.reuse, cls.reuse_var = True, var
        body: list[str] = []
        inner = self.chain(
            cls, body, indent + "        ", flow.to(var), retarget(node.chains[0], flow.c)
        )
        if inner.c != flow.c:
            inner = self.project(cls, body, indent + "        ", inner, flow.c)
        cls.reuse, cls.reuse_var = saved
        out.extend(body or [f"{indent}        pass"])
        out += [f"{indent}    case _:", f"{indent}        {var} = F.relu({var})"]
        if node.count:
            return inner.to(var)
        return self.new(var, flow.c, flow.linear)

    def node_dunder(self, cls, out, indent, flow, node) -> _Flow:
        expr, before, after = self.module_expr(cls, node, flow)
        attr = self.register(cls, "wrapper", expr, before)
        return self.call(cls, out, indent, flow, attr, after)

    def node_ntuple(self, cls, out, indent, flow, node) -> _Flow:
        """Blocks added in a loop over zip(as_tuple(n)(block), widths), as timm-style
        stage builders do; forward() calls each by name."""
        self.need("import collections.abc")
        self.need("import itertools")
        self.define(
            "as_tuple",
            '''def as_tuple(n):
    """A function that turns a value into an n-tuple (an iterable into a tuple)."""
    def parse(x):
        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(itertools.repeat(x, n))
    return parse''',
        )
        expr, before, after = self.child_expr(cls, node.chains[0], "plain", flow, flow.c)
        block = expr.split("(")[0]
        n, stage = node.count, f"stage{cls.number()}_"
        given = block if node.style == "repeat" else f"[{', '.join([block] * n)}]"
        widths = f"({', '.join([self.channels(cls, flow.c)] * n)},)"
        cls.init.extend(f"        {line}" for line in before)
        cls.init += [
            f"        for i, (block_fn, width) in enumerate(zip(as_tuple({n})({given}), "
            f"{widths})):",
            f'            self.add_module(f"{stage}{{i}}", block_fn(width))',
        ]
        for index in range(n):
            flow = self.call(cls, out, indent, flow, f"{stage}{index}", after)
        return flow

    def node_condition(self, cls, out, indent, flow, node) -> _Flow:
        """A stage __init__ builds under a condition on a value from outside the analysed
        files (an Identity otherwise) and forward() runs under the same condition, written
        as zoos write it: the value itself, a comparison with a constant, or a flag set to
        True and False on the two paths; or built for certain, under a flag another method
        may switch off ("switch")."""
        from tests.fuzz.emit import _may_change_channels, retarget

        chain = retarget(node.chains[0], flow.c)
        changers = [s for s in chain if _may_change_channels(s)]
        if changers and not isinstance(changers[-1], Leaf):  # keep the channels either way
            chain += (Leaf("linear" if flow.linear else "conv", out=flow.c),)
        expr, before, after = self.seq_expr(cls, Node("seq", (chain,), style="args"), flow)
        n = cls.number()
        attr, var = f"stage{n}", self.fresh(cls, flow)
        if node.style == "switch":
            # built for certain; a method may switch it off after __init__ (prune_to_tap())
            cls.init.extend(f"        {line}" for line in before)
            cls.init += [f"        self.{attr} = {expr}", f"        self.use{n} = True"]
            cls.methods.append([f"    def skip_stage{n}(self):", f"        self.use{n} = False"])
            out += [
                f"{indent}if self.use{n}:",
                f"{indent}    {var} = self.{attr}({flow.var})",
                f"{indent}else:",
                f"{indent}    {var} = {flow.var}",
            ]
            return after.to(var)
        if node.style == "compare":
            key = self.hidden_choice("ratio")
            setup, test = [f"self.ratio{n} = ratio({key})"], f"self.ratio{n} != 1"
            built_test = f"ratio{n} != 1"
            setup.append(f"ratio{n} = self.ratio{n}")
        else:
            key = self.hidden_choice("choose")
            setup, test, built_test = [f"use{n} = choose({key})"], f"self.use{n}", f"use{n}"
            if node.style == "truth":
                setup.append(f"self.use{n} = use{n}")
        built = [f"self.{attr} = {expr}"]
        if node.style == "flag":
            built.append(f"self.use{n} = True")
        kept = [f"self.{attr} = nn.Identity()"]
        if node.style == "flag":
            kept.append(f"self.use{n} = False")
        cls.init.extend(f"        {line}" for line in before + setup)
        cls.init.append(f"        if {built_test}:")
        cls.init.extend(f"            {line}" for line in built)
        cls.init.append("        else:")
        cls.init.extend(f"            {line}" for line in kept)
        out += [
            f"{indent}if {test}:",
            f"{indent}    {var} = self.{attr}({flow.var})",
            f"{indent}else:",
            f"{indent}    {var} = {flow.var}",
        ]
        return after.to(var)

    def node_ckpt(self, cls, out, indent, flow, node) -> _Flow:
        """A Sequential called through torch.utils.checkpoint or directly, switched by
        self.grad_checkpointing (False: the direct call runs)."""
        self.need("from torch.utils.checkpoint import checkpoint")
        if "grad_checkpointing" not in cls.flags:
            cls.flags.add("grad_checkpointing")
            cls.init.append("        self.grad_checkpointing = False")
            cls.methods.append(
                [
                    "    def set_grad_checkpointing(self, enable=True):",
                    "        self.grad_checkpointing = enable",
                ]
            )
        expr, before, after = self.seq_expr(cls, Node("seq", node.chains, style="args"), flow)
        attr = self.register(cls, "stages", expr, before)
        var = self.fresh(cls, flow)
        out += [
            f"{indent}if self.grad_checkpointing:",
            f"{indent}    {var} = checkpoint(self.{attr}, {flow.var}, use_reentrant=False)",
            f"{indent}else:",
            f"{indent}    {var} = self.{attr}({flow.var})",
        ]
        return after.to(var)
