"""`bnlint graph MODULE:FACTORY --input-shape ...`: the picture of a real forward pass agrees
with the picture drawn from source, BatchNorm for BatchNorm."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint import cli
from bnlint.picture.scene import Style, build_scene
from bnlint.picture.static_graph import static_root_graph

pytest.importorskip("torch")
pytestmark = pytest.mark.runtime

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "src"


def batchnorm_boxes(scene) -> set[tuple[str, ...]]:
    verdicts = {Style.FOLDED, Style.UNFOLDABLE, Style.UNKNOWN}
    return {box.lines for box in scene.boxes if box.style in verdicts}


@pytest.mark.parametrize(
    "module, factory",
    [
        ("resnet", "resnet_tiny"),
        ("unfoldable", "preact_resnet_tiny"),
        ("unfoldable", "multiscale_shared_conv"),
    ],
)
def test_runtime_and_static_pictures_colour_every_batchnorm_alike(monkeypatch, module, factory):
    from bnlint.picture.runtime_graph import runtime_root_graph
    from bnlint.runtime.targets import RuntimeTarget

    monkeypatch.chdir(EXAMPLES)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    runtime = runtime_root_graph(RuntimeTarget(f"zoo.{module}:{factory}", shapes=[(1, 3, 32, 32)]))
    static = static_root_graph(EXAMPLES / "zoo" / f"{module}.py", factory)
    drawn = [build_scene(root.title, root.graph, root.plan) for root in (runtime, static)]
    assert batchnorm_boxes(drawn[0]) == batchnorm_boxes(drawn[1])
    assert [g.title for g in drawn[0].groups] == [g.title for g in drawn[1].groups]


def test_the_command_draws_a_runtime_target(monkeypatch, capsys):
    monkeypatch.chdir(EXAMPLES)
    assert (
        cli.main(
            ["graph", "zoo.resnet:resnet_tiny", "--input-shape", "1,3,32,32", "--format", "mermaid"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith(
        '---\ntitle: "zoo.resnet:resnet_tiny: 15 folded, 0 unfoldable, 0 unknown"'
    )
    assert 'subgraph g0 ["×2 layer1.[0-1] BasicBlock"]' in out


def test_a_model_that_fails_on_its_inputs_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.chdir(EXAMPLES)
    assert cli.main(["graph", "zoo.resnet:resnet_tiny", "--input-shape", "1,5,32,32"]) == 2
    assert "the model failed on the example inputs" in capsys.readouterr().err
