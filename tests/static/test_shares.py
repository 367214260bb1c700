"""A file's definitions can be built in several processes (bnlint.static.roots.Share) and the
shares merged: the contribution is the one a single process makes building them all in order.
This holds only if no root's verdicts depend on the roots built before it in the same
interpreter, which these tests check on every fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnlint.static.fileverdicts import analyse_file, analyse_share, merge_shares
from bnlint.static.project import Project
from bnlint.static.roots import WHOLE, Share

from .test_kept_constructions import STEM_NET

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "static"


def _fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.py") if "__pycache__" not in p.parts)


def _shared(root: Path, path: Path, count: int) -> object:
    return merge_shares(
        [analyse_share(Project([root], []), path, Share(index, count)) for index in range(count)]
    )


@pytest.mark.parametrize("count", [2, 3])
def test_every_fixture_gives_the_same_contribution_in_shares(count: int) -> None:
    differ = []
    for path in _fixture_files():
        alone = analyse_file(Project([FIXTURES], []), path)
        if _shared(FIXTURES, path, count) != alone:
            differ.append(path.relative_to(FIXTURES).as_posix())
    assert differ == []


def test_shares_split_the_definitions_between_them(tmp_path: Path) -> None:
    path = tmp_path / "stem_net.py"
    path.write_text(STEM_NET)
    whole = analyse_share(Project([tmp_path], []), path, WHOLE)
    shares = [analyse_share(Project([tmp_path], []), path, Share(i, 2)) for i in range(2)]
    numbers = [sorted(d.number for d in s.definitions) for s in shares]
    assert numbers[0] and numbers[1]
    assert sorted(numbers[0] + numbers[1]) == [d.number for d in whole.definitions]
    assert merge_shares(shares) == merge_shares([whole])
    # the definitions of a share are built on their own: a construction the other share
    # made first is no help, and none is missing
    assert _shared(tmp_path, path, 4) == analyse_file(Project([tmp_path], []), path)


def test_a_file_that_cannot_be_read_fails_the_same_in_every_share(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("class Net(nn.Module:\n    pass\n")
    alone = analyse_file(Project([tmp_path], []), path)
    assert alone.failure is not None
    assert _shared(tmp_path, path, 2) == alone
