"""Installed model libraries whose sources the analysis may read.

A project's model often derives from, or builds, a class another library defines (an encoder
that subclasses torchvision's ResNet, a block built from timm's layers). Without that
library's source the class is opaque and its BatchNorms silent. The analysis reads such
sources the way it reads the project's, never importing them, and never reports on them.

Where they come from:
- folders the user names (`--library-path`): any package in them;
- the site-packages of the Python running bnlint: only the packages whose distribution
  requires torch (model libraries), so that numpy or einops stay outside the analysis as
  before. torch and einops are always outside: the analysis models them.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bnlint.static.torch_api import MODELLED_PACKAGES

# Distributions whose own code the analysis models instead of reading.
_MODELLED = MODELLED_PACKAGES


@dataclass(frozen=True)
class LibraryRoot:
    """A folder on the module search path, after the project's own roots."""

    path: str
    # The top-level packages it answers lookups for; None: every one.
    packages: frozenset[str] | None = None

    def answers(self, top_level: str) -> bool:
        if top_level in _MODELLED:
            return False
        return self.packages is None or top_level in self.packages


def library_roots(
    given: Sequence[str | os.PathLike[str]], installed: bool
) -> tuple[LibraryRoot, ...]:
    """The folders `given` (any package), then, when `installed`, this interpreter's
    site-packages (the packages that require torch)."""
    roots: dict[str, LibraryRoot] = {}
    for path in given:
        real = os.path.realpath(path)
        if os.path.isdir(real):
            roots.setdefault(real, LibraryRoot(real))
    if installed:
        for path in site_packages():
            roots.setdefault(path, LibraryRoot(path, torch_libraries(path)))
    return tuple(roots.values())


def site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    found: list[str] = []
    for key in ("purelib", "platlib"):
        real = os.path.realpath(paths.get(key, ""))
        if paths.get(key) and os.path.isdir(real) and real not in found:
            found.append(real)
    return found


def torch_libraries(root: str) -> frozenset[str]:
    """The top-level packages under `root` whose distribution requires torch, read from the
    distributions' metadata (`*.dist-info`)."""
    found: set[str] = set()
    try:
        entries = os.listdir(root)
    except OSError:
        return frozenset()
    for entry in entries:
        if not entry.endswith(".dist-info"):
            continue
        info = os.path.join(root, entry)
        if _requires_torch(_read(os.path.join(info, "METADATA"))):
            found.update(_top_levels(info))
    return frozenset(found - _MODELLED)


def _requires_torch(metadata: str) -> bool:
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            if not line.strip():
                break  # the headers end at the first blank line
            continue
        requirement, _, marker = line.partition(":")[2].strip().partition(";")
        if "extra" in marker:
            continue  # needed only for an optional feature: not a model library
        name = requirement
        for stop in " ;<>=!~([":
            name = name.partition(stop)[0]
        if name.lower() in _MODELLED:
            return True
    return False


def _top_levels(info: str) -> Iterable[str]:
    listed = _read(os.path.join(info, "top_level.txt"))
    if listed:
        return [line.strip() for line in listed.splitlines() if line.strip()]
    names = set()
    for line in _read(os.path.join(info, "RECORD")).splitlines():
        first = line.split(",")[0].split("/")[0]
        if first.endswith(".py"):
            first = first[:-3]
        if first.isidentifier():
            names.add(first)
    return names


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def find_module(roots: Sequence[LibraryRoot], name: str) -> str | None:
    """The file a lookup of module `name` finds in `roots` (`name.py`, else
    `name/__init__.py`, in the first root that answers for its package), or None."""
    top = name.partition(".")[0]
    relative = os.path.join(*name.split("."))
    for root in roots:
        if not root.answers(top):
            continue
        for candidate in (
            os.path.join(root.path, relative + ".py"),
            os.path.join(root.path, relative, "__init__.py"),
        ):
            if os.path.isfile(candidate):
                return os.path.realpath(candidate)
    return None
