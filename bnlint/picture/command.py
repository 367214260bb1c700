"""`bnlint graph`: draw a model's layer graph with every BatchNorm coloured by its verdict.

A target with `::` (or naming a .py file) is drawn statically, without torch; a
`MODULE:FACTORY` target, or the name of a model in [tool.bnlint.models], is built and run once
(needs torch). Importing this module imports neither half: the CLI builds its parser from it
at every start.

Exit codes: 0 drawn, 2 usage error, a model that cannot be built, or Graphviz missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from bnlint.runtime.command import _json_object, _shape, add_output_arguments

EXIT_DRAWN, EXIT_ERROR = 0, 2
FORMATS = ("dot", "mermaid", "svg", "png")
_SUFFIXES = {
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "mermaid",
    ".svg": "svg",
    ".png": "png",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        metavar="TARGET",
        help="FILE::NAME to draw from source (a module class or a factory "
        "without arguments, e.g. src/pkg/models.py::Net), or "
        "MODULE:FACTORY or the name of a model in [tool.bnlint.models] "
        "to build and run the model (needs torch)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="dot, mermaid, or svg/png drawn by Graphviz (default: from the -o suffix, else dot)",
    )
    add_output_arguments(parser, "write the picture here (a .md file gets a ```mermaid block)")
    parser.add_argument(
        "--no-collapse",
        action="store_true",
        help="draw every block, even identical consecutive ones",
    )
    runtime = parser.add_argument_group("example inputs for a MODULE:FACTORY target (one of)")
    runtime.add_argument(
        "--input-shape",
        type=_shape,
        action="append",
        metavar="N,C,H,W",
        help="a random input tensor of this shape; repeat for several inputs",
    )
    runtime.add_argument(
        "--inputs",
        metavar="MODULE:FUNCTION",
        help="a callable returning the tuple of positional inputs",
    )
    runtime.add_argument(
        "--kwargs",
        type=_json_object,
        default=None,
        metavar="JSON",
        help="keyword arguments for the factory, e.g. '{\"num_classes\": 10}'",
    )


def run(args: argparse.Namespace) -> int:
    from bnlint import progress
    from bnlint.outputs import OutputError, check_writable
    from bnlint.picture.graphviz import GraphvizError
    from bnlint.picture.static_graph import TargetError
    from bnlint.runtime.targets import TargetError as RuntimeTargetError

    output_format = args.format or _SUFFIXES.get(
        args.output.suffix.lower() if args.output else "", "dot"
    )
    if output_format == "png" and args.output is None and sys.stdout.isatty():
        return _error("png is binary: write it to a file with -o FILE.png")
    try:
        if args.output is not None:
            check_writable(args.output, force=args.force)
        with progress.shown_on(sys.stderr):
            picture = draw(args, output_format)
    except (TargetError, RuntimeTargetError, GraphvizError, OutputError) as error:
        return _error(str(error))
    try:
        _write(picture, args.output, force=args.force)
    except OSError as error:
        return _error(f"cannot write {args.output}: {error}")
    return EXIT_DRAWN


def draw(args: argparse.Namespace, output_format: str) -> str | bytes:
    """The picture of the target in `output_format`: text, or bytes for png."""
    from bnlint.picture import dot, graphviz, mermaid
    from bnlint.picture.scene import build_scene

    root = _root_graph(args)
    scene = build_scene(root.title, root.graph, root.plan, collapse=not args.no_collapse)
    if output_format == "mermaid":
        text = mermaid.render(scene)
        if args.output is not None and args.output.suffix.lower() == ".md":
            text = mermaid.fenced(text)
        return text
    text = dot.render(scene)
    if output_format == "dot":
        return text
    drawn = graphviz.draw(text, output_format)
    return drawn.decode() if output_format == "svg" else drawn


def _root_graph(args: argparse.Namespace) -> Any:
    from bnlint.picture.static_graph import TargetError, split_target, static_root_graph

    target: str = args.target
    runtime_options = args.input_shape is not None or args.inputs is not None or args.kwargs
    if "::" in target or target.endswith(".py") or Path(target).is_file():
        if runtime_options:
            raise TargetError(
                "--input-shape, --inputs and --kwargs are for MODULE:FACTORY "
                "targets; FILE::NAME is drawn from source"
            )
        path, name = split_target(target)
        return static_root_graph(path, name)
    from bnlint.api import project_config
    from bnlint.runtime.targets import resolve

    model = resolve(
        target,
        lambda: project_config([Path.cwd()]),
        shapes=args.input_shape,
        inputs=args.inputs,
        kwargs=args.kwargs,
    )
    if (model.shapes is None) == (model.inputs is None):
        raise TargetError(
            "a MODULE:FACTORY target needs its example inputs: give either "
            "--input-shape or --inputs"
        )
    try:
        import torch  # noqa: F401  (only to tell a missing install apart from a user error)
    except ImportError:
        raise TargetError(
            "drawing a MODULE:FACTORY target needs torch: pip install "
            "'bnlint[runtime]' (or draw FILE::NAME from source)"
        ) from None
    from bnlint.picture.runtime_graph import runtime_root_graph

    return runtime_root_graph(model)


def _write(picture: str | bytes, output: Path | None, *, force: bool) -> None:
    if output is not None:
        from bnlint.outputs import write_atomically

        data = picture if isinstance(picture, bytes) else picture.encode("utf-8")
        write_atomically(output, lambda stream: stream.write(data), force=force)
        return
    try:
        if isinstance(picture, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(picture)
        else:
            sys.stdout.write(picture)
        sys.stdout.flush()
    except BrokenPipeError:  # `bnlint graph ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _error(message: str) -> int:
    print(f"bnlint: error: {message}", file=sys.stderr)
    return EXIT_ERROR
