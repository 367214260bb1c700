"""The static flavour of `bnlint graph FILE::NAME`: one class or factory of a file, built on its
own as a root, its forward() run into a LayerGraph and its folds matched, by the very code that
gives `bnlint check` its verdicts. Never imports torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bnlint.discovery import find_project_root
from bnlint.ftypes import FoldPlan
from bnlint.graph import LayerGraph


class TargetError(Exception):
    """The FILE::NAME target does not name a model bnlint can build (the message says why)."""


@dataclass(frozen=True)
class RootGraph:
    """What the picture draws: a root's dataflow and the fold plan the matcher made of it."""

    title: str  # "pkg.models.Net" / "pkg.models.resnet18()"
    graph: LayerGraph
    plan: FoldPlan


def static_root_graph(path: Path, name: str | None) -> RootGraph:
    """Build `name` (a module class or a factory callable without arguments) of `path`."""
    from bnlint.static.analysis import analyse_root
    from bnlint.static.interp import Interpreter
    from bnlint.static.project import Project
    from bnlint.static.roots import named_root

    if not path.is_file():
        raise TargetError(f"{path} is not a file")
    project = Project([find_project_root(path)])
    source = project.load(path)
    if source is None:
        failure = project.failures.get(path.resolve())
        raise TargetError(f"cannot analyse {path}: {failure.detail if failure else 'unreadable'}")
    interp = Interpreter(project.resolver, project.classes)
    root = named_root(project, source, name, interp) if name else None
    if root is None:
        classes = sorted(cls.name for cls in project.module_classes(source))
        functions = sorted(project.loader.symbols(source).functions)
        raise TargetError(_choices(path, name, classes, functions))
    built = analyse_root(interp, root, as_model=True)
    title = root.inst.class_name if root.own_class is not None else f"{source.module_name}.{name}()"
    return RootGraph(title, built.graph, built.plan)


def split_target(text: str) -> tuple[Path, str | None]:
    """`src/m.py::Net` -> (Path("src/m.py"), "Net"); a bare path leaves the name open."""
    path, _, name = text.partition("::")
    return Path(path), name or None


def _choices(path: Path, name: str | None, classes: list[str], functions: list[str]) -> str:
    asked = (
        (
            f"bnlint cannot build '{name}' of {path} as a model (a module class or a "
            "factory without required arguments)"
        )
        if name
        else f"name the model to draw: {path}::NAME"
    )
    offer = []
    if classes:
        offer.append("classes: " + ", ".join(classes))
    if functions:
        offer.append("functions: " + ", ".join(functions))
    return asked + (f" ({'; '.join(offer)})" if offer else " (it defines no nn.Module class)")
