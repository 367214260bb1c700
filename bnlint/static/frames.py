"""What the interpreter's parts hand each other: the frame of a running function, the
values only the interpreter makes (a method looked up on a value, a module's parameter),
and the signals that end a path. Kept apart from the interpreter so that the modules it
uses (evaluate, calls, objects, forward, facts) need nothing else from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from bnlint.static.index import ProjectClass
from bnlint.static.source import SourceFile
from bnlint.static.values import ModuleInst, ObjectInst, Value


class ReturnSignal(Exception):
    def __init__(self, value: Value) -> None:
        self.value = value


class BreakSignal(Exception):
    pass


class ContinueSignal(Exception):
    pass


class DeadPath(Exception):
    """The path ended (raise, or every branch returned)."""


class AnalysisLimit(Exception):
    """The interpretation exceeded a budget; the caller reports it as unknown."""


# What makes the analysis give up one construction: a budget, nesting deeper than Python
# follows, a path that ends where none may.
ABANDONING = (AnalysisLimit, DeadPath, ReturnSignal, RecursionError)


def abandonment(error: BaseException) -> str:
    """Why a construction was given up, in words for a verdict."""
    if isinstance(error, AnalysisLimit):
        return str(error)
    if isinstance(error, RecursionError):
        return "the model's construction nests too deep to follow"
    return "the model's construction ends on a path the analysis cannot follow"


@dataclass(eq=False)
class Method(Value):
    """A method looked up on a value: `layers.append`, `x.relu`, `self.add_module`."""

    receiver: Value
    name: str
    text: str = ""


@dataclass(eq=False)
class Param(Value):
    """A parameter or buffer of a module (`self.weight`), as seen in forward()."""

    owner: ModuleInst
    name: str


@dataclass(eq=False)
class Frame:
    file: SourceFile
    env: dict[str, Value]
    self_inst: ModuleInst | ObjectInst | None = None
    cls: ProjectClass | None = None
    closure: dict[str, Value] | None = None
    returns: list[Value] = field(default_factory=list)
