"""The example on each rule page that has an autofix is fixed by `bnlint check --fix`: the
rule no longer fires on the fixed text, and the page says how the fix is applied."""

from __future__ import annotations

import re

import pytest

from bnlint import rule_pages
from bnlint.fix import FIXERS
from bnlint.rules import RULES

from .helpers import fix, project

_PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("code", sorted(FIXERS))
def test_the_page_example_is_fixed(tmp_path, code):
    page = rule_pages.page(RULES[code])
    example = _PYTHON.search(rule_pages.section(page, "Example") or "")
    assert example is not None
    path = project(tmp_path, example.group(1))
    [change] = fix(path, unsafe=True).changes
    assert code in {d.code for d in change.fixed}
    assert code not in {d.code for d in change.analysis.diagnostics}


@pytest.mark.parametrize("code", sorted(FIXERS))
def test_the_page_says_how_to_apply_the_fix(code):
    page = rule_pages.page(RULES[code])
    assert "bnlint check --fix" in (rule_pages.section(page, "Use instead") or "")
