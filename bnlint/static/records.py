"""What the analysis of one file contributes, as plain values that can cross a process
boundary and be cached. Light on purpose: reading a cache must not import the parser."""

from __future__ import annotations

from dataclasses import dataclass

from bnlint.ftypes import Diagnostic, FoldEntry, ModuleReport


@dataclass(frozen=True)
class Summary:
    """The merged verdicts of one or more roots: per owner class, the entry each BatchNorm
    keeps; per file path, the diagnostics located there (first one per position and code)."""

    entries: tuple[tuple[str, tuple[FoldEntry, ...]], ...] = ()
    diagnostics: tuple[tuple[str, tuple[Diagnostic, ...]], ...] = ()


@dataclass(frozen=True)
class ClassRoot:
    """A class no code of its own file builds: a root unless a file of the context does."""

    qualname: str
    summary: Summary


@dataclass(frozen=True)
class FileVerdicts:
    """Everything the verdicts on any file can take from building and running one file.

    `digest` is the content hash of the bytes analysed; `reads` the content hash of every
    other file the analysis read (resolving imports, bases, helpers); `lookups` every module
    name it looked up and the file that answered (None: no project file), so that a file
    added, removed or moved under such a name invalidates it.
    """

    path: str
    display: str  # how reports name it (relative to the working directory)
    digest: str
    module_classes: tuple[tuple[str, int], ...] = ()  # (qualname, line) of its nn.Modules
    used: tuple[str, ...] = ()  # project classes its builds instantiate (not themselves)
    factories: Summary = Summary()  # every argument-free factory's model, merged
    class_roots: tuple[ClassRoot, ...] = ()
    containers: tuple[Diagnostic, ...] = ()  # modules kept in plain lists and dicts
    failure: Diagnostic | None = None  # it could not be read or parsed
    reads: tuple[tuple[str, str], ...] = ()
    lookups: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class FileReport:
    """What `bnlint check` reports on one file: its diagnostics and its module classes."""

    diagnostics: tuple[Diagnostic, ...] = ()
    modules: tuple[ModuleReport, ...] = ()
