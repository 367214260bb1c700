"""Faults of the tree around the files: links, permissions, paths that do not exist, FIFOs,
and models whose imports or class hierarchies go round in circles."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from .helpers import GOOD, REPO_ROOT, check, good_verdicts_unchanged, run_cli, verdicts, write_tree


def finish_within(seconds: float, work):
    """`work()`'s result, failing the test if it has not returned after `seconds`."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(work()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    return result[0]


def test_a_symlink_loop_in_the_tree_ends_and_every_file_is_checked_once(tmp_path):
    root = write_tree(
        tmp_path,
        {
            "good.py": GOOD,
            "pkg/__init__.py": "",
            "pkg/model.py": GOOD.replace("SentinelBlock", "Other"),
        },
    )
    (root / "pkg" / "again").symlink_to(root / "pkg", target_is_directory=True)
    (root / "pkg" / "up").symlink_to(root, target_is_directory=True)
    result = finish_within(60, lambda: check(root))
    assert sorted(m.class_name for m in result.modules) == ["good.SentinelBlock", "pkg.model.Other"]
    good_verdicts_unchanged(result)


@pytest.mark.parametrize("named", ["loop.py", "pkg/self.py", "."])
def test_a_link_loop_is_unreadable_whether_named_or_found_in_a_folder(tmp_path, named):
    root = write_tree(tmp_path, {"good.py": GOOD, "pkg/__init__.py": ""})
    (root / "loop.py").symlink_to(root / "again.py")
    (root / "again.py").symlink_to(root / "loop.py")
    (root / "pkg" / "self.py").symlink_to(root / "pkg" / "self.py")
    run = run_cli(["check", named, "--format", "json"], cwd=root)
    assert run.returncode == 1, run.stderr[-2000:]
    found = {
        (d["path"], d["code"], d["message"], d["line"])
        for d in json.loads(run.stdout)["diagnostics"]
        if d["code"] == "XBN003"
    }
    looping = {"loop.py", "again.py", "pkg/self.py"} if named == "." else {named}
    assert found == {
        (path, "XBN003", "cannot read file: Too many levels of symbolic links", 1)
        for path in looping
    }


def test_a_link_to_nothing_is_skipped_with_a_warning_naming_it(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD})
    (root / "shared.py").symlink_to(root / "elsewhere" / "shared.py")
    run = run_cli(["check", ".", "--format", "json"], cwd=root)
    assert run.returncode == 1
    assert "skipping broken symbolic link" in run.stderr and "shared.py" in run.stderr
    report = json.loads(run.stdout)
    assert [(d["code"], d["path"], d["line"]) for d in report["diagnostics"]] == [
        ("XBN101", "good.py", 13)
    ]


def _without_read_override() -> None:
    """In the child: give up the capabilities that let root read any file (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for capability in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _run_unprivileged(args, cwd):
    """Run as is, or as root without the power to read unreadable files."""
    if os.geteuid() != 0:
        return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    return subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_without_read_override,
    )


def _cli_unprivileged(root, *args):
    """`bnlint ARGS` in `root`, unable to read what its mode forbids; skips where no user
    without that power is at hand."""
    try:
        probe = _run_unprivileged([sys.executable, "-c", "open('locked.py').read()"], root)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"cannot drop the right to read every file: {error}")
    if probe.returncode == 0:
        pytest.skip("this user can read a file with mode 000")
    return _run_unprivileged(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]);"
            " from bnlint.cli import main; sys.exit(main(sys.argv[2:]))",
            str(REPO_ROOT),
            *args,
        ],
        root,
    )


def test_an_unreadable_file_is_reported_and_the_others_checked(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD, "locked.py": GOOD.replace("Sentinel", "L")})
    (root / "locked.py").chmod(0)
    try:
        run = _cli_unprivileged(root, "check", ".", "--format", "json")
    finally:
        (root / "locked.py").chmod(0o644)
    assert run.returncode == 1, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert [
        (d["code"], d["path"], d["message"])
        for d in report["diagnostics"]
        if d["path"] == "locked.py"
    ] == [("XBN003", "locked.py", "cannot read file: Permission denied")]
    assert [d["code"] for d in report["diagnostics"] if d["path"] == "good.py"] == ["XBN101"]


def test_an_unreadable_folder_is_named_in_a_warning_and_the_others_checked(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD, "locked.py": "", "private/net.py": GOOD})
    (root / "locked.py").chmod(0)
    (root / "private").chmod(0)
    try:
        run = _cli_unprivileged(root, "check", "good.py", "private", "--format", "json")
    finally:
        (root / "private").chmod(0o755)
        (root / "locked.py").chmod(0o644)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "cannot list" in run.stderr and "private: Permission denied" in run.stderr
    report = json.loads(run.stdout)
    assert [(d["code"], d["path"]) for d in report["diagnostics"]] == [("XBN101", "good.py")]


def test_a_path_that_does_not_exist_exits_2_naming_it(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD})
    run = run_cli(["check", "good.py", "models/gone.py"], cwd=root)
    assert run.returncode == 2
    assert run.stderr == "bnlint: error: models/gone.py: no such file or directory\n"
    assert run.stdout == ""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_a_python_file_is_skipped_not_read(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD})
    os.mkfifo(root / "pipe.py")
    try:
        run = run_cli(["check", ".", "--format", "json"], cwd=root, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("bnlint check blocks on a FIFO")
    assert run.returncode == 1
    assert "skipping" in run.stderr and "pipe.py: not a regular file" in run.stderr
    assert [d["path"] for d in json.loads(run.stdout)["diagnostics"]] == ["good.py"]


CYCLE = {
    "a.py": """
        from torch import nn
        from b import Head


        class Stem(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = Stem()
                self.head = Head()

            def forward(self, x):
                return self.head(self.stem(x))
        """,
    "b.py": """
        from torch import nn
        import a


        class Head(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(8, 8, 1, bias=False)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                return self.bn(self.conv(x)).relu()


        class WiderStem(a.Stem):
            pass
        """,
}


@pytest.mark.parametrize("checked", [".", "a.py", "b.py"])
def test_models_importing_each_other_get_their_verdicts(tmp_path, checked):
    files = {name: textwrap.dedent(text) for name, text in CYCLE.items()}
    root = write_tree(tmp_path, {"good.py": GOOD, **files})
    result = finish_within(60, lambda: check(root, [checked]))
    folds = {**dict(verdicts(result, "a.py").folds), **dict(verdicts(result, "b.py").folds)}
    expected = {
        "a.Stem": (("conv", "bn", "foldable"),),
        "a.Net": (),
        "b.Head": (("conv", "bn", "foldable"),),
        "b.WiderStem": (("conv", "bn", "foldable"),),
    }
    assert folds == {k: v for k, v in expected.items() if checked in (".", k[0] + ".py")}
    assert [d for d in result.diagnostics if d.path != "good.py"] == []
    if checked == ".":
        good_verdicts_unchanged(result)


ALIAS_CYCLES = """
    from torch import nn

    A = B
    class B(A):
        pass

    C = D
    D = C
    class E(C):
        pass

    class F(G):
        pass
    class G(F):
        pass

    class H(nn.Module, H):
        pass


    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, bias=False)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(self.conv(x))
    """
CROSS_FILE_CYCLE = {
    "p.py": "from q import Q\n\nclass P(Q):\n    pass\n",
    "q.py": "from p import P\n\nclass Q(P):\n    pass\n",
}


def test_class_hierarchies_that_cycle_through_aliases_end(tmp_path):
    root = write_tree(
        tmp_path, {"good.py": GOOD, "aliases.py": textwrap.dedent(ALIAS_CYCLES), **CROSS_FILE_CYCLE}
    )
    result = finish_within(60, lambda: check(root))
    assert verdicts(result, "aliases.py").folds == (
        ("aliases.H", ()),
        ("aliases.Stem", (("conv", "bn", "foldable"),)),
    )
    assert verdicts(result, "p.py").folds == verdicts(result, "q.py").folds == ()
    good_verdicts_unchanged(result)


def test_a_file_named_inside_a_folder_that_may_not_be_searched_is_unreadable(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD, "locked.py": "", "private/net.py": GOOD})
    (root / "locked.py").chmod(0)
    (root / "private").chmod(0)
    try:
        run = _cli_unprivileged(root, "check", "private/net.py", "--format", "json")
    finally:
        (root / "private").chmod(0o755)
        (root / "locked.py").chmod(0o644)
    assert run.returncode == 1, run.stderr[-2000:]
    assert [(d["code"], d["path"]) for d in json.loads(run.stdout)["diagnostics"]] == [
        ("XBN003", "private/net.py")
    ]


def test_a_file_whose_name_is_not_utf_8_is_skipped_with_a_warning(tmp_path):
    root = write_tree(tmp_path, {"good.py": GOOD})
    try:
        (root / os.fsdecode(b"caf\xe9.py")).write_text(GOOD)
    except (OSError, UnicodeError) as error:
        pytest.skip(f"this file system refuses the name: {error}")
    run = run_cli(["check", ".", "--format", "json"], cwd=root)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "caf\\xe9.py" in run.stderr and "not valid UTF-8" in run.stderr
    assert [(d["code"], d["path"]) for d in json.loads(run.stdout)["diagnostics"]] == [
        ("XBN101", "good.py")
    ]
