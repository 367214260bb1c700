"""The rule pages (`rules/<CODE>.md`) document the catalogue, and their examples are specs.

Every rule in `bnlint.rules.RULES` has one page and every page one rule. A page reads:

    # XBN101: bn-after-activation

    Severity: warning · Verdict: unfoldable        ("Verdict: none" for rules without one)

    ## What it does / ## Why is this bad? / ## Example / ## Use instead / ## Known problems

The first ```python block after "## Example" is the example that triggers the rule, the
first after "## Use instead" the fixed version. Each is written to a temporary folder as a
.py file (UTF-8) and checked with the static engine: the rule's code must be reported on the
example and not on the fixed version. Conventions the pages use, read here:

- `# input: (1, 3, 16, 16)` inside an example: the shape of the random input the runtime
  test feeds to every nn.Module class of the example that builds without arguments.
- `# build: BatchNormAct2d(16)` inside an example: an expression, evaluated in the example's
  namespace, that builds one more model for the runtime test. Layer libraries need it: their
  classes all take arguments, and a class that builds without them counts as a model.
- `<!-- example-raises: ValueError -->` in the Example section (the XBN3xx bugs): running
  the example's models must raise that exception, which proves the bug is real.
- XBN002 (undecodable file): the example starts with a `# -*- coding: ascii -*-`
  declaration that its own UTF-8 bytes violate. We chose this over an `example-bytes` comment
  so the page shows the very file a user would have.
- `<!-- example-setup: dangling-symlink -->` in the Example section (XBN003): the example
  file is created as a symbolic link to a file that does not exist; the block shows the
  situation in comments.
- `<!-- example-expand: {"placeholder": ..., "repeat": ..., "count": N} -->` in the Example
  section (XBN004): the placeholder in the block stands for a generated run of N copies of
  `repeat` (formatted with `i` = 1..N), which the page cannot print legibly.
- `<!-- found-by: bnlint fold -->` under the Severity line: the rule is raised by the runtime
  checker only. The static engine must not report it on the example (the page says why under
  "Known problems"), and the runtime test checks `bnlint.fold` on the model instead: the
  last class of the example that builds without arguments.

Examples of the file-error rules (XBN0xx) cannot be imported by design; every other example,
and every fixed version, is imported and run by the runtime test.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from bnlint.rules import RULES, Rule

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = REPO_ROOT / "rules"
INDEX = PAGES / "README.md"
HEADINGS = ["What it does", "Why is this bad?", "Example", "Use instead", "Known problems"]

_FENCE = re.compile(r"^```(\w*)\s*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^## (.+?)\s*$", re.MULTILINE)
_INPUT = re.compile(r"^\s*# input: (\(.*\))\s*$", re.MULTILINE)
_BUILD = re.compile(r"^\s*# build: (.+?)\s*$", re.MULTILINE)
_DIRECTIVE = re.compile(r"<!--\s*([\w-]+):\s*(.*?)\s*-->", re.DOTALL)


@dataclass(frozen=True)
class Page:
    code: str
    text: str

    @property
    def path(self) -> Path:
        return PAGES / f"{self.code}.md"

    def headings(self) -> list[str]:
        # Python comments inside code blocks can look like headings; look outside them only.
        return _HEADING.findall(_FENCE.sub("", self.text))

    def section(self, heading: str) -> str:
        names = self.headings()
        assert heading in names, f"{self.code}: no '## {heading}' section"
        prose = _FENCE.sub(lambda m: "\0" * len(m.group(0)), self.text)  # keep offsets
        start = prose.index(f"\n## {heading}\n") + len(heading) + 5
        later = [prose.find(f"\n## {h}\n", start) for h in names[names.index(heading) + 1 :]]
        end = min([i for i in later if i >= 0], default=len(self.text))
        return self.text[start:end]

    def example(self, heading: str) -> str:
        blocks = [
            m.group(2) for m in _FENCE.finditer(self.section(heading)) if m.group(1) == "python"
        ]
        assert blocks, f"{self.code}: no ```python block under '## {heading}'"
        return blocks[0]

    def directive(self, name: str, heading: str | None = None) -> str | None:
        text = self.section(heading) if heading else self.text
        values = [m.group(2) for m in _DIRECTIVE.finditer(text) if m.group(1) == name]
        return values[0] if values else None

    @property
    def runtime_only(self) -> bool:
        return self.directive("found-by") == "bnlint fold"


def page_for(code: str) -> Page:
    return Page(code, (PAGES / f"{code}.md").read_text(encoding="utf-8"))


def verdict_line(rule: Rule) -> str:
    verdict = rule.status.value if rule.status is not None else "none"
    return f"Severity: {rule.severity.value} · Verdict: {verdict}"


def is_file_error(rule: Rule) -> bool:
    return rule.code.startswith("XBN0")


def write_example(page: Page, which: str, folder: Path) -> Path:
    """The page's example ("Example") or fixed version ("Use instead") as a file on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{page.code.lower()}_{'bad' if which == 'Example' else 'fixed'}.py"
    source = page.example(which)
    if which == "Example" and page.directive("example-setup", which) == "dangling-symlink":
        path.symlink_to(folder / "moved_away" / path.name)
        return path
    expand = page.directive("example-expand", which) if which == "Example" else None
    if expand is not None:
        spec = json.loads(expand)
        assert spec["placeholder"] in source, f"{page.code}: placeholder not in the example"
        run = "".join(spec["repeat"].format(i=i) for i in range(1, spec["count"] + 1))
        source = source.replace(spec["placeholder"], run)
    path.write_text(source, encoding="utf-8")
    return path


ALL_CODES = sorted(RULES)


# -- the pages and the catalogue agree -------------------------------------------------------


def test_every_rule_has_a_page_and_every_page_a_rule() -> None:
    pages = {p.stem for p in PAGES.glob("*.md") if p.name != "README.md"}
    assert sorted(pages) == ALL_CODES


@pytest.mark.parametrize("code", ALL_CODES)
def test_page_header_names_the_rule(code: str) -> None:
    rule, page = RULES[code], page_for(code)
    lines = page.text.splitlines()
    assert lines[0] == f"# {rule.code}: {rule.name}"
    assert lines[1] == ""
    assert lines[2] == verdict_line(rule)


@pytest.mark.parametrize("code", ALL_CODES)
def test_page_has_the_five_sections_in_order(code: str) -> None:
    page = page_for(code)
    assert page.headings() == HEADINGS
    for heading in HEADINGS:
        assert page.section(heading).strip(), f"{code}: '## {heading}' is empty"


@pytest.mark.parametrize("code", ALL_CODES)
def test_runnable_examples_declare_their_input(code: str) -> None:
    page = page_for(code)
    blocks = ["Use instead"] if is_file_error(RULES[code]) else ["Example", "Use instead"]
    for which in blocks:
        assert _INPUT.search(page.example(which)), f"{code} {which}: no '# input: (...)' line"


# Where each page directive may appear: None for the page header (before the first section).
DIRECTIVES = {
    "found-by": None,
    "example-setup": "Example",
    "example-expand": "Example",
    "example-raises": "Example",
}


@pytest.mark.parametrize("code", ALL_CODES)
def test_page_directives_are_known_and_where_the_test_reads_them(code: str) -> None:
    page = page_for(code)
    header = page.text.split("\n## ", 1)[0]
    for match in _DIRECTIVE.finditer(page.text):
        name = match.group(1)
        assert name in DIRECTIVES, f"{code}: unknown directive {name!r}"
        place = DIRECTIVES[name]
        where = header if place is None else page.section(place)
        assert match.group(0) in where, f"{code}: {name!r} belongs in {place or 'the header'}"


def _index_rows() -> dict[str, list[str]]:
    rows = {}
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = (
            re.fullmatch(r"\[(XBN\d+)\]\((XBN\d+)\.md\)", cells[0])
            if line.startswith("|")
            else None
        )
        if match:
            assert match.group(1) == match.group(2), f"index links {cells[0]} to another page"
            rows[match.group(1)] = cells[1:]
    return rows


def test_index_lists_every_rule_as_the_catalogue_defines_it() -> None:
    expected = {
        code: [
            f"`{rule.name}`",
            rule.severity.value,
            rule.status.value if rule.status is not None else "none",
            rule.summary.replace("|", "\\|"),
        ]
        for code, rule in RULES.items()
    }
    assert _index_rows() == expected


def test_index_lists_rules_in_code_order() -> None:
    assert list(_index_rows()) == ALL_CODES


# -- the examples behave as the pages say (static engine) ------------------------------------


def _engine():
    try:
        from bnlint.static import engine
    except ImportError as error:
        if error.name in ("bnlint.static.engine", "bnlint.static"):
            pytest.skip(f"the static engine is not written yet ({error})")
        raise
    return engine


def _reported_codes(path: Path, folder: Path, isolate: bool) -> set[str]:
    if not isolate:
        result = _engine().analyze([path], search_roots=[folder])
        return {d.code for d in result.diagnostics}
    # A pathological file may crash the parser outright; it must fail one test, not the run.
    script = (
        "import sys\nfrom pathlib import Path\nfrom bnlint.static.engine import analyze\n"
        "r = analyze([Path(sys.argv[1])], search_roots=[Path(sys.argv[2])])\n"
        "print(' '.join(sorted({d.code for d in r.diagnostics})))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(path), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert run.returncode == 0, f"the engine failed on {path.name}:\n{run.stderr[-3000:]}"
    return set(run.stdout.split())


# Rules whose documented example the engine does not yet report; each entry names the gap.
# strict=True: the test fails as soon as the engine reports the rule, so the entry goes.
ENGINE_GAPS: dict[str, str] = {}


def _with_gaps(codes: list[str]) -> list:
    return [
        pytest.param(code, marks=pytest.mark.xfail(strict=True, reason=ENGINE_GAPS[code]))
        if code in ENGINE_GAPS
        else code
        for code in codes
    ]


@pytest.mark.parametrize("code", _with_gaps(ALL_CODES))
def test_example_triggers_the_rule(code: str, tmp_path: Path) -> None:
    _engine()
    page = page_for(code)
    path = write_example(page, "Example", tmp_path)
    reported = _reported_codes(path, tmp_path, isolate=is_file_error(RULES[code]))
    if page.runtime_only:
        assert code not in reported, (
            f"{code} is documented as found by `bnlint fold` only, but `bnlint check` reports it "
            "now: update the page"
        )
    else:
        assert code in reported, f"{code} not reported on its example; got {sorted(reported)}"


@pytest.mark.parametrize("code", ALL_CODES)
def test_fixed_version_does_not_trigger_the_rule(code: str, tmp_path: Path) -> None:
    _engine()
    path = write_example(page_for(code), "Use instead", tmp_path)
    reported = _reported_codes(path, tmp_path, isolate=False)
    assert code not in reported


# -- the examples are real, runnable model code (torch) --------------------------------------


def _import(path: Path):
    name = f"_bnlint_rule_page_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _no_argument_models(module) -> list[type]:
    import torch

    found = []
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, torch.nn.Module)
            and value.__module__ == module.__name__
        ):
            params = list(inspect.signature(value.__init__).parameters.values())[1:]
            if all(
                p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                for p in params
            ):
                found.append(value)
    return found


def _runtime_cases() -> list[tuple[str, str]]:
    return [
        (code, which)
        for code in ALL_CODES
        for which in ("Example", "Use instead")
        if not (which == "Example" and is_file_error(RULES[code]))
    ]


def _models(module, source: str) -> list:
    """Every model the example defines: its no-argument classes, then its `# build:` lines."""
    built = [cls() for cls in _no_argument_models(module)]
    built += [eval(expr, vars(module)) for expr in _BUILD.findall(source)]  # noqa: S307
    return built


@pytest.mark.runtime
@pytest.mark.parametrize(
    ("code", "which"),
    _runtime_cases(),
    ids=[f"{c}-{'bad' if w == 'Example' else 'fixed'}" for c, w in _runtime_cases()],
)
def test_example_builds_and_runs(code: str, which: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    page = page_for(code)
    source = page.example(which)
    shape = ast.literal_eval(_INPUT.search(source).group(1))
    torch.manual_seed(0)
    module = _import(write_example(page, which, tmp_path))
    models = _models(module, source)
    assert models, f"{code} {which}: no model builds without arguments and no '# build:' line"
    raises = page.directive("example-raises", which) if which == "Example" else None
    expected = getattr(builtins, raises) if raises is not None else None
    for model in models:
        model.eval()
        with torch.no_grad():
            if expected is not None:
                with pytest.raises(expected):
                    model(torch.randn(*shape))
            else:
                output = model(torch.randn(*shape))
                assert output is not None, f"{code} {which}: {type(model).__name__} returned None"


def _fold_codes(page: Page, which: str, folder: Path) -> set[str]:
    import torch

    import bnlint

    source = page.example(which)
    shape = ast.literal_eval(_INPUT.search(source).group(1))
    model = _no_argument_models(_import(write_example(page, which, folder)))[-1]()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every skip is also a FoldWarning; the codes suffice
        result = bnlint.fold(model, (torch.randn(*shape),))
    return {skip.code for skip in result.skipped}


# Read at collection time; a missing page fails test_every_rule_has_a_page_and_every_page_a_rule.
RUNTIME_ONLY = [
    code for code in ALL_CODES if (PAGES / f"{code}.md").is_file() and page_for(code).runtime_only
]


@pytest.mark.runtime
@pytest.mark.parametrize("code", RUNTIME_ONLY)
def test_runtime_only_rule_is_found_by_bnlint_fold(code: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    page = page_for(code)
    assert code in _fold_codes(page, "Example", tmp_path / "bad")
    assert code not in _fold_codes(page, "Use instead", tmp_path / "fixed")


def test_runtime_only_rules_are_the_ones_the_catalogue_credits_to_the_runtime_checker() -> None:
    credited = sorted(code for code, rule in RULES.items() if "runtime checker" in rule.summary)
    assert RUNTIME_ONLY == credited
