"""A construction built again with the same arguments is copied from the first
(bnlint.static.constructions); the copy must stand for everything building it did, the
BatchNorms it built included, so that a root's verdicts do not depend on which roots of its
file were analysed before it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.ftypes import Status
from bnlint.static.fileverdicts import analyse_file
from bnlint.static.project import Project

# timm's byobnet in small: a stem adds its ConvNormAct blocks under computed names in a loop
# of unknown length, and each ConvNormAct's BatchNorm is a BatchNorm subclass that adds the
# activation. The three factories differ in the stem's kernel only: the ConvNormAct is new
# each time, its BatchNormAct2d(32) is the same construction every time.
STEM_NET = """
import torch
from torch import nn


class BatchNormAct2d(nn.BatchNorm2d):
    def __init__(self, num_features, act_layer=nn.ReLU):
        super().__init__(num_features)
        self.act = act_layer()

    def forward(self, x):
        return self.act(super().forward(x))


class ConvNormAct(nn.Module):
    def __init__(self, in_chs, out_chs, kernel_size=3, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = BatchNormAct2d(out_chs)

    def forward(self, x):
        return self.bn(self.conv(x))


class Stem(nn.Sequential):
    def __init__(self, in_chs, out_chs, kernel_size=3, num_convs=None):
        super().__init__()
        prev = in_chs
        for i in range(num_convs or torch.get_num_threads()):
            conv = ConvNormAct(prev, out_chs, kernel_size, stride=2 if i == 0 else 1)
            self.add_module(f"conv{i + 1}", conv)
            prev = out_chs


class Net(nn.Module):
    def __init__(self, width=32, stem_kernel_size=3, num_classes=10):
        super().__init__()
        self.stem = Stem(3, width, stem_kernel_size)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.stem(x).mean((2, 3)))


def net_k3():
    return Net(stem_kernel_size=3)


def net_k5():
    return Net(stem_kernel_size=5)


def net_k7():
    return Net(stem_kernel_size=7)
"""


def test_a_copied_batchnorm_subclass_is_still_a_batchnorm_the_root_built(tmp_path: Path) -> None:
    path = tmp_path / "stem_net.py"
    path.write_text(textwrap.dedent(STEM_NET))
    found = analyse_file(Project([tmp_path], []), path)
    # The stem's BatchNorms sit in a container the analysis cannot list: each factory's
    # model says so for the BatchNorm it built, the third one's built from a copy too.
    unlisted = [
        o
        for o in found.observations
        if o.owner.endswith(".Net") and o.entry.status is Status.UNKNOWN
    ]
    assert len(unlisted) == 3
    assert {o.entry.code for o in unlisted} == {"XBN207"}


def test_a_value_made_under_conditions_is_told_apart_by_the_objects_they_test() -> None:
    """`norm_layer = FrozenBatchNorm2d if is_trained else BatchNorm2d`, `is_trained` unknown:
    each option remembers the condition on that very object (facts.py), which the caller's
    path may decide. Two such values from two callers are not the same argument."""
    from bnlint.static.constructions import fingerprint
    from bnlint.static.values import Choice, Const, Unknown

    def norm_layer(is_trained: Unknown) -> Choice:
        key = ("truth", (is_trained, ()))
        return Choice(
            (Const("frozen"), Const("batch")),
            "`is_trained` cannot be decided",
            (frozenset({(key, True)}), frozenset({(key, False)})),
        )

    first = norm_layer(Unknown("`weights` is given by the caller"))
    second = norm_layer(Unknown("`weights` is given by the caller"))
    width = Const(8)
    assert fingerprint("Conv", [width, first], {}) == fingerprint("Conv", [width, first], {})
    assert fingerprint("Conv", [width, first], {}) != fingerprint("Conv", [width, second], {})
    # an unknown alone is told by what it says: a loop makes a new one on every turn
    assert fingerprint("Conv", [Unknown("any")], {}) == fingerprint("Conv", [Unknown("any")], {})


def test_what_holds_a_condition_on_an_unknown_argument_is_not_kept() -> None:
    from bnlint.static.constructions import Constructions
    from bnlint.static.values import Choice, Const, Unknown

    argument, other = Unknown("`bias` is given by the caller"), Unknown("another")

    def built(tested: Unknown) -> Choice:
        key = ("compare", (tested, ()), "Is", False, type(None), None)
        return Choice(
            (Const(1), Const(2)), "undecided", (frozenset({(key, True)}), frozenset({(key, False)}))
        )

    kept = Constructions()
    for _ in range(2):
        kept.keep("on the argument", built(argument), [], [Const(8), argument])
        kept.keep("on another value", built(other), [], [Const(8), argument])
    assert kept.copy_of("on the argument") is None
    assert kept.copy_of("on another value") is not None


def test_a_helper_called_by_two_classes_builds_for_each(tmp_path: Path) -> None:
    """A norm helper called with the same arguments from two classes' __init__ builds
    modules that belong to each caller (`built_by`): the second call is no copy of the
    first, and each class's lost BatchNorm is reported by its own root."""
    source = textwrap.dedent(
        """
        import torch
        from torch import nn


        def get_norm(channels):
            return nn.BatchNorm2d(channels)


        class Encoder(nn.Module):
            def __init__(self, block):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
                self.bn = get_norm(8)
                self.layer = block(8, get_norm(8)) if isinstance(block, str) else block(8)

            def forward(self, x):
                return self.layer(self.bn(self.conv(x)))


        class Decoder(nn.Module):
            def __init__(self, block):
                super().__init__()
                self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
                self.bn = get_norm(8)
                self.layer = block(8, get_norm(8)) if isinstance(block, str) else block(8)

            def forward(self, x):
                return self.layer(self.bn(self.conv(x)))
        """
    )
    path = tmp_path / "encoders.py"
    path.write_text(source)
    found = analyse_file(Project([tmp_path], []), path)
    handed = {
        o.owner.rsplit(".", 1)[-1]
        for o in found.observations
        if o.entry.status is Status.UNKNOWN and "handed to" in (o.entry.reason or "")
    }
    assert handed == {"Encoder", "Decoder"}
