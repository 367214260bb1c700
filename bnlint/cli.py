"""The command line: `bnlint check`, `rule`, `clean`, `fold` and `graph`. Only this module (and
the reporters and command modules it calls) writes to the terminal.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from bnlint import __version__, api, progress, rule_pages, settings
from bnlint import baseline as baselines
from bnlint import cache as caches
from bnlint.baseline import BaselineError
from bnlint.config import Config, ConfigError, with_overrides
from bnlint.discovery import PathNotFoundError, discover, find_git_root, find_project_root
from bnlint.fix import attach_fixes
from bnlint.outputs import OutputError, check_writable, write_text
from bnlint.parallel import default_jobs
from bnlint.picture import command as graph_command
from bnlint.reporters import (
    FORMATS,
    TEXT_FORMATS,
    ReportContext,
    render,
    statistics,
    summary_line,
    timing,
)
from bnlint.rules import RULES

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

log = logging.getLogger("bnlint.cli")
_handler: logging.Handler | None = None


class UsageError(Exception):
    """A problem with how bnlint was called; reported in one line, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "-vv", "--verbose") for a in arguments)
    try:
        parser = build_parser(arguments)
        args = parser.parse_args(arguments)
        if not hasattr(args, "handler"):
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        _configure_logging(args.verbose, args.quiet)
        return int(args.handler(args))
    except (ConfigError, PathNotFoundError, BaselineError, UsageError, OutputError) as error:
        _error(str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the last line of defence: one line, never a bare traceback
        if verbose:
            traceback.print_exc(file=sys.stderr)
            _error(f"internal error: {type(error).__name__}: {error}")
        else:
            _error(
                f"internal error: {type(error).__name__}: {error} (run with -v for the traceback)"
            )
        return EXIT_ERROR


# --- the parser ------------------------------------------------------------------------------


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bnlint", description="Find, explain and fold every BatchNorm in a PyTorch model."
    )
    parser.add_argument("-V", "--version", action="version", version=f"bnlint {__version__}")
    _add_logging(parser, suppress=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="predict BatchNorm fold-ability from source (no torch needed)",
        description="Analyse Python files and report every BatchNorm that cannot be folded.",
    )
    _add_check_arguments(check)
    _add_logging(check, suppress=True)
    check.set_defaults(handler=run_check)

    rule = commands.add_parser(
        "rule",
        help="explain a rule (`bnlint rule XBN101`)",
        description="Print a rule's page, or list every rule.",
    )
    target = rule.add_mutually_exclusive_group(required=True)
    target.add_argument("code", nargs="?", help="a rule code (XBN101) or name")
    target.add_argument("--all", action="store_true", help="list every rule")
    _add_logging(rule, suppress=True)
    rule.set_defaults(handler=run_rule)

    clean = commands.add_parser(
        "clean",
        help="remove the cache `bnlint check` keeps",
        description="Remove the cache `bnlint check PATH` uses.",
    )
    clean.add_argument(
        "path",
        nargs="?",
        default=".",
        metavar="PATH",
        help="a path as given to `bnlint check` (default: .)",
    )
    clean.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="the cache to remove (default: where `bnlint check` keeps it)",
    )
    _add_logging(clean, suppress=True)
    clean.set_defaults(handler=run_clean)

    _add_fold(commands, wanted=_first_positional(argv) == "fold")
    _add_graph(commands)
    return parser


def _add_logging(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On subcommands the default is SUPPRESS so that `bnlint -v check` keeps its -v.
    default: Any = argparse.SUPPRESS if suppress else 0
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="explain every decision (-vv: every graph-building step)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print only the summary and errors",
    )


def _add_check_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="files and directories to check (default: .)",
    )
    config = check.add_argument_group("configuration")
    config.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="use this pyproject.toml (or bnlint TOML file) instead of the "
        "nearest pyproject.toml with [tool.bnlint]",
    )
    config.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    codes = check.add_argument_group("rule selection (codes, prefixes or ALL, comma-separated)")
    codes.add_argument(
        "--select",
        type=_comma_list,
        action="append",
        metavar="CODES",
        help="check only these rules (replaces the configured selection)",
    )
    codes.add_argument(
        "--extend-select",
        type=_comma_list,
        action="append",
        metavar="CODES",
        help="check these rules too",
    )
    codes.add_argument(
        "--ignore",
        type=_comma_list,
        action="append",
        metavar="CODES",
        help="do not report these rules",
    )
    codes.add_argument(
        "--per-file-ignores",
        action="append",
        default=[],
        metavar="GLOB:CODES",
        help="do not report CODES in files matching GLOB",
    )
    files = check.add_argument_group("files")
    files.add_argument(
        "--exclude",
        type=_comma_list,
        action="append",
        metavar="GLOBS",
        help="skip these paths (replaces the default and configured excludes)",
    )
    files.add_argument(
        "--extend-exclude",
        type=_comma_list,
        action="append",
        metavar="GLOBS",
        help="skip these paths too",
    )
    files.add_argument(
        "--force-exclude",
        action="store_true",
        help="apply excludes and .gitignore to paths given explicitly too (for pre-commit)",
    )
    output = check.add_argument_group("output")
    output.add_argument(
        "--output-format",
        "--format",
        dest="output_format",
        choices=FORMATS,
        help="how to print findings (default: full)",
    )
    output.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write the report to FILE instead of standard output",
    )
    output.add_argument("--output-file", dest="output", type=Path, help=argparse.SUPPRESS)
    output.add_argument(
        "--force", action="store_true", help="overwrite FILE if it exists (never done without it)"
    )
    output.add_argument(
        "--statistics",
        action="store_true",
        help="print how many findings each rule raised instead of the findings",
    )
    output.add_argument(
        "--timing",
        action="store_true",
        help="after the report, list on stderr the files and classes whose analysis took "
        "longest in this run",
    )
    output.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even when there are findings"
    )
    output.add_argument(
        "--confirm",
        action="store_true",
        help="also build every model declared in [tool.bnlint.models], fold it "
        "with the runtime checker and print, per model, where the static "
        "verdicts agree (needs torch; imports the models)",
    )
    output.add_argument(
        "--show-files", action="store_true", help="list the files that would be checked, and exit"
    )
    output.add_argument(
        "--show-settings",
        action="store_true",
        help="print the resolved configuration, with where each value came from, and exit",
    )
    fixing = check.add_argument_group("fixes (findings marked [*] have one)")
    fixing.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes, then report what remains; a file is "
        "written only if its fixed text is analysed again and the fixed "
        "findings are gone",
    )
    fixing.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="also apply (and mark) unsafe fixes: XBN401's bias=False removes "
        "a parameter, so state_dict keys change and checkpoints saved "
        "before no longer load with strict=True",
    )
    fixing.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff instead of writing them; "
        "exit 1 if there is anything to fix",
    )
    fixing.add_argument(
        "--add-noqa",
        action="store_true",
        help="add `# noqa: CODE` to the line of every current finding (keeping "
        "the codes already there), then check again",
    )
    adoption = output.add_mutually_exclusive_group()
    adoption.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="report only findings that FILE does not record",
    )
    adoption.add_argument(
        "--write-baseline",
        type=Path,
        metavar="FILE",
        help="record every current finding in FILE and exit 0",
    )
    libraries = check.add_argument_group(
        "installed libraries (read, never reported on: classes your models derive from or build)"
    )
    libraries.add_argument(
        "--library-path",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="also read the packages under DIR (a site-packages or a library's source "
        "checkout); repeatable",
    )
    libraries.add_argument(
        "--no-site-packages",
        action="store_true",
        help="do not read the model libraries (packages that require torch) installed "
        "beside bnlint",
    )
    speed = check.add_argument_group("speed")
    speed.add_argument(
        "-j",
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="analyse in N processes (default: the machine's processors)",
    )
    speed.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help=f"keep results between runs in DIR (default: ${caches.ENV_VAR}, "
        f"else {caches.DEFAULT_NAME} in the project root)",
    )
    speed.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")


def _add_fold(commands: Any, *, wanted: bool) -> None:
    summary = "fold BatchNorms of a real model and verify the result (needs torch)"
    command = _runtime_command() if wanted else None
    fold = commands.add_parser("fold", help=summary, description=summary)
    if command is not None:
        command.add_arguments(fold)
        fold.set_defaults(handler=command.run)
    else:
        # The runtime half is loaded only when `fold` is asked for, so that `check` never
        # pays for it; when it is missing, `fold` explains instead of failing to parse.
        fold.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        fold.set_defaults(handler=_fold_unavailable)
    _add_logging(fold, suppress=True)


def _add_graph(commands: Any) -> None:
    # The parser is torch-free; only a MODULE:FACTORY target loads the runtime half.
    summary = "draw a model's layer graph with every BatchNorm coloured by its verdict"
    graph = commands.add_parser(
        "graph", help=summary, description=summary + " (dot, mermaid, or svg/png with Graphviz)."
    )
    graph_command.add_arguments(graph)
    _add_logging(graph, suppress=True)
    graph.set_defaults(handler=graph_command.run)


def _runtime_command() -> Any:
    try:
        return importlib.import_module("bnlint.runtime.command")
    except ModuleNotFoundError as error:
        if error.name in ("bnlint.runtime", "bnlint.runtime.command"):
            return None
        if error.name == "torch":
            raise UsageError("`bnlint fold` needs torch: pip install 'bnlint[runtime]'") from error
        raise


def _fold_unavailable(args: argparse.Namespace) -> int:
    raise UsageError(
        "`bnlint fold` is not available in this installation "
        "(the module bnlint.runtime.command is missing)"
    )


def _first_positional(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _flatten(groups: list[list[str]] | None) -> list[str] | None:
    return None if groups is None else [item for group in groups for item in group]


# --- bnlint check ----------------------------------------------------------------------------


def cache_for(paths: Sequence[Path], option: Path | None) -> Path:
    """The cache `bnlint check PATHS` uses: --cache-dir, else $BNLINT_CACHE_DIR, else
    .bnlint_cache in the project of the first path. `bnlint clean PATH` resolves it the same
    way."""
    return caches.cache_dir(option, api.search_roots(paths)[0])


def _with_engine_options(
    run: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Run `bnlint check` with --jobs and the cache applied to every analysis it makes."""

    def run_with_options(args: argparse.Namespace) -> int:
        from bnlint.static.engine import engine_options

        paths = [Path(p) for p in args.paths] or [Path(".")]
        cache_dir = None if args.no_cache else cache_for(paths, args.cache_dir)
        with engine_options(jobs=args.jobs or default_jobs(), cache_dir=cache_dir):
            return run(args)

    return run_with_options


@_with_engine_options
def run_check(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    config = check_config(args, paths)
    with api.libraries_of(config):  # every analysis below, fixes' included
        return _run_check(args, paths, config)


def _run_check(args: argparse.Namespace, paths: list[Path], config: Config) -> int:
    _check_combinations(args)
    if args.show_files:
        return _show_files(paths, config)
    if args.show_settings:
        _emit(
            settings.render(settings.describe(config, args, cache_for(paths, args.cache_dir))), None
        )
        return EXIT_CLEAN
    if args.output is not None:
        check_writable(args.output, force=args.force)
    if args.write_baseline is not None:
        result = api.check(paths, config=config)
        recorded = baselines.build(result.diagnostics, args.write_baseline)
        baselines.write(recorded, args.write_baseline)
        print(
            f"bnlint: recorded {len(recorded.entries)} findings in {args.write_baseline}",
            file=sys.stderr,
        )
        return EXIT_CLEAN
    fixes_kept = None if args.no_cache else cache_for(paths or [Path(".")], args.cache_dir)
    with progress.shown_on(sys.stderr):
        result = attach_fixes(
            api.check(paths, config=config, baseline=args.baseline), cache_dir=fixes_kept
        )
    context = ReportContext(
        root=report_root(paths),
        cwd=Path.cwd(),
        color=args.output is None and use_color(sys.stdout),
        unsafe_fixes=args.unsafe_fixes,
    )

    def emit(text: str) -> None:
        _emit(text, args.output, force=args.force)

    if args.diff:
        from bnlint.fix import command as fixing

        return fixing.show_diff(
            result, unsafe=args.unsafe_fixes, search_roots=api.search_roots(paths), emit=emit
        )
    if args.fix:
        from bnlint.fix import command as fixing

        fixing.apply(result, unsafe=args.unsafe_fixes, search_roots=api.search_roots(paths))
        # Report what remains, as the files now read.
        result = attach_fixes(api.check(paths, config=config, baseline=args.baseline))
    if args.add_noqa:
        from bnlint.fix import command as fixing

        fixing.add_noqa_comments(result)
        # Analysed again: what the comments did not silence is still reported.
        result = attach_fixes(api.check(paths, config=config, baseline=args.baseline))
    if args.confirm:
        # Imported here: without --confirm, `check` never loads the runtime half or torch.
        from bnlint.confirm import command as confirm

        return confirm.run(
            result,
            config,
            context,
            show_statistics=args.statistics,
            exit_zero=args.exit_zero,
            quiet=args.quiet,
            emit=emit,
        )
    if args.statistics:
        text = statistics.render(
            result, context, as_json=config.output_format in ("json", "json-lines")
        )
    elif args.quiet and config.output_format in TEXT_FORMATS:
        text = summary_line(result) + "\n"
    else:
        text = render(config.output_format, result, context)
    emit(text)
    if args.timing:
        print(timing.render(result.timings), file=sys.stderr, end="")
    return EXIT_FINDINGS if result.diagnostics and not args.exit_zero else EXIT_CLEAN


def _check_combinations(args: argparse.Namespace) -> None:
    edits = [
        flag
        for flag, given in (
            ("--fix", args.fix),
            ("--diff", args.diff),
            ("--add-noqa", args.add_noqa),
        )
        if given
    ]
    others = [
        flag
        for flag, given in (
            ("--write-baseline", args.write_baseline is not None),
            ("--confirm", args.confirm),
        )
        if given
    ]
    if edits and (others or len(edits) > 1):
        raise UsageError(f"{' and '.join(edits + others)} cannot be combined")


def _show_files(paths: Sequence[Path], config: Config) -> int:
    cwd = Path.cwd()
    files = discover(paths, config)
    _emit("".join(f"{_relative(file, cwd)}\n" for file in files), None)
    return EXIT_CLEAN


def _relative(path: Path, cwd: Path) -> str:
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def check_config(args: argparse.Namespace, paths: Sequence[Path]) -> Config:
    """The file's configuration (unless --isolated) with the command-line flags on top."""
    if args.isolated:
        config = Config(root=find_project_root(paths[0] if paths else Path(".")))
    else:
        config = api.project_config(paths, args.config)
    return with_overrides(
        config,
        select=_flatten(args.select),
        ignore=_flatten(args.ignore) or (),
        extend_select=_flatten(args.extend_select) or (),
        per_file_ignores=args.per_file_ignores,
        exclude=_flatten(args.exclude),
        extend_exclude=_flatten(args.extend_exclude) or (),
        output_format=args.output_format,
        force_exclude=args.force_exclude,
        library_path=args.library_path,
        no_site_packages=args.no_site_packages,
    )


def run_clean(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not os.path.lexists(path):
        raise PathNotFoundError(f"{args.path}: no such file or directory")
    directory = cache_for([path], args.cache_dir)
    try:
        removed = caches.clean(directory)
    except caches.CacheError as error:
        raise UsageError(str(error)) from error
    if removed:
        print(f"bnlint: removed {directory}", file=sys.stderr)
        return EXIT_CLEAN
    # `bnlint check sub/src` keeps its cache in sub/ when sub/ is a project of its own.
    others = sorted(directory.parent.glob(f"*/{caches.DEFAULT_NAME}"))
    hint = "".join(
        f"; `bnlint clean {_relative(o.parent, Path.cwd())}` removes {o}"
        for o in others
        if args.cache_dir is None
    )
    print(f"bnlint: no cache at {directory}{hint}", file=sys.stderr)
    return EXIT_CLEAN


def report_root(paths: Sequence[Path]) -> Path:
    """Where SARIF and GitHub paths start: the repository root, else the project root."""
    cwd = Path.cwd()
    return find_git_root(cwd) or find_project_root(paths[0] if paths else cwd)


def use_color(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _emit(text: str, output_file: Path | None, *, force: bool = False) -> None:
    if output_file is not None:
        try:
            write_text(output_file, text, force=force)
        except OSError as error:
            raise UsageError(f"cannot write {output_file}: {error}") from error
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `bnlint check | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# --- bnlint rule -----------------------------------------------------------------------------


def run_rule(args: argparse.Namespace) -> int:
    if args.all:
        width = max(len(rule.name) for rule in RULES.values())
        lines = [
            f"{rule.code}  {rule.name:<{width}}  {rule.severity.value:<7}  {rule.summary}"
            for rule in RULES.values()
        ]
        _emit("\n".join(lines) + "\n", None)
        return EXIT_CLEAN
    rule = rule_pages.find_rule(args.code)
    if rule is None:
        raise UsageError(f"unknown rule {args.code!r} (`bnlint rule --all` lists the rules)")
    page = rule_pages.page(rule)
    _emit(page if page.endswith("\n") else page + "\n", None)
    return EXIT_CLEAN


# --- plumbing --------------------------------------------------------------------------------


def _configure_logging(verbose: int, quiet: bool) -> None:
    global _handler
    logger = logging.getLogger("bnlint")
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    logger.addHandler(_handler)
    if quiet:
        logger.setLevel(logging.ERROR)
    elif verbose >= 2:
        logger.setLevel(logging.DEBUG)
    elif verbose == 1:
        logger.setLevel(logging.INFO)
    else:
        logger.setLevel(logging.WARNING)


def _error(message: str) -> None:
    print(f"bnlint: error: {message}", file=sys.stderr)
