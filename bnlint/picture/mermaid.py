"""A Scene as a Mermaid flowchart, for Markdown files and pull-request comments (GitHub and
GitLab render ```mermaid blocks)."""

from __future__ import annotations

from bnlint.picture.palette import COLOURS, FOLD_EDGE
from bnlint.picture.scene import Box, Scene, Style

NAME = "mermaid"


def render(scene: Scene) -> str:
    lines = ["---", f"title: {_yaml_string(scene.title)}", "---", "flowchart TD"]
    lines.extend(_items(scene, None, "  "))
    folds = []
    for index, arrow in enumerate(scene.arrows):
        if arrow.fold:
            folds.append(str(index))
            lines.append(f"  {arrow.tail} ==>|fold| {arrow.head}")
        else:
            lines.append(f"  {arrow.tail} --> {arrow.head}")
    for style, (fill, stroke) in COLOURS.items():
        dashed = ",stroke-dasharray:4 3" if style is Style.DOUBT else ""
        lines.append(f"  classDef {style.value} fill:{fill},stroke:{stroke},color:#212121{dashed}")
    for style in Style:
        keys = [box.key for box in scene.boxes if box.style is style]
        if keys:
            lines.append(f"  class {','.join(keys)} {style.value}")
    if folds:
        lines.append(f"  linkStyle {','.join(folds)} stroke:{FOLD_EDGE},stroke-width:3px")
    return "\n".join(lines) + "\n"


def fenced(text: str) -> str:
    """The flowchart as a Markdown code block that GitHub renders as a picture."""
    return f"```mermaid\n{text}```\n"


def _items(scene: Scene, parent: str | None, indent: str) -> list[str]:
    lines = []
    for item in scene.items(parent):
        if isinstance(item, Box):
            lines.append(_box(item, indent))
            continue
        lines.append(f'{indent}subgraph {item.key} ["{_escape(item.title)}"]')
        lines.extend(_items(scene, item.key, indent + "  "))
        lines.append(f"{indent}end")
    return lines


def _box(box: Box, indent: str) -> str:
    text = "<br/>".join(_escape(line) for line in box.lines)
    if box.style is Style.IO:
        return f'{indent}{box.key}(["{text}"])'
    return f'{indent}{box.key}["{text}"]'


def _escape(text: str) -> str:
    # Mermaid reads entity codes inside quoted labels; these characters would end or open one.
    for char, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, entity)
    return text


def _yaml_string(text: str) -> str:
    """The title sits in YAML front matter, where a bare `a: b` would start a mapping."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
