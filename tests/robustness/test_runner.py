"""The run around the rewrite: worker processes give what one process gives, in order; a failing file
or a dying worker costs that file alone; identical files are parsed once."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codemod.isolation import WORKER_DIED, death_reason
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.prefilter import settle_without_parsing
from codemod.results import FileResult
from codemod.rewrite.file import rewrite
from codemod.run import runner
from codemod.run.cache import ResultCache
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from fixtures.catalog import CASES, cases

TARGETS = parse_targets(DEFAULT_TARGETS)


def _jobs() -> list[Job]:
    """Every fixture case, one of them twice, and files without targets between them."""
    jobs = []
    sources = [case.source for case in cases()]
    for number, path in enumerate([*sources, sources[0]]):
        jobs.append(Job(f"{number:02d}_{path.name}", path.read_bytes(), "seed", TARGETS))
        jobs.append(Job(f"{number:02d}_plain.py", b"x = %d\n" % number, "seed", TARGETS))
    return jobs


def _uses_workers(jobs: list[Job]) -> bool:
    return runner._parallel_saving([job for job in jobs if settle_without_parsing(job.path, job.data, job.targets) is None], 2) > runner.POOL_COST_S


def test_worker_processes_give_the_results_of_one_process_in_order() -> None:
    jobs = _jobs()
    assert _uses_workers(jobs)
    assert runner.rewrite_jobs(jobs, 2) == [rewrite_job(job) for job in jobs]


def test_a_failing_file_is_an_error_of_its_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def failing(data: bytes, *settings: Any, path: str, **more: Any) -> FileResult:
        if path == "bad.py":
            raise AssertionError("a defect")
        return rewrite(data, *settings, path=path, **more)

    monkeypatch.setattr(runner, "rewrite", failing)
    data = (CASES / "jan2026.in.py").read_bytes()
    cache = ResultCache(str(tmp_path))
    results = runner.rewrite_jobs([Job("bad.py", data, "seed", TARGETS), Job("good.py", data + b"\n", "seed", TARGETS)],
                                  1, cache=cache)
    assert results[0] == FileResult("bad.py", error="internal error: AssertionError: a defect; left untouched")
    assert results[1].changed
    assert cache.lookup(Job("bad.py", data, "seed", TARGETS)) is None  # a defect is not remembered


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the defect reaches workers through fork")
@pytest.mark.parametrize("death", [signal.SIGSEGV, signal.SIGKILL], ids=lambda death: death.name)
def test_a_dying_worker_costs_its_file_alone(death: signal.Signals, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()

    def dying(data: bytes, *settings: Any, path: str, **more: Any) -> FileResult:
        if os.getpid() != parent and path.endswith("jan2026.in.py"):
            os.kill(os.getpid(), death)
        return rewrite(data, *settings, path=path, **more)

    monkeypatch.setattr(runner, "rewrite", dying)
    jobs = _jobs()
    assert _uses_workers(jobs)
    results = runner.rewrite_jobs(jobs, 2)
    killed = [job.path for job in jobs if job.path.endswith("jan2026.in.py")]
    assert len(killed) == 1
    for job, result in zip(jobs, results):
        if job.path in killed:
            reason = death_reason(-death, runner.parse_limits(len(job.data)))
            assert result == FileResult(job.path, error=f"{reason}; left untouched")
            assert reason.startswith(f"{WORKER_DIED} (killed by {death.name}")
        else:
            assert result == rewrite_job(job)


def test_identical_files_are_parsed_once(parsed: Callable[[], list[str]]) -> None:
    data = (CASES / "jan2026.in.py").read_bytes()
    jobs = [Job(f"copy{number}.py", data, "seed", TARGETS) for number in range(5)]
    results = runner.rewrite_jobs(jobs, 1)
    assert parsed() == ["copy0.py"]
    assert [result.path for result in results] == [job.path for job in jobs]
    assert all(result.changed and result.new == results[0].new for result in results)


def test_the_first_worker_starts_at_the_first_file_to_parse() -> None:
    """Before the other files are read, so that it imports libcst meanwhile; files the prefilter or the cache
    settle start none."""
    from codemod.run.progress import Progress

    plain = Job("plain.py", b"x = 1\n", "seed", TARGETS)
    target = Job("t.py", (CASES / "jan2026.in.py").read_bytes(), "seed", TARGETS)
    with runner._Batch(1, lambda: None, Progress(None)) as batch:
        batch.add(plain, runner.DEFAULT_MAX_FILE_SIZE)
        assert batch._pool is None
        batch.add(target, runner.DEFAULT_MAX_FILE_SIZE)
        assert batch._pool is not None and len(batch._pool._all) == 1  # started, nothing sent to it yet
        batch.add(plain._replace(path="later.py"), runner.DEFAULT_MAX_FILE_SIZE)
        results = batch.results()
    assert results == [rewrite_job(plain), rewrite_job(target), rewrite_job(plain._replace(path="later.py"))]
    assert results[1].changed
