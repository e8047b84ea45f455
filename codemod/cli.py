"""The `contiguify` command line: check, fix, list (and explain and verify, with the `explain` extra)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from codemod import __version__
from codemod.config import ConfigError, load_config
from codemod.match.patterns import DEFAULT_TARGETS, TargetSyntaxError, parse_targets
from codemod.options import Options
from codemod.results import FileResult
from codemod.rewrite import profile_names

EXIT_CLEAN, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2
# Listed without importing the profiles, so that `--help` and the no-target fast path never import libcst.
PROFILE_NAMES = profile_names()

F = TypeVar("F", bound=Callable[..., Any])
Veto = Callable[[FileResult], "str | None"]


def _common_options(command: F) -> F:
    """The options check and fix share."""
    decorators = [
        click.argument("paths", nargs=-1, type=str),
        click.option("--profile", type=click.Choice(PROFILE_NAMES), default=None,
                     help="Which sites to rewrite (default: seed, or tool.contiguify.profile)."),
        click.option("--target", "targets", multiple=True, metavar="CLASS.METHOD",
                     help="Method to rewrite; repeatable; shell wildcards allowed. Replaces the default targets."),
        click.option("--strict/--no-strict", default=None,
                     help="Exit 1 when a target method lacks some of its sites."),
        click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
                     help="text: diffs (check) on stdout; json: one report on stdout."),
        click.option("--color/--no-color", default=None, help="Colour the diff (default: when stdout is a terminal)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Worker processes for parsing (default and most: number of CPUs)."),
        click.option("--no-cache", is_flag=True,
                     help="Compute every result afresh; read and write no cache (also CONTIGUIFY_NO_CACHE=1)."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def build_options(
    profile: str | None, targets: Sequence[str], strict: bool | None, output_format: str,
    color: bool | None, jobs: int | None, no_cache: bool,
) -> Options:
    """Command line over `[tool.contiguify]` over the defaults, checked once."""
    try:
        config = load_config(Path.cwd())
    except ConfigError as error:
        raise click.UsageError(str(error)) from error
    chosen_profile = profile or config.get("profile", "seed")
    if chosen_profile not in PROFILE_NAMES:
        raise click.UsageError(f"unknown profile {chosen_profile!r} in [tool.contiguify]")
    chosen_targets = tuple(targets) or tuple(config.get("targets", DEFAULT_TARGETS))
    try:
        parse_targets(chosen_targets)
    except TargetSyntaxError as error:
        raise click.BadParameter(str(error), param_hint="--target") from error
    return Options(
        profile=chosen_profile,
        targets=chosen_targets,
        strict=config.get("strict", False) if strict is None else strict,
        output_format="json" if output_format == "json" else "text",
        color=sys.stdout.isatty() if color is None else color,
        jobs=jobs or os.cpu_count() or 1,
        exclude=tuple(config.get("exclude", ())),
        cache=not no_cache,
    )


def _run(
    paths: Sequence[str], options: Options, *, write: bool, veto: Veto | None = None
) -> tuple[list[FileResult], bytes | None]:
    """Results, plus the bytes read from stdin when the only path is `-`. `veto`: see `run_paths`."""
    from codemod.run.process import Job
    from codemod.run.runner import rewrite_jobs, run_paths, vetoed

    if "-" in paths:
        if len(paths) > 1:
            raise click.UsageError("'-' (standard input) cannot be combined with other paths")
        data = sys.stdin.buffer.read()
        job = Job("-", data, options.profile, parse_targets(options.targets))
        results = rewrite_jobs([job], 1)
        return ([vetoed(result, veto) for result in results] if veto is not None else results), data
    return run_paths(paths or (".",), options, write=write, cache=options.cache, veto=veto), None


def _finish(results: Sequence[FileResult], options: Options, *, wrote: bool, changed_is_failure: bool) -> int:
    from codemod.report.text import file_lines, summary_line

    if options.output_format == "json":
        from codemod.report.json_report import render_json

        click.echo(render_json(results), nl=False)
    for result in results:
        for line in file_lines(result, wrote=wrote):
            click.echo(line, err=True)
    click.echo(summary_line(results, wrote=wrote), err=True)
    if any(result.error is not None for result in results):
        return EXIT_ERROR
    if changed_is_failure and any(result.changed for result in results):
        return EXIT_CHANGED
    if options.strict and any(result.missing_sites for result in results):
        return EXIT_CHANGED
    return EXIT_CLEAN


class _Commands(click.Group):
    """`explain` and `verify` are imported when asked for: check and fix, run on every commit, never load them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "explain", "verify"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "explain":
            from codemod.explain.command import explain

            return explain
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
          output_format: str, color: bool | None, jobs: int | None, no_cache: bool) -> None:
    """Print the diff fix would apply. Exit 0: nothing to change, 1: changes needed, 2: errors."""
    from codemod.report.diff import colorize, file_diff

    options = build_options(profile, targets, strict, output_format, color, jobs, no_cache)
    results, _ = _run(paths, options, write=False)
    if options.output_format == "text":
        stdout = sys.stdout.buffer
        for result in results:
            patch = file_diff(result)
            stdout.write(colorize(patch) if options.color else patch)
        stdout.flush()
    raise SystemExit(_finish(results, options, wrote=False, changed_is_failure=True))


@cli.command()
@_common_options
@click.option("--exit-zero-even-if-changed", is_flag=True, help="Exit 0 when files were rewritten.")
@click.option("--verify", "verify_first", is_flag=True,
              help="Run each changed file's forwards, original and rewritten (this imports and runs the code; "
                   "needs torch), and write only files where nothing differs or raises anew; the others are "
                   "errors, with the reason.")
def fix(paths: tuple[str, ...], profile: str | None, targets: tuple[str, ...], strict: bool | None,
        output_format: str, color: bool | None, jobs: int | None, no_cache: bool,
        exit_zero_even_if_changed: bool, verify_first: bool) -> None:
    """Rewrite files in place. Exit 0: nothing changed, 1: something changed, 2: errors (with --verify: also
    files left unwritten because verify found a difference or a new error)."""
    options = build_options(profile, targets, strict, output_format, color, jobs, no_cache)
    veto = None
    if verify_first:
        from codemod.verify.command import veto_unverified

        veto = veto_unverified(options.profile)
    results, stdin_data = _run(paths, options, write=True, veto=veto)
    if stdin_data is not None and options.output_format == "text":
        result = results[0]
        stdout = sys.stdout.buffer
        stdout.write(result.new if result.new is not None and result.error is None else stdin_data)
        stdout.flush()
    code = _finish(results, options, wrote=stdin_data is None, changed_is_failure=not exit_zero_even_if_changed)
    raise SystemExit(code)


@cli.command(name="list")
def list_sites() -> None:
    """Every profile's sites, one line each: profile, site id, what it does, before -> after."""
    from codemod.rewrite.profiles import all_profiles

    for profile in all_profiles().values():
        for site in profile.sites():
            click.echo(f"{profile.name}\t{site.id}\t{site.summary}\t{site.before}  ->  {site.after}")


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
