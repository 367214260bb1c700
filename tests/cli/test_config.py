"""`[tool.bnlint]`: found by walking up, validated key by key, overridden by flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.config import (
    Config,
    ConfigError,
    RuleSelection,
    load_config,
    resolve_selection,
    with_overrides,
)
from bnlint.ftypes import Severity
from bnlint.rules import RULES

from .helpers import write

MODEL = """
import torch.nn as nn

class Net(nn.Module):
    def forward(self, x):
        x = self.bn_act(self.act(x))
        self.conv_bias(x)
        return nn.BatchNorm1d(3)(x)
"""


def codes(run) -> list[str]:
    return [line.split()[1] for line in run.out.splitlines() if line.count(":") >= 3]


def test_config_is_found_by_walking_up_from_the_checked_path(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint]\nignore = ["XBN401"]\n',
            "pkg/models/net.py": MODEL,
        },
    )
    run = bnlint("check", "net.py", "--format", "concise", cwd=tmp_path / "pkg" / "models")
    assert codes(run) == ["XBN101", "XBN302"]


def test_a_pyproject_without_a_bnlint_table_is_passed_over(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint]\nselect = ["XBN3"]\n',
            "pkg/pyproject.toml": '[project]\nname = "pkg"\n',
            "pkg/net.py": MODEL,
        },
    )
    run = bnlint("check", "pkg", "--format", "concise", cwd=tmp_path)
    assert codes(run) == ["XBN302"]


def test_config_flag_overrides_discovery(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint]\nselect = ["XBN3"]\n',
            "ci/bnlint.toml": 'select = ["XBN4"]\n',
            "net.py": MODEL,
        },
    )
    run = bnlint("check", ".", "--config", "ci/bnlint.toml", "--format", "concise", cwd=tmp_path)
    assert codes(run) == ["XBN401"]
    isolated = bnlint("check", ".", "--isolated", "--format", "concise", cwd=tmp_path)
    assert codes(isolated) == ["XBN101", "XBN401", "XBN302"]


def test_flags_override_the_file(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint]\nignore = ["XBN401"]\noutput-format = "json"\n',
            "net.py": MODEL,
        },
    )
    assert bnlint("check", ".", cwd=tmp_path).out.startswith("{")
    run = bnlint("check", ".", "--format", "concise", "--select", "XBN401", cwd=tmp_path)
    assert codes(run) == ["XBN401"]
    narrowed = bnlint("check", ".", "--format", "concise", "--ignore", "XBN3", cwd=tmp_path)
    assert codes(narrowed) == ["XBN101"]


@pytest.mark.parametrize(
    "table, key",
    [
        ('selec = ["XBN1"]', "unknown key 'selec'"),
        ('select = "XBN1"', "select: expected a list of strings, got str 'XBN1'"),
        ('ignore = ["B950"]', "ignore: unknown rule code or prefix 'B950'"),
        ('extend-select = ["XBN9"]', "extend-select: unknown rule code or prefix 'XBN9'"),
        ('exclude = ["gen/[a-z"]', "exclude: invalid glob 'gen/[a-z': unclosed '['"),
        ('extend-exclude = [""]', "extend-exclude: invalid glob '': empty pattern"),
        ('output-format = "xml"', "output-format: unknown format 'xml'"),
        ('severity = {XBN401 = "fatal"}', "severity.XBN401: expected one of error, warning, info"),
        ('severity = {B1 = "error"}', "severity: unknown rule code or prefix 'B1'"),
        ('per-file-ignores = {"tests/*" = "XBN1"}', "per-file-ignores.tests/*: expected a list"),
        ('per-file-ignores = {"tests/*" = ["F401"]}', "unknown rule code or prefix 'F401'"),
        ('models = {net = {factory = "m:f", shape = [1]}}', "models.net.shape: unknown key"),
        ('models = {net = {factory = "m"}}', "models.net.factory: expected 'module.path:callable'"),
        ('models = {net = {factory = "m:f", input-shape = [1, "3"]}}', "models.net.input-shape"),
        ('models = {net = {factory = "m:f", kwargs = [1]}}', "models.net.kwargs: expected a table"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_key_and_exits_2(
    tmp_path, fake_engine, bnlint, table, key
):
    write(tmp_path, {"pyproject.toml": f"[tool.bnlint]\n{table}\n", "net.py": MODEL})
    run = bnlint("check", ".", cwd=tmp_path)
    assert run.code == 2
    assert run.err.count("\n") == 1
    assert run.err.startswith(f"bnlint: error: {tmp_path / 'pyproject.toml'}: [tool.bnlint] ")
    assert key in run.err
    assert fake_engine.calls == []


def test_a_bnlint_key_that_is_not_a_table_is_an_error(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"pyproject.toml": "[tool]\nbnlint = 3\n", "net.py": MODEL})
    run = bnlint("check", ".", cwd=tmp_path)
    assert run.code == 2
    assert run.err.endswith("[tool.bnlint] expected a table, got int 3\n")


def test_invalid_toml_names_the_file(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"pyproject.toml": "[tool.bnlint\n", "net.py": MODEL})
    run = bnlint("check", ".", cwd=tmp_path)
    assert run.code == 2
    assert run.err.startswith(f"bnlint: error: {tmp_path / 'pyproject.toml'}: invalid TOML")


def test_bad_flags_are_errors_too(tmp_path, fake_engine, bnlint):
    write(tmp_path, {"net.py": MODEL})
    run = bnlint("check", ".", "--select", "E501", cwd=tmp_path)
    assert run.code == 2
    assert run.err == (
        "bnlint: error: command line: --select: unknown rule code or prefix "
        "'E501' (bnlint codes look like XBN101; see `bnlint rule --all`)\n"
    )
    missing = bnlint("check", ".", "--config", "nope.toml", cwd=tmp_path)
    assert missing.code == 2 and "nope.toml: config file not found" in missing.err


def test_models_table_is_read_for_confirm(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": """
        [tool.bnlint.models.resnet]
        factory = "zoo.resnet:resnet18"
        input-shape = [1, 3, 32, 32]
        kwargs = {num_classes = 10}
        [tool.bnlint.models.two_inputs]
        factory = "zoo.fusion:Fusion"
        input-shape = [[1, 3, 8, 8], [1, 5]]
    """
        },
    )
    config = load_config(tmp_path / "pyproject.toml", root=tmp_path)
    resnet, fusion = config.models
    assert (resnet.name, resnet.factory, resnet.input_shape) == (
        "resnet",
        "zoo.resnet:resnet18",
        (1, 3, 32, 32),
    )
    assert resnet.kwargs == {"num_classes": 10}
    assert fusion.input_shape == ((1, 3, 8, 8), (1, 5))


# --- selection semantics (as ruff's): specificity decides, the command line is a new layer --


def enabled(*layers: RuleSelection) -> set[str]:
    return set(resolve_selection((RuleSelection(select=("ALL",)), *layers)))


def test_default_selects_every_rule():
    assert enabled() == set(RULES)


def test_select_replaces_and_extend_select_adds():
    assert enabled(RuleSelection(select=("XBN3",))) == {"XBN301", "XBN302", "XBN303"}
    assert enabled(RuleSelection(select=("XBN301",), extend_select=("XBN401",))) == {
        "XBN301",
        "XBN401",
    }


def test_a_code_beats_a_prefix_and_ignore_wins_a_tie():
    layer = RuleSelection(select=("XBN105",), ignore=("XBN1",))
    assert enabled(layer) == {"XBN105"}
    assert enabled(RuleSelection(select=("XBN1",), ignore=("XBN1",))) == set()
    assert enabled(RuleSelection(ignore=("ALL",), extend_select=("XBN401",))) == {"XBN401"}


def test_command_line_select_starts_afresh_and_ignore_narrows(tmp_path):
    config = Config(root=tmp_path, selections=(RuleSelection(ignore=("XBN401",)),))
    assert "XBN401" in with_overrides(config, select=["XBN4"]).enabled_codes()
    narrowed = with_overrides(config, ignore=["XBN1"]).enabled_codes()
    assert "XBN401" not in narrowed and "XBN101" not in narrowed and "XBN201" in narrowed


def test_severity_overrides_most_specific_wins(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint.severity]\nXBN = "info"\nXBN302 = "warning"\n'
            'XBN1 = "error"\n',
            "net.py": MODEL,
        },
    )
    run = bnlint("check", ".", "--format", "json", cwd=tmp_path)
    import json

    severities = {d["code"]: d["severity"] for d in json.loads(run.out)["diagnostics"]}
    assert severities == {"XBN101": "error", "XBN401": "info", "XBN302": "warning"}


def test_per_file_ignores_match_globs_relative_to_the_config(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint.per-file-ignores]\n"tests/**" = ["XBN1", "XBN4"]\n'
            '"legacy.py" = ["ALL"]\n',
            "tests/test_net.py": MODEL,
            "pkg/legacy.py": MODEL,
            "pkg/net.py": MODEL,
        },
    )
    run = bnlint("check", ".", "--format", "concise", cwd=tmp_path / "pkg")
    assert [line.split(":")[0] for line in run.out.splitlines()[:-1]] == ["net.py"] * 3
    whole = bnlint("check", ".", "--format", "concise", cwd=tmp_path)
    assert [line.split(": ")[0] for line in whole.out.splitlines()[:-1] if "tests" in line] == [
        "tests/test_net.py:7:16"
    ]
    flag = bnlint(
        "check",
        ".",
        "--format",
        "concise",
        "--per-file-ignores",
        "net.py:XBN3",
        cwd=tmp_path / "pkg",
    )
    assert "XBN302" not in flag.out


def test_exclude_and_extend_exclude(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.bnlint]\nextend-exclude = ["generated", "*_pb2.py"]\n',
            "pkg/net.py": MODEL,
            "pkg/generated/big.py": MODEL,
            "pkg/api_pb2.py": MODEL,
            "build/lib/net.py": MODEL,
        },
    )
    bnlint("check", ".", cwd=tmp_path)
    assert fake_engine.checked == ["pkg/net.py"]
    # --exclude replaces the defaults (so build/ is back) but keeps extend-exclude.
    bnlint("check", ".", "--exclude", "pkg/net.py", cwd=tmp_path)
    assert fake_engine.checked == ["build/lib/net.py"]


def test_config_paths_are_independent_of_where_bnlint_runs(tmp_path):
    write(tmp_path, {"pyproject.toml": '[tool.bnlint]\nextend-exclude = ["gen"]\n'})
    config = load_config(Path(tmp_path / "pyproject.toml"), root=tmp_path)
    assert config.root == tmp_path.resolve()
    assert config.severity_of("XBN101", Severity.WARNING) is Severity.WARNING


def test_load_config_rejects_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml", root=tmp_path)
