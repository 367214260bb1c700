"""The files bnlint writes (`-o/--output` of `check`, `fold` and `graph`): one rule for all.

An existing file is never replaced unless `--force` is given. A file is written to a temporary
file beside its destination and renamed into place, so a reader never sees half a file and a
failure (a model that cannot be pickled, a full disk) leaves the old file, or nothing, behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


class OutputError(Exception):
    """The output file cannot be written (it exists, or its folder does not); one line."""


def check_writable(path: Path, *, force: bool) -> None:
    """Raise OutputError before any work is done if `path` may not or cannot be written."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    if path.exists() and not force:
        raise OutputError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: {path.parent} is not a directory")


def write_atomically(path: Path, write: Callable[[BinaryIO], object], *, force: bool) -> None:
    """Call `write` on a temporary file beside `path`, then rename it into place. Errors from
    `write` propagate after the temporary file is removed."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 is for secrets
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists() and not force:
            raise FileExistsError(f"{path} appeared meanwhile; pass --force to overwrite it")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def write_text(path: Path, text: str, *, force: bool) -> None:
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")), force=force)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
