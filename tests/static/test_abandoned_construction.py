"""A class whose construction runs past the analysis's step budget is given up part way
(bnlint.static.interp.MAX_STEPS). What it had built by then is still its model, and every
BatchNorm it holds, built or not yet, gets a verdict: unknown, saying why, never silence and
never a certain verdict on a model the analysis did not finish building."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bnlint.ftypes import Status
from bnlint.static.fileverdicts import analyse_file
from bnlint.static.project import Project
from bnlint.static.records import Observation

# A schedule computed in __init__ with loops the analysis unrolls (a few hundred turns
# each, nested): more steps than it follows for one model.
LONG_NET = """
from torch import nn


def channel_schedule(depth):
    total = 0
    for i in range(depth):
        for j in range(depth):
            total = total + (i * j) % 7
    return total


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class LongNet(nn.Module):
    def __init__(self, width=16, depth=400):
        super().__init__()
        self.stem = ConvBN(3, width)
        self.stem_bn = nn.BatchNorm2d(width)
        self.schedule = channel_schedule(depth)
        self.head_conv = nn.Conv2d(width, width, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(width)

    def forward(self, x):
        x = self.stem_bn(self.stem(x))
        return self.head_bn(self.head_conv(x))


class StoredLate(nn.Module):
    def __init__(self, width=16, depth=400):
        super().__init__()
        norm = nn.BatchNorm2d(width)
        self.schedule = channel_schedule(depth)
        self.conv = nn.Conv2d(3, width, 3, bias=False)
        self.norm = norm

    def forward(self, x):
        return self.norm(self.conv(x))


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = LongNet()
        self.out_bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.out_bn(self.body(x))


def make_net(width=16, depth=400):
    layers = [nn.Conv2d(3, width, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    channel_schedule(depth)
    layers += [nn.Conv2d(width, width, 3, bias=False), nn.BatchNorm2d(width)]
    return nn.Sequential(*layers)


def make_blocks(width=16, depth=400):
    stem = ConvBN(3, width)
    channel_schedule(depth)
    return nn.Sequential(stem, ConvBN(width, width))


class Short(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.block = ConvBN(3, width)
        self.conv = nn.Conv2d(width, width, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x):
        return self.bn(self.conv(self.block(x)))
"""


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> list[Observation]:
    folder = tmp_path_factory.mktemp("long")
    path = folder / "long_net.py"
    path.write_text(textwrap.dedent(LONG_NET))
    return list(analyse_file(Project([folder], []), path).observations)


def _of(observations: list[Observation], cls: str) -> dict[str, Observation]:
    return {o.entry.bn: o for o in observations if o.owner == f"long_net.{cls}"}


def test_what_was_built_before_the_analysis_stopped_is_unknown(
    observations: list[Observation],
) -> None:
    found = _of(observations, "LongNet")
    # the stem's BatchNorm was built; the head's was not, but forward() calls it
    assert set(found) == {"stem_bn", "head_bn"}
    for observation in found.values():
        assert observation.entry.status is Status.UNKNOWN
        assert "too long to follow" in observation.entry.reason
    assert "before __init__ set 'self.head_conv'" in found["stem_bn"].entry.reason


def test_a_batchnorm_built_but_not_yet_stored_is_reported(
    observations: list[Observation],
) -> None:
    found = _of(observations, "StoredLate")
    lost = [o for bn, o in found.items() if bn.startswith("<BatchNorm built at line")]
    assert len(lost) == 1
    assert "stopped before it was stored" in lost[0].entry.reason
    assert all(o.entry.status is Status.UNKNOWN for o in found.values())


def test_a_class_holding_one_given_up_is_given_up_too(observations: list[Observation]) -> None:
    # LongNet's construction was not kept half done for Wrapper to copy: building it again
    # inside Wrapper runs past the budget again
    found = _of(observations, "Wrapper")
    assert set(found) == {"out_bn"}
    assert found["out_bn"].entry.status is Status.UNKNOWN


def test_a_class_built_in_full_beside_them_keeps_its_verdicts(
    observations: list[Observation],
) -> None:
    found = _of(observations, "Short")
    assert found["bn"].entry.status is Status.FOLDABLE
    own = [o for o in observations if o.owner == "long_net.ConvBN"]
    assert Status.FOLDABLE in {o.entry.status for o in own}


def test_the_cli_reports_every_batchnorm_of_a_given_up_class(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    (tmp_path / "long_net.py").write_text(textwrap.dedent(LONG_NET))
    run = subprocess.run(
        [sys.executable, "-m", "bnlint", "check", ".", "--no-cache", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(run.stdout)
    by_class = {m["class"]: m["folds"] for m in report["modules"]}
    assert {f["bn"] for f in by_class["long_net.LongNet"]} == {"stem_bn", "head_bn"}
    assert {f["status"] for f in by_class["long_net.LongNet"]} == {"unknown"}


def test_a_factory_given_up_reports_the_batchnorms_it_built_itself(
    observations: list[Observation],
) -> None:
    built = [o for o in observations if o.owner == "torch.nn.Sequential"]
    # make_net's first BatchNorm (its second was never built); make_blocks built its
    # BatchNorm inside a ConvBN, whose own root reports it
    lines = textwrap.dedent(LONG_NET).splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "layers = [nn.Conv2d(3" in text)
    assert [o.entry.bn for o in built] == [f"<BatchNorm built at line {line}>"]
    assert built[0].entry.status is Status.UNKNOWN
    assert "factory make_net() stopped" in built[0].entry.reason
