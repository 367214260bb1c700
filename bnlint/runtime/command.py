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
import tempfile
import warnings
from pathlib import Path
from typing import Any

EXIT_VERIFIED, EXIT_UNVERIFIED, EXIT_ERROR = 0, 1, 2
INSTALL_HINT = "`bnlint fold` needs torch: pip install 'bnlint[runtime]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODULE:FACTORY",
                        help="a callable returning the nn.Module, e.g. pkg.models:resnet18 "
                             "(imported with the current directory on sys.path)")
    source = parser.add_argument_group("example inputs (one of)")
    source.add_argument("--input-shape", type=_shape, action="append", metavar="N,C,H,W",
                        help="a random input tensor of this shape; repeat for several "
                             "positional inputs")
    source.add_argument("--inputs", metavar="MODULE:FUNCTION",
                        help="a callable returning the tuple of positional inputs (or one "
                             "tensor), for models that take several or non-tensor inputs")
    parser.add_argument("--kwargs", type=_json_object, default={}, metavar="JSON",
                        help="keyword arguments for the factory, e.g. '{\"num_classes\": 10}'")
    parser.add_argument("--checkpoint", type=Path, metavar="FILE",
                        help="load these trained weights (a state dict saved with torch.save) "
                             "into the model before folding; read with weights_only=True, so "
                             "it can never run code")
    parser.add_argument("--dtype", choices=("float32", "float64", "float16", "bfloat16"),
                        help="convert the model and floating inputs to this dtype first")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the folded model (torch.save) here, only if it verified")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --output")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text table (default) or the versioned JSON object")
    check = parser.add_argument_group("verification")
    check.add_argument("--rtol", type=_non_negative, metavar="X",
                       help="relative tolerance, times the output's magnitude (default by "
                            "dtype: 1e-4 for float32)")
    check.add_argument("--atol", type=_non_negative, metavar="X",
                       help="absolute tolerance (default by dtype: 1e-6 for float32)")
    check.add_argument("--random-inputs", type=int, default=3, metavar="N",
                       help="random inputs compared besides the example when forward() "
                            "branches on the input's values (default 3)")
    check.add_argument("--seed", type=int, default=0, help="seed for the random inputs")
    check.add_argument("--all-or-nothing", action="store_true",
                       help="when a fold fails verification, return and write no model at all "
                            "(exit 1) instead of leaving that fold out (XBN209)")


def run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401  (only to tell a missing install apart from a user error)
    except ImportError:
        _error(INSTALL_HINT)
        return EXIT_ERROR
    from bnlint.runtime import report
    from bnlint.runtime.fold import FoldError, fold
    from bnlint.runtime.loading import DTYPES, SetupError, build_inputs, build_model

    problem = _usage_problem(args)
    if problem is not None:
        _error(problem)
        return EXIT_ERROR
    dtype = DTYPES[args.dtype] if args.dtype else None
    try:
        model = build_model(args.model, args.kwargs, dtype, args.checkpoint)
        inputs = build_inputs(args.input_shape, args.inputs, dtype)
        with warnings.catch_warnings():
            # The table lists every skip; the warnings are for library users.
            warnings.simplefilter("ignore")
            result = fold(model, inputs, rtol=args.rtol, atol=args.atol,
                          random_inputs=args.random_inputs, seed=args.seed,
                          all_or_nothing=args.all_or_nothing)
    except (SetupError, FoldError) as error:
        _error(str(error))
        return EXIT_ERROR
    written = None
    if args.output is not None and result.model is not None:
        try:
            _save_atomically(result.model, args.output, force=args.force)
        except Exception as error:  # OSError, or a model that cannot be pickled
            _error(f"cannot write {args.output}: {type(error).__name__}: {error}")
            return EXIT_ERROR
        written = str(args.output)
    if args.format == "json":
        _emit(json.dumps(report.to_json(result, model=args.model, output=written), indent=2)
              + "\n")
    else:
        _emit(report.to_text(result, output=written))
    return EXIT_VERIFIED if result.verified else EXIT_UNVERIFIED


def _usage_problem(args: argparse.Namespace) -> str | None:
    if (args.input_shape is None) == (args.inputs is None):
        return "give the example inputs with either --input-shape or --inputs"
    if args.random_inputs < 0:
        return "--random-inputs must be 0 or more"
    if args.output is not None:
        if args.checkpoint is not None and _same_file(args.output, args.checkpoint):
            # Even with --force: the trained weights would be replaced by the folded model.
            return f"-o {args.output} is the checkpoint being folded; write somewhere else"
        if args.output.exists() and not args.force:
            return f"{args.output} exists; pass --force to overwrite it"
        if not args.output.parent.is_dir():
            return f"cannot write {args.output}: {args.output.parent} is not a directory"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _save_atomically(model: Any, path: Path, *, force: bool) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file,
    and a failure (a model that cannot be pickled, a full disk) leaves nothing behind."""
    import torch

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~_umask())  # mkstemp's 0600 is for secrets
            torch.save(model, stream)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists() and not force:
            raise FileExistsError(f"{path} appeared while folding; pass --force to overwrite")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


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


def _error(message: str) -> None:
    print(f"bnlint: error: {message}", file=sys.stderr)
