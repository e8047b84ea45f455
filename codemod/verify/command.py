"""The `verify` command, and the check `fix --verify` makes before it writes a file."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from codemod.cli import PROFILE_NAMES, build_options
from codemod.results import FileResult
from codemod.verify.outcome import EXIT_ERROR, FileVerification, exit_code, render_json, render_text

RUNS_CODE_NOTE = "note: verify imports and runs the code of the files it checks (as pytest does); run it only on code you trust"
DTYPE_NAMES = ("bf16", "fp16", "fp32")


class VerifyFailed(click.ClickException):
    """Shown as `Error: ...` on stderr, with the exit code for errors."""

    exit_code = EXIT_ERROR


def _verifier() -> Callable[..., FileVerification]:
    try:
        from codemod.verify.run import verify_result
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise VerifyFailed("verify runs the forwards with torch: pip install 'contiguify[explain]'") from error
    return verify_result


def veto_unverified(profile: str, device: str = "cpu", dtype: str = "fp32") -> Callable[[FileResult], str | None]:
    """For `fix --verify`: the reason a changed file must not be written (a run differs or raises anew), else None."""
    verify_result = _verifier()
    noted = False

    def veto(result: FileResult) -> str | None:
        nonlocal noted
        if not noted:
            click.echo(RUNS_CODE_NOTE, err=True)
            noted = True
        verification = verify_result(result, profile, device, dtype)
        if verification.error is not None:
            return f"not written: verify could not run it: {verification.error}"
        if verification.failures:
            return f"not written: verify: {'; '.join(verification.failures)}"
        return None

    return veto


def verify_paths(paths: Sequence[str], profiles: Sequence[str], targets: Sequence[str], device: str, dtype: str,
                 ) -> list[FileVerification]:
    """Each file with targets under `paths`, rewritten in memory by each profile and verified."""
    from codemod.run.runner import run_paths

    verify_result = _verifier()
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise VerifyFailed("--device cuda: torch sees no CUDA device here")
    verifications: list[FileVerification] = []
    noted = False
    for profile in profiles:
        options = build_options(profile, targets, None, "text", False, 1, False)
        for result in run_paths(paths or (".",), options, write=False, progress=False):
            if result.error is None and not result.targets:
                continue
            if result.error is None and not noted:
                click.echo(RUNS_CODE_NOTE, err=True)
                noted = True
            verifications.append(verify_result(result, profile, device, dtype))
    return verifications


@click.command()
@click.argument("paths", nargs=-1, type=str)
@click.option("--profile", "profiles", multiple=True, type=click.Choice(PROFILE_NAMES),
              help="Rewrite to verify; repeatable (default: every profile).")
@click.option("--target", "targets", multiple=True, metavar="CLASS.METHOD",
              help="Method to verify; repeatable; shell wildcards allowed. Replaces the default targets.")
@click.option("--device", type=click.Choice(("cpu", "cuda")), default="cpu", show_default=True,
              help="Where the forwards run; on cuda the installed kernels run and the device is synchronised "
                   "after each kernel call, so a fault names its call and line.")
@click.option("--dtype", type=click.Choice(DTYPE_NAMES), default=None,
              help="Weights and inputs (default: fp32 on cpu, bf16 on cuda).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a line per target and path; json: one document.")
def verify(paths: tuple[str, ...], profiles: tuple[str, ...], targets: tuple[str, ...], device: str,
           dtype: str | None, output_format: str) -> None:
    """Check that each rewrite computes what the original computes, by running both.

    For each file under PATHS with target classes, the file is rewritten in memory and the original and
    rewritten modules are IMPORTED AND RUN, as pytest runs a project's code: each target class is built
    twice with the same seeded weights and every forward path (single-speaker; two-speaker where the
    forward takes x_ref_attn_map and human_num) gets the same seeded inputs at a small shape. Modules
    that are not installed are stubbed; the file's own package is imported from disk.

    Per target and path: equal (bitwise), differs (max abs diff), new-error (the rewrite raises where the
    original did not), same-error, unverifiable (why). Exit 0: nothing differs and no new error;
    1: something does; 2: errors (unreadable file, no torch).
    """
    chosen_dtype = dtype or ("bf16" if device == "cuda" else "fp32")
    verifications = verify_paths(paths, list(dict.fromkeys(profiles)) or list(PROFILE_NAMES), targets, device,
                                 chosen_dtype)
    click.echo(render_json(verifications) if output_format == "json" else render_text(verifications), nl=False)
    for verification in verifications:
        if verification.error is not None:
            click.echo(f"error: {verification.path}: {verification.error}", err=True)
    raise SystemExit(exit_code(verifications))
