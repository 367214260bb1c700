"""Settings kept in a namespace (fastai's `defaults = SimpleNamespace(activation=nn.ReLU)`,
an argparse Namespace): read and written as attributes, so a layer a setting chooses is
known; a setting written under a name the analysis cannot tell makes every setting unknown,
never what it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_HEADER = "import argparse\nfrom types import SimpleNamespace\n\nfrom torch import nn\n\n"

_BLOCK = """
{settings}


class ConvLayer(nn.Sequential):
    def __init__(self, act_cls=defaults.activation):
        layers = [nn.Conv2d(3, 8, 3, bias=False)]
        if act_cls is not None:
            layers.append(act_cls())
        layers.append(nn.BatchNorm2d(8))
        super().__init__(*layers)
"""

_AFTER_ACTIVATION = {"ConvLayer: 2": (None, Status.UNFOLDABLE, "XBN101")}
_AFTER_CONV = {"ConvLayer: 1": ("0", Status.FOLDABLE, None)}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("defaults = SimpleNamespace(activation=nn.ReLU)", _AFTER_ACTIVATION),
        ("defaults = argparse.Namespace(activation=nn.ReLU)", _AFTER_ACTIVATION),
        ("defaults = SimpleNamespace(activation=None)", _AFTER_CONV),
        (
            "defaults = SimpleNamespace(activation=nn.ReLU)\ndefaults.activation = None",
            _AFTER_CONV,
        ),
        (
            "defaults = SimpleNamespace()\nsetattr(defaults, 'activation', nn.SiLU)",
            _AFTER_ACTIVATION,
        ),
    ],
)
def test_a_setting_read_from_a_namespace_chooses_the_layers(
    tmp_path: Path, settings: str, expected: dict
) -> None:
    assert verdicts_of(tmp_path, _BLOCK.format(settings=settings), _HEADER) == expected


def test_a_setting_written_under_a_name_not_known_is_unknown(tmp_path: Path) -> None:
    settings = (
        "import os\n\ndefaults = SimpleNamespace(activation=None)\n"
        "setattr(defaults, os.environ['SETTING'], nn.ReLU)"
    )
    verdicts = verdicts_of(tmp_path, _BLOCK.format(settings=settings), _HEADER)
    assert verdicts and all(status is Status.UNKNOWN for _, status, _ in verdicts.values())
