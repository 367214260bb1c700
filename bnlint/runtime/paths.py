"""Naming every module the model holds, registered or not, the way the static half names it.

Registered modules get their `named_modules()` path (the first registration wins). A module
kept in a plain Python list, tuple or dict attribute is not registered, so PyTorch gives it no
path; the static half names it as if the container were an nn.ModuleList / nn.ModuleDict
(`blocks.0.1` for the BatchNorm at index 1 of the Sequential at `self.blocks[0]`), and so does
this, so that both halves key such a verdict the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn

from bnlint.ftypes import ModuleFrame
from bnlint.runtime import kinds

# Attributes every nn.Module has (parameter, buffer, module and hook tables): not user data.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))
_MAX_NESTING = 4  # lists of lists of modules are followed this deep
_HOLDERS = (nn.Module, list, tuple, dict)


@dataclass(frozen=True)
class ModulePaths:
    scopes: dict[int, tuple[ModuleFrame, ...]]  # id(module) -> root .. module
    registered: frozenset[int]  # ids of the modules named_modules() yields
    modules: tuple[nn.Module, ...]  # every module named, registered ones first
    # id(module) -> the names of its scope after the root, joined by dots ("layer1.0.bn2"),
    # made while the scopes are: a capture asks for the label of every module it sees.
    labels: dict[int, str]


def module_paths(model: nn.Module) -> ModulePaths:
    scopes: dict[int, tuple[ModuleFrame, ...]] = {}
    labels: dict[int, str] = {}
    frames = _Frames()
    # The registered modules in `model.modules()` order, from the same walk that names them.
    modules = _register(model, (frames.of("", model),), scopes, labels, frames)
    registered = frozenset(scopes)
    seen = {id(module) for module in modules}
    index = 0
    while index < len(modules):  # breadth first: the shallowest plain container wins
        owner = modules[index]
        index += 1
        for on_the_way, member in _held(owner, frames):
            if id(member) not in scopes:
                _register(member, scopes[id(owner)] + on_the_way, scopes, labels, frames)
                for inner in member.modules():
                    if id(inner) not in seen:
                        seen.add(id(inner))
                        modules.append(inner)
    return ModulePaths(scopes=scopes, registered=registered, modules=tuple(modules), labels=labels)


def every_module(model: nn.Module) -> list[nn.Module]:
    """The modules `module_paths` names, registered ones first, without naming them."""
    modules = list(model.modules())
    seen = {id(module) for module in modules}
    frames = _Frames()
    index = 0
    while index < len(modules):
        owner = modules[index]
        index += 1
        for _, member in _held(owner, frames):
            for inner in member.modules():
                if id(inner) not in seen:
                    seen.add(id(inner))
                    modules.append(inner)
    return modules


def submodule(model: nn.Module, path: str) -> nn.Module:
    """`model.get_submodule(path)`, read from the module tables: a fold looks each of its
    layers up several times, and get_submodule's attribute lookups cost several times more.
    A path that is not one of registered names is left to get_submodule (and its error)."""
    module = model
    for name in path.split(".") if path else ():
        child = module._modules.get(name)
        if child is None:
            return model.get_submodule(path)
        module = child
    return module


class _Frames:
    """`kinds.frame`, each (name, class) made once: a model repeats both (every block has its
    "conv1" and "bn1"), and the frames are frozen, so one object serves every scope."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, type], ModuleFrame] = {}

    def of(self, name: str, module: nn.Module) -> ModuleFrame:
        key = (name, type(module))
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = kinds.frame(name, module)
        return made


def _register(
    module: nn.Module,
    scope: tuple[ModuleFrame, ...],
    scopes: dict[int, tuple[ModuleFrame, ...]],
    labels: dict[int, str],
    frames: _Frames,
) -> list[nn.Module]:
    """`module` and its registered submodules, at paths under `scope` (first one wins);
    returns them all, as `module.modules()` does."""
    by_path = {"": scope}
    # A registered name never holds a dot, so the label of a submodule is the label of
    # `scope` followed by its named_modules() path.
    base = ".".join(frame.name for frame in scope[1:])
    walked = []
    for path, child in module.named_modules():
        walked.append(child)
        if path:
            parent, _, name = path.rpartition(".")
            by_path[path] = by_path[parent] + (frames.of(name, child),)
        if id(child) not in scopes:
            scopes[id(child)] = by_path[path]
            labels[id(child)] = f"{base}.{path}" if base and path else base or path
    return walked


def _held(
    module: nn.Module, frames: _Frames
) -> Iterator[tuple[tuple[ModuleFrame, ...], nn.Module]]:
    """Modules in the plain attributes of `module`, with the frames on the way to each."""
    if type(module).__module__.startswith("torch.nn.modules."):
        return  # torch's own layers keep their submodules registered
    for attribute, value in vars(module).items():
        if attribute not in _MODULE_INTERNALS and isinstance(value, _HOLDERS):
            yield from _members(value, attribute, _MAX_NESTING, frames)


def _members(
    value: Any, name: str, depth: int, frames: _Frames
) -> Iterator[tuple[tuple[ModuleFrame, ...], nn.Module]]:
    if isinstance(value, nn.Module):
        yield (frames.of(name, value),), value
        return
    if depth == 0:
        return
    if isinstance(value, (list, tuple)):
        items: Any = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return
    # Never an owner: a plain container is no module, like nn.ModuleList in the fold key.
    here = ModuleFrame(name=name, class_name=kinds.class_name(type(value)), is_plain_container=True)
    for key, item in items:
        if isinstance(item, _HOLDERS):  # numbers and strings hold no module
            for inner, member in _members(item, str(key), depth - 1, frames):
                yield (here,) + inner, member
