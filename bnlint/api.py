"""`bnlint.check(paths)`: what `bnlint check` reports, as values. Nothing here prints.

The pipeline: find the configuration, discover the files, let the static engine analyse them
(reading any other file of the project it needs), then apply the configuration to the raw
findings: rule selection, per-file ignores, suppression comments, severity overrides and the
baseline. The fold plan (`modules`) is never filtered: it describes the model, not the policy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Union

from bnlint import baseline as baselines
from bnlint.config import Config, find_config_file, load_config
from bnlint.discovery import discover, find_project_root
from bnlint.ftypes import CheckResult, Diagnostic
from bnlint.rules import RULES
from bnlint.suppression import FileSuppressions, parse_suppressions, read_source

log = logging.getLogger("bnlint.api")

PathLike = Union[str, "os.PathLike[str]"]
Analyzer = Callable[..., CheckResult]


def check(
    paths: Sequence[PathLike] = (".",),
    *,
    config: Config | PathLike | None = None,
    baseline: PathLike | None = None,
    analyzer: Analyzer | None = None,
) -> CheckResult:
    """Analyse the Python files under `paths` and return the findings that survive the policy.

    `config` is a Config, the path of a config file, or None to use the nearest
    pyproject.toml with a [tool.bnlint] table. `baseline` is a file written by
    `bnlint check --write-baseline`; findings recorded there are left out. `analyzer` stands in
    for the static engine (tests use it).
    """
    given = [Path(p) for p in paths] or [Path(".")]
    if not isinstance(config, Config):
        config = project_config(given, Path(config) if config is not None else None)
    files = discover(given, config)
    roots = search_roots(given)
    log.info(
        "checking %d files; imports resolved under %s", len(files), ", ".join(str(r) for r in roots)
    )
    analyze = analyzer or _engine()
    with libraries_of(config):
        raw = analyze(files, search_roots=roots)
    return apply_policy(raw, config, baseline=Path(baseline) if baseline else None)


def libraries_of(config: Config) -> AbstractContextManager[None]:
    """Analyses inside read the installed libraries `config` names (library-path, and the
    model libraries in site-packages unless site-packages = false)."""
    from bnlint.static.engine import reading_libraries
    from bnlint.static.libraries import library_roots

    return reading_libraries(library_roots(config.library_path, installed=config.site_packages))


def project_config(paths: Sequence[Path], config_file: Path | None = None) -> Config:
    """The configuration for `paths`: `config_file` if given, else the nearest one."""
    found = config_file or find_config_file(paths)
    if found is not None:
        log.info("configuration: %s", found)
    root = found.resolve().parent if found else find_project_root(_common(paths))
    return load_config(found, root=root)


def search_roots(paths: Sequence[Path]) -> tuple[Path, ...]:
    """The project folders (holding pyproject.toml or .git) the checked paths live in; then,
    for a checked folder without __init__.py inside its project (a namespace package, PEP
    420), the folder it is imported from: its modules import each other by its name."""
    projects = [find_project_root(p) for p in paths]
    namespaces = [
        path.parent.resolve()
        for path, project in zip(paths, projects, strict=True)
        # os.path, not Path: a folder we may not look into is not an error here
        if os.path.isdir(path)
        and not os.path.isfile(path / "__init__.py")
        and path.resolve().parent.is_relative_to(project.resolve())
    ]
    return tuple(dict.fromkeys([*projects, *namespaces]))


def apply_policy(
    result: CheckResult, config: Config, *, baseline: Path | None = None, cwd: Path | None = None
) -> CheckResult:
    """Filter and re-grade `result.diagnostics` by `config`, comments and `baseline`."""
    cwd = cwd or Path.cwd()
    enabled = config.enabled_codes()
    comments: dict[str, FileSuppressions] = {}
    kept: list[Diagnostic] = []
    silenced = 0
    for diagnostic in result.diagnostics:
        if diagnostic.code in RULES and diagnostic.code not in enabled:
            continue
        relative = baselines.relative_path(diagnostic.path, config.root, cwd)
        if any(diagnostic.code.startswith(s) or s == "ALL" for s in config.ignored_in(relative)):
            continue
        if diagnostic.path not in comments:
            comments[diagnostic.path] = _suppressions(cwd / diagnostic.path)
        if comments[diagnostic.path].suppresses(diagnostic):
            silenced += 1
            continue
        kept.append(
            replace(diagnostic, severity=config.severity_of(diagnostic.code, diagnostic.severity))
        )
    if silenced:
        log.info("%d findings silenced by suppression comments", silenced)
    if baseline is not None:
        before = len(kept)
        kept = baselines.new_findings(kept, baselines.load(baseline), baseline, cwd)
        log.info("%d findings are in the baseline %s", before - len(kept), baseline)
    kept.sort(key=lambda d: (d.path, d.line, d.column, d.code))
    return replace(result, diagnostics=tuple(kept))


def _suppressions(path: Path) -> FileSuppressions:
    source = read_source(path)
    return parse_suppressions(source) if source is not None else FileSuppressions()


def _engine() -> Analyzer:
    from bnlint.static.engine import analyze

    return analyze


def _common(paths: Sequence[Path]) -> Path:
    return Path(os.path.commonpath([os.path.abspath(p) for p in paths]))
