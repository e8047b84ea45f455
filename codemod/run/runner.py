"""A whole run: candidates in, one result per file out (in order), changes written when asked.

Most files are settled by the byte prefilter; of the rest, cached results are reused and only
the remainder is parsed, in worker processes when there is enough of it to pay for starting them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from codemod.config import Projects
from codemod.options import DEFAULT_MAX_FILE_SIZE, Options
from codemod.prefilter import settle_without_parsing
from codemod.results import FileResult
from codemod.rewrite.file import rewrite
from codemod.run.files import OnWarning, Oversized, Source, iter_candidates, read_source, windows
from codemod.run.job import Job
from codemod.run.progress import Progress

if TYPE_CHECKING:
    from codemod.isolation import Limits, Pool
    from codemod.match.patterns import TargetPattern
    from codemod.run.cache import ResultCache

# Estimated cost of rewriting a file (parse, rewrite, check) on a 2-core x86 machine with libcst 1.9:
# about 3 ms plus 5 us a byte. More worker processes are worth it when they save more than they cost to
# start (about 30 ms: each imports libcst, in parallel, while this process need not import it at all).
SECONDS_PER_FILE, SECONDS_PER_BYTE = 0.003, 5e-6
POOL_COST_S = 0.05
# Limits of one file's parse, from its size (see `codemod.isolation.Limits`). Measured peaks of resident
# memory of a whole run over one target file padded with ordinary modules (benchmarks/speed.py's large files):
# 208 MiB for 0.5 MB, 736 MiB for 2 MB, about 350 bytes per byte of source. The allowance is more than twice
# that, plus a base for libcst's import and small files; a file of pathological shape (520 lines of 190 nested
# parentheses: 2.2 GB for 200 KB) reaches it and is reported. CPU: 2 MB took 19 to 32 s; the limit is 150 s.
MEMORY_BASE, MEMORY_PER_BYTE = 384 * 1024 * 1024, 800
CPU_BASE_S, CPU_PER_BYTE_S = 30.0, 60e-6
WALL_PER_CPU = 4  # a loaded machine: wall time before the parent gives up, per second of CPU allowed


def parse_limits(size: int) -> Limits:
    """What parsing a file of `size` bytes may use (see `codemod.isolation`)."""
    from codemod.isolation import Limits

    cpu = CPU_BASE_S + CPU_PER_BYTE_S * size
    return Limits(memory=MEMORY_BASE + MEMORY_PER_BYTE * size, cpu_seconds=round(cpu), wall_seconds=cpu * WALL_PER_CPU)


def rewrite_job(job: Job) -> FileResult:
    """A run's unit of work: what a worker does with one file (an exception, a crash, a limit: see
    `codemod.isolation`)."""
    return rewrite(job.data, job.profile, job.targets, path=job.path, entry_points=job.entry_points)


def _prepare_worker() -> None:
    """Once per worker: libcst and the engine imported with the cyclic garbage collector off, then frozen, so
    that the collections of the rewrites do not walk libcst's module objects again and again (about 15 ms of a
    first run's 0.3 s; benchmarks/speed.py)."""
    import gc

    gc.disable()
    try:
        import codemod.rewrite.engine  # noqa: F401 - imports libcst
    finally:
        gc.freeze()
        gc.enable()


def _parallel_saving(jobs: Sequence[Job], workers: int) -> float:
    """Seconds saved by `workers` processes: the whole work less the longest of one file and a fair share."""
    costs = [SECONDS_PER_FILE + SECONDS_PER_BYTE * len(job.data) for job in jobs]
    return sum(costs) - max(max(costs), sum(costs) / workers)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _parse_all(jobs: Sequence[Job], pool: Pool[Job, FileResult], progress: Progress,
               ) -> Iterator[tuple[int, FileResult, bool]]:
    """(index in `jobs`, result, whether it came back) as each is done, each file in a worker process of `pool`
    under `parse_limits`; a result that did not come back (a crash, a limit, a defect) is not one to cache.

    A worker holds one file at a time, so a file that crashes the parser, exhausts its memory or its
    time costs itself alone: it is reported, and a new worker takes the next file. More processes than
    files to parse or than CPUs would only cost their start and their memory.
    """
    from codemod.isolation import Died

    workers = min(pool.workers, len(jobs))
    if workers > 1 and _parallel_saving(jobs, workers) < POOL_COST_S:
        workers = 1
    pool.workers = workers
    # Largest first: the last tasks to finish are the short ones.
    order = sorted(range(len(jobs)), key=lambda index: -len(jobs[index].data))
    calls = [(jobs[index], parse_limits(len(jobs[index].data))) for index in order]
    for done, (position, result) in enumerate(pool.map_unordered(calls), start=1):
        index = order[position]
        if isinstance(result, Died):
            yield index, FileResult(jobs[index].path, error=f"{result.reason}; left untouched"), False
        else:
            yield index, result, True
        progress.update("parsing", done, len(jobs))


def _too_large(job: Job, max_file_size: int) -> FileResult | None:
    if len(job.data) <= max_file_size:
        return None
    return FileResult(job.path, error=_too_large_reason(len(job.data), max_file_size))


def _too_large_reason(size: int, max_file_size: int) -> str:
    return f"too large to parse: {size:,} bytes, over the limit of {max_file_size:,} (max-file-size); left untouched"


def settle_oversized(path: str, targets: Sequence[TargetPattern], size: int, max_file_size: int) -> FileResult:
    """The result of a file over the size limit, searched in bounded windows: binary, too large to parse
    (it could define a target class), or unchanged, as for any file."""
    could_define = False
    try:
        for window in windows(path):
            settled = settle_without_parsing(path, window, targets)
            if settled is not None and settled.error is not None:  # binary
                return settled
            could_define = could_define or settled is None
    except OSError as error:
        return FileResult(path, error=f"cannot read: {error.strerror or error}")
    if could_define:
        return FileResult(path, error=_too_large_reason(size, max_file_size))
    return FileResult(path)


class _Batch:
    """A run's jobs as they are read: each settled at once where it can be (the byte prefilter, the size limit,
    the cache), the rest parsed in worker processes when `results` is asked for.

    Files with the same bytes and settings (vendored copies) are looked up once and parsed once; the cache
    is opened only when some file needs it. The pool's first worker starts at the first file to parse, so
    that it imports libcst while the other files are read (some 10 ms of a first run's 0.3 s); a run that
    parses nothing starts none, and imports none of the pool's modules. Each result is cached as soon as
    it is known, so that a run that is stopped midway still spares the next one its work.
    """

    def __init__(self, workers: int, open_cache: Callable[[], ResultCache | None], progress: Progress) -> None:
        self._workers = workers
        self._open_cache = open_cache
        self._progress = progress
        self._cache: ResultCache | None = None
        self._cache_opened = False
        self._jobs: list[Job] = []
        self._settled: list[FileResult | None] = []
        self._copies: dict[Job, list[int]] = {}  # a job less its path -> where it and its copies are
        self._known: dict[Job, FileResult | None] = {}  # the same keys -> the cached result, if any
        self._pool: Pool[Job, FileResult] | None = None

    def __enter__(self) -> _Batch:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.close()

    def add(self, job: Job, max_file_size: int) -> None:
        self._settled.append(settle_without_parsing(job.path, job.data, job.targets) or _too_large(job, max_file_size))
        self._jobs.append(job)
        if self._settled[-1] is not None:
            return
        same = job._replace(path="")
        copies = self._copies.setdefault(same, [])
        copies.append(len(self._jobs) - 1)
        if len(copies) > 1:
            return
        if not self._cache_opened:
            self._cache, self._cache_opened = self._open_cache(), True
        self._known[same] = hit = self._cache.lookup(job) if self._cache is not None else None
        if hit is None and self._pool is None:
            from codemod.isolation import Pool

            self._pool = Pool(rewrite_job, min(self._workers, available_cpus()), quiet=True,  # libcst's allocator
                              prepare=_prepare_worker)  # prints when it runs out
            self._pool.start_worker()

    def results(self) -> list[FileResult]:
        """One result per job, in order."""
        unknown = [same for same, hit in self._known.items() if hit is None]
        if self._pool is not None:
            parsed = _parse_all([self._jobs[self._copies[same][0]] for same in unknown], self._pool, self._progress)
            for position, result, came_back in parsed:
                self._known[unknown[position]] = result
                if self._cache is not None and came_back:
                    self._cache.store(self._jobs[self._copies[unknown[position]][0]], result)
        for same, indexes in self._copies.items():
            known = self._known[same]
            for index in indexes:
                self._settled[index] = None if known is None else known._replace(path=self._jobs[index].path)
        results = [result for result in self._settled if result is not None]
        if len(results) != len(self._jobs):  # results go back by position: a gap would shift every later file
            raise RuntimeError("a file was left without a result")
        return results


def rewrite_jobs(
    jobs: Sequence[Job], workers: int, *, cache: ResultCache | None = None, progress: Progress | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> list[FileResult]:
    """Results in the order of `jobs`: prefiltered files at once, then cached results, then parsing."""
    with _Batch(workers, lambda: cache, progress or Progress(None)) as batch:
        for job in jobs:
            batch.add(job, max_file_size)
        return batch.results()


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
    from codemod.run.write import FileChanged, HardLinked, write_atomically

    written = []
    for result in results:
        if result.changed and result.new is not None:
            problem = _read_only(result.path)
            if problem is None:
                try:
                    write_atomically(result.path, result.new, sources[result.path])
                except FileChanged:
                    problem = "file changed while contiguify ran; left untouched"
                except HardLinked as links:
                    problem = (f"has {links.links} hard links (names): not rewritten, since a new file would leave "
                               "the other names with the old bytes; left untouched")
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
    with _Batch(options.jobs, _open_default_cache if options.cache else lambda: None, reporter) as batch:
        for candidate in iter_candidates(paths, projects, follow_links=options.follow_links,
                                         on_warning=on_warning):
            if candidate.problem is not None or candidate.project is None:
                slots.append(FileResult(candidate.path, error=candidate.problem))
                continue
            project = candidate.project
            source = read_source(candidate.path, project.max_file_size)
            if isinstance(source, str):
                slots.append(FileResult(candidate.path, error=source))
            elif isinstance(source, Oversized):
                slots.append(settle_oversized(candidate.path, project.targets_for(candidate.path), source.size,
                                              project.max_file_size))
            elif source.identity not in seen:
                seen.add(source.identity)
                sources[candidate.path] = source
                if candidate.outside is not None:
                    outside[candidate.path] = candidate.outside
                job = Job(candidate.path, source.data, project.profile, project.targets_for(candidate.path),
                          project.entry_points)
                slots.append(job)
                batch.add(job, project.max_file_size)  # each job's own project's max-file-size
            reporter.update("reading", len(slots))
        done = iter(batch.results())
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
