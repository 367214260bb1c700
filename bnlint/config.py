"""`[tool.bnlint]`: finding it, validating every key, and merging command-line overrides.

Rule selection follows ruff: `select` replaces, `extend-select` adds, `ignore` removes, and
within one layer a more specific selector (a full code beats a prefix, a prefix beats `ALL`)
wins; at equal specificity `ignore` wins. The file is one layer and the command line another,
so `--select` on the command line starts afresh while `--ignore` narrows the file's choice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pathspec

from bnlint.ftypes import Severity
from bnlint.reporters import FORMATS  # the reporters registry is the list of formats
from bnlint.rules import RULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ALL = "ALL"

# Directories nobody wants linted; `exclude` replaces this list, `extend-exclude` adds to it.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".hg",
    ".mypy_cache",
    ".nox",
    ".pytest_cache",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)

_MODEL_KEYS = frozenset({"factory", "input-shape", "kwargs", "inputs"})


class ConfigError(Exception):
    """A configuration problem the user must fix; the message is one line naming the key."""


@dataclass(frozen=True)
class RuleSelection:
    """One layer of select/ignore/extend-select; `select=None` keeps the previous layer."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """A model `bnlint check --confirm` can build: `factory` is `module:callable`."""

    name: str
    factory: str
    input_shape: tuple[Any, ...] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    inputs: Any = None


@dataclass(frozen=True)
class Config:
    """The effective configuration. Globs are relative to `root` (the config file's folder)."""

    root: Path
    path: Path | None = None
    selections: tuple[RuleSelection, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    output_format: str = "full"
    models: tuple[ModelSpec, ...] = ()
    force_exclude: bool = False
    # Installed libraries the analysis reads (bnlint.static.libraries): folders named, and
    # whether the model libraries in bnlint's own site-packages are read too.
    library_path: tuple[Path, ...] = ()
    site_packages: bool = True

    def enabled_codes(self) -> frozenset[str]:
        return resolve_selection((RuleSelection(select=(ALL,)), *self.selections))

    def all_excludes(self) -> tuple[str, ...]:
        return self.exclude + self.extend_exclude

    def ignored_in(self, relative_path: str) -> tuple[str, ...]:
        """Selectors that per-file-ignores turns off for a path relative to `root`."""
        ignored: list[str] = []
        for glob, codes in self.per_file_ignores:
            if compile_globs([glob]).match_file(relative_path):
                ignored.extend(codes)
        return tuple(ignored)

    def severity_of(self, code: str, default: Severity) -> Severity:
        """The most specific severity override for `code`, or `default`."""
        best: tuple[int, Severity] | None = None
        for selector, level in self.severity:
            if selector_matches(selector, code):
                rank = _specificity(selector)
                if best is None or rank >= best[0]:
                    best = (rank, level)
        return default if best is None else best[1]


def selector_matches(selector: str, code: str) -> bool:
    return selector == ALL or code.startswith(selector)


def _specificity(selector: str) -> int:
    return 0 if selector == ALL else len(selector)


def resolve_selection(layers: Iterable[RuleSelection]) -> frozenset[str]:
    enabled: set[str] = set()
    for layer in layers:
        choices = [(s, True) for s in (layer.select or ())]
        choices += [(s, True) for s in layer.extend_select]
        choices += [(s, False) for s in layer.ignore]
        if layer.select is not None:
            enabled = set()
        # Least specific first so that a full code can override a prefix; at equal
        # specificity ignore (False) sorts after select and so has the last word.
        for selector, turn_on in sorted(choices, key=lambda c: (_specificity(c[0]), not c[1])):
            matched = {code for code in RULES if selector_matches(selector, code)}
            enabled = enabled | matched if turn_on else enabled - matched
    return frozenset(enabled)


@lru_cache(maxsize=256)
def _compiled(globs: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(globs)


def compile_globs(globs: Sequence[str]) -> pathspec.GitIgnoreSpec:
    """Globs use .gitignore syntax: `name` matches at any depth, `dir/*.py` is anchored."""
    return _compiled(tuple(globs))


# --- reading ---------------------------------------------------------------------------------


def find_config_file(paths: Sequence[Path]) -> Path | None:
    """The nearest pyproject.toml with a [tool.bnlint] table above the checked paths."""
    for directory in _ancestors(_common_directory(paths)):
        candidate = directory / "pyproject.toml"
        if _is_file(candidate) and "bnlint" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def load_config(config_file: Path | None, *, root: Path) -> Config:
    """Read and validate `config_file` (pyproject.toml or a bare bnlint TOML file).

    Without a file the defaults apply and globs are relative to `root`.
    """
    if config_file is None:
        return Config(root=root)
    if not config_file.is_file():
        raise ConfigError(f"{config_file}: config file not found")
    data = _read_toml(config_file)
    if config_file.name == "pyproject.toml":
        table = data.get("tool", {}).get("bnlint", {})
        where = f"{config_file}: [tool.bnlint]"
    else:
        table, where = data, f"{config_file}:"
    return parse_table(table, where=where, root=config_file.resolve().parent, path=config_file)


def table_keys(config_file: Path) -> frozenset[str]:
    """The keys `config_file` sets in its bnlint table (for --show-settings)."""
    data = _read_toml(config_file)
    table = data.get("tool", {}).get("bnlint", {}) if config_file.name == "pyproject.toml" else data
    return frozenset(table) if isinstance(table, Mapping) else frozenset()


def parse_table(
    table: Mapping[str, Any], *, where: str, root: Path, path: Path | None = None
) -> Config:
    """Validate a bnlint table; every error starts with `where` and names the key."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} expected a table, got {_describe(table)}")
    known = {
        "select",
        "ignore",
        "extend-select",
        "per-file-ignores",
        "exclude",
        "extend-exclude",
        "severity",
        "output-format",
        "models",
        "library-path",
        "site-packages",
    }
    for key in table:
        if key not in known:
            raise ConfigError(
                f"{where} unknown key '{key}' (known keys: {', '.join(sorted(known))})"
            )
    check = _Checker(where)
    selection = RuleSelection(
        select=check.selectors(table, "select") if "select" in table else None,
        ignore=check.selectors(table, "ignore") or (),
        extend_select=check.selectors(table, "extend-select") or (),
    )
    output_format = table.get("output-format", "full")
    if output_format not in FORMATS:
        raise ConfigError(
            f"{where} output-format: unknown format {output_format!r} "
            f"(choose from {', '.join(FORMATS)})"
        )
    return Config(
        root=root,
        path=path,
        selections=(selection,),
        per_file_ignores=check.per_file_ignores(table),
        exclude=check.globs(table, "exclude") or () if "exclude" in table else DEFAULT_EXCLUDE,
        extend_exclude=check.globs(table, "extend-exclude") or (),
        severity=check.severity(table),
        output_format=output_format,
        models=check.models(table),
        library_path=tuple(
            root / folder
            for folder in check.string_list(table.get("library-path", []), "library-path")
        ),
        site_packages=check.boolean(table, "site-packages", default=True),
    )


def with_overrides(
    config: Config,
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
    per_file_ignores: Sequence[str] = (),
    exclude: Sequence[str] | None = None,
    extend_exclude: Sequence[str] = (),
    output_format: str | None = None,
    force_exclude: bool = False,
    library_path: Sequence[Path] = (),
    no_site_packages: bool = False,
) -> Config:
    """Apply command-line flags on top of the file: they always win."""
    check = _Checker("command line:")
    changes: dict[str, Any] = {
        "force_exclude": config.force_exclude or force_exclude,
        "library_path": tuple(library_path) + config.library_path,
        "site_packages": config.site_packages and not no_site_packages,
    }
    if select is not None or ignore or extend_select:
        cli = {"--select": select, "--ignore": ignore, "--extend-select": extend_select}
        layer = {
            flag: check.selector_list(list(values), flag) if values is not None else None
            for flag, values in cli.items()
        }
        changes["selections"] = config.selections + (
            RuleSelection(
                select=layer["--select"],
                ignore=layer["--ignore"] or (),
                extend_select=layer["--extend-select"] or (),
            ),
        )
    if per_file_ignores:
        pairs = []
        for item in per_file_ignores:
            glob, sep, codes = item.rpartition(":")
            selectors = [code for code in codes.split(",") if code.strip()]
            if not sep or not glob or not selectors:
                raise check.fail("--per-file-ignores", f"expected GLOB:CODE[,CODE], got {item!r}")
            pairs.append(
                (
                    check.glob_list([glob], "--per-file-ignores")[0],
                    check.selector_list(selectors, "--per-file-ignores"),
                )
            )
        changes["per_file_ignores"] = config.per_file_ignores + tuple(pairs)
    if exclude is not None:
        changes["exclude"] = check.glob_list(list(exclude), "--exclude")
    if extend_exclude:
        changes["extend_exclude"] = config.extend_exclude + check.glob_list(
            list(extend_exclude), "--extend-exclude"
        )
    if output_format is not None:
        changes["output_format"] = output_format
    return replace(config, **changes)


# --- validation ------------------------------------------------------------------------------


class _Checker:
    """Validates values and raises ConfigError with one line that names the key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where} {key}: {problem}")

    def boolean(self, table: Mapping[str, Any], key: str, *, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_describe(value)}")
        return value

    def string_list(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of strings, got {_describe(value)}")
        return value

    def selectors(self, table: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
        if key not in table:
            return None
        return self.selector_list(self.string_list(table[key], key), key)

    def selector_list(self, values: list[str], key: str) -> tuple[str, ...]:
        selectors = []
        for raw in values:
            selector = raw.strip()
            if selector.upper() == ALL:
                selectors.append(ALL)
                continue
            selector = selector.upper()
            if not selector or not any(code.startswith(selector) for code in RULES):
                raise self.fail(
                    key,
                    f"unknown rule code or prefix {raw!r} "
                    "(bnlint codes look like XBN101; see `bnlint rule --all`)",
                )
            selectors.append(selector)
        return tuple(selectors)

    def globs(self, table: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
        if key not in table:
            return None
        return self.glob_list(self.string_list(table[key], key), key)

    def glob_list(self, globs: list[str], key: str) -> tuple[str, ...]:
        for glob in globs:
            problem = _glob_problem(glob)
            if problem:
                raise self.fail(key, f"invalid glob {glob!r}: {problem}")
        return tuple(globs)

    def per_file_ignores(self, table: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        key = "per-file-ignores"
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table of glob = [codes], got {_describe(value)}")
        pairs = []
        for glob, codes in value.items():
            self.glob_list([glob], key)
            pairs.append(
                (
                    glob,
                    self.selector_list(self.string_list(codes, f"{key}.{glob}"), f"{key}.{glob}"),
                )
            )
        return tuple(pairs)

    def severity(self, table: Mapping[str, Any]) -> tuple[tuple[str, Severity], ...]:
        key = "severity"
        value = table.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(
                key, f'expected a table of CODE = "error|warning|info", got {_describe(value)}'
            )
        levels = {s.value: s for s in Severity}
        pairs = []
        for selector, level in value.items():
            (code,) = self.selector_list([selector], key)
            if level not in levels:
                raise self.fail(
                    f"{key}.{selector}", f"expected one of {', '.join(levels)}, got {level!r}"
                )
            pairs.append((code, levels[level]))
        return tuple(pairs)

    def models(self, table: Mapping[str, Any]) -> tuple[ModelSpec, ...]:
        value = table.get("models", {})
        if not isinstance(value, dict):
            raise self.fail("models", f"expected a table of model tables, got {_describe(value)}")
        specs = []
        for name, spec in value.items():
            key = f"models.{name}"
            if not isinstance(spec, dict):
                raise self.fail(key, f"expected a table, got {_describe(spec)}")
            for unknown in sorted(set(spec) - _MODEL_KEYS):
                raise self.fail(
                    f"{key}.{unknown}",
                    f"unknown key (known keys: {', '.join(sorted(_MODEL_KEYS))})",
                )
            factory = spec.get("factory")
            if not isinstance(factory, str) or ":" not in factory:
                raise self.fail(
                    f"{key}.factory", f"expected 'module.path:callable', got {_describe(factory)}"
                )
            shape = spec.get("input-shape")
            if shape is not None and not _is_shape(shape):
                raise self.fail(
                    f"{key}.input-shape",
                    "expected a list of ints (or a list of such lists), got " + _describe(shape),
                )
            kwargs = spec.get("kwargs", {})
            if not isinstance(kwargs, dict):
                raise self.fail(f"{key}.kwargs", f"expected a table, got {_describe(kwargs)}")
            specs.append(
                ModelSpec(
                    name=name,
                    factory=factory,
                    input_shape=_freeze_shape(shape) if shape is not None else None,
                    kwargs=MappingProxyType(dict(kwargs)),
                    inputs=spec.get("inputs"),
                )
            )
        return tuple(specs)


def _is_shape(value: Any) -> bool:
    if not isinstance(value, list) or not value:
        return False
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        return True
    return all(isinstance(v, list) and _is_shape(v) and not isinstance(v[0], list) for v in value)


def _freeze_shape(shape: list[Any]) -> tuple[Any, ...]:
    return tuple(_freeze_shape(v) if isinstance(v, list) else v for v in shape)


def _glob_problem(glob: str) -> str | None:
    if not glob.strip():
        return "empty pattern"
    if glob.endswith("\\") and not glob.endswith("\\\\"):
        return "ends with a lone backslash"
    depth = 0
    for char in glob:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    if depth:
        return "unclosed '['"
    try:
        compile_globs([glob])
    except ValueError as error:  # pathspec's pattern errors subclass ValueError
        return str(error)
    return None


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from error


def _common_directory(paths: Sequence[Path]) -> Path:
    # os.path.realpath, not Path.resolve, which raises RuntimeError on a symlink loop: a
    # checked file that is one is reported by the check (XBN003), as in a folder.
    resolved = [Path(os.path.realpath(p)) for p in paths] or [Path.cwd()]
    common = Path(os.path.commonpath([str(p) for p in resolved]))
    return common if _is_dir(common) else common.parent


# Path.is_dir/is_file raise PermissionError under a folder that may not be searched; such a
# path is not a folder to read settings from (the check itself reports it as unreadable).
def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _ancestors(directory: Path) -> list[Path]:
    return [directory, *directory.parents]
