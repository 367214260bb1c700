"""A FoldResult as text (a table for people) or as the versioned JSON object (for programs).

Returns strings and dicts only; the CLI prints them.
"""

from __future__ import annotations

import math
from typing import Any

from bnlint.ftypes import FoldKey
from bnlint.rules import get_rule
from bnlint.runtime.fold import FoldRecord, FoldResult
from bnlint.runtime.judge import NOISE_FACTOR

JSON_VERSION = 1


def to_json(
    result: FoldResult, *, model: str | None = None, output: str | None = None
) -> dict[str, Any]:
    verification = result.verification
    return {
        "version": JSON_VERSION,
        "model": model,
        "capture_note": result.capture_note,
        "folds": [_fold(f) for f in result.folds],
        "skipped": [
            {
                "bn": s.bn,
                "code": s.code,
                "name": s.name,
                "status": s.status.value,
                "reason": s.reason,
                "partner": s.partner,
                "key": _key(s.key),
            }
            for s in result.skipped
        ],
        "findings": [
            {"code": f.code, "name": get_rule(f.code).name, "message": f.message}
            for f in result.findings
        ],
        "verification": {
            "passed": verification.passed,
            "inputs_compared": verification.inputs_compared,
            "outputs_compared": verification.outputs_compared,
            "max_abs_error": _number(verification.max_abs_error),
            "max_rel_error": _number(verification.max_rel_error),
            "rtol": verification.rtol,
            "atol": verification.atol,
            "failures": list(verification.failures),
            "skipped_inputs": list(verification.skipped_inputs),
            "method": verification.method,
            "noise": _number(verification.noise),
            "notes": list(verification.notes),
        },
        "summary": {
            "batchnorms": len(result.folds) + len(result.skipped),
            "folded": len(result.folds),
            "skipped": len(result.skipped),
            "verified": verification.passed,
        },
        "output": output,
    }


def _fold(record: FoldRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "conv": record.conv,
        "bn": record.bn,
        "direction": record.direction.value,
        "max_error": _number(record.max_error),
        "relative_error": _number(record.relative_error),
        "key": _key(record.key),
    }
    if record.merge is not None:  # a fold through a merge names every layer it rewrote
        entry["producers"] = list(record.producers)
        entry["merge"] = record.merge.value
    return entry


def to_text(result: FoldResult, *, output: str | None = None) -> str:
    lines: list[str] = []
    if result.folds:
        lines.append(f"Folded {_count(len(result.folds))}:")
        lines += _table(
            ["conv", "bn", "direction", "max error"],
            [[f.conv, f.bn, f.direction.value, _error(f.max_error)] for f in result.folds],
        )
    else:
        lines.append("Folded no BatchNorm.")
    if result.skipped:
        lines.append("")
        lines.append(f"Skipped {_count(len(result.skipped))}:")
        lines += _table(
            ["bn", "code", "reason"], [[s.bn, s.code, s.reason] for s in result.skipped]
        )
    for finding in result.findings:
        lines.append(f"note: {finding.code} {finding.message}")
    lines.append("")
    lines.append(_verdict(result))
    lines.extend(f"  {failure}" for failure in result.verification.failures)
    lines.extend(f"  note: {note}" for note in result.verification.notes)
    lines.extend(f"  skipped {skipped}" for skipped in result.verification.skipped_inputs)
    lines.append(f"Note: {result.capture_note}.")
    if output is not None:
        lines.append(f"Wrote the folded model to {output}")
    return "\n".join(lines) + "\n"


def summary(result: FoldResult, *, output: str | None = None) -> str:
    """What `bnlint fold -q` prints: the counts and the verification, without the tables."""
    lines = [
        f"Folded {_count(len(result.folds))}, skipped {len(result.skipped)}.",
        _verdict(result),
    ]
    if output is not None:
        lines.append(f"Wrote the folded model to {output}")
    return "\n".join(lines) + "\n"


def _verdict(result: FoldResult) -> str:
    v = result.verification
    inputs = f"{v.inputs_compared} input" + ("" if v.inputs_compared == 1 else "s")
    judged = f"rtol {v.rtol:g}, atol {v.atol:g}"
    if v.method == "noise":
        own = "" if v.noise is None else f", {v.noise:.3g} of the output"
        judged = (
            f"within {NOISE_FACTOR:g} x the original's own deviation when its weights "
            f"move by one rounding{own}"
        )
    if v.method == "float64":
        judged = (
            "float32 outputs beyond the model's own rounding noise; the same folds on a "
            "float64 copy within float64's tolerance of the float64 original"
        )
    figures = (
        f"{inputs} compared, max abs error {v.max_abs_error:.3g}, max relative error "
        f"{v.max_rel_error:.3g} ({judged}); every fold checked at its layers"
    )
    if v.passed:
        return f"Verification passed: {figures}."
    return f"Verification FAILED: {figures}; the folded model is not returned or written."


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    # The last column (a reason, an error) is left ragged; the others are padded to align.
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths, strict=True)]
        return "  " + "  ".join(padded + [cells[-1]])

    return [line(header)] + [line(row) for row in rows]


def _count(n: int) -> str:
    return f"{n} BatchNorm" + ("" if n == 1 else "s")


def _error(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _key(key: FoldKey) -> dict[str, str]:
    return {"owner": key.owner, "conv": key.conv, "bn": key.bn}
