"""When one side of a BatchNorm is code the analysis cannot see, the verdict is unknown: the
unseen layer may be the one that takes the BatchNorm (found by the differential fuzzer)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bnlint.ftypes import Status
from bnlint.static.engine import analyze


def _entry(tmp_path: Path, source: str):
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(source))
    return {entry.bn: entry for module in analyze([path]).modules for entry in module.folds}


def test_an_unseen_producer_makes_a_following_padded_conv_no_reason(tmp_path: Path) -> None:
    folds = _entry(
        tmp_path,
        """
        import operator
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 3, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(3)
                self.conv2 = nn.Conv2d(3, 3, 3, padding=1, bias=False)

            def forward(self, x):
                x = operator.call(self.conv1, x)
                return self.conv2(self.bn1(x))
    """,
    )
    assert folds["bn1"].status is Status.UNKNOWN


def test_an_unseen_producer_makes_a_following_fold_uncertain(tmp_path: Path) -> None:
    folds = _entry(
        tmp_path,
        """
        import operator
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 3, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(3)
                self.conv2 = nn.Conv2d(3, 3, 1, bias=False)

            def forward(self, x):
                x = operator.call(self.conv1, x)
                return self.conv2(self.bn1(x))
    """,
    )
    assert folds["bn1"].status is Status.UNKNOWN


def test_an_unseen_consumer_makes_a_shared_producer_no_reason(tmp_path: Path) -> None:
    folds = _entry(
        tmp_path,
        """
        import operator
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv0 = nn.Conv2d(3, 3, kernel_size=1, bias=False)
                self.bn2 = nn.BatchNorm2d(3)
                self.conv3 = nn.Conv2d(3, 3, 1, bias=False)

            def forward(self, x):
                x = self.conv0(x)
                identity = x
                x = operator.call(self.conv3, self.bn2(x))
                x += identity
                return x
    """,
    )
    assert folds["bn2"].status is Status.UNKNOWN


def test_a_forward_argument_read_twice_names_what_makes_it(tmp_path: Path) -> None:
    # A dense layer normalises its input and concatenates the input with its output: no
    # layer that makes the input can take the fold, and the message says so of the argument
    folds = _entry(
        tmp_path,
        """
        import torch
        from torch import nn

        class DenseLayer(nn.Module):
            def __init__(self, channels: int):
                super().__init__()
                self.norm1 = nn.BatchNorm1d(channels)
                self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)

            def forward(self, x):
                return torch.cat([x, self.conv1(self.norm1(x).relu())], 1)
    """,
    )
    assert (folds["norm1"].status, folds["norm1"].code) == (Status.UNFOLDABLE, "XBN103")
    assert "folded into whatever makes 'x' (a forward() argument)" in (folds["norm1"].reason or "")


def test_a_batchnorm_subclass_normalising_an_untracked_value_is_called(tmp_path: Path) -> None:
    # timm's BatchNormAct2d normalises with F.batch_norm on its own statistics; in a dense
    # block its input is the cat of a list of earlier features the analysis cannot count:
    # the layer is still called (unknown), never "never called"
    folds = _entry(
        tmp_path,
        """
        import torch
        import torch.nn.functional as F
        from torch import nn

        class BatchNormAct2d(nn.BatchNorm2d):
            def forward(self, x):
                x = F.batch_norm(x, self.running_mean, self.running_var, self.weight,
                                 self.bias, False, 0.1, self.eps)
                return torch.relu(x)

        class DenseLayer(nn.Module):
            def __init__(self, channels: int):
                super().__init__()
                self.norm1 = BatchNormAct2d(channels)
                self.conv1 = nn.Conv2d(channels, 8, 1, bias=False)
                self.features = []  # filled by hooks of the block around it

            def forward(self, x):
                return self.conv1(self.norm1(torch.cat(self.features, 1)))
    """,
    )
    assert (folds["norm1"].status, folds["norm1"].code) == (Status.UNKNOWN, "XBN204")
    assert "did not follow the tensor torch.nn.functional.batch_norm() is given (result of" in (
        folds["norm1"].reason or ""
    )


def test_weight_standardisation_with_f_batch_norm_is_no_batchnorm_call(tmp_path: Path) -> None:
    # timm's StdConv2d standardises its weight with F.batch_norm on the weight itself: no
    # functional BatchNorm on activations to report
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch.nn.functional as F
            from torch import nn

            class StdConv2d(nn.Conv2d):
                def forward(self, x):
                    weight = F.batch_norm(
                        self.weight.reshape(1, self.out_channels, -1), None, None,
                        training=True, momentum=0.0, eps=1e-6,
                    ).reshape_as(self.weight)
                    return F.conv2d(x, weight, self.bias, self.stride, self.padding)

            class Stem(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = StdConv2d(3, 8, 3, padding=1, bias=False)
                    self.bn = nn.BatchNorm2d(8)

                def forward(self, x):
                    return self.bn(self.conv(x))
            """
        )
    )
    result = analyze([path])
    assert [d.code for d in result.diagnostics if d.code == "XBN108"] == []


def test_every_batchnorm_is_an_instance_of_the_private_base(tmp_path: Path) -> None:
    # `isinstance(m, _BatchNorm)` holds for torch's BatchNorm classes and for subclasses of
    # the private base, which accept any rank the subclass allows (here 3-D after a Conv1d)
    folds = _entry(
        tmp_path,
        """
        import torch
        from torch import nn
        from torch.nn.modules.batchnorm import _BatchNorm

        class AnyDimBatchNorm(_BatchNorm):
            def _check_input_dim(self, input):
                pass

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 1, bias=False)
                self.bn = nn.BatchNorm2d(8)
                self.pre = nn.Identity() if isinstance(self.bn, _BatchNorm) else nn.ReLU()
                self.conv1d = nn.Conv1d(8, 8, 1, bias=False)
                self.bn1d = AnyDimBatchNorm(8)

            def forward(self, x):
                y = self.bn(self.pre(self.conv(x)))
                return self.bn1d(self.conv1d(y.flatten(2)))
    """,
    )
    assert (folds["bn"].status, folds["bn"].conv) == (Status.FOLDABLE, "conv")
    assert (folds["bn1d"].status, folds["bn1d"].conv) == (Status.FOLDABLE, "conv1d")


def test_a_batchnorm_on_the_real_part_of_a_complex_tensor_follows_an_op(tmp_path: Path) -> None:
    # complex networks normalise the real and imaginary parts apart: `bn(x.real)` reads what
    # Tensor.real makes, never a Conv's output, whatever the caller passes
    folds = _entry(
        tmp_path,
        """
        import torch
        from torch import nn

        class OnReIm(nn.Module):
            def __init__(self, channels: int):
                super().__init__()
                self.re_module = nn.BatchNorm2d(channels)
                self.im_module = nn.BatchNorm2d(channels)

            def forward(self, x):
                re, im = self.re_module(x.real), self.im_module(x.imag)
                return torch.view_as_complex(torch.stack([re, im], dim=-1))
    """,
    )
    assert (folds["re_module"].status, folds["re_module"].code) == (Status.UNFOLDABLE, "XBN102")
    assert (folds["im_module"].status, folds["im_module"].code) == (Status.UNFOLDABLE, "XBN102")
