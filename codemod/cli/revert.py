"""`contiguify revert`: take the profile's `.contiguous()` calls out of files again, with the options of `fix`."""

from __future__ import annotations

from collections.abc import Sequence

import click

from codemod.cli.check import finish, run_options
from codemod.cli.shared import warn
from codemod.config import Projects
from codemod.options import Options
from codemod.results import FileResult


def revert_paths(paths: Sequence[str], options: Options, projects: Projects) -> list[FileResult]:
    """Every file under `paths`, reverted in place with its own project's settings; one result each."""
    from codemod.rewrite.revert import revert as revert_bytes
    from codemod.run.files import Source, iter_candidates, read_source
    from codemod.run.runner import _refuse_outside, apply_changes

    results: list[FileResult] = []
    sources: dict[str, Source] = {}
    seen: set[tuple[int, int]] = set()
    for candidate in iter_candidates(paths, projects, follow_links=options.follow_links, on_warning=warn):
        project = candidate.project
        if candidate.problem is not None or project is None:
            results.append(FileResult(candidate.path, error=candidate.problem))
            continue
        source = read_source(candidate.path)
        if isinstance(source, str):
            results.append(FileResult(candidate.path, error=source))
            continue
        if source.identity in seen:
            continue
        seen.add(source.identity)
        sources[candidate.path] = source
        if len(source.data) > project.max_file_size and b".contiguous()" in source.data:
            results.append(FileResult(candidate.path, error=f"too large to parse: {len(source.data):,} bytes, over "
                                                            f"the limit of {project.max_file_size:,} (max-file-size)"))
            continue
        result = revert_bytes(source.data, project.profile, project.targets_for(candidate.path),
                              path=candidate.path, entry_points=project.entry_points)
        outside = candidate.outside
        results.append(_refuse_outside(result, {candidate.path: outside} if outside else {}))
    return apply_changes(results, sources)


@click.command()
@run_options
def revert(paths: tuple[str, ...], options: Options) -> None:
    """Remove the `.contiguous()` calls fix inserts at the profile's sites, so that the files are upstream's again
    (before `git pull`; then run fix). A call at one of those sites is removed even if you wrote it yourself;
    your calls elsewhere stay. Exit 0: done (or nothing to do), 2: errors. -j and --no-cache have no effect."""
    if "-" in paths:
        raise click.UsageError("revert rewrites files in place: '-' (standard input) is not accepted")
    projects = Projects(options)
    results = revert_paths(paths or (".",), options, projects)
    raise SystemExit(finish(results, options, projects, wrote=True, changed_is_failure=False, reverted=True))
