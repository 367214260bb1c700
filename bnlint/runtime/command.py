"""`bnlint fold`: build a model from a factory, fold it, verify it, print the outcome, and
write the folded model only when it verified.

`add_arguments` needs no torch (the CLI builds its parser before anything heavy is imported);
`run` imports the runtime half and says how to install torch when it is missing.

Exit codes: 0 folded and verified, 1 verification failed, 2 usage error or a model that cannot
be built or run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

EXIT_VERIFIED, EXIT_UNVERIFIED, EXIT_ERROR = 0, 1, 2
INSTALL_HINT = "`bnlint fold` needs torch: pip install 'bnlint[runtime]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="MODULE:FACTORY, a callable returning the nn.Module (e.g. "
        "pkg.models:resnet18, imported with the current directory on "
        "sys.path), or the name of a model in [tool.bnlint.models]",
    )
    source = parser.add_argument_group("example inputs (one of; a declared model has its own)")
    source.add_argument(
        "--input-shape",
        type=_shape,
        action="append",
        metavar="N,C,H,W",
        help="a random input tensor of this shape; repeat for several positional inputs",
    )
    source.add_argument(
        "--inputs",
        metavar="MODULE:FUNCTION",
        help="a callable returning the tuple of positional inputs (or one "
        "tensor), for models that take several or non-tensor inputs",
    )
    parser.add_argument(
        "--kwargs",
        type=_json_object,
        default=None,
        metavar="JSON",
        help="keyword arguments for the factory, e.g. '{\"num_classes\": 10}'",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="load these trained weights (a state dict saved with torch.save) "
        "into the model before folding; read with weights_only=True, so "
        "it can never run code",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64", "float16", "bfloat16"),
        help="convert the model and floating inputs to this dtype first",
    )
    add_output_arguments(parser, "write the folded model (torch.save) here, only if it verified")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text table (default) or the versioned JSON object",
    )
    check = parser.add_argument_group("verification")
    check.add_argument(
        "--rtol",
        type=_non_negative,
        metavar="X",
        help="relative tolerance, times the output's magnitude (default by "
        "dtype: 1e-4 for float32)",
    )
    check.add_argument(
        "--atol",
        type=_non_negative,
        metavar="X",
        help="absolute tolerance (default by dtype: 1e-6 for float32)",
    )
    check.add_argument(
        "--random-inputs",
        type=int,
        default=3,
        metavar="N",
        help="random inputs compared besides the example when forward() branches on the "
        "input's values (default 3)",
    )
    check.add_argument("--seed", type=int, default=0, help="seed for the random inputs")
    check.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="when a fold fails verification, return and write no model at all (exit 1) "
        "instead of leaving that fold out (XBN209)",
    )


def add_output_arguments(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`-o/--output FILE` and `--force`, as `check`, `fold` and `graph` all spell them."""
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help=help_text)
    parser.add_argument(
        "--force", action="store_true", help="overwrite FILE if it exists (never done without it)"
    )


def run(args: argparse.Namespace) -> int:
    from bnlint import progress
    from bnlint.api import project_config
    from bnlint.outputs import OutputError, check_writable, write_atomically
    from bnlint.runtime.targets import TargetError, importable_from, resolve

    try:
        target = resolve(
            args.model,
            lambda: project_config([Path.cwd()]),
            shapes=args.input_shape,
            inputs=args.inputs,
            kwargs=args.kwargs,
        )
    except TargetError as error:
        return _error(str(error))
    try:
        import torch
    except ImportError:
        return _error(INSTALL_HINT)
    from bnlint.runtime import report
    from bnlint.runtime.fold import FoldError, fold
    from bnlint.runtime.lazy import materialize
    from bnlint.runtime.loading import (
        DTYPES,
        SetupError,
        build_inputs,
        build_model,
        untrained_statistics,
    )

    problem = _usage_problem(args, target.shapes, target.inputs)
    if problem is None and args.output is not None:
        try:
            check_writable(args.output, force=args.force)
        except OutputError as error:
            problem = str(error)
    if problem is not None:
        return _error(problem)
    dtype = DTYPES[args.dtype] if args.dtype else None
    try:
        with progress.shown_on(sys.stderr), importable_from(target.import_roots):
            progress.step("building", target.name or target.factory)
            model = build_model(target.factory, target.kwargs, dtype, args.checkpoint)
            inputs = build_inputs(target.shapes, target.inputs, dtype)
            materialize(model, inputs)  # a model with lazy layers gets its parameters
            untrained = args.checkpoint is None and untrained_statistics(model)
            with warnings.catch_warnings():
                # The table lists every skip; the warnings are for library users.
                warnings.simplefilter("ignore")
                result = fold(
                    model,
                    inputs,
                    rtol=args.rtol,
                    atol=args.atol,
                    random_inputs=args.random_inputs,
                    seed=args.seed,
                    all_or_nothing=args.all_or_nothing,
                )
    except (SetupError, FoldError) as error:
        return _error(str(error))
    if untrained and result.folds:
        _warn(
            "every BatchNorm still has the statistics it was built with (running_mean 0, "
            "running_var 1), so each fold is close to an identity and its error says little "
            "about the trained model; pass --checkpoint FILE with trained weights"
        )
    written = None
    if args.output is not None and result.model is not None:
        folded = result.model
        try:
            write_atomically(
                args.output, lambda stream: torch.save(folded, stream), force=args.force
            )
        except Exception as error:  # OSError, or a model that cannot be pickled
            return _error(f"cannot write {args.output}: {type(error).__name__}: {error}")
        written = str(args.output)
    name = target.name or args.model
    if args.format == "json":
        _emit(json.dumps(report.to_json(result, model=name, output=written), indent=2) + "\n")
    elif getattr(args, "quiet", False):
        _emit(report.summary(result, output=written))
    else:
        _emit(report.to_text(result, output=written))
    return EXIT_VERIFIED if result.verified else EXIT_UNVERIFIED


def _usage_problem(
    args: argparse.Namespace, shapes: list[tuple[int, ...]] | None, inputs: str | None
) -> str | None:
    if (shapes is None) == (inputs is None):
        return "give the example inputs with either --input-shape or --inputs"
    if args.random_inputs < 0:
        return "--random-inputs must be 0 or more"
    if (
        args.output is not None
        and args.checkpoint is not None
        and _same_file(args.output, args.checkpoint)
    ):
        # Even with --force: the trained weights would be replaced by the folded model.
        return f"-o {args.output} is the checkpoint being folded; write somewhere else"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a shape like 1,3,224,224") from None
    if not shape or any(size <= 0 for size in shape):
        raise argparse.ArgumentTypeError(f"'{text}': every size must be a positive integer")
    return shape


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--kwargs is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--kwargs must be a JSON object")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return value


def _emit(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `bnlint fold ... | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _error(message: str) -> int:
    print(f"bnlint: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _warn(message: str) -> None:
    print(f"bnlint: warning: {message}", file=sys.stderr)
