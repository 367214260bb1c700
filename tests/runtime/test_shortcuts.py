"""The runtime's shortcuts give what the plain way gives: labels made with the scopes, one
layer record shared by the layers whose facts are equal, eval mode written flag by flag, the
site check's BatchNorm maps worked out a dtype at a time, the error of outputs that are finite
throughout."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from bnlint.ftypes import LayerAttrs, NodeKind  # noqa: E402
from bnlint.runtime.capture import capture_graph  # noqa: E402
from bnlint.runtime.fold_errors import _batchnorm_maps  # noqa: E402
from bnlint.runtime.modes import to_eval  # noqa: E402
from bnlint.runtime.paths import module_paths  # noqa: E402
from bnlint.runtime.verify import tensor_error  # noqa: E402

from .helpers import randomise  # noqa: E402

pytestmark = pytest.mark.runtime


class Holders(nn.Module):
    """Modules registered, and kept in plain lists and dicts (one key with a dot in it)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
        self.blocks = [nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)), [nn.ReLU()]]
        self.heads = {"cls.a": nn.Conv2d(4, 2, 1), "": nn.BatchNorm2d(4)}


def test_every_label_joins_the_names_of_its_scope():
    paths = module_paths(Holders())
    assert len(paths.labels) == len(paths.scopes) == 10
    for key, scope in paths.scopes.items():
        assert paths.labels[key] == ".".join(frame.name for frame in scope[1:])
    assert sorted(paths.labels.values()) == [
        "",
        "blocks.0",
        "blocks.0.0",
        "blocks.0.1",
        "blocks.1.0",
        "heads.",
        "heads.cls.a",
        "stem",
        "stem.0",
        "stem.1",
    ]


class PaddedConv(nn.Conv2d):
    """A subclass with torch's forward: the same facts as a Conv2d but another class."""


def test_layers_share_a_record_only_when_every_fact_is_equal():
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, bias=False),
        nn.Conv2d(4, 4, 3, bias=False),  # the same facts as the first
        nn.Conv2d(4, 4, 3, padding=1, bias=False),  # pads
        nn.Conv2d(4, 4, 3, padding=1),  # and a bias
        PaddedConv(4, 4, 3, padding=1),  # another class
        nn.Conv2d(4, 4, 3, padding=1, groups=2),
        nn.BatchNorm2d(4),
        nn.BatchNorm2d(4, affine=False),
    )
    graph = capture_graph(model.eval(), (torch.randn(1, 4, 12, 12),)).graph
    attrs = {
        n.label: n.attrs for n in graph.nodes() if n.kind in (NodeKind.CONV, NodeKind.BATCHNORM)
    }
    conv = "torch.nn.Conv2d"
    assert attrs == {
        "0": LayerAttrs(4, 4, None, 2, 1, False, False, type_name=conv),
        "1": LayerAttrs(4, 4, None, 2, 1, False, False, type_name=conv),
        "2": LayerAttrs(4, 4, None, 2, 1, True, False, type_name=conv),
        "3": LayerAttrs(4, 4, None, 2, 1, True, True, type_name=conv),
        "4": LayerAttrs(4, 4, None, 2, 1, True, True, type_name=f"{__name__}.PaddedConv"),
        "5": LayerAttrs(4, 4, None, 2, 2, True, True, type_name=conv),
        "6": LayerAttrs(
            num_features=4,
            spatial_dims=2,
            affine=True,
            track_running_stats=True,
            type_name="torch.nn.BatchNorm2d",
        ),
        "7": LayerAttrs(
            num_features=4,
            spatial_dims=2,
            affine=False,
            track_running_stats=True,
            type_name="torch.nn.BatchNorm2d",
        ),
    }
    assert attrs["0"] is attrs["1"]  # made once for both


class KeepsStatisticsFrozen(nn.Module):
    """A module whose train() keeps its BatchNorm in eval mode and counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(2)
        self.calls = 0

    def train(self, mode: bool = True) -> KeepsStatisticsFrozen:
        super().train(mode)
        self.calls += 1
        self.bn.train(False)
        return self


def test_eval_mode_is_what_eval_gives():
    plain = nn.Sequential(nn.Conv2d(2, 2, 1), nn.Sequential(nn.BatchNorm2d(2), nn.Dropout()))
    assert to_eval(plain) is plain
    assert not any(m.training for m in plain.modules())

    # A class with its own train() is put in eval mode by eval() itself: its train() runs.
    model = nn.Sequential(nn.Conv2d(2, 2, 1), KeepsStatisticsFrozen())
    expected = copy.deepcopy(model).eval()
    to_eval(model)
    assert model[1].calls == expected[1].calls == 1
    assert [m.training for m in model.modules()] == [m.training for m in expected.modules()]


def test_site_check_maps_a_dtype_at_a_time_equal_maps_one_at_a_time():
    batchnorms = {
        "a": nn.BatchNorm2d(5),
        "b": nn.BatchNorm2d(3).double(),
        "c": nn.BatchNorm2d(4, eps=1e-3),
        "d": nn.BatchNorm2d(6).half(),
        "e": nn.BatchNorm1d(2, affine=False),
        "f": nn.BatchNorm2d(7),
    }
    for seed, bn in enumerate(batchnorms.values()):
        randomise(bn, seed)
    together = _batchnorm_maps(batchnorms)
    for label, bn in batchnorms.items():
        alone = _batchnorm_maps({label: bn})[label]
        for field in ("scale", "shift", "slack", "shift_slack"):
            assert torch.equal(getattr(together[label], field), getattr(alone, field))
            assert getattr(alone, field).numel() == bn.num_features


def test_output_error_of_finite_outputs_is_the_error_over_finite_entries():
    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(4, 7, generator=generator)
    result = reference + 1e-6 * torch.randn(4, 7, generator=generator)
    error, scale, mismatched = tensor_error(reference, result)
    ref, res = reference.double(), result.double()
    assert (error, scale, mismatched) == (
        float((ref - res).abs().max()),
        float(ref.abs().max()),
        False,
    )
    # A NaN where the original has a number: the patterns differ (the caller reports that).
    result[0, 0] = float("nan")
    error, scale, mismatched = tensor_error(reference, result)
    assert mismatched and scale == float(ref.abs().max())
    assert tensor_error(torch.zeros(0), torch.zeros(0)) == (0.0, 0.0, False)
