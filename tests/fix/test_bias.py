"""XBN401's fix: bias=False on a Conv/Linear whose bias the following BatchNorm cancels.
Unsafe (state_dict keys change), so applied only with --unsafe-fixes, and offered only where
one constructor call builds one layer."""

from __future__ import annotations

import textwrap

import pytest

from bnlint.ftypes import Applicability
from tests.cli.helpers import run_subprocess

from .helpers import fix, fixed_text, fixes, project

NET = """
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = {conv}
            self.bn = nn.BatchNorm{dims}d(8)

        def forward(self, x):
            return self.bn(self.conv({input}))
"""


@pytest.mark.parametrize(
    "conv, dims, fixed",
    [
        ("nn.Conv2d(3, 8, 3, padding=1)", 2, "nn.Conv2d(3, 8, 3, padding=1, bias=False)"),
        (
            "nn.Conv2d(3, 8, 3, padding=1, bias=True)",
            2,
            "nn.Conv2d(3, 8, 3, padding=1, bias=False)",
        ),
        ("nn.Conv2d(3, 8, 3, 1, 1, 1, 1, True)", 2, "nn.Conv2d(3, 8, 3, 1, 1, 1, 1, False)"),
        ("nn.Conv1d(3, 8, kernel_size=3,)", 1, "nn.Conv1d(3, 8, kernel_size=3, bias=False,)"),
        ("nn.Linear(3, 8)", 1, "nn.Linear(3, 8, bias=False)"),
        ("nn.Linear(3, 8, True)", 1, "nn.Linear(3, 8, False)"),
    ],
)
def test_the_bias_argument_becomes_false(tmp_path, conv, dims, fixed):
    # a Linear folds with a BatchNorm1d only on a (N, features) input the source shows
    source = "x.flatten(1)" if conv.startswith("nn.Linear") else "x"
    path = project(tmp_path, NET.format(conv=conv, dims=dims, input=source))
    assert fixed_text(path, unsafe=True) == path.read_text().replace(conv, fixed)


def test_the_fix_is_unsafe_and_needs_unsafe_fixes(tmp_path):
    path = project(tmp_path, NET.format(conv="nn.Conv2d(3, 8, 3)", dims=2, input="x"))
    [finding] = fixes(path, "XBN401")
    assert finding.fix.applicability is Applicability.UNSAFE
    assert "checkpoint" in finding.fix.message
    assert fixed_text(path) is None
    assert fixed_text(path, unsafe=True) is not None


def test_after_the_fix_the_finding_is_gone_and_the_fold_stays(tmp_path):
    path = project(tmp_path, NET.format(conv="nn.Conv2d(3, 8, 3)", dims=2, input="x"))
    [change] = fix(path, unsafe=True).changes
    assert [d.code for d in change.fixed] == ["XBN401"]
    assert change.analysis.diagnostics == ()
    [module] = change.analysis.modules
    assert [(f.conv, f.bn, f.status.value) for f in module.folds] == [("conv", "bn", "foldable")]


@pytest.mark.parametrize(
    "source",
    [
        # A variable may be True for this layer and False for another configuration.
        NET.format(conv="nn.Conv2d(3, 8, 3, bias=use_bias)", dims=2, input="x").replace(
            "def __init__(self):", "def __init__(self, use_bias=True):"
        ),
        # One constructor call in a loop builds several layers.
        """
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv2d(8, 8, 1) for _ in range(2)])
            self.bns = nn.ModuleList([nn.BatchNorm2d(8) for _ in range(2)])

        def forward(self, x):
            for conv, bn in zip(self.convs, self.bns):
                x = bn(conv(x))
            return x
    """,
        # A helper may build layers that no BatchNorm follows, elsewhere.
        """
    import torch.nn as nn


    def conv1x1(channels):
        return nn.Conv2d(channels, channels, 1)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv1x1(8)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(self.conv(x))
    """,
        # Arguments unpacked from elsewhere may carry the bias.
        NET.format(conv="nn.Conv2d(3, 8, 3, **{'padding': 1})", dims=2, input="x"),
    ],
)
def test_no_fix_where_the_edit_could_reach_other_layers(tmp_path, source):
    path = project(tmp_path, source)
    found = fixes(path, "XBN401")
    assert found, "the redundant bias is still reported"
    assert all(d.fix is None for d in found)
    assert fixed_text(path, unsafe=True) is None


def test_code_that_makes_python_warn_is_fixed_without_noise(tmp_path):
    # `"\d"` makes every parse warn (shown here whatever the Python version's default
    # filters); that is the code's business, not bnlint's output.
    source = textwrap.dedent(NET.format(conv="nn.Conv2d(3, 8, 3)", dims=2, input="x"))
    project(tmp_path, source + 'PATTERN = "\\d+"\n')
    run = run_subprocess(
        ["check", "--diff", "--unsafe-fixes", "."], cwd=tmp_path, env={"PYTHONWARNINGS": "default"}
    )
    assert run.returncode == 1 and "bias=False" in run.stdout
    assert run.stderr == "bnlint: would fix 1 finding in 1 file\n"
