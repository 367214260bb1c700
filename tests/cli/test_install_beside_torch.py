"""`pip install 'bnlint[runtime]'` leaves an installed torch alone when bnlint supports it.

For the oldest and the newest release the `runtime` extra admits, a fresh virtualenv gets that
torch (the real wheel, without its CUDA libraries: only the resolver looks at it), then pip is
asked, without installing anything, what installing bnlint[runtime] there would do. Slow: each
torch wheel is hundreds of megabytes.
"""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from .helpers import REPO_ROOT

OLDEST, NEWEST = "2.6.0", "2.14.1"


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.mark.slow
@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_installing_the_runtime_extra_keeps_a_supported_torch(tmp_path: Path, version: str):
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    installed = _pip(python, "install", "--quiet", "--no-deps", f"torch=={version}")
    assert installed.returncode == 0, installed.stderr
    report = tmp_path / "report.json"
    planned = _pip(
        python, "install", "--dry-run", "--quiet", "--report", str(report), f"{REPO_ROOT}[runtime]"
    )
    assert planned.returncode == 0, planned.stderr
    resolved = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert "bnlint" in resolved and "torch" not in resolved, resolved


def test_the_declared_range_is_the_tested_one():
    """The extra claims exactly the releases the test above installs beside."""
    import tomllib

    extra = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["runtime"]
    major, minor, _ = NEWEST.split(".")
    assert f"torch>={OLDEST.rsplit('.', 1)[0]},<{major}.{int(minor) + 1}" in extra
