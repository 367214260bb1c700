"""bnlint: find, explain and fold every BatchNorm in a PyTorch model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bnlint.warnings_ import FoldWarning

__version__ = "0.1.0"
__all__ = ["FoldWarning", "__version__", "check", "fold"]

if TYPE_CHECKING:
    from bnlint.api import check
    from bnlint.runtime.fold import fold


def __getattr__(name: str) -> Any:
    # `fold` needs torch; import it only when asked so that the static half stays torch-free.
    if name == "fold":
        from bnlint.runtime.fold import fold

        return fold
    if name == "check":
        from bnlint.api import check

        return check
    raise AttributeError(f"module 'bnlint' has no attribute {name!r}")
