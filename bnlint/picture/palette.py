"""The colours of a picture, shared by every drawing language: green folds, red cannot fold,
amber cannot tell, as the verdicts read in `bnlint check`."""

from __future__ import annotations

from bnlint.picture.scene import Style

FOLD_EDGE = "#2e7d32"

# style -> (fill, stroke)
COLOURS: dict[Style, tuple[str, str]] = {
    Style.LAYER: ("#bbdefb", "#1565c0"),
    Style.FOLDED: ("#c8e6c9", "#2e7d32"),
    Style.UNFOLDABLE: ("#ffcdd2", "#c62828"),
    Style.UNKNOWN: ("#ffe0b2", "#ef6c00"),
    Style.OP: ("#f5f5f5", "#9e9e9e"),
    Style.DOUBT: ("#fff8e1", "#ef6c00"),
    Style.IO: ("#ffffff", "#616161"),
}
