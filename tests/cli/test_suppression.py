"""Suppression comments: `# noqa`, `# bnlint: ignore[...]`, `# bnlint: file-ignore[...]`."""

from __future__ import annotations

from bnlint.suppression import parse_suppressions

from .helpers import diagnostic, write


def concise(bnlint, cwd) -> list[str]:
    run = bnlint("check", ".", "--format", "concise", cwd=cwd)
    return [line.split(" [")[0] for line in run.out.splitlines()[:-1]]


def test_noqa_with_codes_silences_only_those_codes(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "net.py": """
        a = self.bn_act(x)  # noqa: XBN101
        b = self.bn_act(x)  # noqa:XBN101,E501
        c = self.bn_act(x)  # NOQA: E501
        d = self.bn_act(x)  # noqa: XBN1  (a prefix, as in flake8)
        e = self.bn_act(x)  # noqa: XBN401
        f = self.bn_act(x)  # type: ignore  # noqa: XBN101
    """
        },
    )
    assert concise(bnlint, tmp_path) == ["net.py:3:5: XBN101", "net.py:5:5: XBN101"]


def test_bare_noqa_silences_everything_on_the_line(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "net.py": """
        a = self.conv_bias(self.bn_act(x))  # noqa
        b = self.conv_bias(self.bn_act(x))  # noqa:
    """
        },
    )
    assert concise(bnlint, tmp_path) == []


def test_bnlint_ignore_takes_codes_prefixes_or_rule_names(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "net.py": """
        a = self.conv_bias(self.bn_act(x))  # bnlint: ignore[XBN101]
        b = self.conv_bias(self.bn_act(x))  # bnlint: ignore[bn-after-activation, XBN4]
        c = self.conv_bias(self.bn_act(x))  # bnlint: ignore
        d = self.conv_bias(self.bn_act(x))  # bnlint: ignore[]
    """
        },
    )
    assert concise(bnlint, tmp_path) == ["net.py:1:5: XBN401"]


def test_first_line_of_a_multi_line_statement_covers_the_whole_statement(
    tmp_path, fake_engine, bnlint
):
    write(
        tmp_path,
        {
            "net.py": """
        self.body = nn.Sequential(  # noqa: XBN302
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm1d(8),
        )
        self.head = nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm1d(8),  # bnlint: ignore[XBN302]
        )
        self.tail = nn.Sequential(
            nn.Conv2d(3, 8, 3),  # noqa: XBN302 (not the reported line, not the first)
            nn.BatchNorm1d(8),
        )
        x = 1  # noqa
        y = nn.BatchNorm1d(8)
    """
        },
    )
    assert concise(bnlint, tmp_path) == ["net.py:11:5: XBN302", "net.py:14:5: XBN302"]


def test_file_ignore_silences_a_code_in_the_whole_file(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "legacy.py": """
            # bnlint: file-ignore[XBN101]
            a = self.conv_bias(self.bn_act(x))
            b = self.bn_act(x)
        """,
            "other.py": "a = self.bn_act(x)\n",
        },
    )
    assert concise(bnlint, tmp_path) == ["legacy.py:2:5: XBN401", "other.py:1:5: XBN101"]


def test_comments_inside_strings_do_not_count(tmp_path, fake_engine, bnlint):
    write(
        tmp_path,
        {
            "net.py": '''
        doc = """
        # bnlint: file-ignore[XBN101]
        """
        a = self.bn_act("# noqa")
    '''
        },
    )
    assert concise(bnlint, tmp_path) == ["net.py:4:5: XBN101"]


def test_a_file_that_does_not_tokenize_still_honours_its_comments():
    source = "def broken(:\n    x = self.bn_act(x)  # noqa: XBN101\n    y = (\n"
    comments = parse_suppressions(source)
    assert comments.suppresses(diagnostic("XBN101", "m.py", 2, 9))
    assert not comments.suppresses(diagnostic("XBN101", "m.py", 3, 9))
