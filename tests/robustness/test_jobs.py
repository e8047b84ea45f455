"""`--jobs` is an upper bound: never more worker processes than files to parse, or than CPUs."""

from __future__ import annotations

import multiprocessing.process
from pathlib import Path

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.run import runner
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from fixtures.catalog import CASES
from tests.cli_runner import Cli

TARGETS = parse_targets(DEFAULT_TARGETS)


def _distinct_jobs(count: int) -> list[Job]:
    """`count` files to parse, each with other bytes (identical files are parsed once)."""
    data = (CASES / "jan2026.in.py").read_bytes()
    return [Job(f"m{number}.py", data + b"# %d\n" % number, "seed", TARGETS) for number in range(count)]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per worker process started."""
    starts: list[int] = []
    original = multiprocessing.process.BaseProcess.start

    def counting(self: multiprocessing.process.BaseProcess) -> None:
        starts.append(1)
        original(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", counting)
    return starts


@pytest.mark.parametrize(("files", "cpus", "expected"), [
    (6, 3, 3),      # capped by the CPUs
    (2, 16, 2),     # capped by the files to parse
    (6, 1, 1),      # one CPU: one worker (every file is parsed in a worker, under limits)
])
def test_jobs_1000_starts_no_more_workers_than_needed(files: int, cpus: int, expected: int, started: list[int],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "available_cpus", lambda: cpus)
    jobs = _distinct_jobs(files)
    results = runner.rewrite_jobs(jobs, 1000)
    assert len(started) == expected
    assert results == [rewrite_job(job) for job in jobs]


def test_available_cpus_is_what_this_process_may_use() -> None:
    assert 1 <= runner.available_cpus() <= (multiprocessing.cpu_count() or 1)


def test_jobs_on_the_command_line_reach_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   started: list[int], cli: Cli) -> None:
    monkeypatch.chdir(tmp_path)
    for job in _distinct_jobs(4):
        (tmp_path / job.path).write_bytes(job.data)
    monkeypatch.setattr(runner, "available_cpus", lambda: 2)
    assert cli("check", "--no-cache", "-j", "1000", ".").code == 1
    assert len(started) == 2
