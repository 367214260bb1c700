"""What `bnlint fold TARGET` and `bnlint graph TARGET` build: `MODULE:FACTORY` as given, or a
model declared by name in `[tool.bnlint.models]`, with the inputs and arguments it declares
(the command line's win). Torch-free: the CLI resolves a target before it imports the runtime.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnlint.config import Config, ModelSpec

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class TargetError(Exception):
    """The target names no factory and no declared model; the message says what would."""


@dataclass(frozen=True)
class RuntimeTarget:
    """A model to build: its factory, example inputs (shapes or an inputs factory), keyword
    arguments, and the folders its modules are imported from (a declared model's project)."""

    factory: str
    shapes: list[tuple[int, ...]] | None = None
    inputs: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None  # the declared model's name
    import_roots: tuple[Path, ...] = ()


def is_factory(target: str) -> bool:
    return bool(_FACTORY.match(target))


def resolve(
    target: str,
    project: Callable[[], Config],
    *,
    shapes: list[tuple[int, ...]] | None,
    inputs: str | None,
    kwargs: dict[str, Any] | None,
) -> RuntimeTarget:
    """`target` as a RuntimeTarget; the command line's shapes, inputs and kwargs override a
    declared model's. `project` loads the configuration, only for a model name (a broken
    pyproject.toml never stops a MODULE:FACTORY target). Raises TargetError for anything else.
    """
    if is_factory(target):
        return RuntimeTarget(target, shapes, inputs, dict(kwargs or {}))
    config = project()
    declared = {spec.name: spec for spec in config.models}
    spec = declared.get(target)
    if spec is None:
        raise TargetError(_malformed(target, declared, config))
    given_inputs = shapes is not None or inputs is not None
    return RuntimeTarget(
        spec.factory,
        shapes if given_inputs else declared_shapes(spec),
        inputs if given_inputs else spec.inputs,
        {**spec.kwargs, **(kwargs or {})},
        name=spec.name,
        import_roots=import_roots(config),
    )


def declared_shapes(spec: ModelSpec) -> list[tuple[int, ...]] | None:
    """A declared input-shape as one shape per positional input."""
    if spec.input_shape is None:
        return None
    if isinstance(spec.input_shape[0], tuple):
        return list(spec.input_shape)
    return [spec.input_shape]


def import_roots(config: Config) -> tuple[Path, ...]:
    """Where a project's declared factories are imported from: its src/ and its root."""
    roots = [config.root / "src", config.root]
    return tuple(root for root in roots if root.is_dir())


@contextmanager
def importable_from(roots: Sequence[Path]) -> Iterator[None]:
    """Put `roots` first on sys.path for the block, so that the code that runs is the
    project's, not an installed copy of it."""
    added = [str(root) for root in roots if str(root) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def _malformed(target: str, declared: dict[str, ModelSpec], config: Config) -> str:
    where = f" in {config.path}" if config.path else ""
    names = (
        f" (declared{where}: {', '.join(sorted(declared))})"
        if declared
        else f" (none is declared{where})"
    )
    hint = (
        f"; did you mean '{target}:FACTORY'?"
        if ":" not in target and re.match(r"^[A-Za-z_][\w.]*$", target)
        else ""
    )
    return (
        f"'{target}' is malformed: expected MODULE:FACTORY (e.g. pkg.models:resnet18) or "
        f"the name of a model in [tool.bnlint.models]{names}{hint}"
    )
