"""What the engine keeps in the cache between runs, and when a kept value is still true.

Everything is keyed by content, never by modification time:

- text facts (names, imports) by the digest of the file's bytes, and for a checked file
  that is never parsed (it has no class statement), why Python could not read it;
- the caller graph, for the module table (which file has which module name) it was computed
  under; a run recomputes only the edges that touch a changed file;
- a file's contribution (FileVerdicts) with its own digest, the digest of every file its
  analysis read and the file that answered every module lookup it made: valid while all of
  those are unchanged, so an edited parent class invalidates the subclasses built on it;
- a file's report with its context and the digests of every input of that context: valid
  while the context and those digests are the same and every module lookup behind it would
  still be answered by the same file.

A value that fails a check is recomputed, never patched; a damaged or foreign cache file
reads as empty (bnlint.cache).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from bnlint.cache import Cache, decode, decode_field, encode
from bnlint.static.callers import Edges, FileFacts
from bnlint.static.footprint import CurrentFiles, holding_prefix
from bnlint.static.readable import Refusal
from bnlint.static.records import Chain, FileReport, FileVerdicts, Kept
from bnlint.static.scan import KnownFacts
from bnlint.static.textscan import TextFacts

log = logging.getLogger("bnlint.cache")

_INDEX = "index"
_CONTRIBUTIONS = "contributions"
_DEFINITIONS = "definitions"

Resolve = Callable[[str], "str | None"]


@dataclass
class _Report:
    context: tuple[str, ...]
    inputs: tuple[str, ...]  # the context and every file its contributions read
    fingerprint: str  # of the inputs' digests
    encoded: Any  # the FileReport as stored; decoded when used
    report: FileReport | None = None


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
    _contributions: dict[str, Any] | None = None  # path -> encoded FileVerdicts
    _definitions: dict[str, Any] | None = None  # path -> encoded _Chains
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
        return all(resolve(name) == found for name, found in self.resolutions.items())

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

    def contribution(
        self, path: str, digests: Mapping[str, str], resolve: Resolve
    ) -> FileVerdicts | None:
        encoded = self._kept_contributions().get(path)
        if encoded is None:
            return None
        try:
            kept = decode(FileVerdicts, encoded)
        except (ValueError, TypeError) as error:
            log.info("cached contribution of %s unusable (%s)", path, error)
            return None
        if digests.get(path) != kept.digest:
            return None
        if any(digests.get(p) != d for p, d in kept.reads):
            return None
        if any(resolve(name) != found for name, found in kept.lookups):
            return None
        return kept

    def kept(self, path: str, now: CurrentFiles, resolve: Resolve) -> Kept | None:
        """What the cache has of the definitions of `path` whose verdicts still hold
        although the file's contribution as a whole does not: an edit elsewhere in the files
        they read leaves them standing (bnlint.static.footprint)."""
        encoded = self._kept_definitions().get(path)
        if encoded is None:
            return None
        try:
            chains = decode(_Chains, encoded).chains
        except (ValueError, TypeError, KeyError, IndexError) as error:
            log.info("cached definitions of %s unusable (%s)", path, error)
            return None

        def lookups_hold(lookups: Any) -> bool:
            return all(resolve(name) == found for name, found in lookups)

        held = []
        for chain in chains:
            footprints = (link.footprint for link in chain.links)
            count = holding_prefix(footprints, now.digest_of, now.layout, lookups_hold)
            if count:
                held.append(Chain(chain.links[:count]))
        if not held:
            return None
        links = [link for chain in held for link in chain.links]
        reads = {p: now.digest_of(p) for link in links for p, _ in link.footprint.files}
        lookups = {name: found for link in links for name, found in link.footprint.lookups}
        return Kept(
            tuple(held),
            tuple(sorted((p, d) for p, d in reads.items() if d is not None)),
            tuple(sorted(lookups.items())),
        )

    def _kept_definitions(self) -> dict[str, Any]:
        if self._definitions is None:
            stored = self.cache.load(_DEFINITIONS)
            self._definitions = stored if isinstance(stored, dict) else {}
        return self._definitions

    def _kept_contributions(self) -> dict[str, Any]:
        if self._contributions is None:
            stored = self.cache.load(_CONTRIBUTIONS)
            self._contributions = stored if isinstance(stored, dict) else {}
        return self._contributions

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
    ) -> None:
        """Record this run. Nothing is written when nothing changed: a cached run only
        reads. `merged`: the members of each fresh report's context whose contributions it
        merged (a sealed file's, its own: bnlint.static.sealed_files); `consulted`: other
        files whose texts decided that."""
        fresh = {
            p: r
            for p, r in reports.items()
            if p not in self.reports or self.reports[p].report is not r
        }
        if (
            not computed
            and not fresh
            and digests == self.snapshot
            and table == self.table
            and edges.callees == self.edges.callees
            and refusals.keys() <= self.refusals.keys()
        ):
            return
        present = set(digests.values())
        self.refusals = {d: r for d, r in {**self.refusals, **refusals}.items() if d in present}
        if computed:
            kept = self._kept_contributions()
            # each definition's verdicts are kept apart: read only after an edit
            kept.update((p, encode(replace(v, chains=()))) for p, v in computed.items())
            self.cache.save(_CONTRIBUTIONS, kept)
            definitions = self._kept_definitions()
            for path, contribution in computed.items():
                if contribution.chains:
                    definitions[path] = encode(_Chains(contribution.chains))
                else:
                    definitions.pop(path, None)
            self.cache.save(_DEFINITIONS, definitions)
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
            self.reports[path] = _Report(
                context, inputs, _fingerprint(inputs, digests), encode(report), report
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
        encoded = self._kept_contributions().get(member)
        if encoded is None:
            return None
        return _Reads(
            decode_field(FileVerdicts, encoded, "reads"),
            decode_field(FileVerdicts, encoded, "lookups"),
        )

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
        for index, context, inputs, fingerprint, report in data["reports"]:
            self.reports[paths[index]] = _Report(
                tuple(paths[i] for i in context),
                tuple(paths[i] for i in inputs),
                fingerprint,
                report,
            )

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
                ]
                for p, r in self.reports.items()
            ],
        }
        data["paths"] = list(table)  # last: index() may have grown the table
        self.cache.save(_INDEX, data)


def _fingerprint(inputs: Sequence[str], digests: Mapping[str, str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\n".join(f"{path}\0{digests.get(path, '-')}" for path in inputs).encode())
    return digest.hexdigest()
