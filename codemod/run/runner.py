"""A whole run: candidates in, one result per file out (in order), changes written when asked."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from codemod.match.targets import parse_targets
from codemod.options import Options
from codemod.results import FileResult
from codemod.run.files import iter_candidates
from codemod.run.process import Job, could_contain_target, rewrite_bytes
from codemod.run.write import write_atomically

# Below this many files to parse, a process pool costs more to start than it saves.
MIN_FILES_FOR_POOL = 8


def _read(path: str) -> bytes | str:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        return f"cannot read: {error.strerror or error}"


def rewrite_jobs(jobs: Sequence[Job], workers: int) -> list[FileResult]:
    """Results in the order of `jobs`; parsing spread over processes only when there is enough of it."""
    heavy = [index for index, job in enumerate(jobs) if could_contain_target(job.data, job.targets)]
    results: list[FileResult | None] = [None] * len(jobs)
    if workers > 1 and len(heavy) >= MIN_FILES_FOR_POOL:
        with ProcessPoolExecutor(max_workers=min(workers, len(heavy))) as pool:
            for index, result in zip(heavy, pool.map(rewrite_bytes, [jobs[i] for i in heavy], chunksize=4)):
                results[index] = result
    for index, job in enumerate(jobs):
        if results[index] is None:
            results[index] = rewrite_bytes(job)
    return [result for result in results if result is not None]


def apply_changes(results: Sequence[FileResult]) -> list[FileResult]:
    """Write every changed file in place; a file that cannot be written becomes an error result."""
    written = []
    for result in results:
        if result.changed and result.new is not None:
            real = os.path.realpath(result.path)
            if not os.access(real, os.W_OK):
                result = FileResult(result.path, error="file is read-only; left untouched", targets=result.targets)
            else:
                try:
                    write_atomically(result.path, result.new)
                except OSError as error:
                    result = FileResult(result.path, error=f"cannot write: {error}", targets=result.targets)
        written.append(result)
    return written


def run_paths(
    paths: Sequence[str], options: Options, *, write: bool, on_file: Callable[[str], None] | None = None
) -> list[FileResult]:
    targets = parse_targets(options.targets)
    slots: list[FileResult | Job] = []
    for candidate in iter_candidates(paths, options.exclude):
        if candidate.problem is not None:
            slots.append(FileResult(candidate.path, error=candidate.problem))
            continue
        data = _read(candidate.path)
        if isinstance(data, str):
            slots.append(FileResult(candidate.path, error=data))
        else:
            slots.append(Job(candidate.path, data, options.profile, targets))
        if on_file is not None:
            on_file(candidate.path)
    jobs = [slot for slot in slots if isinstance(slot, Job)]
    done = iter(rewrite_jobs(jobs, options.jobs))
    results = [next(done) if isinstance(slot, Job) else slot for slot in slots]
    return apply_changes(results) if write else results
