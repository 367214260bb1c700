"""What the analysis of one file contributes, as plain values that can cross a process
boundary and be cached. Light on purpose: reading a cache must not import the parser."""

from __future__ import annotations

from dataclasses import dataclass, field

from bnlint.ftypes import Diagnostic, FoldEntry, ModuleReport, SourceLocation
from bnlint.static.footprint import Footprint


@dataclass(frozen=True)
class Fallback:
    """The verdict a BatchNorm gets when its class is the whole model: its forward() input
    is the model input and its output the model output."""

    owner: str
    entry: FoldEntry
    own: bool  # the owner is the root's class, analysed on its own


# How a BatchNorm the analysis could not place in the module tree is named: by the line that
# built it ("<BatchNorm built at line 12>"), not by a path.
LOST_PREFIX = "<BatchNorm built at line "


def lost_label(line: int | str) -> str:
    return f"{LOST_PREFIX}{line}>"


@dataclass(frozen=True)
class Observation:
    """One BatchNorm's verdict as one root saw it, under its fold key (`owner` + `entry`).

    `anchors` name the BatchNorm from each module around it, outermost (the root) first:
    "pkg.m.Net:blocks.0.bn1", "pkg.m.Block:bn1"; another root that holds an instance of
    one of those classes sees the same BatchNorm under the same anchor. `own` is true when
    the root is the owner class analysed on its own; otherwise the root holds an instance of
    the owner, built at `site`. `boundary` is true when the verdict depends on what the
    root's caller feeds it or does with its output; `fallback` is then the verdict for a root
    that may be the whole model. `location` is where a diagnostic about the BatchNorm goes.
    """

    owner: str
    entry: FoldEntry
    anchors: tuple[str, ...]
    own: bool
    boundary: bool = False
    fallback: Fallback | None = None
    site: SourceLocation | None = None
    location: SourceLocation | None = None
    # The root is a class analysed on its own (its constructor defaults), not a factory's
    # model: where another root builds that class for real, this instance is hypothetical.
    defaults: bool = False
    # forward() calls the BatchNorm (False: a verdict on a BatchNorm it did not reach, or on
    # a slot whose layer it could not resolve)
    reached: bool = True
    # From a class built with its norm-selecting arguments unknown, because its defaults
    # build no BatchNorm (bnlint.static.roots): it speaks only of keys no other root sees.
    filler: bool = False


@dataclass(frozen=True)
class DefinitionVerdicts:
    """What building and running one definition of a file gave, in the order it came."""

    number: int  # its place among the file's definitions
    observations: tuple[Observation, ...]
    findings: tuple[Diagnostic, ...]
    # XBN402 for each call into an unread library first met while it was built and run
    unread: tuple[Diagnostic, ...]
    # (root, seconds): how it went, not what it found
    timings: tuple[tuple[str, float], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Link:
    """One definition one process built: which (`identity`: "class pkg.m.Net"), what it read
    beyond the definitions built before it in that process, and what it gave."""

    identity: str
    footprint: Footprint
    built: DefinitionVerdicts


@dataclass(frozen=True)
class Chain:
    """The definitions of a file one process built, in the order it built them. A process's
    caches carry what one definition read into the next, so a link holds only while every
    link before it holds too (bnlint.static.footprint.holding_prefix)."""

    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Kept:
    """What an earlier run built of a file that still holds (bnlint.static.footprint): the
    chains, cut where they stopped holding, and every file and module lookup they read, as
    they are now."""

    chains: tuple[Chain, ...] = ()
    reads: tuple[tuple[str, str], ...] = ()
    lookups: tuple[tuple[str, str | None], ...] = ()
    complete: bool = False  # every definition the file had built holds
    rebuilt: float = 1.0  # the share of the definitions it had built that do not


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
    # every BatchNorm verdict of every root the file defines: each module class on its
    # own, and each factory's model
    observations: tuple[Observation, ...] = ()
    findings: tuple[Diagnostic, ...] = ()  # diagnostics that are not a BatchNorm's verdict
    failure: Diagnostic | None = None  # it could not be read or parsed
    reads: tuple[tuple[str, str], ...] = ()
    lookups: tuple[tuple[str, str | None], ...] = ()
    # how long the analysis took, and its slowest roots: how it went, not what it found
    seconds: float = field(default=0.0, compare=False)
    roots: tuple[tuple[str, float], ...] = field(default=(), compare=False)
    # each definition's verdicts with what it read, so that an edit to one statement of a
    # file it read costs only the definitions that read it (kept apart in the cache)
    chains: tuple[Chain, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class FileReport:
    """What `bnlint check` reports on one file: its diagnostics and its module classes."""

    diagnostics: tuple[Diagnostic, ...] = ()
    modules: tuple[ModuleReport, ...] = ()
