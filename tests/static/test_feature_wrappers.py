"""A feature-extraction wrapper re-parents a model's children (timm's features_only
FeatureListNet, torchvision's IntermediateLayerGetter): the folds are the wrapper's, under
the children's names. Such wrappers keep the names still to find in a set and remove each
as it is met."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

_MODEL = """
from collections import OrderedDict

from torch import nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8))
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(self.layer1(self.bn1(self.conv1(x))).mean((2, 3)))


class Features(nn.ModuleDict):
    def __init__(self, model, return_layers):
        super().__init__()
        remaining = set(return_layers)
        layers = OrderedDict()
        for name, module in model.named_children():
            layers[name] = module
            if name in remaining:
                remaining.{remove}(name)
            if not remaining:
                break
        assert not remaining, "return layers not present"
        self.update(layers)

    def forward(self, x):
        out = []
        for module in self.values():
            x = module(x)
            out.append(x)
        return out


def features():
    return Features(Backbone(), ["bn1", "layer1"])
"""


def test_the_wrapper_holds_the_children_up_to_the_last_one_asked_for(tmp_path: Path) -> None:
    for remove in ("remove", "discard"):
        verdicts = verdicts_of(tmp_path, _MODEL.replace("{remove}", remove))
        assert verdicts["Features: bn1"] == ("conv1", Status.UNFOLDABLE, "XBN103"), remove
        assert verdicts["Features: layer1.1"] == ("layer1.0", Status.FOLDABLE, None), remove
        assert "Features: head" not in verdicts
