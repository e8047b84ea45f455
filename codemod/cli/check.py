"""`contiguify check` and `contiguify fix`: their shared options, collected into one `Options`, and their run."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

from codemod.cli.shared import EXIT_CHANGED, EXIT_CLEAN, EXIT_ERROR, PROFILE_CHOICE, check_targets, warn
from codemod.options import DEFAULT_MAX_FILE_SIZE, Options
from codemod.results import FileResult

if TYPE_CHECKING:
    from codemod.config import Projects

Veto = Callable[[FileResult], "str | None"]


def run_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options check, fix and revert share, handed to the command as one `Options` (`options=`), checked once."""

    @functools.wraps(command)
    def with_options(
        *, profile: str | None, targets: tuple[str, ...], strict: bool | None, output_format: str,
        color: bool | None, jobs: int | None, no_cache: bool, follow_links: bool, max_file_size: int | None,
        **rest: object,
    ) -> None:
        check_targets(targets)
        options = Options(
            profile=profile,
            targets=targets or None,
            strict=strict,
            output_format="json" if output_format == "json" else "text",
            color=sys.stdout.isatty() if color is None else color,
            jobs=jobs or os.cpu_count() or 1,
            cache=not no_cache,
            follow_links=follow_links,
            max_file_size=max_file_size,
        )
        command(options=options, **rest)

    decorators = [
        click.argument("paths", nargs=-1, type=str),
        click.option("--profile", type=PROFILE_CHOICE, default=None,
                     help="Which sites to rewrite (default: seed, or tool.contiguify.profile)."),
        click.option("--target", "targets", multiple=True, metavar="[PATH::]CLASS.METHOD",
                     help="Method to rewrite; repeatable; shell wildcards allowed; PATH (a glob, relative to the "
                          "project root) limits it to some files. Replaces the targets of the config and the defaults."),
        click.option("--strict/--no-strict", default=None,
                     help="Exit 1 when a target method lacks some of its sites."),
        click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
                     help="text: diffs (check) on stdout; json: one report on stdout."),
        click.option("--color/--no-color", default=None, help="Colour the diff (default: when stdout is a terminal)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Worker processes for parsing (default and most: number of CPUs)."),
        click.option("--no-cache", is_flag=True,
                     help="Compute every result afresh; read and write no cache (also CONTIGUIFY_NO_CACHE=1)."),
        click.option("--follow-links", is_flag=True,
                     help="Follow symbolic links wherever they lead (default: only those inside the given paths)."),
        click.option("--max-file-size", type=click.IntRange(min=1), default=None, metavar="BYTES",
                     help="Report and skip larger files that could define a target "
                          f"(default: {DEFAULT_MAX_FILE_SIZE}, or tool.contiguify.max-file-size)."),
    ]
    decorated: Callable[..., None] = with_options
    for decorator in reversed(decorators):
        decorated = decorator(decorated)
    return decorated


def _run(
    paths: Sequence[str], options: Options, *, write: bool, verify: bool = False, allow_unverified: bool = False,
    timeout: float | None = None,
) -> tuple[list[FileResult], bytes | None, Projects]:
    """Results, the bytes read from stdin when the only path is `-`, and where each file's settings came from.

    `verify`: each change is run before it is written, with its own project's profile (see `run_paths`);
    only verified files are written, unless `allow_unverified`.
    """
    from codemod.config import ConfigError, Project, Projects
    from codemod.run.job import Job
    from codemod.run.runner import rewrite_jobs, run_paths, vetoed

    projects = Projects(options)
    veto: Veto | None = None
    if verify:
        from codemod.cli.verify import veto_unverified

        unverified = veto_unverified(allow_unverified=allow_unverified, timeout=timeout)

        def veto(result: FileResult) -> str | None:
            project = projects.for_file(result.path)
            if not isinstance(project, Project):
                return f"not written: {project}"
            return unverified(result, project.profile, project.entry_points)
    if "-" in paths:
        if len(paths) > 1:
            raise click.UsageError("'-' (standard input) cannot be combined with other paths")
        project = projects.for_directory(os.curdir)
        if isinstance(project, ConfigError):
            raise click.UsageError(str(project))
        data = sys.stdin.buffer.read()
        job = Job("-", data, project.profile, project.targets_for("-"), project.entry_points)
        results = rewrite_jobs([job], 1, max_file_size=project.max_file_size)
        return ([vetoed(result, veto) for result in results] if veto is not None else results), data, projects
    results = run_paths(paths or (".",), options, write=write, projects=projects,
                        on_warning=warn, veto=veto)
    return results, None, projects


def _strict_failure(result: FileResult, projects: Projects) -> bool:
    from codemod.config import Project

    project = projects.for_file(result.path)
    return result.missing_sites and isinstance(project, Project) and project.strict


def finish(results: Sequence[FileResult], options: Options, projects: Projects, *, wrote: bool,
            changed_is_failure: bool, reverted: bool = False) -> int:
    from codemod.report.text import file_lines, summary_line, unmatched_target_lines

    if options.output_format == "json":
        from codemod.report.json_report import render_json

        click.echo(render_json(results), nl=False)
    for result in results:
        for line in file_lines(result, wrote=wrote, reverted=reverted):
            click.echo(line, err=True)
    for line in unmatched_target_lines(results, projects):
        click.echo(line, err=True)
    click.echo(summary_line(results, wrote=wrote, reverted=reverted), err=True)
    if any(result.error is not None for result in results):
        return EXIT_ERROR
    if changed_is_failure and any(result.changed for result in results):
        return EXIT_CHANGED
    if any(_strict_failure(result, projects) for result in results):
        return EXIT_CHANGED
    return EXIT_CLEAN


@click.command()
@run_options
def check(paths: tuple[str, ...], options: Options) -> None:
    """Print the diff fix would apply. Exit 0: nothing to change, 1: changes needed, 2: errors."""
    from codemod.report.diff import colorize, file_diff
    from codemod.report.paths import patch_path

    results, _, projects = _run(paths, options, write=False)
    if options.output_format == "text":
        stdout = sys.stdout.buffer
        for result in results:
            patch = file_diff(result)
            stdout.write(colorize(patch) if options.color else patch)
            if patch and patch_path(result.path) is None:  # the second lookup of the file's repository is cached
                warn(result.path, "in no git repository and outside the working directory: its diff names the "
                                   "absolute path, which `git apply` passes over")
        stdout.flush()
    raise SystemExit(finish(results, options, projects, wrote=False, changed_is_failure=True))


@click.command()
@run_options
@click.option("--exit-zero-even-if-changed", is_flag=True, help="Exit 0 when files were rewritten.")
@click.option("--verify", "verify_first", is_flag=True,
              help="Run each changed file's forwards, original and rewritten (this imports and runs the code, "
                   "in a child process; needs torch), and write only verified files: every target has a path "
                   "that ran to the end with equal results; the others are errors, with the reason.")
@click.option("--allow-unverified", is_flag=True,
              help="With --verify: also write files that verified nothing (but never one that differs), with a "
                   "warning each.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="With --verify: time limit per file for its imports and runs (default: 300).")
def fix(paths: tuple[str, ...], options: Options, exit_zero_even_if_changed: bool, verify_first: bool,
        allow_unverified: bool, timeout: float | None) -> None:
    """Rewrite files in place (`-`: stdin to stdout). Exit 0: nothing changed, 1: something changed, 2: errors
    (with --verify: also files left unwritten because verify could not verify them)."""
    results, stdin_data, projects = _run(paths, options, write=True, verify=verify_first,
                                         allow_unverified=allow_unverified, timeout=timeout)
    if stdin_data is not None and options.output_format == "text":
        result = results[0]
        stdout = sys.stdout.buffer
        stdout.write(result.new if result.new is not None and result.error is None else stdin_data)
        stdout.flush()
    code = finish(results, options, projects, wrote=True, changed_is_failure=not exit_zero_even_if_changed)
    raise SystemExit(code)


