"""misses/ZOO.md: every key score.py counted against the static analyzer, with what the runtime
saw (outcomes, in how many models, one model to rebuild it with), what the static report says
about the same BatchNorm, and where the class is defined."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from score import BatchNorm, Key, Score


def write_misses(
    path: Path,
    score: Score,
    truth: dict[str, Any],
    modules: list[dict[str, Any]],
    check_dir: PurePosixPath,
) -> None:
    runtime: dict[BatchNorm, list[str]] = defaultdict(list)
    for owner, conv, bn, direction, outcomes, example in truth["keys"]:
        seen = ", ".join(f"{outcome} in {count}" for outcome, count in outcomes.items())
        partner = f"{conv} ({direction})" if direction else (conv or "no partner")
        runtime[(owner, bn)].append(f"{partner}: {seen} models, e.g. {example}")
    static: dict[BatchNorm, list[str]] = defaultdict(list)
    where = {owner: f"{spot} (runtime)" for owner, spot in truth["classes"].items()}
    elsewhere = truth.get("bases_elsewhere", {})
    reported: dict[str, int] = {}
    for module in modules:
        where[module["class"]] = f"{module['path']}:{module['line']}"
        reported[module["class"]] = len(module["folds"])
        for fold in module["folds"]:
            code = f" {fold['code']}" if fold["code"] else ""
            static[(module["class"], fold["bn"])].append(
                f"{fold['status']}{code} with {fold['conv'] or 'no partner'}"
                f" ({fold['direction'] or '-'})"
            )

    def says(owner: str, bn: str) -> str:
        if (owner, bn) in static:
            return "; ".join(static[(owner, bn)])
        if owner not in reported and owner in elsewhere:
            return (
                f"class not in the report (a subclass of {', '.join(elsewhere[owner])}, "
                "outside the checked sources)"
            )
        if owner not in reported:
            return "class not in the report"
        return f"no entry for {bn} (the class has {reported[owner]} entries)"

    def key_lines(keys: list[Key]) -> list[str]:
        return [
            f"- `{owner}: {conv} -> {bn}` ({direction}) at {where.get(owner, '?')}\n"
            f"  - runtime: {' | '.join(runtime[(owner, bn)])}\n"
            f"  - static: {says(owner, bn)}"
            for owner, conv, bn, direction in keys
        ]

    silent_by_class: dict[str, list[str]] = defaultdict(list)
    for owner, bn in score.silent:
        silent_by_class[owner].append(bn)
    lines = [
        f"# `bnlint check` on {score.zoo}: what it misses",
        "",
        f"Paths are relative to `{check_dir}` (where bnlint ran); `(runtime)` marks a "
        "place taken from the built class when the static report has no such class.",
        "",
        f"## Foldable pairs the runtime folds and static does not find foldable "
        f"({len(score.missed)})",
        "",
        *key_lines(score.missed),
        "",
        f"## Wrong foldable: the runtime never folds them and leaves the BatchNorm alone "
        f"({len(score.wrong)})",
        "",
        *key_lines(score.wrong),
        "",
        f"## Foldable with a partner or direction the runtime never folds "
        f"({len(score.wrong_partner)})",
        "",
        *key_lines(score.wrong_partner),
        "",
        f"## BatchNorms the runtime leaves alone that static does not flag "
        f"({len(score.not_flagged)})",
        "",
        *[
            f"- `{owner}: {bn}` at {where.get(owner, '?')}\n"
            f"  - runtime: {' | '.join(runtime[(owner, bn)])}\n"
            f"  - static: {says(owner, bn)}"
            for owner, bn in score.not_flagged
        ],
        "",
        f"## Silent: no static entry at all ({len(score.silent)} BatchNorms in "
        f"{len(silent_by_class)} classes)",
        "",
    ]
    for owner, bns in sorted(silent_by_class.items(), key=lambda item: (-len(item[1]), item)):
        state = (
            f"reported with {reported[owner]} entries"
            if owner in reported
            else f"not in the report, a subclass of {', '.join(elsewhere[owner])}"
            if owner in elsewhere
            else "not in the report"
        )
        lines.append(
            f"- `{owner}` at {where.get(owner, '?')} ({state}): "
            + ", ".join(f"`{bn}`" for bn in bns)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
