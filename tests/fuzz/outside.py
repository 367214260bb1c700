"""Code the generated programs import from outside the analysed files.

The oracle copies this file next to (not into) the analysed package as `bnlint_fuzz_outside`:
the static half cannot see what these functions return, the runtime runs them. Each hidden
choice depends on VARIANT, which the oracle sets before it builds a model, so that a program
runs once with every combination of its choices: a certain static verdict must hold in all.
"""

from __future__ import annotations

VARIANT = 0


# Choices told apart by the variants: a program making up to this many runs every
# combination of them (2**HIDDEN_BITS variants); beyond, choice k moves with choice k % 3.
HIDDEN_BITS = 3


def choose(key: int) -> bool:
    """Hidden choice `key`: bit `key` of the variant."""
    return (VARIANT >> (key % HIDDEN_BITS)) & 1 == 1


def conv_options(key: int) -> dict:
    """Options that keep the spatial size: a 1x1 kernel, or a 3x3 one zero-padded by 1 (a
    BatchNorm before the latter cannot fold into it)."""
    return {"kernel_size": 3, "padding": 1} if choose(key) else {"kernel_size": 1}


def conv_args(key: int) -> tuple:
    """The same as positional arguments: kernel_size, stride, padding."""
    return (3, 1, 1) if choose(key) else (1, 1, 0)


def as_tokens(x, key: int):
    """(N, C) features as they are, or as (N, C, C) tokens."""
    return x.unsqueeze(1).repeat(1, x.shape[1], 1) if choose(key) else x


def from_tokens(x):
    """Back to (N, C) features."""
    return x.mean(1) if x.dim() == 3 else x


def ratio(key: int) -> int:
    """An expansion ratio: 4, or 1 (a block then builds no expansion layers)."""
    return 4 if choose(key) else 1
