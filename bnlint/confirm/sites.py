"""Where each module of a model was built, recorded while its factory runs: the file and line
of the expression that built it, which is how the static half names the instances a verdict
holds for ("net.py:63")."""

from __future__ import annotations

import functools
import os
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

from torch import nn


class ConstructionSites:
    """Modules built while recording, each with its site: an absolute, resolved "path:line"."""

    def __init__(self) -> None:
        # by id(), not by the module: a model's class may define __eq__ and so lose __hash__
        self._found: dict[int, tuple[weakref.ref[nn.Module], str]] = {}
        self._resolved: dict[str, str] = {}

    def of(self, module: nn.Module) -> str | None:
        found = self._found.get(id(module))
        return found[1] if found is not None and found[0]() is module else None

    def record(self, module: nn.Module, caller: FrameType | None) -> None:
        """`module` was built by `caller`'s code, unless that is another __init__ running on
        the same module (a subclass's, through super()), or a metaclass's __call__ that
        made it and runs its __init__ (it holds the module in a variable: the code that
        builds it does not yet): the site is the outermost one's."""
        if self.of(module) is not None:
            return
        while caller is not None and any(v is module for v in caller.f_locals.values()):
            caller = caller.f_back
        if caller is None or caller.f_code.co_filename.startswith("<"):
            return  # built by code with no file (exec'd, generated): no site to name
        filename = caller.f_code.co_filename
        if filename not in self._resolved:
            self._resolved[filename] = os.path.realpath(filename)
        site = f"{self._resolved[filename]}:{caller.f_lineno}"
        self._found[id(module)] = (weakref.ref(module), site)


@contextmanager
def construction_sites() -> Iterator[ConstructionSites]:
    """Record the construction site of every module built inside the block (nn.Module.__init__
    is wrapped for the duration, and restored however the block ends)."""
    sites = ConstructionSites()
    original = nn.Module.__init__

    @functools.wraps(original)
    def recording_init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        with suppress(Exception):  # a site is a hint: it never fails the user's build
            sites.record(self, sys._getframe(1))

    nn.Module.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield sites
    finally:
        nn.Module.__init__ = original  # type: ignore[method-assign]
