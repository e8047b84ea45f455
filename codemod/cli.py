"""The `contiguify` command line: check, fix, list (and explain and verify, with the `explain` extra)."""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from codemod import __version__
from codemod.match.patterns import TargetSyntaxError, parse_targets
from codemod.options import DEFAULT_MAX_FILE_SIZE, Options
from codemod.options import PROFILE_NAMES as PROFILE_NAMES  # re-exported: the commands' choices
from codemod.results import FileResult

if TYPE_CHECKING:
    from codemod.config import Projects

EXIT_CLEAN, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])
Veto = Callable[[FileResult], "str | None"]


class CommandFailed(click.ClickException):
    """Shown as `Error: ...` on stderr, with the exit code for errors."""

    exit_code = EXIT_ERROR


def import_needing_torch(module: str, command: str) -> types.ModuleType:
    """`module`, which imports torch (seconds; see `codemod.model.startup`); without torch, what to install."""
    from codemod.model.startup import importing_torch

    try:
        with importing_torch():
            return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise CommandFailed(f"{command} runs the forwards with torch: pip install 'contiguify[explain]'") from error


def _common_options(command: F) -> F:
    """The options check and fix share."""
    decorators = [
        click.argument("paths", nargs=-1, type=str),
        click.option("--profile", type=click.Choice(PROFILE_NAMES), default=None,
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
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def build_options(
    profile: str | None, targets: Sequence[str], strict: bool | None, output_format: str,
    color: bool | None, jobs: int | None, no_cache: bool, follow_links: bool = False,
    max_file_size: int | None = None,
) -> Options:
    """The command line, checked once; what it leaves out comes from each file's project (see codemod.config)."""
    try:
        parse_targets(targets)
    except TargetSyntaxError as error:
        raise click.BadParameter(str(error), param_hint="--target") from error
    return Options(
        profile=profile,
        targets=tuple(targets) or None,
        strict=strict,
        output_format="json" if output_format == "json" else "text",
        color=sys.stdout.isatty() if color is None else color,
        jobs=jobs or os.cpu_count() or 1,
        cache=not no_cache,
        follow_links=follow_links,
        max_file_size=max_file_size,
    )


def _warn(path: str, reason: str) -> None:
    from codemod.report.paths import shown

    click.echo(f"warning: {shown(path)}: {reason}", err=True)


def _run(
    paths: Sequence[str], options: Options, *, write: bool, verify: bool = False, allow_unverified: bool = False,
    timeout: float | None = None,
) -> tuple[list[FileResult], bytes | None, Projects]:
    """Results, the bytes read from stdin when the only path is `-`, and where each file's settings came from.

    `verify`: each change is run before it is written, with its own project's profile (see `run_paths`);
    only verified files are written, unless `allow_unverified`.
    """
    from codemod.config import ConfigError, Project, Projects
    from codemod.run.process import Job
    from codemod.run.runner import rewrite_jobs, run_paths, vetoed

    projects = Projects(options)
    veto: Veto | None = None
    if verify:
        from codemod.verify.command import veto_unverified

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
    results = run_paths(paths or (".",), options, write=write, cache=options.cache, projects=projects,
                        on_warning=_warn, veto=veto)
    return results, None, projects


def _strict_failure(result: FileResult, projects: Projects) -> bool:
    from codemod.config import Project

    project = projects.for_file(result.path)
    return result.missing_sites and isinstance(project, Project) and project.strict


def _finish(results: Sequence[FileResult], options: Options, projects: Projects, *, wrote: bool,
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


class _Commands(click.Group):
    """`explain` and `verify` are imported when asked for: check and fix, run on every commit, never load them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "comfyui", "explain", "revert", "verify"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "explain":
            from codemod.explain.command import explain

            return explain
        if cmd_name == "revert":
            from codemod.revert_command import revert

            return revert
        if cmd_name == "comfyui":
            from codemod.comfyui.command import comfyui

            return comfyui
        if cmd_name == "verify":
            from codemod.verify.command import verify

            return verify
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="contiguify")
def cli() -> None:
    """Insert `.contiguous()` into the MultiTalk attention forwards of a ComfyUI-WanVideoWrapper checkout."""


@cli.command()
@_common_options
def check(paths: tuple[str, ...], profile: str | None, targets: tuple[str, ...], strict: bool | None,
          output_format: str, color: bool | None, jobs: int | None, no_cache: bool, follow_links: bool,
          max_file_size: int | None) -> None:
    """Print the diff fix would apply. Exit 0: nothing to change, 1: changes needed, 2: errors."""
    from codemod.report.diff import colorize, file_diff
    from codemod.report.paths import patch_path

    options = build_options(profile, targets, strict, output_format, color, jobs, no_cache, follow_links,
                            max_file_size)
    results, _, projects = _run(paths, options, write=False)
    if options.output_format == "text":
        stdout = sys.stdout.buffer
        for result in results:
            patch = file_diff(result)
            stdout.write(colorize(patch) if options.color else patch)
            if patch and patch_path(result.path) is None:  # the second lookup of the file's repository is cached
                _warn(result.path, "in no git repository and outside the working directory: its diff names the "
                                   "absolute path, which `git apply` passes over")
        stdout.flush()
    raise SystemExit(_finish(results, options, projects, wrote=False, changed_is_failure=True))


@cli.command()
@_common_options
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
def fix(paths: tuple[str, ...], profile: str | None, targets: tuple[str, ...], strict: bool | None,
        output_format: str, color: bool | None, jobs: int | None, no_cache: bool, follow_links: bool,
        max_file_size: int | None,
        exit_zero_even_if_changed: bool, verify_first: bool, allow_unverified: bool, timeout: float | None) -> None:
    """Rewrite files in place (`-`: stdin to stdout). Exit 0: nothing changed, 1: something changed, 2: errors
    (with --verify: also files left unwritten because verify could not verify them)."""
    options = build_options(profile, targets, strict, output_format, color, jobs, no_cache, follow_links,
                            max_file_size)
    results, stdin_data, projects = _run(paths, options, write=True, verify=verify_first,
                                         allow_unverified=allow_unverified, timeout=timeout)
    if stdin_data is not None and options.output_format == "text":
        result = results[0]
        stdout = sys.stdout.buffer
        stdout.write(result.new if result.new is not None and result.error is None else stdin_data)
        stdout.flush()
    code = _finish(results, options, projects, wrote=True, changed_is_failure=not exit_zero_even_if_changed)
    raise SystemExit(code)


@cli.command(name="list")
@click.option("--entry-points", "entry_points", is_flag=True,
              help="List the attention entry points instead: the working directory's project's declared ones "
                   "(tool.contiguify.entry-points), then the built-in ones.")
def list_sites(entry_points: bool) -> None:
    """Every profile's sites, one line each: profile, site id, what it does, before -> after."""
    if entry_points:
        _list_entry_points()
        return
    from codemod.rewrite.profiles import all_profiles

    for profile in all_profiles().values():
        for site in profile.sites():
            click.echo(f"{profile.name}\t{site.id}\t{site.summary}\t{site.before}  ->  {site.after}")


def _list_entry_points() -> None:
    """One line per entry point: where it comes from, label, layout, names, q/k/v keywords, an example call."""
    from codemod.config import ConfigError, Projects
    from codemod.match.entry_points import ENTRY_POINTS

    project = Projects().for_directory(os.curdir)
    if isinstance(project, ConfigError):
        raise click.UsageError(str(project))
    origin = os.path.relpath(project.pyproject) if project.pyproject else "built-in"
    sources = [(origin, entry) for entry in project.declared_entry_points] + [("built-in", e) for e in ENTRY_POINTS]
    for source, entry in sources:
        keywords = ",".join(entry.keywords) or "-"
        layout = entry.layout + "".join(f" ({key}={value!r}: {then})" for key, value, then in entry.layout_if)
        click.echo(f"{source}\t{entry.label}\t{layout}{' packed' if entry.packed else ''}\t{','.join(entry.names)}\t"
                   f"{keywords}\t{entry.example}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for the console script and `python -m codemod`; returns the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="contiguify", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_ERROR
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else EXIT_ERROR
    return EXIT_CLEAN
