"""What the engine keeps in the cache between runs, and when a kept value is still true.

Everything is keyed by content, never by modification time:

- text facts (names, imports) by the digest of the file's bytes, and for a checked file
  that is never parsed (it has no class statement), why Python could not read it;
- the caller graph, for the module table (which file has which module name) it was computed
  under; a run recomputes only the edges that touch a changed file;
- a file's contribution (FileVerdicts, a table of its own) with its own digest, the digest
  of every file its analysis read and the file that answered every module lookup it made
  (the "holds" table, read without the contributions): valid while all of those are
  unchanged, so an edited parent class invalidates the subclasses built on it;
- each definition of a file with what its analysis read, finer than whole files (its
  chains, a table of its own: bnlint.static.footprint): an analysis that must run again
  takes from there every definition whose reads still hold, and a file unchanged whose every
  definition holds keeps its contribution under today's digests;
- each file's closure (bnlint.static.sealed) with the digest of its code as parsed and the
  answers for the names it imports;
- a file's report with its context and the digests of every input of that context: valid
  while the context and those digests are the same and every module lookup behind it would
  still be answered by the same file; or while the contributions it merged say what they
  said (Memo.content_of), whatever bytes changed beneath them.

A value that fails a check is recomputed, never patched; a damaged or foreign cache file
reads as empty (bnlint.cache).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any

from bnlint.cache import Cache, decode, encode
from bnlint.static.callers import Edges, FileFacts
from bnlint.static.footprint import CurrentFiles, holding_prefix
from bnlint.static.readable import Refusal
from bnlint.static.records import Chain, FileReport, FileVerdicts, Kept
from bnlint.static.scan import KnownFacts
from bnlint.static.sealed import KeptClosure
from bnlint.static.textscan import TextFacts

log = logging.getLogger("bnlint.cache")

_INDEX = "index"
_CONTRIBUTIONS = "contributions-"  # and the digest of the file's path
_DEFINITIONS = "definitions-"  # and the digest of the file's path
_CLOSURES = "closures"
_HOLDS = "holds"  # what decides whether each contribution holds, apart from the rest of it

Resolve = Callable[[str], "str | None"]


@dataclass
class _Report:
    context: tuple[str, ...]
    inputs: tuple[str, ...]  # the context and every file its contributions read
    fingerprint: str  # of the inputs' digests
    encoded: Any  # the FileReport as stored; decoded when used
    report: FileReport | None = None
    # the members whose contributions it merged, and what those said (Memo.content_of): the
    # same contributions make the same report, whatever bytes changed beneath them
    merged: tuple[str, ...] = ()
    contents: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Reads:
    """What one file's analysis read: the files (with digests) and the module lookups."""

    reads: tuple[tuple[str, str], ...]
    lookups: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class _Chains:
    """A file's definitions as the runs that built them left them (records.Chain)."""

    chains: tuple[Chain, ...] = ()


@dataclass
class Memo:
    cache: Cache
    snapshot: dict[str, str] = field(default_factory=dict)  # path -> digest, last run
    facts: dict[str, KnownFacts] = field(default_factory=dict)  # digest -> class?, facts
    refusals: dict[str, Refusal | None] = field(default_factory=dict)  # by digest
    table: str = ""  # the module table the edges were computed under
    edges: Edges = field(default_factory=Edges)
    resolutions: dict[str, str | None] = field(default_factory=dict)
    reports: dict[str, _Report] = field(default_factory=dict)
    contents: dict[str, str] = field(default_factory=dict)  # path -> what it says (content_of)
    _refreshed: set[str] = field(default_factory=set)  # reports taken by their contents
    # the encoded links of the chains `kept` found holding, by file: stored again as they are
    _kept_encoded: dict[str, list[tuple[tuple[str, ...], list[Any]]]] = field(default_factory=dict)
    # contributions computed this run, encoded once for what they say and for storing
    _encodings: dict[int, tuple[FileVerdicts, list[Any]]] = field(default_factory=dict)
    _closures: dict[str, Any] | None = None  # path -> encoded KeptClosure
    # path -> [digest, reads, lookups, stored] of its contribution; `stored`: the digest of
    # the reads its table holds, which a contribution held again under new reads keeps
    _holding: dict[str, Any] | None = None
    _held_again: set[str] = field(default_factory=set)  # contributions revalidated this run
    _stored_facts: dict[str, Any] = field(default_factory=dict)  # as read, by digest

    @classmethod
    def open(cls, directory: Any, search_roots: Sequence[str], cwd: str) -> Memo:
        cache = Cache(directory, "roots", *sorted(search_roots), "cwd", cwd)
        memo = cls(cache)
        try:
            memo._read_index(cache.load(_INDEX))
        except (ValueError, TypeError, KeyError, IndexError) as error:
            log.info("cache index unusable (%s); starting afresh", error)
            memo = cls(cache)
        return memo

    # ---- reading ---------------------------------------------------------------------------

    def changed(self, digests: Mapping[str, str]) -> frozenset[str]:
        """Files added, removed or edited since the last run."""
        if digests == self.snapshot:
            return frozenset()
        return frozenset(
            p
            for p in digests.keys() | self.snapshot.keys()
            if digests.get(p) != self.snapshot.get(p)
        )

    def previous_edges(self, table: str) -> Edges | None:
        return self.edges if table == self.table else None

    def lookups_hold(self, resolve: Resolve) -> bool:
        """Whether every module lookup behind the kept reports finds the same file."""
        return _lookups_hold(resolve, self.resolutions.items())

    def report(
        self, path: str, context: Sequence[str], digests: Mapping[str, str], lookups_hold: bool
    ) -> FileReport | None:
        kept = self.reports.get(path)
        if kept is None or not lookups_hold or tuple(context) != kept.context:
            return None
        if _fingerprint(kept.inputs, digests) != kept.fingerprint:
            return None
        if kept.report is None:
            try:
                kept.report = decode(FileReport, kept.encoded)
            except (ValueError, TypeError) as error:
                log.info("cached report on %s unusable (%s)", path, error)
                return None
        return kept.report

    def same_report(
        self, path: str, merged: Sequence[str], contents: Sequence[str | None]
    ) -> FileReport | None:
        """The kept report on `path` when it merged the same files' contributions and
        they say the same as then (an edit that changed no verdict: a comment, a statement
        no verdict read); it is then kept again under today's digests."""
        kept = self.reports.get(path)
        if kept is None or kept.merged != tuple(merged) or kept.contents != tuple(contents):
            return None
        try:
            report = decode(FileReport, kept.encoded)
        except (ValueError, TypeError) as error:
            log.info("cached report on %s unusable (%s)", path, error)
            return None
        self._refreshed.add(path)
        return report

    def contribution_holds(self, path: str, digests: Mapping[str, str], resolve: Resolve) -> bool:
        """Whether the kept contribution of `path` still holds (read apart from the
        contribution itself, which is decoded only for a report made afresh)."""
        entry = self._holding_table().get(path)
        if entry is None or path not in self.contents:
            return False
        try:
            digest, reads, lookups, _ = entry
            return (
                digests.get(path) == digest
                and all(digests.get(p) == d for p, d in reads)
                and _lookups_hold(resolve, lookups)
            )
        except (ValueError, TypeError) as error:
            log.info("cached contribution of %s unusable (%s)", path, error)
            return False

    def holds_again(self, path: str, kept: Kept, now: CurrentFiles) -> bool:
        """Whether the kept contribution of `path` holds again although files it read
        changed: the file is the same and every definition it built is `kept` (what it read
        of those files did not change). It is then kept under today's digests."""
        entry = self._holding_table().get(path)
        if not kept.complete or entry is None or path not in self.contents:
            return False
        try:
            digest, reads, lookups, stored = entry
            if now.digest_of(path) != digest:
                return False
            current = [[p, now.digest_of(p)] for p, _ in reads]
        except (ValueError, TypeError):
            return False
        if any(d is None for _, d in current):
            return False
        self._holding_table()[path] = [digest, current, lookups, stored]
        self._held_again.add(path)
        return True

    def contribution(self, path: str) -> FileVerdicts | None:
        """The kept contribution of `path` (contribution_holds says whether it holds), if
        it is the one the holding entry speaks of: two runs sharing a cache may each have
        written one of them."""
        stored = self._load_table(_CONTRIBUTIONS, path)
        entry = self._holding_table().get(path)
        if stored is None or not entry:
            return None
        try:
            found = decode(FileVerdicts, stored)
        except (ValueError, TypeError) as error:
            log.info("cached contribution of %s unusable (%s)", path, error)
            return None
        if [found.digest, _reads_digest(found.reads)] != [entry[0], entry[3]]:
            return None
        return found

    def _holding_table(self) -> dict[str, Any]:
        if self._holding is None:
            stored = self.cache.load(_HOLDS)
            self._holding = stored if isinstance(stored, dict) else {}
        return self._holding

    def kept(self, path: str, now: CurrentFiles, resolve: Resolve) -> Kept | None:
        """What the cache has of the definitions of `path` whose verdicts still hold
        although the file's contribution as a whole does not: an edit elsewhere in the files
        they read leaves them standing (bnlint.static.footprint)."""
        encoded = self._load_table(_DEFINITIONS, path)
        if encoded is None:
            return None
        try:
            chains = decode(_Chains, encoded).chains
            encoded_links = [links for links, *_ in encoded[0]]
        except (ValueError, TypeError, KeyError, IndexError) as error:
            log.info("cached definitions of %s unusable (%s)", path, error)
            return None

        held = []
        complete = bool(chains)
        self._kept_encoded[path] = []
        for chain, links in zip(chains, encoded_links, strict=True):
            footprints = (link.footprint for link in chain.links)
            count = holding_prefix(
                footprints, now.digest_of, now.layout, partial(_lookups_hold, resolve)
            )
            complete = complete and count == len(chain.links)
            if count:
                held.append(Chain(chain.links[:count]))
                identities = tuple(link.identity for link in chain.links[:count])
                self._kept_encoded[path].append((identities, links[:count]))
        if not held:
            return None
        links = [link for chain in held for link in chain.links]
        reads = {p: now.digest_of(p) for link in links for p, _ in link.footprint.files}
        lookups = {name: found for link in links for name, found in link.footprint.lookups}
        stored = sum(len(chain.links) for chain in chains)
        return Kept(
            tuple(held),
            tuple(sorted((p, d) for p, d in reads.items() if d is not None)),
            tuple(sorted(lookups.items())),
            complete,
            1 - len(links) / stored,
        )

    def closures(self) -> Mapping[str, KeptClosure]:
        """The files' closures (bnlint.static.sealed) as the last runs computed them, each
        decoded when first asked for."""
        if self._closures is None:
            stored = self.cache.load(_CLOSURES)
            self._closures = stored if isinstance(stored, dict) else {}
        return _Decoded(self._closures)

    def content_of(self, contribution: FileVerdicts) -> str:
        """A digest of what `contribution` says to a report; its encoding is kept for
        `save`, which stores it."""
        return _said(self._encoded(contribution))

    def _encoded(self, contribution: FileVerdicts) -> list[Any]:
        known = self._encodings.get(id(contribution))
        if known is None or known[0] is not contribution:
            encoded: list[Any] = encode(replace(contribution, chains=()))
            known = self._encodings[id(contribution)] = (contribution, encoded)
        return known[1]

    def _encoded_chains(self, path: str, chains: Sequence[Chain]) -> Any:
        """`_Chains(chains)` encoded; a chain that is one `kept` found holding (or the
        start of one: its links the same definitions) is stored as it was read."""
        known = self._kept_encoded.get(path, [])
        encoded = []
        for chain in chains:
            identities = tuple(link.identity for link in chain.links)
            links = next(
                (links for kept, links in known if kept[: len(identities)] == identities), None
            )
            encoded.append([links[: len(identities)]] if links is not None else encode(chain))
        return [encoded]

    def _load_table(self, kind: str, path: str) -> Any:
        """What `path`'s own table of `kind` holds (its contribution, its definitions: a table
        for each file, so that an edit reads and writes only those it analyses again)."""
        stored = self.cache.load(_table(kind, path))
        if not isinstance(stored, list) or len(stored) != 2 or stored[0] != path:
            return None
        return stored[1]

    # ---- writing ---------------------------------------------------------------------------

    def save(
        self,
        digests: Mapping[str, str],
        facts: Mapping[str, FileFacts],
        table: str,
        edges: Edges,
        contexts: Mapping[str, Sequence[str]],
        merged: Mapping[str, Sequence[str]],
        consulted: Mapping[str, Sequence[str]],
        reports: Mapping[str, FileReport],
        computed: Mapping[str, FileVerdicts],
        resolve: Resolve,
        refusals: Mapping[str, Refusal | None],
        closures: Mapping[str, KeptClosure] | None = None,
        contents: Mapping[str, str | None] | None = None,
    ) -> None:
        """Record this run. Nothing is written when nothing changed: a cached run only
        reads. `merged`: the members of each fresh report's context whose contributions it
        merged (a sealed file's, its own: bnlint.static.sealed_files); `consulted`: other
        files whose texts decided that."""
        fresh = {
            p: r
            for p, r in reports.items()
            if p not in self.reports or self.reports[p].report is not r or p in self._refreshed
        }
        if (
            not computed
            and not self._held_again
            and not fresh
            and digests == self.snapshot
            and table == self.table
            and edges.callees == self.edges.callees
            and refusals.keys() <= self.refusals.keys()
        ):
            return
        if closures:
            self.closures()  # loads what is stored, so that this run's join it
            assert self._closures is not None
            self._closures.update((p, encode(c)) for p, c in closures.items())
            self.cache.save(_CLOSURES, self._closures)
        present = set(digests.values())
        self.refusals = {d: r for d, r in {**self.refusals, **refusals}.items() if d in present}
        if computed:
            for path, contribution in computed.items():
                # each definition's verdicts are kept apart: read only after an edit
                encoded = self._encoded(contribution)
                self.cache.save(_table(_CONTRIBUTIONS, path), [path, encoded])
                if contribution.chains:
                    chains = self._encoded_chains(path, contribution.chains)
                    self.cache.save(_table(_DEFINITIONS, path), [path, chains])
            self.contents.update((p, self.content_of(v)) for p, v in computed.items())
            self._holding_table().update(
                (
                    p,
                    [
                        v.digest,
                        [list(r) for r in v.reads],
                        [list(k) for k in v.lookups],
                        _reads_digest(v.reads),
                    ],
                )
                for p, v in computed.items()
            )
        if computed or self._held_again:
            self.cache.save(_HOLDS, self._holding_table())
        if not self.lookups_hold(resolve):
            self.reports, self.resolutions = {}, {}
        read_by: dict[str, _Reads | None] = {}  # each member's reads, decoded once
        for path, report in fresh.items():
            context = tuple(contexts[path])
            inputs = self._inputs(
                [*context, *consulted.get(path, ())], merged.get(path, context), computed, read_by
            )
            if inputs is None:
                self.reports.pop(path, None)
                continue
            members = tuple(merged.get(path, context))
            said = tuple((contents or {}).get(m) or "" for m in members)
            self.reports[path] = _Report(
                context,
                inputs,
                _fingerprint(inputs, digests),
                encode(report),
                report,
                members,
                said if all(said) else (),
            )
        self.snapshot, self.table, self.edges = dict(digests), table, edges
        self._write_index(facts)

    def _inputs(
        self,
        context: Sequence[str],
        merged: Sequence[str],
        computed: Mapping[str, FileVerdicts],
        read_by: dict[str, _Reads | None],
    ) -> tuple[str, ...] | None:
        """The files a report read: its context (whose texts decided what it merged) and
        what the analyses it merged read; the module lookups they made join
        `resolutions`. None if a contribution is not at hand."""
        inputs: set[str] = set(context)
        for member in merged:
            if member not in read_by:
                read_by[member] = self._reads(member, computed)
            found = read_by[member]
            if found is None:
                return None
            inputs.update(p for p, _ in found.reads)
            self.resolutions.update(found.lookups)
        return tuple(sorted(inputs))

    def _reads(self, member: str, computed: Mapping[str, FileVerdicts]) -> _Reads | None:
        contribution = computed.get(member)
        if contribution is not None:
            return _Reads(contribution.reads, contribution.lookups)
        entry = self._holding_table().get(member)
        if entry is None:
            return None
        _, reads, lookups, _ = entry
        return _Reads(tuple(tuple(r) for r in reads), tuple(tuple(k) for k in lookups))

    # ---- the index file ----------------------------------------------------------------------

    def _read_index(self, data: Any) -> None:
        if data is None:
            return
        paths: list[str] = data["paths"]
        # the table of paths also names files the snapshot has no digest for (see _write_index)
        self.snapshot = dict(zip(paths, data["digests"], strict=False))
        self._stored_facts = data["facts"]
        self.facts = {
            digest: (bool(may_build), partial(decode, TextFacts, value))
            for digest, (may_build, value) in self._stored_facts.items()
        }
        self.table = data["table"]
        self.refusals = {
            digest: decode(Refusal, value) if value is not None else None
            for digest, value in data["refusals"].items()
        }
        self.edges = Edges(
            reached={paths[i]: frozenset(modules) for i, modules in data["reached"]},
            callees={
                paths[i]: frozenset(paths[j] for j in callees) for i, callees in data["callees"]
            },
        )
        self.resolutions = {
            name: paths[i] if i is not None else None for name, i in data["resolutions"]
        }
        for index, context, inputs, fingerprint, report, merged, said in data["reports"]:
            self.reports[paths[index]] = _Report(
                tuple(paths[i] for i in context),
                tuple(paths[i] for i in inputs),
                fingerprint,
                report,
                None,
                tuple(paths[i] for i in merged),
                tuple(said),
            )
        self.contents = {paths[i]: content for i, content in data["contents"]}

    def _write_index(self, facts: Mapping[str, FileFacts]) -> None:
        table: dict[str, int] = {path: i for i, path in enumerate(self.snapshot)}

        def index(path: str) -> int:
            return table.setdefault(path, len(table))

        data = {
            "digests": list(self.snapshot.values()),
            "facts": {
                f.digest: self._stored_facts.get(f.digest) or [f.may_build, encode(f.text)]
                for f in facts.values()
            },
            "table": self.table,
            "refusals": {d: encode(r) if r is not None else None for d, r in self.refusals.items()},
            "reached": [[index(p), sorted(m)] for p, m in self.edges.reached.items()],
            "callees": [
                [index(p), sorted(index(c) for c in callees)]
                for p, callees in self.edges.callees.items()
            ],
            "resolutions": [
                [n, index(p) if p is not None else None]
                for n, p in sorted(self.resolutions.items())
            ],
            "reports": [
                [
                    index(p),
                    [index(c) for c in r.context],
                    [index(i) for i in r.inputs],
                    r.fingerprint,
                    r.encoded,
                    [index(m) for m in r.merged],
                    list(r.contents),
                ]
                for p, r in self.reports.items()
            ],
            "contents": [[index(p), c] for p, c in self.contents.items()],
        }
        data["paths"] = list(table)  # last: index() may have grown the table
        self.cache.save(_INDEX, data)


class _Decoded(Mapping[str, KeptClosure]):
    """Stored closures, decoded when looked up; one that does not decode is not there."""

    def __init__(self, stored: dict[str, Any]) -> None:
        self._stored = stored

    def __getitem__(self, path: str) -> KeptClosure:
        try:
            return decode(KeptClosure, self._stored[path])
        except (ValueError, TypeError, IndexError) as error:
            raise KeyError(path) from error

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)


# What a contribution says to a report (bnlint.static.verdicts.report_on reads no other
# field): the fields a report kept by content must find unchanged
_SAID = ("display", "module_classes", "observations", "findings", "failure")
_FIELDS = [f.name for f in fields(FileVerdicts)]


def _said(encoded: list[Any]) -> str:
    """A digest of what an encoded contribution says to a report, not of its bytes."""
    said = [encoded[_FIELDS.index(name)] for name in _SAID]
    return hashlib.blake2b(json.dumps(said).encode(), digest_size=16).hexdigest()


def _lookups_hold(resolve: Resolve, lookups: Iterable[Any]) -> bool:
    """Whether every module name looked up (name, file: pairs, or lists as stored) is still
    answered by the same file."""
    return all(resolve(name) == found for name, found in lookups)


def _reads_digest(reads: Sequence[Sequence[str]]) -> str:
    return hashlib.blake2b(
        json.dumps([list(r) for r in reads]).encode(), digest_size=12
    ).hexdigest()


def _table(kind: str, path: str) -> str:
    """The name of the cache table of one file's `kind` of values."""
    return kind + hashlib.blake2b(path.encode(), digest_size=12).hexdigest()


def _fingerprint(inputs: Sequence[str], digests: Mapping[str, str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\n".join(f"{path}\0{digests.get(path, '-')}" for path in inputs).encode())
    return digest.hexdigest()
