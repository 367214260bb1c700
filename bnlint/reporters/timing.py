"""`--timing`: where the static analysis spent its time in this run, slowest first."""

from __future__ import annotations

from collections.abc import Sequence

from bnlint.ftypes import FileTiming

SHOWN = 10


def render(timings: Sequence[FileTiming]) -> str:
    """The slowest files and the slowest roots (a class on its own, a factory's model) among
    the files analysed in this run; files answered by the cache took no time and are not
    listed."""
    if not timings:
        return "bnlint: no file was analysed in this run (every result came from the cache)\n"
    total = sum(t.seconds for t in timings)
    lines = [
        f"bnlint: {len(timings)} files analysed in {total:.1f} s of analysis; the slowest files:"
    ]
    lines += [f"  {t.seconds:8.2f} s  {t.path}" for t in timings[:SHOWN]]
    roots = sorted(
        ((seconds, origin, t.path) for t in timings for origin, seconds in t.roots), reverse=True
    )
    if roots:
        lines.append("and the slowest classes and factories:")
        lines += [
            f"  {seconds:8.2f} s  {origin} ({path})" for seconds, origin, path in roots[:SHOWN]
        ]
    return "\n".join(lines) + "\n"
