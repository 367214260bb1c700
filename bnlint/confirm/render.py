"""Agreement tables as text (for people) and as JSON (inside `bnlint check`'s JSON object).

Returns strings and dicts; the CLI prints them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from bnlint.ftypes import Agreement, AgreementRow, ModelAgreement, SideVerdict, Status

JSON_VERSION = 1
_LABELS = {
    Agreement.CONFIRMED_FOLDABLE: "confirmed foldable",
    Agreement.CONFIRMED_UNFOLDABLE: "confirmed unfoldable",
    Agreement.STATIC_UNKNOWN: "static unknown",
    Agreement.NOT_EXERCISED: "not exercised",
    Agreement.NOT_ANALYSED: "not analysed",
    Agreement.DISAGREEMENT: "DISAGREEMENT",
}


def failed(tables: Sequence[ModelAgreement]) -> bool:
    """Some model could not be built, run or folded."""
    return any(table.error is not None for table in tables)


def disagreed(tables: Sequence[ModelAgreement]) -> bool:
    """The halves disagree somewhere, or a folded model failed verification."""
    return any(table.count(Agreement.DISAGREEMENT) or table.verified is False for table in tables)


# --- JSON ------------------------------------------------------------------------------------


def to_json(tables: Sequence[ModelAgreement]) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "models": [_model_object(table) for table in tables],
        "summary": {
            **_counts(tables),
            "models": len(tables),
            "failed": sum(1 for t in tables if t.error is not None),
        },
    }


def _model_object(table: ModelAgreement) -> dict[str, Any]:
    return {
        "name": table.name,
        "factory": table.factory,
        "error": table.error,
        "verified": table.verified,
        "verification": table.verification,
        "rows": [_row_object(row) for row in table.rows],
        "summary": _counts([table]),
    }


def _row_object(row: AgreementRow) -> dict[str, Any]:
    return {
        "agreement": row.agreement.value,
        "key": _key(row.runtime),
        "static": _verdict_object(row.static) if row.static else None,
        "runtime": _verdict_object(row.runtime),
        "instances": list(row.instances),
        "detail": row.detail or None,
    }


def _verdict_object(verdict: SideVerdict) -> dict[str, Any]:
    found: dict[str, Any] = {
        "owner": verdict.owner,
        "conv": verdict.conv,
        "bn": verdict.bn,
        "direction": verdict.direction.value if verdict.direction else None,
        "status": verdict.status.value,
        "code": verdict.code,
        "reason": verdict.reason,
    }
    if verdict.sites:  # as in the report's `folds`: a verdict on the instances built there
        found["sites"] = list(verdict.sites)
    return found


def _counts(tables: Sequence[ModelAgreement]) -> dict[str, int]:
    return {agreement.value: sum(t.count(agreement) for t in tables) for agreement in Agreement}


# --- text ------------------------------------------------------------------------------------


def to_text(tables: Sequence[ModelAgreement]) -> str:
    lines: list[str] = []
    for table in tables:
        lines.append("")
        lines.extend(_model_lines(table))
    lines.append("")
    lines.append(summary(tables))
    return "\n".join(lines) + "\n"


def _model_lines(table: ModelAgreement) -> list[str]:
    title = f"{table.name} ({table.factory})"
    if table.error is not None:
        return [f"{title}: error: cannot confirm: {table.error}"]
    verified = "folded model verified" if table.verified else "folded model FAILED verification"
    # A key has a row per static verdict that speaks for some of its BatchNorms.
    rows_of_key = Counter((row.runtime.owner, row.runtime.bn) for row in table.rows)
    lines = [f"{title}: {_plural(len(rows_of_key), 'fold key')}, {verified}"]
    if table.rows:
        lines += _table(
            ["agreement", "fold key", "static", "runtime"],
            [
                [
                    _LABELS[row.agreement],
                    _key_text(row.runtime),
                    _static_text(row, rows_of_key[(row.runtime.owner, row.runtime.bn)] > 1),
                    _runtime_text(row),
                ]
                for row in table.rows
            ],
        )
    for row in table.rows:
        if row.agreement is Agreement.DISAGREEMENT:
            lines.append(f"  error: {_key_text(row.runtime)}: {row.detail}")
    for row in table.rows:
        if row.agreement in (
            Agreement.STATIC_UNKNOWN,
            Agreement.NOT_ANALYSED,
            Agreement.NOT_EXERCISED,
        ):
            lines.append(f"  note: {_key_text(row.runtime)}: {row.detail}")
    if table.verified is False:
        lines.append(f"  error: verification {table.verification}")
    return lines


def summary(tables: Sequence[ModelAgreement]) -> str:
    counts = {a: sum(t.count(a) for t in tables) for a in Agreement}
    parts = [
        _plural(counts[a], _LABELS[a].lower())
        if a is Agreement.DISAGREEMENT
        else f"{counts[a]} {_LABELS[a]}"
        for a in Agreement
        if counts[a] or a is Agreement.DISAGREEMENT
    ]
    broken = sum(1 for t in tables if t.error is not None)
    failures = f", {_plural(broken, 'model')} could not be confirmed" if broken else ""
    return (
        f"Confirmed {_plural(len(tables), 'model')} against the static analysis: "
        f"{', '.join(parts)}{failures}."
    )


def _key(verdict: SideVerdict) -> dict[str, str | None]:
    return {"owner": verdict.owner, "conv": verdict.conv, "bn": verdict.bn}


def _key_text(verdict: SideVerdict) -> str:
    return f"{verdict.owner}: {verdict.conv or '-'} -> {verdict.bn}"


def _static_text(row: AgreementRow, split: bool) -> str:
    """The static verdict in a word or two; where the instances it speaks for were built when
    that is what tells the rows of a `split` key apart."""
    verdict = row.static
    if verdict is None:
        return "no verdict"
    if verdict.status is Status.FOLDABLE:
        said = f"foldable {verdict.direction.value if verdict.direction else ''}".rstrip()
    else:
        said = f"{verdict.status.value} {verdict.code or ''}".rstrip()
    if split and verdict.sites:
        more = f" +{len(verdict.sites) - 1}" if len(verdict.sites) > 1 else ""
        said += f" at {verdict.sites[0]}{more}"
    return said


def _runtime_text(row: AgreementRow) -> str:
    verdict = row.runtime
    times = f" x{len(row.instances)}" if len(row.instances) > 1 else ""
    if verdict.status is Status.FOLDABLE:
        direction = verdict.direction.value if verdict.direction else ""
        return f"folded {direction}{times}"
    return (
        f"{'not folded' if verdict.status is Status.UNFOLDABLE else 'unknown'} "
        f"{verdict.code or ''}{times}"
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=True)]
        return ("  " + "  ".join(padded + [cells[-1]])).rstrip()

    return [line(header)] + [line(row) for row in rows]


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
