"""Drawing DOT text as SVG or PNG with the Graphviz `dot` program, when it is installed."""

from __future__ import annotations

import shutil
import subprocess

INSTALL_HINT = (
    "Graphviz's `dot` program is not on PATH; install Graphviz (Debian/Ubuntu: "
    "sudo apt-get install graphviz; macOS: brew install graphviz; conda: conda "
    "install graphviz) or choose --format dot or --format mermaid"
)


class GraphvizError(Exception):
    """`dot` is missing or failed (the message says which, and what to do)."""


def draw(dot_text: str, image_format: str, *, program: str = "dot", timeout: float = 120) -> bytes:
    executable = shutil.which(program)
    if executable is None:
        raise GraphvizError(f"--format {image_format} needs Graphviz: {INSTALL_HINT}")
    try:
        done = subprocess.run(
            [executable, f"-T{image_format}"],
            input=dot_text.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GraphvizError(f"Graphviz `dot` failed: {error}") from error
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise GraphvizError(f"Graphviz `dot` failed: {detail}")
    return done.stdout
