"""Real code that is not ours: the interpreter's standard library and the installed torch sources.

With the default targets nothing in them changes and nothing fails. With `*.forward` as the target,
which matches thousands of methods, every profile's output compiles, differs from the input by
`.contiguous()` calls alone, and a second pass changes nothing. The standard library holds no site of
any profile, so each of its candidate files also gets a target class with every site planted at its
end (PLANTED): then every file must change, in the planted class alone, and the checks run on each.

The standard library is covered in full. torch is covered by a fixed sample to keep CI within
minutes: every file that calls an attention function or builds a linear layer (where the profiles'
sites are), and one in TORCH_SAMPLE_EVERY of the others, chosen by a hash of the path so that the
sample is the same on every run; files over TORCH_SAMPLE_MAX_LINES are left out (one test module of
28k lines alone would take most of the time). CONTIGUIFY_FULL_CORPUS=1 takes every torch file.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from codemod.config import Projects
from codemod.decoding import decode
from codemod.guards import check_insertions_only
from codemod.match.patterns import parse_targets
from codemod.options import Options
from codemod.prefilter import could_contain_target
from codemod.results import FileResult
from codemod.rewrite.profiles import all_profiles
from codemod.run.files import iter_candidates, read_source
from codemod.run.job import Job
from codemod.run.runner import rewrite_jobs, run_paths
from fixtures.catalog import CASES

STDLIB = Path(sysconfig.get_paths()["stdlib"])
NOT_STDLIB = ("site-packages", "dist-packages")
TORCH_SPEC = importlib.util.find_spec("torch")  # finds the package without importing it
TORCH = Path(TORCH_SPEC.origin).parent if TORCH_SPEC is not None and TORCH_SPEC.origin else None
FULL_CORPUS = os.environ.get("CONTIGUIFY_FULL_CORPUS") == "1"
TORCH_SAMPLE_EVERY = 16
TORCH_SAMPLE_MAX_LINES = 5000
WIDE = parse_targets(["*.forward"])
# Reasons a file of a real corpus may fairly be refused: it is not Python this interpreter reads.
FAIR_REFUSALS = ("syntax error", "cannot decode", "cannot read the encoding declaration", "binary file",
                 "libcst cannot parse it", "too deeply nested")

# A module with every site of every profile (its relative import compiles anywhere).
PLANTED = (CASES / "jan2026.in.py").read_bytes()

needs_torch = pytest.mark.skipif(TORCH is None, reason="torch is not installed")


def _roots(root: Path, exclude: Sequence[str] = ()) -> list[str]:
    """`root`, or its entries less the names in `exclude` (directories of installed packages, not of the corpus)."""
    return [str(entry) for entry in sorted(root.iterdir()) if entry.name not in exclude] if exclude else [str(root)]


def _sources(root: Path, exclude: Sequence[str] = ()) -> list[tuple[str, bytes]]:
    found = []
    for candidate in iter_candidates(_roots(root, exclude), Projects()):
        source = read_source(candidate.path)
        if candidate.problem is None and not isinstance(source, str):
            found.append((candidate.path, source.data))
    return found


def _stdlib() -> list[tuple[str, bytes]]:
    return _sources(STDLIB, NOT_STDLIB)


def _torch_sample() -> list[tuple[str, bytes]]:
    assert TORCH is not None
    sources = _sources(TORCH)
    if FULL_CORPUS:
        return sources
    return [(path, data) for path, data in sources
            if data.count(b"\n") <= TORCH_SAMPLE_MAX_LINES and (
                b"attention(" in data or b"Linear(" in data
                or zlib.crc32(os.path.relpath(path, TORCH).encode()) % TORCH_SAMPLE_EVERY == 0)]


def _check_wide_rewrite(sources: list[tuple[str, bytes]], profile: str, plant: bool = False) -> int:
    """Every result of a `*.forward` run is sound; returns how many files changed.

    `plant`: PLANTED is appended to every candidate file, and every file not fairly refused must change,
    in the planted part alone (the file's own bytes come back as they were).
    """
    jobs = [Job(path, data + b"\n" + PLANTED if plant else data, profile, WIDE)
            for path, data in sources if could_contain_target(data, WIDE)]
    assert jobs, "the corpus has no candidate file at all"
    own = dict(sources)
    results = rewrite_jobs(jobs, 2)
    refused = [result for result in results if result.error is not None]
    assert all(result.error.startswith(FAIR_REFUSALS) for result in refused if result.error), \
        [(result.path, result.error) for result in refused]
    changed = [(job, result) for job, result in zip(jobs, results) if result.changed]
    if plant:
        assert len(changed) == len(jobs) - len(refused), [r.path for r in results if not r.changed and not r.error]
    for job, result in changed:
        assert result.new is not None
        old_text, codec = decode(job.data)
        new_text = result.new.decode(codec)
        compile(new_text.removeprefix("\ufeff"), result.path, "exec", dont_inherit=True)
        assert check_insertions_only(old_text, new_text) is None
        assert new_text.count(".contiguous()") > old_text.count(".contiguous()")
        if plant:
            assert result.new.startswith(own[job.path] + b"\n"), result.path
    again = rewrite_jobs([Job(job.path, result.new or b"", profile, WIDE) for job, result in changed], 2)
    assert [result.path for result in again if result.changed or result.error] == []
    return len(changed)


@pytest.mark.parametrize("profile", list(all_profiles()))
def test_stdlib_wide_targets_give_sound_output(profile: str) -> None:
    assert _check_wide_rewrite(_stdlib(), profile, plant=True) > 0


@needs_torch
def test_torch_wide_targets_give_sound_output() -> None:
    sample = _torch_sample()
    changed = {profile: _check_wide_rewrite(sample, profile) for profile in all_profiles()}
    assert sum(changed.values()) > 0, "the sample holds no site of any profile: it tests nothing"


def _default_run(root: Path, exclude: Sequence[str] = ()) -> list[FileResult]:
    return run_paths(_roots(root, exclude), Options(jobs=2), write=False, progress=False)


def test_stdlib_default_targets_change_nothing() -> None:
    results = _default_run(STDLIB, NOT_STDLIB)
    assert len(results) > 1000
    assert [result.path for result in results if result.changed or result.error or result.targets] == []


@needs_torch
def test_torch_default_targets_change_nothing() -> None:
    assert TORCH is not None
    results = _default_run(TORCH)
    assert len(results) > 1000
    assert [result.path for result in results if result.changed or result.error or result.targets] == []


def test_fix_over_a_copy_of_the_stdlib_writes_nothing(tmp_path: Path) -> None:
    """End to end, as a user runs it: exit 0, and not one file replaced or touched."""
    copy = tmp_path / "lib"
    shutil.copytree(STDLIB, copy, ignore=shutil.ignore_patterns(*NOT_STDLIB, "__pycache__"), symlinks=True)
    before = {path: path.stat().st_mtime_ns for path in copy.rglob("*") if path.is_file()}
    finished = subprocess.run([sys.executable, "-m", "codemod", "fix", str(copy)], check=False, capture_output=True)
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
    after = {path: path.stat().st_mtime_ns for path in copy.rglob("*") if path.is_file()}
    assert after == before
