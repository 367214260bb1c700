"""Lay out each zoo's Python sources as its public repository holds them.

    python benchmarks/zoo_accuracy/prepare.py --cache /work/zoo-wheels --out /tmp/zoo-sources

Wheels are fetched with `pip download --no-deps` into the cache folder, unless a wheel of the
pinned release is there already; only the package's `.py` files are unpacked, into
`<out>/<repository>/<source root>/<package>/...`. A zoo that keeps only some subpackages
(torchvision: models and ops) also keeps every module of the package they import, transitively.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoos import BY_NAME, ZOOS, Zoo  # noqa: E402


def wheel_for(zoo: Zoo, cache: Path) -> Path:
    """The cached wheel of the zoo's pinned release, downloaded first when missing."""
    found = sorted(cache.glob(zoo.wheel_prefix + "*.whl"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                "--dest",
                str(cache),
                zoo.requirement,
            ],
            check=True,
        )
        found = sorted(cache.glob(zoo.wheel_prefix + "*.whl"))
    if not found:
        raise SystemExit(f"pip downloaded no wheel named {zoo.wheel_prefix}*.whl into {cache}")
    return found[-1]


def python_sources(wheel: Path, package: str) -> dict[str, bytes]:
    """The package's `.py` files in the wheel, by path inside the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if name.startswith(package + "/") and name.endswith(".py")
        }


def kept_files(zoo: Zoo, files: dict[str, bytes]) -> set[str]:
    """Every file, or for a zoo that keeps some subpackages: those, the modules they import of
    the package (transitively), and the `__init__.py` of each package on the way. The top
    package's `__init__.py` is kept but not followed: it imports every subpackage."""
    if not zoo.keep:
        return set(files)
    pending = [
        name for name in files if any(name.startswith(f"{zoo.package}/{sub}/") for sub in zoo.keep)
    ]
    kept: set[str] = set()
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept.add(name)
        if name == f"{zoo.package}/__init__.py":
            continue
        pending += [
            found
            for module in imported_modules(name, files)
            if (found := module_file(module, files)) is not None
        ]
    return kept | {init for name in kept for init in parent_inits(name) if init in files}


def imported_modules(path: str, files: dict[str, bytes]) -> set[str]:
    """Dotted names of the modules a file imports, relative imports resolved."""
    package = PurePosixPath(path).parent.parts
    names: set[str] = set()
    for node in ast.walk(ast.parse(files[path])):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            names.update(_from_import(module, alias.name, files) for alias in node.names)
    return names


def _from_import(module: str, name: str, files: dict[str, bytes]) -> str:
    """`from module import name` reads the submodule `module.name` when there is one, else a
    name defined by `module`."""
    return f"{module}.{name}" if module_file(f"{module}.{name}", files) else module


def module_file(module: str, files: dict[str, bytes]) -> str | None:
    stem = module.replace(".", "/")
    return next((name for name in (f"{stem}.py", f"{stem}/__init__.py") if name in files), None)


def parent_inits(path: str) -> list[str]:
    parents = PurePosixPath(path).parents
    return [f"{parent}/__init__.py" for parent in parents if str(parent) != "."]


def lay_out(zoo: Zoo, cache: Path, out: Path) -> tuple[int, int]:
    """Unpack the zoo under `out`, replacing an earlier copy; returns (files, lines)."""
    files = python_sources(wheel_for(zoo, cache), zoo.package)
    keep = kept_files(zoo, files)
    root = out / zoo.check_dir()
    shutil.rmtree(root / zoo.package, ignore_errors=True)
    for name in sorted(keep):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[name])
    return len(keep), sum(files[name].count(b"\n") for name in keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cache",
        type=Path,
        required=True,
        help="wheel folder: wheels of the pinned releases there are reused",
    )
    parser.add_argument("--out", type=Path, required=True, help="where the repositories go")
    parser.add_argument(
        "--zoo",
        action="append",
        choices=sorted(BY_NAME),
        help="only this zoo (repeatable); default: all",
    )
    args = parser.parse_args()
    for zoo in [BY_NAME[name] for name in args.zoo] if args.zoo else ZOOS:
        count, lines = lay_out(zoo, args.cache, args.out)
        print(
            f"{zoo.name:12} {count:5} files {lines:8} lines  "
            f"{args.out / zoo.check_dir() / zoo.package}"
        )


if __name__ == "__main__":
    main()
