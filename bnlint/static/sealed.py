"""Whether a file's verdicts can depend on the files that use it, decided from its own syntax.

A file's context (bnlint.static.callers) holds every file that can build its classes, because
a caller can hand them a norm layer (`Block(norm_layer=nn.BatchNorm2d)`), subclass them, or
call a function of the file that builds one at its lines. A file none of that can happen to
is *sealed*: its report is its own analysis, whoever uses it, and checking it alone costs
about its parse instead of an analysis of every model that uses it (timm's `layers/drop.py`,
whose DropPath every network builds, had a context of 83 files).

Sealed means, conservatively:
- every import is of torch, the standard library's pure helpers or numpy, and no name the
  file reaches in them says "norm" (nor is private): nothing it can call builds a BatchNorm;
  or of a project definition that is *closed* (below), wherever the rest of its file is not;
- its classes derive from nn.Module, from torch layers that keep no modules, or from its own
  sealed classes, with no metaclass;
- a value a caller passes in (a parameter, and whatever is computed from it) is never called,
  is the receiver only of tensor methods, and is never kept where a module would be
  registered or looked up later: in a container of an instance, or handed to code that
  could call it (`map`, `functools.partial`, a hook, a decorator);
- a caller's value filed in the module's own state (a registry, a global flag) is harmless
  until the file calls it: every function reads that state as a caller's value, and what a
  function hands back of it (`return _REGISTRY[name]`) is a caller's value where it is
  called, in this file or in one that imports the function;
- every name it calls is its own, torch's, or a builtin that runs nothing of a caller's;
- it builds no Conv/Linear whose bias is not written False: a redundant bias (XBN401) is
  reported where the layer is built, and depends on whether a caller's BatchNorm follows it.

A top-level definition is *closed* when the same holds of its own code and of every
definition it reads: `register_notrace_module(cls)` of a file that also hands models to a
library it cannot read only files what it is given, and a layer decorated with it stays
sealed.

That no class of another file derives from the file's classes (a subclass could override
what its methods call) is the engine's part: it reads the class headers of the context.

Known limit: a value the instance keeps as an attribute (`self.drop_prob = drop_prob`) is
taken for a plain value as long as the file never calls it or hands it on. A caller that
passed a module there (a BatchNorm as a drop rate, which the file would then multiply by)
would have it registered as a submodule the report on a sealed file does not list.
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import re
from dataclasses import dataclass

from bnlint.static.caller_flow import (
    FILING_METHODS,
    FunctionFlow,
    Imported,
    ModuleScope,
    ProjectModules,
    Provenance,
    bound_by,
    statement_nodes,
)


@dataclass(frozen=True)
class Closure:
    """The names a file defines at its top level that let no caller in, even where the rest
    of the file does (a file that also hands models to a library it cannot read may define
    a `register(fn)` that only files what it is given): `closed`, of which `hands_back` may
    return what a caller filed; and `caller_state`, the module state callers' values reach."""

    closed: frozenset[str] = frozenset()
    hands_back: frozenset[str] = frozenset()
    caller_state: frozenset[str] = frozenset()
    layers: frozenset[str] = frozenset()  # its Conv/Linear layer classes
    sealed: bool = False  # the whole file: no caller's value gets in anywhere

    def imported(self, name: str) -> Imported:
        if name in self.caller_state:
            provenance = Provenance.CALLER_STATE
        elif name in self.hands_back:
            provenance = Provenance.HANDS_BACK
        else:
            provenance = Provenance.CLOSED if name in self.closed else Provenance.OPEN
        return Imported(provenance, name in self.layers)


@dataclass(frozen=True)
class KeptClosure:
    """A file's closure as an earlier run computed it, with everything it was computed from
    besides the file's code: the answer the project gave for each name the file imports.
    The same code (the same bytes, or the same tree) and the same answers give the same
    closure: it names names, never lines."""

    digest: str
    tree: str  # tree_digest of its parse: the same code with other comments or lines
    answers: tuple[tuple[str, Imported], ...]
    closure: Closure


def sealed(source: bytes, project: ProjectModules | None = None) -> bool:
    """Whether no caller of the file can change its verdicts (beyond subclassing its
    classes, which the caller's text shows). `project` says what the project modules it
    imports give it: what is closed runs nothing of a caller's either."""
    return closure(source, project).sealed


def closure(source: bytes, project: ProjectModules | None = None) -> Closure:
    """The file's top-level names as an importer gets them, and whether the whole file is
    sealed (nothing closed, not sealed, when the file does not parse or nests an expression
    deeper than the check follows)."""
    return closure_of(parsed(source), project)


def parsed(source: bytes) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None


def closure_of(tree: ast.Module | None, project: ProjectModules | None = None) -> Closure:
    """`closure` of a file CPython parsed to `tree` (None: it did not parse)."""
    if tree is None:
        return Closure()
    try:
        return _closure(tree, project or _no_project)
    except (ValueError, RecursionError):
        return Closure()


def tree_digest(tree: ast.Module | None) -> str:
    """A digest of the code as parsed: comments, blank lines and positions left out."""
    if tree is None:
        return ""
    try:
        return hashlib.blake2b(ast.dump(tree).encode(), digest_size=16).hexdigest()
    except RecursionError:
        return ""


def _no_project(name: str) -> Imported:
    return Imported(Provenance.OUTSIDE)


def _closure(tree: ast.Module, project: ProjectModules) -> Closure:
    scope = ModuleScope(tree, project)
    if "*" in scope.unsafe_names:
        return Closure(layers=frozenset(scope.layer_classes))  # any name may be the star's
    statements = tree.body
    starts = [_first_line(statement) for statement in statements]
    binding = _binding_statements(statements)
    reaching: list[ast.AST] = []
    biased: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and scope.reaches_unsafe(node):
            reaching.append(node)
        elif isinstance(node, ast.Call) and scope.builds_biased_layer(node):
            # XBN401 on its bias is reported here, and depends on what a caller puts after
            # it: the file's own report, not what an importer gets
            biased.append(node)
    found = [
        *(node for node in scope.unsafe_imports if node not in statements),
        *(node for node in scope.class_nodes if not scope.sealed_bases(node)),
        *reaching,
        *_body_openings(scope, tree, binding),
    ]
    opened = {bisect.bisect_right(starts, _first_line(node)) - 1 for node in found}
    module_names = set(binding) | set(scope.imported)
    reads = [
        {n.id for n in ast.walk(statement) if isinstance(n, ast.Name)} & module_names
        for statement in statements
    ]
    closed = {name for name, places in binding.items() if not opened.intersection(places)}
    changed = True
    while changed:  # what a closed definition reads must be closed (or a safe import) too
        changed = False
        for name in sorted(closed):
            if any(
                read in scope.unsafe_names or (read in binding and read not in closed)
                for place in binding[name]
                for read in reads[place]
            ):
                closed.discard(name)
                changed = True
    closed -= scope.unsafe_names
    state = closed & scope.state_given
    return Closure(
        closed=frozenset(closed - state),
        hands_back=frozenset((closed - state) & scope.handing_back),
        caller_state=frozenset(state),
        layers=frozenset(scope.layer_classes),
        sealed=not (scope.unsafe_imports or found or biased),
    )


def _binding_statements(statements: list[ast.stmt]) -> dict[str, list[int]]:
    """The top-level names each statement binds (by its index), imports aside: an imported
    name is as safe as its import."""
    binding: dict[str, list[int]] = {}
    for index, statement in enumerate(statements):
        if isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        for node in statement_nodes([statement]):
            for target in bound_by(node):
                if isinstance(target, ast.Name):
                    binding.setdefault(target.id, []).append(index)
    return binding


def _handing_back(
    statements: list[ast.stmt],
    scope: ModuleScope,
    binding: dict[str, list[int]],
    parents: dict[ast.AST, ast.AST],
) -> set[str]:
    """The top-level names whose definitions read module state that callers' values reach
    other than to file into it or test membership (`return _REGISTRY[name]`), or read such
    a name: a call of one may hand back a value another caller chose."""
    handing = set(scope.handing_back)
    changed = True
    while changed:
        changed = False
        for name, places in binding.items():
            if name in handing:
                continue
            if any(
                isinstance(node, ast.Name)
                and (
                    node.id in handing
                    or (node.id in scope.state_given and not _files_or_tests(node, parents))
                )
                for place in places
                for node in ast.walk(statements[place])
            ):
                handing.add(name)
                changed = True
    return handing


def _files_or_tests(name: ast.Name, parents: dict[ast.AST, ast.AST]) -> bool:
    """`STATE = v`, `STATE[k] = v`, `STATE.x = v`, `STATE.add(v)`, `v in STATE`."""
    if not isinstance(name.ctx, ast.Load):
        return True
    parent = parents.get(name)
    if isinstance(parent, ast.Subscript | ast.Attribute) and not isinstance(parent.ctx, ast.Load):
        return True
    if isinstance(parent, ast.Attribute) and parent.attr in FILING_METHODS:
        call = parents.get(parent)
        return isinstance(call, ast.Call) and call.func is parent
    if isinstance(parent, ast.Compare) and name is not parent.left:
        return all(isinstance(op, ast.In | ast.NotIn) for op in parent.ops)
    return False


def _first_line(node: ast.AST) -> int:
    """Where a statement starts, its decorators included."""
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    line: int = getattr(node, "lineno", 0)
    return min([line, *(d.lineno for d in decorators)])


def class_names(source: bytes) -> frozenset[str]:
    """The classes the file defines at its top level."""
    return frozenset(_CLASS.findall(source.decode("utf-8", errors="replace")))


def derived_classes(source: bytes, bases: frozenset[str]) -> frozenset[str]:
    """The classes the text defines with one of `bases` among its bases (by name)."""
    text = source.decode("utf-8", errors="replace")
    return frozenset(
        name
        for name, listed in _HEADER.findall(text)
        if bases & set(re.findall(r"[^\W\d]\w*", listed))
    )


_CLASS = re.compile(r"^class[ \t]+([^\W\d]\w*)", re.MULTILINE)
_HEADER = re.compile(r"^[ \t]*class[ \t]+([^\W\d]\w*)[ \t]*\(([^)]*)\)", re.MULTILINE)


def _body_openings(
    scope: ModuleScope, tree: ast.Module, binding: dict[str, list[int]]
) -> list[ast.AST]:
    """The openings of the file's code. A caller's value filed in the module's own state (a
    global, a registry) is harmless until the file's code calls it or hands it on: every
    function reads that state as a caller's value, what a function handing it back returns
    is a caller's value too, and the check runs again until both stop growing."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    while True:
        reached, handing = frozenset(scope.state_given), frozenset(scope.handing_back)
        body = FunctionFlow(scope, tree.body, params=(), enclosing=reached)
        found = list(body.openings())
        scope.handing_back |= _handing_back(tree.body, scope, binding, parents)
        if scope.state_given <= reached and scope.handing_back <= handing:
            return found
