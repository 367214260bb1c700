"""The cache directory: named values stored so that a damaged file is never believed.

Every value is written to a temporary file and renamed into place, so a reader sees a whole
old file or a whole new one; each file carries the hash of its content, so one truncated by a
crash, half-copied or edited by hand fails the check and reads as absent. Values are JSON
(never pickle: bnlint must not run code from a file it did not write). Where values live is
keyed: the bnlint version, a fingerprint of bnlint's own code and of the parser, and whatever
the caller adds (bnlint.static.memo adds the project's search roots and the working
directory); a new key starts empty and the oldest keys are removed.

What is stored and when it is still valid is decided by bnlint.static.memo.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import types
import typing
import zlib
from collections.abc import Callable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, TypeVar

from bnlint import __version__

log = logging.getLogger("bnlint.cache")

ENV_VAR = "BNLINT_CACHE_DIR"
DEFAULT_NAME = ".bnlint_cache"
FORMAT = 1
_MAGIC = b"bnlint-cache"
_KEPT_KEYS = 4  # key folders kept; older ones are removed when a new one is written


class CacheError(Exception):
    """The cache directory cannot be used (it exists and is not a bnlint cache, say)."""


def cache_dir(
    option: Path | None, project_root: Path, environ: Mapping[str, str] | None = None
) -> Path:
    """--cache-dir, else $BNLINT_CACHE_DIR, else .bnlint_cache in the project root."""
    env = os.environ if environ is None else environ
    if option is not None:
        return Path(option)
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR])
    return project_root / DEFAULT_NAME


def clean(directory: Path) -> bool:
    """Remove a cache directory; False if there was none. Refuses a folder that does not
    look like a bnlint cache, so that a mistyped --cache-dir cannot delete a project."""
    if not directory.exists():
        return False
    if not (directory / "CACHEDIR.TAG").is_file():
        raise CacheError(f"{directory} is not a bnlint cache (no CACHEDIR.TAG); not removed")
    shutil.rmtree(directory)
    return True


class Cache:
    def __init__(self, directory: Path, *key_parts: str) -> None:
        self.directory = Path(directory)
        self.key = _digest("\0".join((__version__, _code_fingerprint(), *key_parts)).encode())
        self.folder = self.directory / f"v{FORMAT}" / self.key

    def load(self, name: str) -> Any | None:
        """The JSON value last saved under `name`, or None if absent or damaged."""
        try:
            raw = (self.folder / name).read_bytes()
            header, _, body = raw.partition(b"\n")
            magic, digest = header.split(b" ")
            if magic != _MAGIC or digest.decode() != _digest(body):
                log.info("cache file %s is damaged; ignored", self.folder / name)
                return None
            return json.loads(zlib.decompress(body))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, zlib.error) as error:
            log.info("cache file %s is unreadable (%s); ignored", self.folder / name, error)
            return None

    def save(self, name: str, value: Any) -> None:
        """Store `value` under `name` atomically; a cache that cannot be written only costs
        speed, so failures are logged, never raised."""
        try:
            self._prepare()
            body = zlib.compress(json.dumps(value, separators=(",", ":")).encode(), 1)
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.folder)
            with os.fdopen(handle, "wb") as stream:
                stream.write(_MAGIC + b" " + _digest(body).encode() + b"\n" + body)
            os.replace(temporary, self.folder / name)
        except OSError as error:
            log.warning("cannot write the cache in %s: %s", self.folder, error)

    def _prepare(self) -> None:
        if not self.folder.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_if_missing(self.directory / ".gitignore", "# created by bnlint\n*\n")
            _write_if_missing(
                self.directory / "CACHEDIR.TAG",
                "Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This directory is a cache written by bnlint (bnlint clean).\n",
            )
            self.folder.mkdir(parents=True, exist_ok=True)
            self._prune()

    def _prune(self) -> None:
        keys = sorted(
            (p for p in self.folder.parent.iterdir() if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in keys[_KEPT_KEYS:]:
            shutil.rmtree(stale, ignore_errors=True)


def _write_if_missing(path: Path, text: str) -> None:
    if not path.exists():
        path.write_text(text, encoding="utf-8")


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """bnlint's own sources and the parser's version: a changed analyzer never reuses what
    an older one computed, even at the same version number."""
    import importlib.util

    digest = hashlib.blake2b(digest_size=16)
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    # The parser's version, read from its files (importing it, or asking importlib.metadata,
    # would cost more than a cached run).
    spec = importlib.util.find_spec("libcst")
    if spec is not None and spec.origin:
        version = Path(spec.origin).with_name("_version.py")
        digest.update(version.read_bytes() if version.is_file() else spec.origin.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


# ---- frozen dataclasses <-> JSON ---------------------------------------------------------------


def encode(value: Any) -> Any:
    """A dataclass as the list of its field values (recursively); enums by value; sets sorted."""
    kind: Any = type(value)
    if value is None or kind in _SCALARS:
        return value
    if kind is tuple or kind is list or kind is frozenset or kind is set:
        items = sorted(value) if kind is frozenset or kind is set else value
        if all(type(item) is str for item in items):  # names, paths: the bulk of it
            return list(items)
        return [encode(item) for item in items]
    fields = _fields(kind)
    if fields is not None:
        return [encode(getattr(value, name)) for name in fields]
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot store {kind.__name__} in the cache")


@cache
def _fields(kind: type) -> tuple[str, ...] | None:
    if not dataclasses.is_dataclass(kind):
        return None
    return tuple(f.name for f in dataclasses.fields(kind))


_SCALARS = (str, int, float, bool)
_T = TypeVar("_T")


def decode(kind: type[_T], data: Any) -> _T:
    """The value of type `kind` that `encode` turned into `data`; ValueError if `data` does
    not have that shape (a damaged cache or one from another bnlint)."""
    try:
        cls: type = kind  # a class, hashable: the decoders are cached by it
        value: _T = _decoder(cls)(data)  # the decoder of `kind` builds a `kind`
        return value
    except (TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(f"not a {getattr(kind, '__name__', kind)}: {error}") from error


@cache
def _decoder(kind: Any) -> Callable[[Any], Any]:
    """A function from JSON to `kind`. Scalars pass through unchecked: the checksum already
    rules out damage, and the key rules out another bnlint's layout."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if kind in _SCALARS:
        return _same
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = [f.name for f in dataclasses.fields(kind)]
        parts = [
            (i, _decoder(hints[name]))
            for i, name in enumerate(fields)
            if hints[name] not in _SCALARS
        ]
        size = len(fields)

        def record(data: list[Any]) -> Any:
            if len(data) != size:
                raise ValueError(f"{kind.__name__} has {size} fields, not {len(data)}")
            if parts:
                data = list(data)
                for index, part in parts:
                    data[index] = part(data[index])
            return kind(*data)

        return record
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"cannot decode {kind}")
        inner = _decoder(options[0])
        if inner is _same:
            return _same
        return lambda data: None if data is None else inner(data)
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        fixed = [_decoder(a) for a in args]
        return lambda data: tuple(part(item) for part, item in zip(fixed, data, strict=True))
    if origin in (tuple, frozenset):
        inner = _decoder(args[0])
        container: Callable[[Any], Any] = origin
        if inner is _same:
            return container
        return lambda data: container(inner(item) for item in data)
    raise TypeError(f"cannot decode {kind}")


def _same(data: Any) -> Any:
    return data
