"""`bnlint check --confirm`: the static report, then one agreement table per declared model.

The tables follow the text report (full, concise), sit under the key "confirm" of the JSON
object (json), and go to standard error for every other format so that SARIF, JUnit and the
like stay valid documents. torch is imported only here, and only when models are declared.

Exit codes: 2 when a model cannot be built, run or folded (or torch is missing), else 1 for
findings, disagreements or a folded model that failed verification (unless --exit-zero),
else 0.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

from bnlint import progress
from bnlint.config import Config
from bnlint.confirm import render
from bnlint.ftypes import CheckResult
from bnlint.reporters import TEXT_FORMATS, ReportContext, statistics, summary_line
from bnlint.reporters import render as render_report
from bnlint.reporters.json_output import document

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
INSTALL_HINT = "`bnlint check --confirm` needs torch: pip install 'bnlint[runtime]'"


def run(
    result: CheckResult,
    config: Config,
    context: ReportContext,
    *,
    show_statistics: bool,
    exit_zero: bool,
    emit: Callable[[str], None],
    quiet: bool = False,
) -> int:
    if not config.models:
        where = config.path or "pyproject.toml"
        return _error(
            f"--confirm: no models are declared; add a [tool.bnlint.models] table to {where}"
        )
    try:
        import torch  # noqa: F401  (only to tell a missing install apart from a user error)
    except ImportError:
        return _error(INSTALL_HINT)
    from bnlint.confirm.run import confirm_models

    with progress.shown_on(sys.stderr):
        tables = confirm_models(result, config)
    output_format = config.output_format
    if quiet and output_format in TEXT_FORMATS and not show_statistics:
        emit(f"{summary_line(result)}\n{render.summary(tables)}\n")
    elif show_statistics:
        emit(statistics.render(result, context, as_json=output_format in ("json", "json-lines")))
        print(render.to_text(tables), end="", file=sys.stderr)
    elif output_format == "json":
        emit(
            json.dumps(
                {**document(result), "confirm": render.to_json(tables)},
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
    elif output_format in TEXT_FORMATS:
        emit(render_report(output_format, result, context) + render.to_text(tables))
    else:
        emit(render_report(output_format, result, context))
        print(render.to_text(tables), end="", file=sys.stderr)
    if render.failed(tables):
        return EXIT_ERROR
    if exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if result.diagnostics or render.disagreed(tables) else EXIT_CLEAN


def _error(message: str) -> int:
    print(f"bnlint: error: {message}", file=sys.stderr)
    return EXIT_ERROR
