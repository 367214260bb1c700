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


def test_shares_take_the_kept_definitions_each_builds(tmp_path: Path) -> None:
    """With definitions kept from an earlier run (bnlint.static.footprint), each share takes
    the kept ones among its own and builds the rest; merged, they give what one process
    gives, and the kept chains travel once."""
    from dataclasses import replace

    from bnlint.static.records import Chain, Kept

    path = tmp_path / "stem_net.py"
    path.write_text(STEM_NET)
    first = analyse_share(Project([tmp_path], []), path, WHOLE)
    (chain,) = first.chains
    # keep the first half of the file's definitions, as an edit further down would
    half = len(chain.links) // 2
    kept = Kept(chains=(Chain(chain.links[:half]),))
    whole = merge_shares([analyse_share(Project([tmp_path], []), path, WHOLE, kept)])
    shares = [analyse_share(Project([tmp_path], []), path, Share(i, 2), kept) for i in range(2)]
    merged = merge_shares(shares)
    assert merged == whole == merge_shares([first])
    # every definition once: the kept half in the kept chain, the rest in new ones
    identities = [link.identity for c in merged.chains for link in c.links]
    assert sorted(identities) == sorted(link.identity for link in chain.links)
    # a kept definition is taken, not built: its verdicts are what was kept
    changed = replace(chain.links[0].built, observations=())
    marked = Kept(chains=(Chain((replace(chain.links[0], built=changed),)),))
    taken = merge_shares([analyse_share(Project([tmp_path], []), path, WHOLE, marked)])
    assert len(taken.observations) < len(whole.observations)
