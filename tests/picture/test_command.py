"""`bnlint graph` as a user runs it: targets, formats, output files, Graphviz, errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bnlint import cli
from bnlint.picture import graphviz
from tests.cli.helpers import Run, run_subprocess

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
STAGES = "tests/picture/fixtures/stages.py::Net"
HAS_GRAPHVIZ = shutil.which("dot") is not None


@pytest.fixture
def bnlint(monkeypatch, capsys):
    def run(*args: str, cwd: Path = REPO) -> Run:
        monkeypatch.chdir(cwd)
        code = cli.main(["graph", *args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def test_a_static_target_prints_dot_by_default(bnlint):
    run = bnlint(STAGES)
    assert run.code == 0
    assert run.out.startswith("digraph bnlint {\n")
    assert (HERE / "golden" / "stages.dot").read_text() == run.out


@pytest.mark.parametrize(
    "name, starts",
    [
        ("plan.dot", "digraph bnlint {"),
        ("plan.gv", "digraph bnlint {"),
        ("plan.mmd", "---\ntitle:"),
        ("plan.md", "```mermaid\n---\ntitle:"),
    ],
)
def test_the_output_suffix_chooses_the_format(bnlint, tmp_path, name, starts):
    target = tmp_path / name
    run = bnlint(STAGES, "-o", str(target))
    assert (run.code, run.out) == (0, "")
    assert target.read_text().startswith(starts)


def test_a_markdown_file_gets_a_block_github_renders(bnlint, tmp_path):
    target = tmp_path / "plan.md"
    bnlint(STAGES, "-o", str(target))
    text = target.read_text()
    assert text.endswith("```\n") and text.count("```") == 2


def test_an_unknown_name_lists_what_the_file_offers(bnlint):
    run = bnlint("tests/picture/fixtures/stages.py::Nett")
    assert run.code == 2
    assert "cannot build 'Nett'" in run.err
    assert "classes: Block, Net; functions: net" in run.err


def test_a_file_without_a_name_asks_for_one(bnlint):
    run = bnlint("tests/picture/fixtures/stages.py")
    assert run.code == 2
    assert "name the model to draw: tests/picture/fixtures/stages.py::NAME" in run.err


def test_a_missing_file_is_a_usage_error(bnlint):
    run = bnlint("nowhere/models.py::Net")
    assert run.code == 2 and "nowhere/models.py is not a file" in run.err


def test_runtime_options_do_not_apply_to_a_static_target(bnlint):
    run = bnlint(STAGES, "--input-shape", "1,3,8,8")
    assert run.code == 2 and "FILE::NAME is drawn from source" in run.err


def test_a_runtime_target_needs_example_inputs(bnlint):
    run = bnlint("stages:net")
    assert run.code == 2 and "--input-shape or --inputs" in run.err


def test_images_without_graphviz_say_how_to_install_it(bnlint, monkeypatch, tmp_path):
    monkeypatch.setattr(graphviz.shutil, "which", lambda program: None)
    run = bnlint(STAGES, "-o", str(tmp_path / "plan.svg"))
    assert run.code == 2
    assert "apt-get install graphviz" in run.err and "brew install graphviz" in run.err
    assert "--format dot" in run.err
    assert not (tmp_path / "plan.svg").exists()


@pytest.mark.skipif(not HAS_GRAPHVIZ, reason="Graphviz `dot` is not installed")
def test_graphviz_draws_svg_and_png(bnlint, tmp_path):
    svg = bnlint(STAGES, "--format", "svg")
    assert svg.code == 0 and "<svg" in svg.out and "folded into stem" in svg.out
    bnlint(STAGES, "-o", str(tmp_path / "plan.png"))
    assert (tmp_path / "plan.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.skipif(not HAS_GRAPHVIZ, reason="Graphviz `dot` is not installed")
def test_the_dot_golden_file_is_valid_graphviz():
    done = subprocess.run(
        ["dot", "-Tsvg"],
        input=(HERE / "golden" / "stages.dot").read_bytes(),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def test_drawing_from_source_never_imports_torch(tmp_path):
    code = (
        "import sys\nfrom bnlint import cli\n"
        f"assert cli.main(['graph', {STAGES!r}, '-o', {str(tmp_path / 'p.mmd')!r}]) == 0\n"
        "assert 'torch' not in sys.modules, 'the static picture imported torch'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr


def test_the_real_command_line_draws(tmp_path):
    done = run_subprocess(["graph", str(REPO / STAGES), "--format", "mermaid"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'subgraph g0 ["×3 blocks.[0-2] Block"]' in done.stdout
