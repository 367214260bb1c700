"""Tensors of zeros or ones shaped like another, made with `torch.zeros` and `torch.ones`.

A fold makes a few hundred small tensor operations, and each kind of operation costs most the
first time a call makes it (tens of microseconds after a garbage collection, against one or
two after that): the fold keeps to few kinds, and `zeros_like` is a kind apart from `zeros`.
"""

from __future__ import annotations

import torch


def zeros(like: torch.Tensor) -> torch.Tensor:
    return torch.zeros(like.shape, dtype=like.dtype, device=like.device)


def ones(like: torch.Tensor) -> torch.Tensor:
    return torch.ones(like.shape, dtype=like.dtype, device=like.device)
