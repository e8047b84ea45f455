"""A cache entry is not trusted with code: it holds where `.contiguous()` calls go, a hit rebuilds the new
bytes from the file's own, and an entry that would insert anything else, even with its checksum
recomputed, is a miss, and so is one whose result would not parse. The worst a forged entry can do is
insert `.contiguous()` where the syntax allows it."""

from __future__ import annotations

import marshal
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codemod.guards import insertions, rebuild
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.options import PROFILE_NAMES
from codemod.run.cache import ResultCache, _checksum
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from fixtures.catalog import CASES, cases
from tests.cli_runner import Cli

from .conftest import seed_rewrite

TARGETS = parse_targets(DEFAULT_TARGETS)

OLD = (CASES / "jan2026.in.py").read_bytes()
NEW = seed_rewrite(OLD)
PAYLOAD = "import os; os.system('touch /tmp/owned')\n"


def _entries(cache: Path) -> list[Path]:
    return sorted(path for path in cache.glob("*/*") if path.is_file() and not path.name.endswith(".tmp"))


def _change_entry(entry: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the payload and recompute the checksum, as someone who can write the cache would."""
    payload = marshal.loads(entry.read_bytes().partition(b"\n")[2])
    change(payload)
    data = marshal.dumps(payload)
    entry.write_bytes(_checksum(data) + b"\n" + data)


def _insertions(payload: dict[str, Any]) -> list[list[Any]]:
    found = payload["insertions"]
    assert isinstance(found, list) and found
    return found


FORGERIES: dict[str, Callable[[dict[str, Any]], None]] = {
    # What the issue showed: code in place of the rewrite.
    "code-as-insertion": lambda payload: _insertions(payload).__setitem__(0, [0, PAYLOAD]),
    "code-after-a-call": lambda payload: _insertions(payload)[0].__setitem__(1, ".contiguous()\n" + PAYLOAD),
    "new-bytes-of-the-old-format": lambda payload: payload.update(insertions=None, new=PAYLOAD.encode()),
    "unbalanced-parenthesis": lambda payload: _insertions(payload).append([len(OLD) - 1, "("]),
    "offsets-out-of-order": lambda payload: _insertions(payload).reverse(),
    "offset-past-the-end": lambda payload: _insertions(payload).append([10**9, ".contiguous()"]),
    "negative-offset": lambda payload: _insertions(payload).__setitem__(0, [-5, ".contiguous()"]),
    "offset-not-an-integer": lambda payload: _insertions(payload).__setitem__(0, [1.5, ".contiguous()"]),
    "fewer-calls-than-reported": lambda payload: _insertions(payload).pop(),
    # Balanced, counted and only `.contiguous()` calls, but the file no longer parses.
    "calls-at-the-start": lambda payload: payload.update(
        insertions=[[0, ".contiguous()" * len(_insertions(payload))]]),
}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "tree"
    root.mkdir()
    shutil.copyfile(CASES / "jan2026.in.py", root / "t.py")
    return root


@pytest.mark.parametrize("forgery", FORGERIES, ids=str)
def test_a_forged_entry_is_a_miss_and_fix_writes_the_real_rewrite(forgery: str, tree: Path, own_cache: Path,
                                                                  cli: Cli) -> None:
    checked = cli("check", "tree")
    [entry] = _entries(own_cache)
    _change_entry(entry, FORGERIES[forgery])
    assert cli("check", "tree") == checked
    outcome = cli("fix", "tree")
    assert outcome.code == 1 and "rewrote tree/t.py (15 .contiguous() inserted)" in outcome.err
    assert (tree / "t.py").read_bytes() == NEW


def test_the_worst_a_forged_entry_can_do_is_insert_contiguous_where_it_parses(
    tree: Path, own_cache: Path, cli: Cli
) -> None:
    """The first call moved from the end of its statement onto a name inside it: it parses, so it is written."""
    cli("check", "tree")
    [entry] = _entries(own_cache)
    text = OLD.decode()
    moved = text.rindex("self.dim", 0, _insertions(marshal.loads(entry.read_bytes().partition(b"\n")[2]))[0][0])
    _change_entry(entry, lambda payload: _insertions(payload)[0].__setitem__(0, moved + len("self.dim")))
    cli("fix", "tree")
    written = (tree / "t.py").read_bytes()
    assert written != NEW and b"self.dim.contiguous()" in written
    assert written.replace(b".contiguous()", b"") == OLD.replace(b".contiguous()", b"")


def test_an_entry_holds_no_copy_of_the_file(tree: Path, own_cache: Path, cli: Cli) -> None:
    cli("check", "tree")
    [entry] = _entries(own_cache)
    data = entry.read_bytes()
    assert len(data) < len(NEW) // 10
    assert NEW[len(NEW) // 2:len(NEW) // 2 + 64] not in data


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("x = a.view(1)\n", "x = a.view(1).contiguous()\n", [[13, ".contiguous()"]]),
    ("x = a.view(1).cuda()\n", "x = a.view(1).contiguous().cuda()\n", [[13, ".contiguous()"]]),
    ("x = a + b\n", "x = (a + b).contiguous()\n", [[4, "("], [9, ").contiguous()"]]),
    ("x = a.contiguous()\n", "x = a.contiguous().contiguous()\n", [[18, ".contiguous()"]]),
    ("x = 1\n", "x = 1\n", []),
])
def test_insertions_rebuild_the_new_text(old: str, new: str, expected: list[list[Any]]) -> None:
    assert insertions(old, new) == expected
    if expected:
        assert rebuild(old, expected) == new


@pytest.mark.parametrize(("old", "new"), [
    ("x = a\n", "x = b\n"),                          # a change
    ("x = a\n", "x = a  # .contiguous()\n"),         # an insertion of something else
    ("x = a.view(1)\n", "x = a.view(1)\n.cuda()"),   # likewise, after the end
    ("x = a.view(1)\n", "x = a.view(1\n"),           # a deletion
])
def test_what_is_not_insertions_has_none(old: str, new: str) -> None:
    assert insertions(old, new) is None


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("case", [case.source.name for case in cases()])
def test_every_fixture_rewrite_round_trips_through_the_cache(case: str, profile: str, tmp_path: Path) -> None:
    job = Job(case, (CASES / case).read_bytes(), profile, TARGETS)
    result = rewrite_job(job)
    cache = ResultCache(str(tmp_path))
    cache.store(job, result)
    assert cache.lookup(job) == result
