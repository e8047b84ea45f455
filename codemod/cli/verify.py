"""The `verify` command, and the check `fix --verify` makes before it writes a file."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from typing import NamedTuple

import click

from codemod.cli.shared import (
    DTYPE_CHOICE, EXIT_CHANGED, EXIT_CLEAN, EXIT_ERROR, PROFILE_CHOICE, CommandFailed, check_targets,
    import_needing_torch,
)
from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.isolation import CODE_WALL_SECONDS, Died, call_in_fork
from codemod.model.startup import alongside_torch_import
from codemod.results import FileResult
from codemod.options import PROFILE_NAMES, Options
from codemod.verify.outcome import FileVerification, not_verified, render_json, render_text

RUNS_CODE_NOTE = "note: verify imports and runs the code of the files it checks (as pytest does); run it only on code you trust"


def _verify_module() -> types.ModuleType:
    return import_needing_torch("codemod.verify.run", "verify")


def verify_isolated(rewrites: dict[str, FileResult], device: str, dtype: str, entry_points: Sequence[EntryPoint],
                    in_checkout: bool = True, timeout: float | None = CODE_WALL_SECONDS) -> list[FileVerification]:
    """`verify_rewrites` in a child process with a time limit (see `codemod.isolation.call_in_fork`); what ends, hangs
    or fails that process is every profile's error for this file."""
    run = _verify_module()
    work = functools.partial(run.verify_rewrites, rewrites, device, dtype, entry_points=entry_points,
                             in_checkout=in_checkout)
    outcome = call_in_fork(work, timeout)
    if isinstance(outcome, Died):
        return [FileVerification(result.path, profile, error=f"cannot run its code: {outcome.reason}")
                for profile, result in rewrites.items()]
    return outcome  # type: ignore[no-any-return]


def check_device(device: str) -> None:
    """`--device cuda` where torch sees no CUDA device is refused (asked in a child: this process forks)."""
    if device != "cuda":
        return
    available = call_in_fork(_verify_module().cuda_available, CODE_WALL_SECONDS)
    if isinstance(available, Died):
        raise CommandFailed(f"--device cuda: cannot ask torch for a CUDA device: {available.reason}")
    if not available:
        raise CommandFailed("--device cuda: torch sees no CUDA device here")


def veto_unverified(
    device: str = "cpu", dtype: str = "fp32", allow_unverified: bool = False, timeout: float | None = None,
) -> Callable[[FileResult, str, Sequence[EntryPoint]], str | None]:
    """For `fix --verify`: why a file changed by `profile` (with the project's `entry_points`) must not be
    written (it could not be run, a run differs or raises anew, or it is not verified), else None."""
    _verify_module()
    noted = False

    def veto(result: FileResult, profile: str, entry_points: Sequence[EntryPoint]) -> str | None:
        nonlocal noted
        if not noted:
            click.echo(RUNS_CODE_NOTE, err=True)
            noted = True
        (verification,) = verify_isolated({profile: result}, device, dtype, entry_points,
                                          timeout=CODE_WALL_SECONDS if timeout is None else timeout)
        if verification.error is not None:
            return f"not written: verify could not run it: {verification.error}"
        if verification.failures:
            return f"not written: verify: {'; '.join(verification.failures)}"
        reason = verification.unverified
        if reason is not None:
            if not allow_unverified:
                return f"not written: not verified: {reason}"
            click.echo(f"warning: {result.path}: written although not verified (--allow-unverified): {reason}",
                       err=True)
        return None

    return veto


class Rewrites(NamedTuple):
    """One file's rewrite by each profile, and the entry points of its project they were made with."""

    by_profile: dict[str, FileResult]
    entry_points: tuple[EntryPoint, ...]


def rewrite_paths(paths: Sequence[str], profiles: Sequence[str], targets: Sequence[str]) -> list[Rewrites]:
    """Each file with targets under `paths` (or an error), rewritten by each profile, in the order found."""
    from codemod.config import Project, Projects
    from codemod.run.runner import run_paths

    found: dict[str, Rewrites] = {}
    for profile in profiles:
        options = Options(profile=profile, targets=tuple(targets) or None)
        projects = Projects(options)
        for result in run_paths(paths or (".",), options, write=False, progress=False, projects=projects):
            if result.error is None and not result.targets:
                continue
            if result.path not in found:
                project = projects.for_file(result.path)  # an error here was the result's error already
                table = project.entry_points if isinstance(project, Project) else ENTRY_POINTS
                found[result.path] = Rewrites({}, table)
            found[result.path].by_profile[profile] = result
    return list(found.values())


def verify_paths(paths: Sequence[str], profiles: Sequence[str], targets: Sequence[str], device: str, dtype: str,
                 in_checkout: bool = True, timeout: float | None = CODE_WALL_SECONDS) -> list[FileVerification]:
    """Each file with targets under `paths`, rewritten in memory by each profile and verified, file by file,
    each in a child process (see `verify_isolated`)."""
    check_targets(targets)  # bad targets are refused before any work
    files, _ = alongside_torch_import(functools.partial(rewrite_paths, paths, profiles, targets), _verify_module)
    check_device(device)
    verifications: list[FileVerification] = []
    noted = False
    for rewrites in files:
        if not noted and any(result.error is None for result in rewrites.by_profile.values()):
            click.echo(RUNS_CODE_NOTE, err=True)
            noted = True
        if all(result.error is not None for result in rewrites.by_profile.values()):
            verifications.extend(FileVerification(result.path, profile, error=result.error)
                                 for profile, result in rewrites.by_profile.items())
            continue
        verifications.extend(verify_isolated(rewrites.by_profile, device, dtype, rewrites.entry_points,
                                             in_checkout, timeout))
    return verifications


def exit_code(files: Sequence[FileVerification], allow_unverified: bool = False) -> int:
    """2 when a file had an error or is not verified (unless `allow_unverified`), else 1 when a run differs or
    raises anew, else 0."""
    if any(file.error is not None for file in files):
        return EXIT_ERROR
    if not allow_unverified and not_verified(files):
        return EXIT_ERROR
    if any(file.failures for file in files):
        return EXIT_CHANGED
    return EXIT_CLEAN


@click.command()
@click.argument("paths", nargs=-1, type=str)
@click.option("--profile", "profiles", multiple=True, type=PROFILE_CHOICE,
              help="Rewrite to verify; repeatable (default: every profile).")
@click.option("--target", "targets", multiple=True, metavar="CLASS.METHOD",
              help="Method to verify; repeatable; shell wildcards allowed. Replaces the default targets.")
@click.option("--device", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="Where the forwards run; on cuda the installed kernels run and the device is synchronised "
                   "after each kernel call, so a fault names its call and line.")
@click.option("--dtype", type=DTYPE_CHOICE, default=None,
              help="Weights and inputs (default: fp32 on cpu, bf16 on cuda).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a line per target and path; json: one document.")
@click.option("--bare", is_flag=True,
              help="Import each file on its own: its relative imports are stubbed instead of imported from its "
                   "checkout.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=CODE_WALL_SECONDS, show_default=True,
              metavar="SECONDS", help="Time limit per file (imports and runs); a file over it is an error.")
@click.option("--allow-unverified", is_flag=True,
              help="Exit 0 even when a file verified nothing (every path same-error or unverifiable); said per file.")
def verify(paths: tuple[str, ...], profiles: tuple[str, ...], targets: tuple[str, ...], device: str,
           dtype: str | None, output_format: str, bare: bool, timeout: float, allow_unverified: bool) -> None:
    """Check that each rewrite computes what the original computes, by running both.

    For each file under PATHS with target classes, the file is rewritten in memory and the original and
    rewritten modules are IMPORTED AND RUN, as pytest runs a project's code: each target class is built
    twice with the same seeded weights and every forward path (single-speaker; two-speaker where the
    forward takes x_ref_attn_map or human_num) gets the same seeded inputs at a small shape. Modules
    that are not installed are stubbed; the file's own package is imported from disk.

    Per target and path: equal (bitwise), differs (max abs diff), new-error (the rewrite raises where the
    original did not), same-error, unverifiable (why). A file is verified when every target of every
    profile has a path that ran to the end and compared equal. Each file runs in a child process with
    a time limit; what the imported code prints goes to stderr. Exit 0: every file verified, nothing
    differs; 1: something differs or raises anew; 2: errors (a file that cannot be read, rewritten or
    run, that verified nothing, no torch).
    """
    chosen_dtype = dtype or ("bf16" if device == "cuda" else "fp32")
    verifications = verify_paths(paths, list(dict.fromkeys(profiles)) or list(PROFILE_NAMES), targets, device,
                                 chosen_dtype, in_checkout=not bare, timeout=timeout)
    click.echo(render_json(verifications) if output_format == "json" else render_text(verifications), nl=False)
    for path, error in dict.fromkeys((v.path, v.error) for v in verifications if v.error is not None):
        click.echo(f"error: {path}: {error}", err=True)  # once, not once per profile
    for path, reason in not_verified(verifications):
        if allow_unverified:
            click.echo(f"warning: {path}: not verified, passed with --allow-unverified: {reason}", err=True)
        else:
            click.echo(f"error: {path}: not verified: {reason}", err=True)
    raise SystemExit(exit_code(verifications, allow_unverified))
