"""`fix` replaces a file by a new one: the new one keeps what the old one had (group, and owner as far as
the user may set it; extended attributes and POSIX ACLs), a file with other names (hard links) is never
split from them, a run killed while writing leaves nothing behind, and any name the file system allows
can be written."""

from __future__ import annotations

import errno
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from codemod.run import write
from codemod.run.write import TEMP_SUFFIX

from fixtures.catalog import CASES
from tests.cli_runner import Cli

from .conftest import all_files, seed_rewrite

OLD = (CASES / "jan2026.in.py").read_bytes()
NEW = seed_rewrite(OLD)
posix_only = pytest.mark.skipif(not hasattr(os, "fchown"), reason="owners and groups are POSIX")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.py").write_bytes(OLD)
    return tmp_path


# Item 8.
def test_a_file_with_hard_links_is_not_split_from_them(tree: Path, cli: Cli) -> None:
    (tree / "b").mkdir()
    os.link(tree / "a" / "m.py", tree / "b" / "m.py")
    outcome = cli("fix", ".")
    assert outcome.code == 2
    assert ("error: a/m.py: has 2 hard links (names): not rewritten, since a new file would leave the other "
            "names with the old bytes; left untouched") in outcome.err.splitlines()
    first, second = (tree / "a" / "m.py").stat(), (tree / "b" / "m.py").stat()
    assert (first.st_ino, first.st_nlink) == (second.st_ino, 2)
    assert (tree / "a" / "m.py").read_bytes() == (tree / "b" / "m.py").read_bytes() == OLD


# Item 9.
def _non_root_fchown(user: int, groups: set[int]) -> Callable[[int, int, int], None]:
    """`os.fchown` as the kernel allows it a user who is not root: the owner may only stay, the group may
    become one of the user's."""
    real = os.fchown

    def fchown(descriptor: int, owner: int, group: int) -> None:
        if owner not in (-1, user) or group not in (-1, *groups):
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        real(descriptor, owner, group)

    return fchown


@posix_only
def test_a_non_root_fix_keeps_the_group(tree: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's case: 1111:3333 mode 664, fixed by user 4242 of group 4242, a member of 3333."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file another owner (the non-root rule is simulated)")
    path = tree / "a" / "m.py"
    os.chown(path, 1111, 3333)
    path.chmod(0o664)
    fchown = _non_root_fchown(4242, {4242, 3333})
    monkeypatch.setattr(os, "fchown", fchown)
    monkeypatch.setattr(os, "chown", lambda where, owner, group: fchown(-1, owner, group))  # no way around it
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    monkeypatch.setattr(os, "getegid", lambda: 4242)
    assert cli("fix", ".").code == 1
    status = path.stat()
    assert path.read_bytes() == NEW
    assert (status.st_gid, status.st_mode & 0o7777) == (3333, 0o664)


@posix_only
def test_the_group_is_kept_for_real_where_this_user_has_another(tree: Path, cli: Cli) -> None:
    others = [group for group in os.getgroups() if group != os.getegid()]
    if not others:
        pytest.skip("this user is in no group but its own")
    path = tree / "a" / "m.py"
    os.chown(path, -1, others[0])
    assert cli("fix", ".").code == 1
    assert path.stat().st_gid == others[0]


# Item 11.
def _xattrs_supported(path: Path) -> bool:
    if not hasattr(os, "setxattr"):
        return False
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
    except OSError:
        return False
    return True


def _acl(user: int) -> bytes:
    """A POSIX ACL as Linux stores it in `system.posix_acl_access`: owner rw, `user` rw, group r, mask rw, others r."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 6, undefined), (0x02, 6, user), (0x04, 4, undefined), (0x10, 6, undefined),
               (0x20, 4, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)


def test_extended_attributes_are_kept(tree: Path, cli: Cli) -> None:
    path = tree / "a" / "m.py"
    if not _xattrs_supported(path):
        pytest.skip("this file system has no user extended attributes")
    os.setxattr(path, "user.note", b"reviewed")
    assert cli("fix", ".").code == 1
    assert path.read_bytes() == NEW
    assert os.getxattr(path, "user.note") == b"reviewed"


def test_posix_acls_are_kept(tree: Path, cli: Cli) -> None:
    path = tree / "a" / "m.py"
    if not hasattr(os, "setxattr"):
        pytest.skip("no extended attributes here")
    try:
        os.setxattr(path, "system.posix_acl_access", _acl(1234))
    except OSError as error:
        pytest.skip(f"this file system takes no POSIX ACLs ({error.strerror})")
    before = os.getxattr(path, "system.posix_acl_access")
    assert cli("fix", ".").code == 1
    assert path.read_bytes() == NEW
    assert os.getxattr(path, "system.posix_acl_access") == before


def test_a_directorys_default_acl_is_not_added_to_a_file_without_one(tree: Path, cli: Cli) -> None:
    path = tree / "a" / "m.py"
    if not hasattr(os, "setxattr"):
        pytest.skip("no extended attributes here")
    try:
        os.setxattr(tree / "a", "system.posix_acl_default", _acl(1234))  # after the file was made
    except OSError as error:
        pytest.skip(f"this file system takes no POSIX ACLs ({error.strerror})")
    mode = path.stat().st_mode
    assert cli("fix", ".").code == 1
    assert path.read_bytes() == NEW
    assert "system.posix_acl_access" not in os.listxattr(path)
    assert path.stat().st_mode == mode


# Item 14.
KILLED_WHILE_SYNCING = """
import os, signal, sys
from codemod.run import files, write
path = sys.argv[1]
source = files.read_source(path)
os.fsync = lambda descriptor: os.kill(os.getpid(), signal.SIGKILL)  # killed with the new bytes written
write.write_atomically(path, b"new bytes", source)
"""


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="a nameless temp file needs Linux's O_TMPFILE")
def test_a_write_killed_midway_leaves_nothing_behind(tree: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", KILLED_WHILE_SYNCING, "a/m.py"], cwd=tree, check=False)
    assert finished.returncode == -signal.SIGKILL
    assert all_files(tree) == {os.path.join("a", "m.py")}
    assert (tree / "a" / "m.py").read_bytes() == OLD


def test_without_o_tmpfile_the_temp_file_is_named_and_removed(tree: Path, cli: Cli,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write, "_nameless", lambda directory: None)
    assert cli("fix", ".").code == 1
    assert (tree / "a" / "m.py").read_bytes() == NEW
    assert all_files(tree) == {os.path.join("a", "m.py")}


# Item 21.
def test_a_name_as_long_as_the_file_system_allows_can_be_fixed(tree: Path, cli: Cli) -> None:
    try:
        longest = os.pathconf(tree, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        longest = 255
    name = "m" * (longest - 3) + ".py"
    (tree / "a" / name).write_bytes(OLD)
    outcome = cli("fix", ".")
    assert outcome.code == 1, outcome.err
    assert (tree / "a" / name).read_bytes() == NEW
    assert not [path for path in all_files(tree) if path.endswith(TEMP_SUFFIX)]
