"""Symbolic links never lead a run out of the paths it was given, unless `--follow-links` asks for it;
loops and dangling links are passed over with one warning each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES
from tests.cli_runner import invoke

ORIGINAL = (CASES / "jan2026.in.py").read_bytes()
FIXED = rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tree/` (the working directory) with one upstream file, and `outside/` beside it with another."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "inside.py").write_bytes(ORIGINAL)
    (tmp_path / "outside" / "sub").mkdir(parents=True)
    (tmp_path / "outside" / "sub" / "far.py").write_bytes(ORIGINAL)
    monkeypatch.chdir(tmp_path / "tree")
    return tmp_path / "tree"


def _outside_untouched(tree: Path) -> bool:
    return (tree.parent / "outside" / "sub" / "far.py").read_bytes() == ORIGINAL


@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_directory_link_out_of_the_tree_is_not_followed(command: str, tree: Path) -> None:
    (tree / "linked").symlink_to(tree.parent / "outside")
    code, _, err = invoke(command, ".")
    assert code == 1
    assert err.count("warning: linked: symbolic link to ") == 1 and "outside the given paths, not followed" in err
    assert "far.py" not in err
    assert _outside_untouched(tree)
    assert ((tree / "inside.py").read_bytes() == FIXED) == (command == "fix")


@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_file_link_out_of_the_tree_is_never_written_and_said(command: str, tree: Path) -> None:
    (tree / "far_link.py").symlink_to(tree.parent / "outside" / "sub" / "far.py")
    code, patch, err = invoke(command, ".")
    assert code == 2
    far = tree.parent / "outside" / "sub" / "far.py"
    assert f"error: far_link.py: symbolic link to {far}, outside the given paths: not rewritten" in err
    assert b"far_link.py" not in patch
    assert _outside_untouched(tree)
    assert (tree / "far_link.py").is_symlink()
    assert ((tree / "inside.py").read_bytes() == FIXED) == (command == "fix")  # the rest of the run goes on


def test_a_file_link_whose_target_is_also_given_is_written_through(tree: Path) -> None:
    (tree / "far_link.py").symlink_to(tree.parent / "outside" / "sub" / "far.py")
    for given in (["far_link.py"], [".", str(tree.parent / "outside")]):
        (tree.parent / "outside" / "sub" / "far.py").write_bytes(ORIGINAL)
        code, _, err = invoke("fix", *given)
        assert code == 1, err
        assert (tree / "far_link.py").is_symlink() and not _outside_untouched(tree)


def test_follow_links_follows_and_writes_through(tree: Path) -> None:
    (tree / "linked").symlink_to(tree.parent / "outside")
    (tree / "far_link.py").symlink_to(tree.parent / "outside" / "sub" / "far.py")
    code, _, err = invoke("fix", "--follow-links", ".")
    assert code == 1 and not [line for line in err.splitlines() if line.startswith(("warning:", "error:"))]
    assert (tree.parent / "outside" / "sub" / "far.py").read_bytes() == FIXED
    assert err.count("rewrote") == 2  # inside.py and far.py, the latter once though reached twice


def test_a_directory_link_inside_the_tree_is_followed_once(tree: Path) -> None:
    (tree / "pkg").mkdir()
    (tree / "pkg" / "m.py").write_bytes(ORIGINAL)
    (tree / "alias").symlink_to("pkg")
    code, _, err = invoke("fix", ".")
    assert code == 1 and "warning" not in err
    assert err.count("rewrote") == 2
    assert (tree / "pkg" / "m.py").read_bytes() == FIXED


@pytest.mark.parametrize("options", [[], ["--follow-links"]], ids=["default", "follow-links"])
def test_a_link_to_the_filesystem_root_is_not_walked(options: list[str], tree: Path) -> None:
    """`/` holds the tree itself: a loop, which not even --follow-links follows."""
    (tree / "everything").symlink_to("/")
    done = subprocess.run([sys.executable, "-m", "codemod", "check", *options, "."], cwd=tree, capture_output=True,
                          timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(b"warning: everything: symbolic link loop (it leads to a directory that contains "
                                  b"it), not followed\n")


def test_loops_and_dangling_links_are_warned_once_each(tree: Path) -> None:
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "up").symlink_to("../..")
    (tree / "self").symlink_to(".")
    (tree / "ping.py").symlink_to("pong.py")
    (tree / "pong.py").symlink_to("ping.py")
    (tree / "gone.py").symlink_to("nowhere.py")
    (tree / "gone_dir").symlink_to("nowhere")
    code, patch, err = invoke("check", ".")
    assert code == 1 and patch.count(b"diff --git") == 1
    expected = {
        "a/b/up": "symbolic link loop (it leads to a directory that contains it), not followed",
        "self": "symbolic link loop (it leads to a directory that contains it), not followed",
        "ping.py": "symbolic link loop, not followed",
        "pong.py": "symbolic link loop, not followed",
        "gone.py": "broken symbolic link (to nowhere.py), passed over",
        "gone_dir": "broken symbolic link (to nowhere), passed over",
    }
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert sorted(warnings) == sorted(f"warning: {path}: {reason}" for path, reason in expected.items())
    assert all(os.path.islink(tree / path) for path in expected)
