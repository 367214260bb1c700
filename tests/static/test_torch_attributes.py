"""bnlint/static/torch_attributes.py is what the installed torch says: the class attributes
of nn.Module and of every catalogued class. With BNLINT_WRITE_TORCH_ATTRIBUTES=1 the test
rewrites the file instead (after a torch upgrade)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from bnlint.static import torch_attributes
from bnlint.static.torch_api import CATALOGUE

_FILE = Path(torch_attributes.__file__)


def _actual() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    torch = pytest.importorskip("torch")
    module = frozenset(dir(torch.nn.Module))
    extra = {}
    for qualname in sorted(CATALOGUE):
        if not qualname.startswith("torch."):
            continue  # einops' layers: their attributes are not torch's to record
        owner, _, name = qualname.rpartition(".")
        cls = getattr(importlib.import_module(owner), name, None)
        if cls is not None:
            extra[qualname] = frozenset(dir(cls)) - module
    return module, extra


def _source(module: frozenset[str], extra: dict[str, frozenset[str]], version: str) -> str:
    def names(found: frozenset[str], indent: str) -> str:
        return "".join(f'{indent}"{n}",\n' for n in sorted(found))

    entries = "".join(
        f'    "{q}": frozenset(\n        {{\n{names(found, " " * 12)}        }}\n    ),\n'
        if found
        else f'    "{q}": frozenset(),\n'
        for q, found in extra.items()
    )
    head = torch_attributes.__doc__ or ""
    head = head.replace(head.split("generated from torch ")[1].split(" ")[0], version, 1)
    return (
        f'"""{head}"""\n\nfrom __future__ import annotations\n\n'
        "# what every nn.Module class has\n"
        f"MODULE: frozenset[str] = frozenset(\n    {{\n{names(module, ' ' * 8)}    }}\n)\n\n"
        "# what each catalogued class has besides\n"
        f"EXTRA: dict[str, frozenset[str]] = {{\n{entries}}}\n"
    )


def test_the_recorded_attributes_are_the_installed_torchs() -> None:
    module, extra = _actual()
    if os.environ.get("BNLINT_WRITE_TORCH_ATTRIBUTES"):
        torch = pytest.importorskip("torch")
        _FILE.write_text(_source(module, extra, torch.__version__.split("+")[0]))
    assert module == torch_attributes.MODULE
    assert extra == torch_attributes.EXTRA
