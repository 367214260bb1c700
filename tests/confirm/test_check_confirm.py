"""`bnlint check src/ --confirm`: the static report, then per declared model an agreement
table between the static verdicts and what the runtime checker really did.

The project below declares its models in pyproject.toml. Two factories change the model
after building it in ways the static half does not follow (a function handed to
Module.apply, statistics switched off by attribute), which is how a user meets a
disagreement without a bug in either half.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bnlint import cli

pytestmark = pytest.mark.runtime
pytest.importorskip("torch")

REPO_ROOT = Path(__file__).resolve().parents[2]

NETS = """
from torch import nn


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = ConvBN(3, 4)
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.act = nn.ReLU()
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.act(self.conv(self.stem(x))))


def net():
    return Net()


def _drop_activations(module):
    for name, child in list(module.named_children()):
        if isinstance(child, nn.ReLU):
            setattr(module, name, nn.Identity())


def net_without_act():
    model = Net()
    # surgery after construction, through Module.apply, which bnlint's static half does
    # not run: Net's source and the model differ
    model.apply(_drop_activations)
    return model


def net_with_batch_stats():
    model = Net()
    model.stem.bn.track_running_stats = False
    model.stem.bn.running_mean = model.stem.bn.running_var = None
    return model


def broken():
    raise RuntimeError("no weights for this width")
"""

SHAPE = "input-shape = [2, 3, 8, 8]"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A src-layout project `cfnets` declaring the given models; yields a runner."""
    package = tmp_path / "src" / "cfnets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(textwrap.dedent(NETS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))

    def run(models: dict[str, str], *args: str, capsys: pytest.CaptureFixture[str]):
        table = "\n".join(
            f'{name} = {{ factory = "cfnets.nets:{factory}", {SHAPE} }}'
            for name, factory in models.items()
        )
        (tmp_path / "pyproject.toml").write_text(f"[tool.bnlint.models]\n{table}\n")
        for name in [n for n in sys.modules if n.split(".")[0] == "cfnets"]:
            del sys.modules[name]
        code = cli.main(["check", "src", "--confirm", *args])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    for name in [n for n in sys.modules if n.split(".")[0] == "cfnets"]:
        del sys.modules[name]


def test_each_model_gets_an_agreement_table_and_agreement_exits_clean(project, capsys):
    code, out, err = project({"net": "net"}, "--ignore", "XBN101", capsys=capsys)
    assert code == 0, err
    assert (
        textwrap.dedent("""\
        net (cfnets.nets:net): 2 fold keys, folded model verified
          agreement             fold key                        static             runtime
          confirmed foldable    cfnets.nets.ConvBN: conv -> bn  foldable conv_bn   folded conv_bn
          confirmed unfoldable  cfnets.nets.Net: - -> bn        unfoldable XBN101  not folded XBN101
        """)
        in out
    )
    assert out.endswith(
        "Confirmed 1 model against the static analysis: 1 confirmed foldable, "
        "1 confirmed unfoldable, 0 disagreements.\n"
    )


def test_a_disagreement_is_an_error_with_both_sides_evidence(project, capsys):
    code, out, _ = project(
        {"without_act": "net_without_act", "batch_stats": "net_with_batch_stats"}, capsys=capsys
    )
    assert code == 1
    # The runtime folds what the static half called unfoldable ...
    assert (
        "  DISAGREEMENT        cfnets.nets.Net: conv -> bn     unfoldable XBN101  "
        "folded conv_bn" in out
    )
    assert (
        "  error: cfnets.nets.Net: conv -> bn: static: unfoldable XBN101: BatchNorm "
        "'self.bn' (line 24) cannot be folded: its input comes from 'self.act' (line 24), "
        "not a Conv/Linear; runtime: foldable into conv (conv_bn)"
    ) in out
    # ... and refutes a fold the static half promised.
    assert (
        "  error: cfnets.nets.ConvBN: - -> bn: static: foldable into conv (conv_bn); "
        "runtime: unfoldable XBN107: BatchNorm 'stem.bn' cannot be folded: it is built "
        "with track_running_stats=False"
    ) in out
    assert "2 disagreements." in out


def test_exit_zero_covers_disagreements(project, capsys):
    code, out, _ = project({"without_act": "net_without_act"}, "--exit-zero", capsys=capsys)
    assert code == 0 and "1 disagreement." in out


def test_a_model_that_cannot_be_built_is_reported_with_its_cause_and_exits_2(project, capsys):
    code, out, _ = project({"broken": "broken", "net": "net"}, capsys=capsys)
    assert code == 2
    assert (
        "broken (cfnets.nets:broken): error: cannot confirm: 'cfnets.nets:broken' raised "
        "RuntimeError: no weights for this width"
    ) in out
    assert "net (cfnets.nets:net): 2 fold keys" in out  # the other models are still confirmed
    assert "1 model could not be confirmed." in out


def test_json_output_carries_the_agreement_table(project, capsys):
    code, out, _ = project({"without_act": "net_without_act"}, "--format", "json", capsys=capsys)
    assert code == 1
    document = json.loads(out)
    assert document["version"] == 1 and "modules" in document  # the usual object ...
    confirm = document["confirm"]  # ... with the tables beside it
    (model,) = confirm["models"]
    assert (model["name"], model["factory"], model["error"], model["verified"]) == (
        "without_act",
        "cfnets.nets:net_without_act",
        None,
        True,
    )
    rows = {row["agreement"]: row for row in model["rows"]}
    assert rows["disagreement"]["key"] == {"owner": "cfnets.nets.Net", "conv": "conv", "bn": "bn"}
    assert rows["disagreement"]["static"]["status"] == "unfoldable"
    assert rows["disagreement"]["static"]["code"] == "XBN101"
    assert rows["disagreement"]["runtime"]["status"] == "foldable"
    assert rows["disagreement"]["runtime"]["direction"] == "conv_bn"
    assert rows["disagreement"]["instances"] == ["bn"]
    assert rows["confirmed_foldable"]["instances"] == ["stem.bn"]
    assert confirm["summary"]["disagreement"] == 1 and confirm["summary"]["failed"] == 0


def test_machine_formats_stay_valid_and_the_table_goes_to_stderr(project, capsys):
    code, out, err = project({"net": "net"}, "--format", "sarif", capsys=capsys)
    assert code == 1  # the XBN101 finding
    assert json.loads(out)["version"] == "2.1.0"
    assert "net (cfnets.nets:net): 2 fold keys" in err


def test_confirm_without_declared_models_is_a_usage_error(project, capsys):
    code, out, err = project({}, capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith(
        "bnlint: error: --confirm: no models are declared; add a [tool.bnlint.models] table to "
    )


def test_check_without_confirm_imports_neither_torch_nor_the_models(tmp_path):
    package = tmp_path / "src" / "cfnets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(textwrap.dedent(NETS))
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.bnlint.models]\nnet = {{ factory = "cfnets.nets:net", {SHAPE} }}\n'
    )
    script = (
        "import sys\n"
        "from bnlint import cli\n"
        "code = cli.main(['check', 'src'])\n"
        "print(code, 'torch' in sys.modules, 'cfnets' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": ""},
    )
    assert out.stdout.strip().splitlines()[-1] == "1 False False", out.stderr


def test_a_namespace_package_names_classes_as_the_static_half_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    """`app/` has no __init__.py: the factory imports `nsapp.nets`, the static half names the
    file's module `nets`. The classes are the same, so their verdicts are compared, not
    reported as never analysed."""
    package = tmp_path / "nsapp"
    package.mkdir()
    (package / "nets.py").write_text(textwrap.dedent(NETS))
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.bnlint.models]\nnet = {{ factory = "nsapp.nets:net", {SHAPE} }}\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        code = cli.main(["check", "nsapp", "--confirm", "--ignore", "XBN101"])
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "nsapp"]:
            del sys.modules[name]
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "not analysed" not in out + err
    assert re.search(r"confirmed foldable +nets\.ConvBN: conv -> bn", out + err), out + err


NORMED = """
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


def conv3x3(cin, cout, use_weight_norm=False):
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    return weight_norm(conv) if use_weight_norm else conv


class ConvBN(nn.Module):
    def __init__(self, cin, cout, use_weight_norm=False):
        super().__init__()
        self.conv = conv3x3(cin, cout, use_weight_norm)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = ConvBN(3, 4)
        self.normed = ConvBN(4, 4, use_weight_norm=True)
        self.last = ConvBN(4, 4)

    def forward(self, x):
        return self.last(self.normed(self.first(x)))


def net():
    return Net()
"""


def test_an_instance_the_static_half_judges_at_its_site_is_confirmed_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    """ConvBN folds, but the instance built at normed.py:26 has a weight-normed conv: the
    static half says so for that site, the runtime leaves that one BatchNorm alone, and the
    table confirms each verdict on the instances it speaks for."""
    package = tmp_path / "src" / "cfnormed"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "normed.py").write_text(textwrap.dedent(NORMED))
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.bnlint.models]\nnet = {{ factory = "cfnormed.normed:net", {SHAPE} }}\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))

    def confirm(*args: str) -> str:
        try:
            code = cli.main(["check", "src", "--confirm", *args])
        finally:
            for name in [n for n in sys.modules if n.split(".")[0] == "cfnormed"]:
                del sys.modules[name]
        out, err = capsys.readouterr()
        assert code == 1, err  # the XBN114 finding
        return out

    text = confirm("--output-format", "concise")
    assert "net (cfnormed.normed:net): 1 fold key, folded model verified" in text
    cells = [re.split(r"  +", line.strip()) for line in text.splitlines()]
    key = "cfnormed.normed.ConvBN: conv -> bn"
    assert ["confirmed foldable", key, "foldable conv_bn", "folded conv_bn x2"] in cells
    assert [
        "confirmed unfoldable",
        key,
        "unfoldable XBN114 at src/cfnormed/normed.py:26",
        "not folded XBN114",
    ] in cells
    rows = json.loads(confirm("--format", "json"))["confirm"]["models"][0]["rows"]
    assert [(row["agreement"], row["instances"]) for row in rows] == [
        ("confirmed_foldable", ["first.bn", "last.bn"]),
        ("confirmed_unfoldable", ["normed.bn"]),
    ]
    assert rows[1]["static"]["sites"] == ["src/cfnormed/normed.py:26"]
    assert "sites" not in rows[0]["static"]
