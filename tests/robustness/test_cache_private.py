"""The result cache is private and bounded: a directory that another user owns or may write is not used
(said once); entries that are links, FIFOs or oversized are misses, never a hang; every field of an entry
is checked against the file; the marker files are never written through a link; identical files cost
one lookup; and the cache keeps a bounded number of entries and fingerprint directories."""

from __future__ import annotations

import marshal
import os
import shutil
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.run import cache as cache_module
from codemod.run.cache import ResultCache, _checksum
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from fixtures.catalog import CASES
from tests.cli_runner import Cli

from .conftest import seed_rewrite

TARGETS = parse_targets(DEFAULT_TARGETS)
OLD = (CASES / "jan2026.in.py").read_bytes()
NEW = seed_rewrite(OLD)
posix_only = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="owners and modes are POSIX")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "tree"
    root.mkdir()
    (root / "t.py").write_bytes(OLD)
    return root


def _entries(cache: Path) -> list[Path]:
    return sorted(path for path in cache.glob("*/*") if not path.name.endswith(".tmp"))


def _payload(entry: Path) -> dict[str, Any]:
    payload = marshal.loads(entry.read_bytes().partition(b"\n")[2])
    assert isinstance(payload, dict)
    return payload


def _resign(entry: Path, payload: dict[str, Any]) -> None:
    data = marshal.dumps(payload)
    entry.write_bytes(_checksum(data) + b"\n" + data)


def _all_sites(payload: dict[str, Any], status: str) -> None:
    for target in payload["targets"]:
        for site in target[4]:
            site[2] = status


# Item 5: every field of an entry, not just its insertions.
FORGERIES: dict[str, Callable[[dict[str, Any]], None]] = {
    # The report's case: no insertions, every site said to be there already; `fix --strict` then passed.
    "sites-present-no-insertions": lambda payload: (payload.update(insertions=None), _all_sites(payload, "present")),
    "error-with-a-newline": lambda payload: payload.update(insertions=None, error="FAKE\nrewrote /etc/passwd"),
    "error-with-escape-codes": lambda payload: payload.update(insertions=None, error="\x1b[2Jcleared"),
    "error-and-insertions": lambda payload: payload.update(error="some error"),
    "empty-error": lambda payload: payload.update(insertions=None, error=""),
    "site-reason-two-lines": lambda payload: payload["targets"][0][4][0].__setitem__(3, "a\nb"),
    "class-name-two-lines": lambda payload: payload["targets"][0].__setitem__(0, "A\nB"),
    "target-line-elsewhere": lambda payload: payload["targets"][0].__setitem__(2, 1),
    "target-line-zero": lambda payload: payload["targets"][0].__setitem__(2, 0),
    "site-line-past-the-end": lambda payload: payload["targets"][0][4][0].__setitem__(1, 10**6),
    "site-line-a-bool": lambda payload: payload["targets"][0][4][0].__setitem__(1, True),
}


@pytest.mark.parametrize("forgery", FORGERIES, ids=str)
def test_a_forged_field_is_a_miss(forgery: str, tree: Path, own_cache: Path, cli: Cli) -> None:
    checked = cli("check", "tree")
    [entry] = _entries(own_cache)
    payload = _payload(entry)
    FORGERIES[forgery](payload)
    _resign(entry, payload)
    assert cli("check", "tree") == checked
    outcome = cli("fix", "--strict", "tree")
    assert outcome.code == 1 and "rewrote tree/t.py (15 .contiguous() inserted)" in outcome.err
    assert "FAKE" not in outcome.err and "\x1b" not in outcome.err
    assert (tree / "t.py").read_bytes() == NEW


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "link-to-an-entry", "oversized", "directory"])
def test_an_entry_that_is_not_a_small_regular_file_is_a_miss(kind: str, tree: Path, own_cache: Path,
                                                              cli: Cli) -> None:
    if kind == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    if kind == "link-to-dev-zero" and not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    checked = cli("check", "tree")
    [entry] = _entries(own_cache)
    good = entry.read_bytes()
    entry.unlink()
    if kind == "fifo":
        os.mkfifo(entry)
    elif kind == "link-to-dev-zero":
        entry.symlink_to("/dev/zero")
    elif kind == "link-to-an-entry":
        (entry.parent / "elsewhere").write_bytes(good)
        entry.symlink_to(entry.parent / "elsewhere")
    elif kind == "oversized":
        entry.write_bytes(good + b"\0" * cache_module.ENTRY_LIMIT)
    else:
        entry.mkdir()
    outcome = cli("check", "tree")  # a miss: computed afresh, no hang, no traceback
    assert (outcome.code, outcome.out) == (checked.code, checked.out)
    # In place of a directory no entry can be stored, and that is said.
    said = f"warning: cannot write the result cache in {own_cache}: Is a directory; going on without it\n"
    assert outcome.err == (said if kind == "directory" else "") + checked.err


@posix_only
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_directory_others_may_write_is_not_used(mode: int, tree: Path, own_cache: Path, cli: Cli) -> None:
    checked = cli("check", "tree")
    [entry] = _entries(own_cache)
    payload = _payload(entry)
    payload.update(insertions=None)
    _all_sites(payload, "present")
    _resign(entry, payload)  # what someone else could plant, were the directory theirs to write
    own_cache.chmod(mode)
    first, second = cli("check", "tree"), cli("check", "tree")
    warning = (f"warning: cannot use the result cache in {own_cache}: others may write it (mode {mode:o}); it must "
               "be a directory of this user's own that no one else may write; going on without it\n")
    assert first.err == warning + checked.err and first.code == checked.code
    assert second.err.count("warning: cannot use the result cache") == 1
    assert entry.read_bytes() != b""  # left alone, not used


@posix_only
def test_a_directory_of_another_user_is_not_used(tree: Path, own_cache: Path, cli: Cli,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    checked = cli("check", "tree")
    owner = own_cache.stat().st_uid
    monkeypatch.setattr(cache_module.os, "geteuid", lambda: owner + 1)  # as if another user ran it
    outcome = cli("check", "tree")
    assert outcome.code == checked.code
    assert f"cannot use the result cache in {own_cache}: it is owned by user id {owner}, not by this user" \
        in outcome.err


def test_a_cache_directory_that_is_a_link_is_not_used(tree: Path, tmp_path: Path, cli: Cli,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = tmp_path / "real-cache"
    real.mkdir(mode=0o700)
    link = tmp_path / "cache-link"
    link.symlink_to(real)
    monkeypatch.setenv("CONTIGUIFY_CACHE_DIR", str(link))
    outcome = cli("check", "tree")
    assert f"cannot use the result cache in {link}: it is a symbolic link" in outcome.err
    assert not any(real.iterdir())


@posix_only
def test_a_new_cache_directory_is_private(tree: Path, tmp_path: Path, cli: Cli,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "xdg" / "contiguify"
    monkeypatch.setenv("CONTIGUIFY_CACHE_DIR", str(root))
    cli("check", "tree")
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o700 for path in root.iterdir() if path.is_dir())
    assert _entries(root)


@posix_only
def test_an_own_directory_others_may_only_read_is_made_private(tree: Path, own_cache: Path, cli: Cli) -> None:
    """As older versions made it (0755): tightened, then used."""
    checked = cli("check", "tree")
    own_cache.chmod(0o755)
    assert cli("check", "tree") == checked
    assert stat.S_IMODE(own_cache.stat().st_mode) == 0o700


@pytest.mark.parametrize("name", [".gitignore", "CACHEDIR.TAG"])
def test_the_marker_files_are_never_written_through_a_link(name: str, tree: Path, own_cache: Path, tmp_path: Path,
                                                           cli: Cli) -> None:
    target = tmp_path / "victim"
    (own_cache / name).symlink_to(target)  # dangling: `open("w")` would create the victim
    outcome = cli("check", "tree")
    assert outcome.code == 1
    assert not target.exists()
    assert (own_cache / name).is_symlink()
    assert _entries(own_cache)


# Item 15: identical contents cost one lookup, as they cost one parse.
def test_identical_files_are_looked_up_once(tree: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    for number in range(20):
        shutil.copyfile(tree / "t.py", tree / f"copy{number}.py")
    checked = cli("check", "tree")
    lookups: list[str] = []
    original = ResultCache.lookup

    def counting(self: ResultCache, job: Job) -> Any:
        lookups.append(job.path)
        return original(self, job)

    monkeypatch.setattr(ResultCache, "lookup", counting)
    assert cli("check", "tree") == checked
    assert len(lookups) == 1


# Item 23: bounded.
def test_the_entries_stay_bounded_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "MAX_ENTRIES", 8)
    cache = ResultCache(str(tmp_path / "cache"))
    jobs = [Job(f"m{number}.py", b"x = %d\n" % number, "seed", TARGETS) for number in range(30)]
    for number, job in enumerate(jobs):
        fresh = ResultCache(str(tmp_path / "cache"))  # one run each: the bound is kept once per run
        fresh.store(job, rewrite_job(job))
        entry = Path(fresh.directory) / fresh.key(job)
        os.utime(entry, (1_000_000 + number, 1_000_000 + number))
    entries = [path for path in Path(cache.directory).iterdir()]
    assert len(entries) <= 8 + 1  # the bound holds when a run first stores; then that run's entry came
    kept = [job for job in jobs if cache.lookup(job) is not None]
    assert kept == jobs[len(jobs) - len(kept):]  # the newest


def test_old_fingerprint_directories_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir(mode=0o700)
    olds = []
    for number in range(cache_module.MAX_FINGERPRINTS + 3):
        old = root / (f"{number:x}" * 32)[:32]
        old.mkdir()
        (old / "entry").write_bytes(b"x")
        os.utime(old, (1_000_000 + number, 1_000_000 + number))
        olds.append(old)
    keep = root / "not-a-fingerprint"
    keep.mkdir()
    cache = ResultCache(str(root))
    job = Job("m.py", OLD, "seed", TARGETS)
    cache.store(job, rewrite_job(job))
    left = sorted(path for path in olds if path.exists())
    assert left == olds[-(cache_module.MAX_FINGERPRINTS - 1):]  # with this version's, MAX_FINGERPRINTS in all
    assert keep.exists() and Path(cache.directory).is_dir()


def test_stale_temp_files_of_killed_runs_are_removed(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path / "cache"))
    job = Job("m.py", OLD, "seed", TARGETS)
    cache.store(job, rewrite_job(job))
    directory = Path(cache.directory)
    stale, recent = directory / "a.1.00.tmp", directory / "b.2.00.tmp"
    for temp in (stale, recent):
        temp.write_bytes(b"partial")
    os.utime(stale, (time.time() - 2 * cache_module.STALE_TEMP_S,) * 2)
    another = Job("n.py", OLD + b"\n", "seed", TARGETS)
    ResultCache(str(tmp_path / "cache")).store(another, rewrite_job(another))
    assert not stale.exists() and recent.exists()


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip(reason="POSIX file system semantics")
