"""`bnlint check --show-settings`: the resolved configuration, each value with where it came
from (a default, the configuration file, the command line, the environment). Returns text;
the CLI prints it.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bnlint.cache import ENV_VAR
from bnlint.config import Config, RuleSelection, table_keys
from bnlint.parallel import default_jobs


@dataclass(frozen=True)
class Setting:
    key: str
    value: Any  # printed as TOML would write it
    origin: str


def describe(config: Config, args: argparse.Namespace, cache_dir: Path) -> list[Setting]:
    """Every setting `bnlint check` runs with, given the parsed command line `args`."""
    in_file = table_keys(config.path) if config.path is not None else frozenset()
    where = str(config.path) if config.path is not None else ""

    def origin(toml_key: str, flag: str | None = None, given: object = None) -> str:
        from_file = toml_key in in_file
        if flag is not None and given:
            return f"command line ({flag})" + (f", on top of {where}" if from_file else "")
        return where if from_file else "default"

    if args.config is not None:
        found = "command line (--config)"
    elif args.isolated:
        found = "command line (--isolated)"
    else:
        found = (
            "the nearest pyproject.toml with [tool.bnlint]"
            if where
            else "no pyproject.toml with [tool.bnlint] found"
        )
    settings = [
        Setting("config-file", where or None, found),
        Setting(
            "project-root",
            str(config.root),
            "the config file's folder" if where else "nearest folder with pyproject.toml or .git",
        ),
    ]
    settings += _selections(config.selections, where)
    settings += [
        Setting("enabled-rules", sorted(config.enabled_codes()), "resolved from the selections"),
        Setting(
            "per-file-ignores",
            {glob: list(codes) for glob, codes in config.per_file_ignores},
            origin("per-file-ignores", "--per-file-ignores", args.per_file_ignores),
        ),
        Setting("exclude", list(config.exclude), origin("exclude", "--exclude", args.exclude)),
        Setting(
            "extend-exclude",
            list(config.extend_exclude),
            origin("extend-exclude", "--extend-exclude", args.extend_exclude),
        ),
        Setting(
            "force-exclude",
            config.force_exclude,
            "command line (--force-exclude)" if args.force_exclude else "default",
        ),
        Setting(
            "severity", {code: level.value for code, level in config.severity}, origin("severity")
        ),
        Setting(
            "output-format",
            config.output_format,
            origin("output-format", "--output-format", args.output_format),
        ),
        Setting("models", [spec.name for spec in config.models], origin("models")),
        Setting(
            "library-path",
            [str(path) for path in config.library_path],
            origin("library-path", "--library-path", args.library_path),
        ),
        Setting(
            "site-packages",
            config.site_packages,
            "command line (--no-site-packages)"
            if args.no_site_packages
            else origin("site-packages"),
        ),
        _cache_setting(args, cache_dir),
        Setting(
            "jobs",
            args.jobs or default_jobs(),
            "command line (--jobs)" if args.jobs else "default (the processors available)",
        ),
    ]
    return settings


def render(settings: list[Setting]) -> str:
    width = max(len(s.key) for s in settings)
    lines = [f"{s.key:<{width}} = {_toml(s.value)}  # {s.origin}" for s in settings]
    return "\n".join(lines) + "\n"


def _selections(layers: tuple[RuleSelection, ...], where: str) -> list[Setting]:
    """select / extend-select / ignore of each layer: the file's, then the command line's."""
    if not layers:
        return [Setting("select", ["ALL"], "default")]
    found = []
    for index, layer in enumerate(layers):
        source = where if index == 0 and where else "command line"
        if layer.select is not None:
            found.append(Setting("select", list(layer.select), source))
        elif index == 0:
            found.append(Setting("select", ["ALL"], "default"))
        if layer.extend_select:
            found.append(Setting("extend-select", list(layer.extend_select), source))
        if layer.ignore:
            found.append(Setting("ignore", list(layer.ignore), source))
    return found


def _cache_setting(args: argparse.Namespace, cache_dir: Path) -> Setting:
    if args.no_cache:
        return Setting("cache-dir", None, "command line (--no-cache)")
    if args.cache_dir is not None:
        return Setting("cache-dir", str(cache_dir), "command line (--cache-dir)")
    if os.environ.get(ENV_VAR):
        return Setting("cache-dir", str(cache_dir), f"environment (${ENV_VAR})")
    return Setting("cache-dir", str(cache_dir), "default (.bnlint_cache in the project root)")


def _toml(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)
