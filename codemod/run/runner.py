"""A whole run: candidates in, one result per file out (in order), changes written when asked.

Most files are settled by the byte prefilter; of the rest, cached results are reused and only
the remainder is parsed, in worker processes when there is enough of it to pay for starting them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from codemod.config import Project, Projects
from codemod.options import DEFAULT_MAX_FILE_SIZE, Options
from codemod.prefilter import settle_without_parsing
from codemod.results import FileResult
from codemod.rewrite.file import rewrite
from codemod.run.files import OnWarning, Source, iter_candidates, read_source
from codemod.run.job import Job
from codemod.run.progress import Progress

if TYPE_CHECKING:  # multiprocessing takes longer to import than a whole cached run
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from codemod.run.cache import ResultCache

# Estimated cost of rewriting a file (parse, rewrite, check) on a 2-core x86 machine with libcst 1.9:
# about 3 ms plus 5 us a byte. Worker processes are worth it when they save more than they cost to
# start (about 30 ms: each imports libcst, in parallel, while this process need not import it at all).
SECONDS_PER_FILE, SECONDS_PER_BYTE = 0.003, 5e-6
POOL_COST_S = 0.05
# Failures of the tool itself, not of the file: never cached, so a fixed tool does not repeat them.
INTERNAL_ERROR = "internal error"
# A worker process that died: a crash of the parser, or a process killed from outside; not cached either.
WORKER_DIED = "the parser process died"


def _rewrite_guarded(job: Job) -> FileResult:
    """`rewrite`, with a defect in the rewrite turned into an error for this file alone."""
    try:
        return rewrite(job.data, job.profile, job.targets, path=job.path, entry_points=job.entry_points)
    except Exception as error:  # noqa: BLE001 - one file's failure must not end the run
        return FileResult(job.path, error=f"{INTERNAL_ERROR}: {type(error).__name__}: {error}")


def _parallel_saving(jobs: Sequence[Job], workers: int) -> float:
    """Seconds saved by `workers` processes: the whole work less the longest of one file and a fair share."""
    costs = [SECONDS_PER_FILE + SECONDS_PER_BYTE * len(job.data) for job in jobs]
    return sum(costs) - max(max(costs), sum(costs) / workers)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _parse_all(jobs: Sequence[Job], workers: int, progress: Progress) -> Iterator[tuple[int, FileResult]]:
    """(index in `jobs`, result) as each is done, in this process or spread over `workers` processes.

    More processes than files to parse or than CPUs would only cost their start and their memory.
    """
    workers = min(workers, len(jobs), available_cpus())
    if workers < 2 or _parallel_saving(jobs, workers) < POOL_COST_S:
        for index, job in enumerate(jobs):
            yield index, _rewrite_guarded(job)
            progress.update("parsing", index + 1, len(jobs))
        return
    # Largest first: the last tasks to finish are the short ones.
    order = sorted(range(len(jobs)), key=lambda index: -len(jobs[index].data))
    for done, (index, result) in enumerate(_parse_in_workers(jobs, order, workers), start=1):
        yield index, result
        progress.update("parsing", done, len(jobs))


def _serve(connection: Connection) -> None:
    """A worker process: one job in, one result out, until it is sent None."""
    while (job := connection.recv()) is not None:
        connection.send(_rewrite_guarded(job))


def _death(exit_code: int | None) -> str:
    import signal  # not needed on the fast paths

    if exit_code is not None and exit_code < 0:
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exit status {exit_code}"


def _parse_in_workers(jobs: Sequence[Job], order: Sequence[int], workers: int) -> Iterator[tuple[int, FileResult]]:
    """(index, result) in the order they finish. Each worker holds one file at a time, so a worker that
    dies (a crash in the native parser, the out-of-memory killer) costs that file alone: it is reported,
    and a new worker takes the next file."""
    import multiprocessing
    from multiprocessing.connection import Connection, wait

    context = multiprocessing.get_context()
    pending = list(reversed(order))
    busy: dict[Connection, tuple[BaseProcess, int]] = {}

    def give_next(process: BaseProcess, connection: Connection) -> None:
        index = pending.pop()
        busy[connection] = (process, index)
        with contextlib.suppress(OSError):  # a worker that is gone shows as such in `wait`
            connection.send(jobs[index])

    def start_worker() -> None:
        connection, child_end = context.Pipe()
        process = context.Process(target=_serve, args=(child_end,), daemon=True)
        process.start()
        child_end.close()  # the worker's end alone stays open: its death reads as end of file here
        give_next(process, connection)

    def stop(process: BaseProcess, connection: Connection) -> None:
        with contextlib.suppress(OSError):
            connection.send(None)
        connection.close()
        process.join()

    try:
        while pending and len(busy) < workers:
            start_worker()
        while busy:
            for connection in wait(list(busy)):
                assert isinstance(connection, Connection)
                process, index = busy.pop(connection)
                try:
                    result = connection.recv()
                except (EOFError, OSError):
                    stop(process, connection)
                    reason = f"{WORKER_DIED} ({_death(process.exitcode)}) while parsing this file; left untouched"
                    result = FileResult(jobs[index].path, error=reason)
                    if pending:
                        start_worker()
                else:
                    if pending:
                        give_next(process, connection)
                    else:
                        stop(process, connection)
                yield index, result
    finally:  # stopped early (an interrupt, an error): no worker outlives the run
        for connection, (process, _) in busy.items():
            process.kill()
            stop(process, connection)


def _too_large(job: Job, max_file_size: int) -> FileResult | None:
    if len(job.data) <= max_file_size:
        return None
    return FileResult(job.path, error=f"too large to parse: {len(job.data):,} bytes, over the limit of "
                                      f"{max_file_size:,} (max-file-size); left untouched")


def _rewrite(
    jobs: Sequence[Job], workers: int, open_cache: Callable[[], ResultCache | None], progress: Progress,
    max_file_size: int,
) -> list[FileResult]:
    """Prefiltered files at once, then files over the size limit; the cache is opened only when some
    file needs parsing.

    Files with the same bytes (vendored copies) are parsed once; each result is cached as soon as
    it is known, so that a run that is stopped midway still spares the next one its work.
    """
    settled = [settle_without_parsing(job.path, job.data, job.targets) or _too_large(job, max_file_size) for job in jobs]
    heavy = [index for index, result in enumerate(settled) if result is None]
    cache = open_cache() if heavy else None
    copies: dict[bytes, list[int]] = {}
    for index in heavy:
        settled[index] = cache.lookup(jobs[index]) if cache is not None else None
        if settled[index] is None:
            copies.setdefault(jobs[index].data, []).append(index)
    firsts = [indexes[0] for indexes in copies.values()]
    for position, result in _parse_all([jobs[index] for index in firsts], workers, progress):
        job = jobs[firsts[position]]
        for index in copies[job.data]:
            settled[index] = replace(result, path=jobs[index].path)
        if cache is not None and not (result.error or "").startswith((INTERNAL_ERROR, WORKER_DIED)):
            cache.store(job, result)
    results = [result for result in settled if result is not None]
    if len(results) != len(jobs):  # results go back by position: a gap would shift every later file
        raise RuntimeError("a file was left without a result")
    return results


def rewrite_jobs(
    jobs: Sequence[Job], workers: int, *, cache: ResultCache | None = None, progress: Progress | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> list[FileResult]:
    """Results in the order of `jobs`: prefiltered files at once, then cached results, then parsing."""
    return _rewrite(jobs, workers, lambda: cache, progress or Progress(None), max_file_size)


def _open_default_cache() -> ResultCache | None:
    from codemod.run.cache import ResultCache, cache_disabled, default_directory

    return None if cache_disabled() else ResultCache(default_directory())


def _read_only(path: str) -> str | None:
    """Why the file must not be replaced: it cannot be found, or it is read-only."""
    try:
        status = os.stat(path)
    except OSError as error:
        return f"cannot write: {error.strerror or error}"
    if not os.access(path, os.W_OK) or not status.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return "file is read-only; left untouched"
    return None


def apply_changes(results: Sequence[FileResult], sources: Mapping[str, Source]) -> list[FileResult]:
    """Write every changed file in place; a file that cannot or must not be written becomes an error result.

    A file saved since it was read (an editor, while this ran) is left as it is now.
    """
    from codemod.run.write import FileChanged, write_atomically

    written = []
    for result in results:
        if result.changed and result.new is not None:
            problem = _read_only(result.path)
            if problem is None:
                try:
                    write_atomically(result.path, result.new, sources[result.path])
                except FileChanged:
                    problem = "file changed while contiguify ran; left untouched"
                except OSError as error:
                    problem = f"cannot write: {error.strerror or error}"
            if problem is not None:
                result = FileResult(result.path, error=problem, targets=result.targets)
        written.append(result)
    return written


def vetoed(result: FileResult, veto: Callable[[FileResult], str | None]) -> FileResult:
    """A change that `veto` refuses becomes an error result with its reason: reported, never written."""
    reason = veto(result) if result.changed else None
    return result if reason is None else FileResult(result.path, error=reason, targets=result.targets)


def size_limit(projects: Projects) -> int:
    """One limit for the run: the working directory's project's `max-file-size` (the command line's when given)."""
    here = projects.for_directory(os.curdir)
    return here.max_file_size if isinstance(here, Project) else DEFAULT_MAX_FILE_SIZE


def run_paths(
    paths: Sequence[str], options: Options, *, write: bool, progress: bool = True,
    projects: Projects | None = None, on_warning: OnWarning | None = None,
    veto: Callable[[FileResult], str | None] | None = None,
) -> list[FileResult]:
    """Every file under `paths` once, in order, each with its own project's settings.

    `options.cache` False: every result computed afresh. `progress`: a counter on stderr when it is a terminal.
    `projects`: where the settings of each file come from (the caller may want them afterwards).
    `veto`: asked about each change before anything is written (`fix --verify`); see `vetoed`.
    """
    projects = projects or Projects(options)
    reporter = Progress.for_terminal() if progress else Progress(None)
    slots: list[FileResult | Job] = []
    sources: dict[str, Source] = {}
    outside: dict[str, str] = {}
    seen: set[tuple[int, int]] = set()
    for candidate in iter_candidates(paths, projects, follow_links=options.follow_links,
                                     on_warning=on_warning):
        if candidate.problem is not None or candidate.project is None:
            slots.append(FileResult(candidate.path, error=candidate.problem))
            continue
        source = read_source(candidate.path)
        if isinstance(source, str):
            slots.append(FileResult(candidate.path, error=source))
        elif source.identity not in seen:
            seen.add(source.identity)
            sources[candidate.path] = source
            if candidate.outside is not None:
                outside[candidate.path] = candidate.outside
            project = candidate.project
            slots.append(Job(candidate.path, source.data, project.profile, project.targets_for(candidate.path),
                             project.entry_points))
        reporter.update("reading", len(slots))
    jobs = [slot for slot in slots if isinstance(slot, Job)]
    done = iter(_rewrite(jobs, options.jobs, _open_default_cache if options.cache else lambda: None, reporter,
                         size_limit(projects)))
    results = [_refuse_outside(next(done), outside) if isinstance(slot, Job) else slot for slot in slots]
    reporter.finish()
    if veto is not None:
        results = [vetoed(result, veto) for result in results]
    return apply_changes(results, sources) if write else results


def _refuse_outside(result: FileResult, outside: Mapping[str, str]) -> FileResult:
    """A change to a file reached through a symbolic link out of the given paths becomes an error: never written."""
    real = outside.get(result.path)
    if real is None or not result.changed:
        return result
    reason = f"symbolic link to {real}, outside the given paths: not rewritten (name that file, or use --follow-links)"
    return FileResult(result.path, error=reason, targets=result.targets)
