"""Which observations of a context bear on the report about one file.

A file's context holds every model that can build its classes, and so the observations of
many other files' classes too. The report on a file needs those of its own classes' fold
keys, of the keys placed in it, and of the BatchNorms seen inside instances of its classes
(they decide which of its verdicts stand: bnlint.static.verdicts), with every other
observation of the same keys. Selecting them by a pass over the whole context for every
report took longer than combining them; each contribution is indexed once instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from bnlint.static.records import FileVerdicts, Observation

Key = tuple[str, str]  # (owner class, BatchNorm path): a fold key as verdicts groups them


@dataclass
class _Indexed:
    contribution: FileVerdicts  # held, so that its id is not reused while indexed
    keys_by_class: defaultdict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    keys_by_path: defaultdict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))
    positions: defaultdict[Key, list[int]] = field(default_factory=lambda: defaultdict(list))


class ContextIndex:
    """The observations of each contribution by the classes they mention, the file they are
    placed in and their fold keys, built once per contribution and read by every report."""

    def __init__(self) -> None:
        self._indexed: dict[int, _Indexed] = {}

    def bearing_on(
        self, target: FileVerdicts, context: Sequence[FileVerdicts]
    ) -> list[Observation]:
        """The observations that can change the report on `target`, in context order."""
        classes = [qualname for qualname, _ in target.module_classes]
        indexed = [self._index(contribution) for contribution in context]
        wanted: set[Key] = set()
        for entry in indexed:
            for name in classes:
                wanted |= entry.keys_by_class.get(name, set())
            wanted |= entry.keys_by_path.get(target.display, set())
        found: list[Observation] = []
        for entry in indexed:
            positions = sorted({i for key in wanted for i in entry.positions.get(key, ())})
            observations = entry.contribution.observations
            found.extend(observations[i] for i in positions)
        return found

    def _index(self, contribution: FileVerdicts) -> _Indexed:
        entry = self._indexed.get(id(contribution))
        if entry is not None:
            return entry
        entry = self._indexed[id(contribution)] = _Indexed(contribution)
        for position, observation in enumerate(contribution.observations):
            keys = list(_keys(observation))
            for key in keys:
                entry.positions[key].append(position)
            for name in _classes(observation):
                entry.keys_by_class[name].update(keys)
            if observation.location is not None:
                entry.keys_by_path[observation.location.path].update(keys)
        return entry


def _keys(observation: Observation) -> Iterator[Key]:
    """The fold keys the observation may be reported under (its own, and the one it falls
    back to when its class is the whole model)."""
    yield observation.owner, observation.entry.bn
    if observation.fallback is not None:
        yield observation.fallback.owner, observation.fallback.entry.bn


def _classes(observation: Observation) -> Iterator[str]:
    """The classes the observation speaks of: its owner and every module around it."""
    yield observation.owner
    if observation.fallback is not None:
        yield observation.fallback.owner
    for anchor in observation.anchors:
        yield anchor.partition(":")[0]
