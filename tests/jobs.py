"""A run's unit of work rewritten as a worker rewrites it, for tests that compare the runner with it."""

from __future__ import annotations

from codemod.results import FileResult
from codemod.rewrite.file import rewrite
from codemod.run.job import Job


def rewrite_job(job: Job) -> FileResult:
    """`rewrite` of the job's bytes with its settings, as `codemod.run.runner` calls it."""
    return rewrite(job.data, job.profile, job.targets, path=job.path, entry_points=job.entry_points)
