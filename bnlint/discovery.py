"""Which files `bnlint check PATHS` analyses, and where the project around them starts.

Directories are walked for `*.py` files, skipping hidden directories, `.gitignore`d paths
(every .gitignore from the repository root down, deeper files winning, as git does) and the
configured excludes. A file named explicitly is always checked unless `--force-exclude` is
given: pre-commit passes every staged file by name, and excluded files must stay excluded.

Symbolic links are followed, each folder entered once however many links lead to it, so a
link loop ends. A link to nothing, a FIFO or device named `*.py` (reading one would block or
never end) and a file whose name is not UTF-8 are skipped with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pathspec

from bnlint.config import Config, compile_globs

log = logging.getLogger("bnlint.discovery")

_PROJECT_MARKERS = ("pyproject.toml", ".git")


class PathNotFoundError(Exception):
    """A path given on the command line does not exist."""


def find_project_root(path: Path) -> Path:
    """The nearest folder at or above `path` holding pyproject.toml or .git.

    The analyzer may read any Python file under it to resolve imports; without a marker the
    folder that holds the topmost package around `path` is the project (where Python would
    import it from), and outside any package the folder of `path` itself.
    """
    path = Path(os.path.abspath(path))
    start = path if os.path.isdir(path) else path.parent
    for directory in (start, *start.parents):
        # os.path.exists, not Path.exists: a folder we may not look into is not an error.
        if any(os.path.exists(directory / marker) for marker in _PROJECT_MARKERS):
            return directory
    top = start
    while os.path.exists(top / "__init__.py") and top.parent != top:
        top = top.parent
    return top


def find_git_root(path: Path) -> Path | None:
    path = Path(os.path.abspath(path))
    for directory in (path, *path.parents):
        if os.path.exists(directory / ".git"):
            return directory
    return None


def discover(paths: Sequence[Path], config: Config) -> list[Path]:
    """Absolute paths (symlinks kept, duplicates dropped) of the files to analyse, sorted."""
    walker = _Walker(config)
    found: dict[str, Path] = {}
    for given in paths:
        absolute = Path(os.path.abspath(given))
        try:
            is_dir = stat.S_ISDIR(os.stat(absolute).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            raise PathNotFoundError(f"{given}: no such file or directory") from None
        except OSError:  # in a folder we may not look into: the check says it cannot read it
            is_dir = False
        candidates = walker.walk(absolute) if is_dir else walker.explicit(absolute)
        for file in candidates:
            log.debug("found %s", file)
            found.setdefault(os.path.realpath(file), file)
    return sorted(found.values())


def iter_python_files(root: Path, config: Config | None = None) -> Iterator[Path]:
    """Every `*.py` file under `root` that `bnlint check root` would analyse."""
    return _Walker(config or Config(root=root)).walk(Path(os.path.abspath(root)))


class _Walker:
    def __init__(self, config: Config, floor: Path | None = None) -> None:
        self.config = config
        self.root = Path(os.path.abspath(config.root))
        self.excludes = compile_globs(config.all_excludes())
        self.gitignore = _GitIgnore(self.root, floor)

    def explicit(self, file: Path) -> Iterator[Path]:
        if self.config.force_exclude and self._skipped(file, is_dir=False):
            log.debug("excluded (--force-exclude): %s", file)
            return
        if _readable_kind(file):
            yield file

    def walk(self, top: Path) -> Iterator[Path]:
        if self._skipped(top, is_dir=True):
            if self.config.force_exclude:
                log.debug("excluded (--force-exclude): %s", top)
                return
            # An excluded folder named explicitly is checked as if it were its own project:
            # the patterns that exclude it must not exclude everything inside it.
            inner = _Walker(replace(self.config, root=top), floor=top)
            yield from inner._walk(top)
            return
        yield from self._walk(top)

    def _walk(self, top: Path) -> Iterator[Path]:
        seen: set[tuple[int, int]] = set()
        for directory, dirnames, filenames in os.walk(top, onerror=_unlistable, followlinks=True):
            here = Path(directory)
            try:
                identity = here.stat()
            except OSError as error:  # removed or made unreadable during the walk
                _unlistable(error)
                dirnames[:] = []
                continue
            if (identity.st_dev, identity.st_ino) in seen:  # a symlink loop or a second link
                dirnames[:] = []
                continue
            seen.add((identity.st_dev, identity.st_ino))
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and not self._skipped(here / d, True)
            )
            for name in sorted(filenames):
                file = here / name
                if not name.endswith(".py") or self._skipped(file, is_dir=False):
                    continue
                if _readable_kind(file):
                    yield file

    def _skipped(self, path: Path, is_dir: bool) -> bool:
        if _matches(self.excludes, path, self.root, is_dir):
            log.debug("excluded: %s", path)
            return True
        if self.gitignore.ignores(path, is_dir):
            log.debug("ignored by .gitignore: %s", path)
            return True
        return False


def _unlistable(error: OSError) -> None:
    # Not an error of the check: the folder may hold no Python at all. Said, not hidden.
    log.warning(
        "cannot list %s: %s; files in it are not checked", error.filename, error.strerror or error
    )


def _readable_kind(file: Path) -> bool:
    """Whether `file` is worth reading: not a link to nothing, not a FIFO, socket or device
    (reading one blocks or never ends), and named in UTF-8 (no module can have another name,
    and no report could print it)."""
    try:
        file.name.encode("utf-8")
    except UnicodeEncodeError:
        log.warning("skipping %r: its name is not valid UTF-8", os.fsencode(file))
        return False
    try:
        mode = os.stat(file).st_mode
    except FileNotFoundError:
        log.warning("skipping broken symbolic link %s", file)
        return False
    except OSError:  # not ours to look at: the check reports it (XBN003) when it reads it
        return True
    if stat.S_ISREG(mode):
        return True
    log.warning("skipping %s: not a regular file", file)
    return False


def _matches(spec: pathspec.GitIgnoreSpec, path: Path, root: Path, is_dir: bool) -> bool:
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:  # outside the project: only unanchored patterns (`build`) can match
        relative = path.name
    if relative in ("", "."):
        return False
    return spec.match_file(relative + "/" if is_dir else relative)


class _GitIgnore:
    """The .gitignore files that apply to a path: from its folder up to the repository root
    (or, outside any repository, up to the project root)."""

    def __init__(self, project_root: Path, floor: Path | None = None) -> None:
        self.project_root = project_root
        self.floor = floor  # when set, no .gitignore above it applies
        self._specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}
        self._roots: dict[Path, Path | None] = {}

    def ignores(self, path: Path, is_dir: bool) -> bool:
        boundary = self._repository_root(path.parent)
        if boundary is None:
            return False
        directory = path.parent
        while True:
            spec = self._spec(directory)
            if spec is not None:
                relative = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
                verdict = spec.check_file(relative).include
                if verdict is not None:  # the deepest .gitignore with an opinion decides
                    return verdict
            if directory == boundary or directory.parent == directory:
                return False
            directory = directory.parent

    def _repository_root(self, directory: Path) -> Path | None:
        if directory not in self._roots:
            root = find_git_root(directory)
            if self.floor is not None and (root is None or self.floor.is_relative_to(root)):
                root = self.floor if directory.is_relative_to(self.floor) else None
            elif root is None and directory.is_relative_to(self.project_root):
                root = self.project_root
            self._roots[directory] = root
        return self._roots[directory]

    def _spec(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._specs:
            lines: list[str] = []
            for name in (".git/info/exclude", ".gitignore"):
                try:
                    lines += (
                        (directory / name)
                        .read_text(encoding="utf-8", errors="replace")
                        .splitlines()
                    )
                except OSError:
                    continue
            self._specs[directory] = _lenient_spec(lines) if lines else None
        return self._specs[directory]


def _lenient_spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    """Like git, skip the lines that are not valid patterns instead of failing."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:
        valid = []
        for line in lines:
            try:
                pathspec.GitIgnoreSpec.from_lines([line])
            except ValueError:
                continue
            valid.append(line)
        return pathspec.GitIgnoreSpec.from_lines(valid)
