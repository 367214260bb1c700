"""A fold replaces registered parameters and buffers directly in the module tables only where
`module.name = value` would do exactly that; anything a class or a hook adds still runs."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.modules.module import (  # noqa: E402
    register_module_buffer_registration_hook,
    register_module_parameter_registration_hook,
)

from bnlint.runtime.registered import replace_buffer, replace_parameter  # noqa: E402

pytestmark = pytest.mark.runtime


def test_a_plain_module_gets_the_value_as_setattr_would_give_it():
    bn, weight, mean = nn.BatchNorm2d(3), nn.Parameter(torch.ones(3)), torch.zeros(3)
    replace_parameter(bn, "weight", weight)
    replace_buffer(bn, "running_mean", mean)
    assert bn.weight is weight and bn.running_mean is mean
    assert dict(bn.named_parameters())["weight"] is weight
    assert dict(bn.named_buffers())["running_mean"] is mean


class Recording(nn.BatchNorm2d):
    def __init__(self, features: int) -> None:
        super().__init__(features)
        self.assigned: list[str] = []

    def __setattr__(self, name: str, value: object) -> None:
        if name != "assigned" and "assigned" in vars(self):
            self.assigned.append(name)
        super().__setattr__(name, value)


def test_a_class_with_its_own_setattr_sees_every_assignment():
    bn = Recording(3)
    replace_parameter(bn, "bias", nn.Parameter(torch.zeros(3)))
    replace_buffer(bn, "running_var", torch.ones(3))
    assert bn.assigned == ["bias", "running_var"]


def test_a_global_registration_hook_sees_every_assignment_and_may_replace_the_value():
    seen: list[str] = []

    def parameter_hook(module, name, value):
        seen.append(name)
        return nn.Parameter(value.detach() + 1)

    def buffer_hook(module, name, value):
        seen.append(name)

    bn = nn.BatchNorm2d(3)
    handles = [
        register_module_parameter_registration_hook(parameter_hook),
        register_module_buffer_registration_hook(buffer_hook),
    ]
    try:
        replace_parameter(bn, "weight", nn.Parameter(torch.zeros(3)))
        replace_buffer(bn, "running_mean", torch.zeros(3))
    finally:
        for handle in handles:
            handle.remove()
    assert seen == ["weight", "running_mean"]
    assert torch.equal(bn.weight, torch.ones(3))
