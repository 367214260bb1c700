"""bnlint/static/tensor_methods.py is what the installed torch says: the public names of
torch.Tensor. With BNLINT_WRITE_TENSOR_METHODS=1 the test rewrites the file instead (after a
torch upgrade)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bnlint.static import tensor_methods

_FILE = Path(tensor_methods.__file__)


def test_the_recorded_tensor_methods_are_the_installed_torchs() -> None:
    torch = pytest.importorskip("torch")
    actual = frozenset(name for name in dir(torch.Tensor) if not name.startswith("_"))
    if os.environ.get("BNLINT_WRITE_TENSOR_METHODS"):
        text = _FILE.read_text()
        body = "".join(f'        "{name}",\n' for name in sorted(actual))
        text = re.sub(r"(?s)(frozenset\(\n    \{\n).*?(    \}\n\))", rf"\g<1>{body}\g<2>", text)
        version = torch.__version__.split("+")[0]
        _FILE.write_text(re.sub(r"from torch \S+ by", f"from torch {version} by", text, count=1))
    assert actual == tensor_methods.TENSOR_METHODS
