"""What the fixes do to a real model: the container fix registers the modules and keeps the
output; the bias fix keeps what a BatchNorm-normalised layer computes and changes the
state_dict keys, which is why it is unsafe."""

from __future__ import annotations

import pytest

from .helpers import fixed_text, project

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

HEADS = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.heads = [  # per task
            nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)),
            nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)),
        ]

    def forward(self, x):
        x = self.bn(self.conv(x))
        return torch.stack([head(x) for head in self.heads])
"""

BIASED = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4, True)
        self.fc_bn = nn.BatchNorm1d(4)

    def forward(self, x):
        x = self.bn(self.conv(x)).mean((2, 3))
        return self.fc_bn(self.fc(x))
"""


def build(source: str):
    namespace: dict[str, object] = {}
    exec(compile(source, "models.py", "exec"), namespace)
    torch.manual_seed(0)
    return namespace["Net"]()


def test_the_container_fix_registers_the_heads_and_keeps_the_output(tmp_path):
    path = project(tmp_path, HEADS)
    before, after = build(path.read_text()), build(fixed_text(path))
    assert not any(key.startswith("heads.") for key in before.state_dict())
    assert "heads.1.0.weight" in after.state_dict()
    assert len(list(after.parameters())) == len(list(before.parameters())) + 6
    x = torch.randn(2, 3, 8, 8)
    before.eval(), after.eval()
    for module in before.heads:
        module.eval()
    torch.testing.assert_close(after(x), before(x))


def test_the_bias_fix_keeps_the_output_and_drops_checkpoint_keys(tmp_path):
    path = project(tmp_path, BIASED)
    before, after = build(path.read_text()), build(fixed_text(path, unsafe=True))
    assert {"conv.bias", "fc.bias"} <= set(before.state_dict())
    assert not {"conv.bias", "fc.bias"} & set(after.state_dict())
    # The same weights without the biases: in training, the BatchNorm subtracts the batch
    # mean, which cancels any bias exactly.
    after.load_state_dict(
        {
            k: v
            for k, v in before.state_dict().items()
            if not k.endswith(".bias") or k.startswith(("bn", "fc_bn"))
        }
    )
    x = torch.randn(4, 3, 8, 8)
    torch.testing.assert_close(after.train()(x), before.train()(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        after.load_state_dict(before.state_dict())
