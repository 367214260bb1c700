"""The attributes a caller reads of the module objects it binds (bnlint.static.callers) are
read from its text in one pass, whatever the number of names asked about: a project of
thousands of files made every small check read each file once per name it binds."""

from __future__ import annotations

from pathlib import Path

from bnlint.static.textscan import attribute_names, attribute_reads, identifiers

TEXT = b"""
import pkg.models as models
from pkg import layers

net = models.resnet50(pretrained=False)
block = layers . conv_bn . ConvBn(3, 8)
x = torch.nn.functional.relu(y)
# Maintains max of all exp. moving avg. of sq. grad. values
name = "models.not_code"
value = 3.x
"""


def test_one_pass_reads_what_each_name_is_read_for() -> None:
    reads = attribute_reads(TEXT)
    for name in sorted(identifiers(TEXT)) + ["absent"]:
        assert reads.get(name, frozenset()) == attribute_names(TEXT, name), name
    assert reads["models"] == {"resnet50", "not_code"}
    assert reads["layers"] == {"conv_bn", "ConvBn"}
    assert reads["grad"] == {"values"}  # a word inside a chain, apart from its dot


def test_the_same_on_real_files() -> None:
    static = Path(__file__).resolve().parents[2] / "bnlint" / "static"
    for path in [static / "callers.py", static / "forward.py", static / "calls.py"]:
        data = path.read_bytes()
        reads = attribute_reads(data)
        for name in identifiers(data):
            assert reads.get(name, frozenset()) == attribute_names(data, name), (path, name)
