"""`functools.partial` of a norm layer chosen by a condition the analysis cannot decide, as
CLIP-style towers build them (`norm_layer = LayerNormFp32 if half else LayerNorm`, then
`partial(norm_layer, **cfg.norm_kwargs)` when the config has any): each option stays the
class it is, with the bound arguments, instead of an unknown slot that "may hold a
BatchNorm"."""

from __future__ import annotations

from pathlib import Path

from bnlint.ftypes import Status
from tests.static.verdicts_of import verdicts_of

TOWER = """
from functools import partial

import torch
from torch import nn


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x)


class LayerNormFp32(nn.LayerNorm):
    def forward(self, x):
        return super().forward(x.float()).to(x.dtype)


class Tower(nn.Module):
    def __init__(self, width, norm_layer=LayerNorm):
        super().__init__()
        self.proj = nn.Conv1d(width, width, 1)
        self.ln_post = norm_layer(width)

    def forward(self, x):
        return self.ln_post(self.proj(x))


def build_tower(cfg, cast_dtype=None):
    norm_layer = {first} if cast_dtype in (torch.float16, torch.bfloat16) else {second}
    if cfg.norm_kwargs:
        norm_layer = partial(norm_layer, {kwargs})
    return Tower(16, norm_layer=norm_layer)


def tower():
    return build_tower(None)
"""


def test_a_partial_of_layer_norms_chosen_by_a_condition_holds_no_batchnorm(tmp_path: Path):
    source = TOWER.format(first="LayerNormFp32", second="LayerNorm", kwargs="**cfg.norm_kwargs")
    assert verdicts_of(tmp_path, source) == {}


def test_a_partial_of_batchnorms_chosen_by_a_condition_is_judged_as_one(tmp_path: Path):
    source = TOWER.format(first="nn.SyncBatchNorm", second="nn.BatchNorm1d", kwargs="eps=1e-3")
    found = verdicts_of(tmp_path, source)
    assert found["Tower: ln_post"][:2] == ("proj", Status.FOLDABLE)


def test_unknown_keywords_leave_a_batchnorm_unknown(tmp_path: Path):
    """`**cfg.norm_kwargs` may say track_running_stats=False: then there is nothing to fold."""
    source = TOWER.format(first="nn.BatchNorm1d", second="nn.BatchNorm1d", kwargs="**cfg.kw")
    assert verdicts_of(tmp_path, source)["Tower: ln_post"][1] is Status.UNKNOWN
