"""The benchmark at a small size: every way of running `bnlint check` (one process, several,
cache filling, warm, after a touch and an edit, one file alone with and without a cache)
gives the verdicts of the cold one-process run; the benchmark raises if one does not.

Nine `bnlint` processes make this slow; test_parallel.py and test_cache.py assert the same
agreements in-process on the same generator, in the default run."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.run import run


@pytest.mark.slow
def test_the_benchmark_runs_and_every_step_agrees(tmp_path: Path) -> None:
    rows = run([20], seed=1, jobs=2, workdir=tmp_path)
    steps = [row.step for row in rows]
    assert steps == [
        "parse",
        "cold",
        "cold -j2",
        "fill",
        "warm",
        "warm engine",
        "touched",
        "edited",
        "single",
        "single cold",
    ]
    assert all(row.wall > 0 and row.lines > 1000 for row in rows)


@pytest.mark.slow
@pytest.mark.runtime
def test_the_runtime_benchmark_times_every_example_model() -> None:
    pytest.importorskip("torch")
    from benchmarks.fold_bench import deep_residual_net, time_model

    row = time_model("deep", lambda: deep_residual_net(blocks=250), (1, 3, 8, 8), repeat=1)
    assert (row.batchnorms, row.bnlint_folds, row.fx_folds) == (501, 501, 501)
    assert row.fx_error is not None and row.fx_error < 1e-3
