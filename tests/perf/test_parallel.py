"""`bnlint check --jobs N` and single-file runs give exactly the verdicts of one process
checking the whole tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint import parallel
from bnlint.static import project as project_module
from bnlint.static.engine import analyze
from tests.perf.conftest import Zoo, only

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small corpora are analysed in-process unless told otherwise.
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_two_processes_give_exactly_the_one_process_result(zoo: Zoo, always_parallel) -> None:
    assert analyze(zoo.files, search_roots=[zoo.root], jobs=2) == zoo.reference


@pytest.mark.parametrize("tree", ["tests/fixtures/static", "examples"])
def test_two_processes_agree_on_the_fixtures_and_the_examples(tree: str, always_parallel) -> None:
    root = REPO / tree
    files = _python_files(root)
    serial = analyze(files, search_roots=[root], jobs=1)
    assert serial.modules, "the tree has models"
    assert analyze(files, search_roots=[root], jobs=2) == serial


def test_the_corpus_has_verdicts_of_every_kind(zoo: Zoo) -> None:
    # Otherwise the agreement tests above prove little.
    statuses = {entry.status.value for m in zoo.reference.modules for entry in m.folds}
    assert statuses == {"foldable", "unfoldable", "unknown"}
    assert len(zoo.reference.diagnostics) > 10


@pytest.mark.parametrize("name", ["layers/conv.py", "blocks.py", "variants.py", "heads.py"])
def test_a_file_checked_alone_gets_its_whole_tree_verdicts(zoo: Zoo, name: str) -> None:
    # pre-commit hands bnlint the staged files only.
    path = next(p for p in zoo.files if p.as_posix().endswith(name))
    alone = analyze([path], search_roots=[zoo.root])
    assert only(alone, path) == only(zoo.reference, path)
    assert alone.modules, f"{name} defines modules"


def test_a_single_file_run_parses_only_the_files_its_verdicts_reach(
    zoo: Zoo, parsed: list[Path]
) -> None:
    heads = next(p for p in zoo.files if p.name == "heads.py")
    family = heads.parent
    analyze([heads], search_roots=[zoo.root])
    assert heads.resolve() in parsed
    other_families = [
        p
        for p in parsed
        if "models" in p.parts and p.parent != family and p.parent.name != "models"
    ]
    assert other_families == []
    assert len(parsed) < len(zoo.files) / 2


def test_a_file_that_defines_no_class_is_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[Path] = []
    monkeypatch.setattr(
        project_module, "parse_source", lambda path, data: parsed.append(path)
    )  # would fail if called
    script = tmp_path / "train.py"
    script.write_text("import torch\n\ndef main():\n    return torch.zeros(1)\n")
    result = analyze([script], search_roots=[tmp_path])
    assert (result.diagnostics, result.modules, parsed) == ((), (), [])


def test_dropping_parsed_trees_between_files_changes_nothing(
    zoo: Zoo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory stays bounded by parsing files again; the trees are identical, so are verdicts.
    monkeypatch.setattr(parallel, "SERIAL_PARSED_TREES", 1)
    assert analyze(zoo.files, search_roots=[zoo.root], jobs=1) == zoo.reference


def test_a_file_named_outside_the_project_changes_no_other_verdict() -> None:
    # `.site-packages/extlayers` stands in for an installed library: hidden, so not part of
    # the project. Naming its files on the command line reports on them, but imports of
    # `extlayers` stay unresolved, as they are when the fixture is checked alone.
    root = REPO / "tests" / "fixtures" / "static"
    fixture = root / "rule_unresolved_module.py"
    everything = [p for p in _python_files(root) if ".site-packages" in p.parts] + [fixture]
    assert len(everything) > 1
    together = analyze(everything, search_roots=[root])
    assert only(together, fixture) == only(analyze([fixture], search_roots=[root]), fixture)


def test_a_submodule_of_a_package_that_star_imports_every_model_is_found_without_them(
    tmp_path: Path, parsed: list[Path]
) -> None:
    """transformers' `__init__` star-imports `.models`, whose `__init__` star-imports every
    model package: reading `transformers.utils` searched all of them for the name `utils`
    (a word each of them writes), parsing 2,300 files to check one model file."""
    package = tmp_path / "zoo"
    (package / "utils").mkdir(parents=True)
    (package / "__init__.py").write_text("from .models import *\n")
    (package / "utils" / "__init__.py").write_text("def is_available():\n    return True\n")
    models = package / "models"
    models.mkdir()
    families = [f"family{i}" for i in range(6)]
    (models / "__init__.py").write_text("".join(f"from .{f} import *\n" for f in families))
    for family in families:
        (models / family).mkdir()
        (models / family / "__init__.py").write_text(
            "from ...utils import is_available\nfrom .model import *\n"
        )
        (models / family / "model.py").write_text(
            "from torch import nn\nfrom ... import utils\n\nclass Net(nn.Module):\n    pass\n"
        )
    checked = tmp_path / "net.py"
    checked.write_text(
        "import zoo\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3, bias=False)\n"
        "        self.bn = nn.BatchNorm2d(8) if zoo.utils.is_available() else nn.Identity()\n"
        "        self.head = zoo.Head if hasattr(zoo, 'Head') else None\n\n"
        "    def forward(self, x):\n"
        "        return self.bn(self.conv(x))\n"
    )
    result = analyze([checked], search_roots=[tmp_path])
    (module,) = result.modules
    assert [(e.conv, e.bn, e.status.value) for e in module.folds] == [("conv", "bn", "foldable")]
    # `zoo.Head`, defined nowhere: the star-imported packages are searched through their
    # text, and only those that star-import further are parsed, never a model file
    assert not [p for p in parsed if p.name == "model.py"], parsed


def test_a_file_larger_than_half_a_workers_part_is_shared_by_every_worker() -> None:
    from bnlint.static.roots import WHOLE, Share

    work = parallel._shared_out(
        ["model.py", "blocks.py", "utils.py"],
        {"model.py": 900, "blocks.py": 150, "utils.py": 50},
        jobs=2,
    )
    assert work == [
        ("model.py", Share(0, 2)),
        ("model.py", Share(1, 2)),
        ("blocks.py", WHOLE),
        ("utils.py", WHOLE),
    ]
    # in a whole tree no file is that large: nothing is shared out
    sizes = {f"f{i}.py": 100 for i in range(40)}
    assert all(share == WHOLE for _, share in parallel._shared_out(list(sizes), sizes, jobs=2))


def test_a_file_checked_alone_in_two_processes_gets_the_one_process_verdicts(
    tmp_path: Path, always_parallel
) -> None:
    """pre-commit on one model file: its definitions are shared by both workers."""
    from tests.static.test_kept_constructions import STEM_NET

    path = tmp_path / "stem_net.py"
    path.write_text(STEM_NET)
    serial = analyze([path], search_roots=[tmp_path], jobs=1)
    assert serial.modules and serial.diagnostics
    assert analyze([path], search_roots=[tmp_path], jobs=2) == serial
