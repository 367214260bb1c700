"""Every BatchNorm the source builds gets a verdict, even when the analysis loses track of
where __init__ stores it: silence would read as "nothing to fold here"."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.ftypes import Status
from bnlint.static.engine import analyze

_LAYER_TABLE = """
    import os
    import torch.nn as nn

    CFG = [(8, 3), "M", (16, 3)]

    class Darknet(nn.Module):
        def __init__(self, cfg=CFG, in_channels=3):
            super().__init__()
            layers = []
            for v in cfg:
                if {condition}:
                    layers.append(nn.MaxPool2d(2))
                else:
                    out_channels, kernel = v
                    layers += [nn.Conv2d(in_channels, out_channels, kernel, bias=False),
                               nn.BatchNorm2d(out_channels)]
                    in_channels = out_channels
            self.features = nn.Sequential(*layers)

        def forward(self, x):
            return self.features(x)
"""


def _analyse(tmp_path: Path, condition: str):
    path = tmp_path / "darknet.py"
    path.write_text(textwrap.dedent(_LAYER_TABLE.format(condition=condition)))
    return analyze([path])


def test_a_cfg_table_mixing_tuples_and_strings_is_followed(tmp_path: Path) -> None:
    result = _analyse(tmp_path, 'v == "M"')
    (model,) = result.modules
    assert [(e.conv, e.bn, e.status) for e in model.folds] == [
        ("features.0", "features.1", Status.FOLDABLE),
        ("features.3", "features.4", Status.FOLDABLE)]


def test_a_batchnorm_in_a_list_built_under_an_undecidable_condition_is_unknown(
        tmp_path: Path) -> None:
    result = _analyse(tmp_path, 'os.environ.get("POOL") == str(v)')
    (model,) = result.modules
    assert model.folds, "the BatchNorm the source builds must get a verdict"
    assert all(e.status is Status.UNKNOWN for e in model.folds)
    assert {d.code for d in result.diagnostics} == {"XBN207"}
    assert {d.line for d in result.diagnostics} == {17}  # nn.BatchNorm2d(out_channels)
