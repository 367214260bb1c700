"""A Scene in Graphviz DOT: `dot -Tsvg` draws it; the text is stable for golden tests."""

from __future__ import annotations

from bnlint.picture.palette import COLOURS, FOLD_EDGE
from bnlint.picture.scene import Box, Scene, Style

NAME = "dot"


def render(scene: Scene) -> str:
    lines = [
        "digraph bnlint {",
        f"  label={_quote(scene.title)};",
        "  labelloc=t;",
        "  rankdir=TB;",
        '  fontname="Helvetica";',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [color="#757575", arrowsize=0.7];',
    ]
    lines.extend(_items(scene, None, "  "))
    for arrow in scene.arrows:
        style = (
            f' [color="{FOLD_EDGE}", penwidth=2.5, label="fold", fontcolor="{FOLD_EDGE}", '
            "fontsize=9]"
            if arrow.fold
            else ""
        )
        lines.append(f"  {arrow.tail} -> {arrow.head}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _items(scene: Scene, parent: str | None, indent: str) -> list[str]:
    lines = []
    inner = indent + "  "
    for item in scene.items(parent):
        if isinstance(item, Box):
            lines.append(_box(item, indent))
            continue
        lines.extend(
            [
                f"{indent}subgraph cluster_{item.key} {{",
                f"{inner}label={_quote(item.title)};",
                f'{inner}style="dashed,rounded";',
                f'{inner}color="#616161";',
            ]
        )
        lines.extend(_items(scene, item.key, inner))
        lines.append(f"{indent}}}")
    return lines


def _box(box: Box, indent: str) -> str:
    fill, stroke = COLOURS[box.style]
    shape = ", shape=ellipse" if box.style is Style.IO else ""
    dashed = ', style="rounded,filled,dashed"' if box.style is Style.DOUBT else ""
    label = _quote("\n".join(box.lines))
    return (
        f'{indent}{box.key} [label={label}, fillcolor="{fill}", color="{stroke}"{shape}{dashed}];'
    )


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
