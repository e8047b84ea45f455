"""The result cache: a repeated run answers as a fresh one does, never from stale or damaged entries,
and the fast paths import neither libcst nor torch."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.results import FileResult
from codemod.run.cache import PACKAGE_DIRECTORY, ResultCache, _checksum, code_fingerprint
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from fixtures.catalog import CASES
from tests.cli_runner import Cli, Outcome

from .conftest import JAN2026_SEED

TARGETS = parse_targets(DEFAULT_TARGETS)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A target file to rewrite, one already rewritten, one that does not parse, and one without targets."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "tree"
    root.mkdir()
    shutil.copyfile(CASES / "jan2026.in.py", root / "a_todo.py")
    (root / "b_done.py").write_bytes(JAN2026_SEED)
    (root / "c_broken.py").write_text("class SingleStreamAttention(:\n    def forward(self):\n        pass\n")
    (root / "d_plain.py").write_text("import torch\n")
    return root


def _entries(cache: Path) -> list[Path]:
    return sorted(path for path in cache.glob("*/*") if path.is_file())


def _fresh(cli: Cli, monkeypatch: pytest.MonkeyPatch, *args: str) -> Outcome:
    with monkeypatch.context() as context:
        context.setenv("CONTIGUIFY_NO_CACHE", "1")
        return cli(*args)


@pytest.mark.parametrize("arguments", [
    ("check", "tree"),
    ("check", "--format", "json", "tree"),
    ("check", "--profile", "boundary", "tree"),
    ("check", "--target", "*.forward", "tree"),
])
def test_a_repeated_run_answers_as_a_fresh_one(arguments: tuple[str, ...], tree: Path, own_cache: Path, cli: Cli,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _fresh(cli, monkeypatch, *arguments)
    assert not own_cache.exists() or _entries(own_cache) == []
    first, second = cli(*arguments), cli(*arguments)
    assert first == fresh and second == fresh
    assert len(_entries(own_cache)) == 3  # the files that needed parsing, broken one included


def test_cached_results_follow_content_profile_and_targets(tree: Path, cli: Cli,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cli("check", "tree")
    (tree / "a_todo.py").write_bytes((CASES / "partially_fixed.in.py").read_bytes())
    for arguments in (("check", "tree"), ("check", "--profile", "boundary", "tree"),
                      ("check", "--target", "SingleStreamAttention.forward", "tree")):
        assert cli(*arguments) == _fresh(cli, monkeypatch, *arguments)
    (tree / "a_todo.py").write_bytes(JAN2026_SEED)
    assert cli("check", "tree") == _fresh(cli, monkeypatch, "check", "tree")


def test_fix_after_check_writes_the_cached_rewrite(tree: Path, cli: Cli) -> None:
    cli("check", "tree")
    assert cli("fix", "tree").code == 2  # the broken file
    assert (tree / "a_todo.py").read_bytes() == JAN2026_SEED


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: os.urandom(len(data)),
    "one-byte-flipped": lambda data: data[:-3] + bytes([data[-3] ^ 1]) + data[-2:],
    "no-checksum-line": lambda data: data.partition(b"\n")[2],
}


def _resign(payload: Any) -> bytes:
    """An entry with a valid checksum line around `payload`."""
    data = marshal.dumps(payload)
    return _checksum(data) + b"\n" + data


def _forge(data: bytes, **changes: object) -> bytes:
    return _resign({**marshal.loads(data.partition(b"\n")[2]), **changes})


DAMAGE.update({
    "wrong-key": lambda data: _forge(data, key="0" * 64),
    "wrong-format": lambda data: _forge(data, format=99),
    "bad-shape": lambda data: _forge(data, targets=[["only", "three", 1]]),
    "bad-status": lambda data: _forge(data, targets=[["C", "forward", 1, "single", [["x", 2, "maybe"]]]]),
    "insertions-not-a-list": lambda data: _forge(data, insertions="text"),
    "error-not-text": lambda data: _forge(data, error=12),
    "not-an-object": lambda data: _resign([1, 2, 3]),
})


@pytest.mark.parametrize("damage", DAMAGE, ids=str)
def test_damaged_entries_are_misses_and_get_rewritten(damage: str, tree: Path, own_cache: Path, cli: Cli,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = _fresh(cli, monkeypatch, "check", "tree")
    cli("check", "tree")
    entries = _entries(own_cache)
    for entry in entries:
        entry.write_bytes(DAMAGE[damage](entry.read_bytes()))
    assert cli("check", "tree") == fresh
    assert cli("check", "tree") == fresh
    job = Job("tree/a_todo.py", (tree / "a_todo.py").read_bytes(), "seed", TARGETS)
    assert ResultCache(str(own_cache)).lookup(job) == rewrite_job(job)


def test_lookup_and_store_round_trip_every_kind_of_result(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path / "cache"))
    sources = {name: (CASES / name).read_bytes() for name in ("jan2026.in.py", "partially_fixed.in.py", "crlf_bom.in.py")}
    for name, data in {**sources, "jan2026_seed.py": JAN2026_SEED}.items():
        job = Job(name, data, "seed", TARGETS)
        assert cache.lookup(job) is None
        result = rewrite_job(job)
        cache.store(job, result)
        assert cache.lookup(job) == result
        assert cache.lookup(Job("elsewhere.py", job.data, "seed", TARGETS)) == FileResult(
            "elsewhere.py", result.error, result.targets, result.old, result.new)
    broken = Job("broken.py", b"class SingleStreamAttention(:\n", "seed", TARGETS)
    cache.store(broken, rewrite_job(broken))
    assert cache.lookup(broken) == rewrite_job(broken)
    assert not list((tmp_path / "cache").glob("*/*.tmp"))


def test_an_unusable_cache_directory_is_said_once_and_does_not_matter(tree: Path, cli: Cli, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("CONTIGUIFY_CACHE_DIR", str(blocker))
    outcome, fresh = cli("check", "tree"), _fresh(cli, monkeypatch, "check", "tree")
    warning = f"warning: cannot write the result cache in {blocker}: Not a directory; going on without it\n"
    assert (outcome.code, outcome.out) == (fresh.code, fresh.out)
    assert outcome.err == warning + fresh.err


def test_no_cache_writes_no_cache(tree: Path, own_cache: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(cli, monkeypatch, "check", "tree")
    assert not own_cache.exists() or not any(own_cache.iterdir())


def test_the_cache_directory_says_what_it_is(tree: Path, own_cache: Path, cli: Cli) -> None:
    cli("check", "tree")
    assert (own_cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (own_cache / ".gitignore").read_text() == "*\n"


def test_the_fingerprint_follows_the_code_not_its_place(tmp_path: Path) -> None:
    copy = tmp_path / "codemod"
    shutil.copytree(PACKAGE_DIRECTORY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_fingerprint(str(copy)) == code_fingerprint()
    engine = copy / "rewrite" / "engine.py"
    engine.write_bytes(engine.read_bytes() + b"\n")
    assert code_fingerprint(str(copy)) != code_fingerprint()


def _imported(arguments: list[str], cwd: Path) -> set[str]:
    """Top-level packages imported by this process in `contiguify ARGUMENTS`, in a fresh interpreter."""
    script = (
        "import sys\nfrom codemod.cli import main\ncode = main(sys.argv[1:])\n"
        "print('MODULES', *sorted({name.split('.')[0] for name in sys.modules}), file=sys.stderr)\n"
    )
    finished = subprocess.run([sys.executable, "-c", script, *arguments], cwd=cwd, capture_output=True, text=True,
                              check=False)
    [line] = [line for line in finished.stderr.splitlines() if line.startswith("MODULES ")]
    return set(line.split()[1:])


def test_fast_paths_import_neither_libcst_nor_torch(tree: Path) -> None:
    assert not {"libcst", "torch"} & _imported(["check", "tree/d_plain.py"], tree.parent)
    assert not {"libcst", "torch"} & _imported(["fix", "tree/d_plain.py"], tree.parent)
    first = _imported(["check", "--jobs", "1", "tree"], tree.parent)  # parsed in a worker process, not here
    assert not {"libcst", "torch"} & first
    assert not {"libcst", "torch"} & _imported(["check", "tree"], tree.parent)
    assert "torch" not in _imported(["fix", "--jobs", "1", "--profile", "boundary", "tree"], tree.parent)


def test_a_run_that_parses_nothing_starts_no_worker(tree: Path) -> None:
    """Every file cached: no worker process, and none of the imports that starting one takes."""
    first = _imported(["check", "tree"], tree.parent)
    assert "multiprocessing" in first  # it parsed, in a worker
    repeated = _imported(["check", "tree"], tree.parent)
    assert not {"multiprocessing", "libcst"} & repeated
