"""The `explain` command: report on stdout, notes and errors on stderr, exit 2 for input it cannot analyse."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from codemod.cli.shared import DTYPE_CHOICE, PROFILE_CHOICE, CommandFailed, import_needing_torch
from codemod.isolation import CODE_WALL_SECONDS
from codemod.model.shape import REAL, SINGLE, TWO, Scenario, Shape
from codemod.model.startup import alongside_torch_import

DEFAULT_SIZES = REAL
DEFAULT_DTYPE = "bf16"
SCENARIO_OF_HUMANS: dict[int, Scenario] = {SINGLE.speakers: SINGLE, TWO.speakers: TWO}

F = TypeVar("F", bound=Callable[..., Any])


def _size_options(command: F) -> F:
    """--dim ... --width, defaulting to the real model: Wan 14B with MultiTalk audio, 21 latent frames of 48x48."""
    options = [
        ("--dim", DEFAULT_SIZES.dim, "Model width; q, k and v are heads x head_dim of it."),
        ("--heads", DEFAULT_SIZES.heads, "Attention heads."),
        ("--enc-dim", DEFAULT_SIZES.enc_dim, "Width of the audio context."),
        ("--enc-tokens", DEFAULT_SIZES.enc_tokens, "Audio tokens per latent frame."),
        ("--frames", DEFAULT_SIZES.frames, "Latent frames (N_t)."),
        ("--height", DEFAULT_SIZES.height, "Latent grid height (N_h)."),
        ("--width", DEFAULT_SIZES.width, "Latent grid width (N_w)."),
    ]
    for name, default, help_text in reversed(options):
        command = click.option(name, type=click.IntRange(min=1), default=default, show_default=True, help=help_text)(
            command
        )
    return command


def _explained(explain_file: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`explain_file(...)`, or the message of the `ExplainError` it raised (it runs in a child process)."""
    from codemod.explain.analysis import ExplainError

    try:
        return explain_file(*args, **kwargs)
    except ExplainError as error:
        return str(error)


class _ErrorsAsJson(click.Command):
    """With `--format json`, a file that cannot be explained is also a document on stdout: `{"file", "error"}`
    (a report has `shape` and `runs` instead); the error still goes to stderr and the exit code is 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommandFailed as error:
            if ctx.params.get("output_format") == "json":
                file = str(ctx.params["path"])
                reason = error.message.removeprefix(f"{file}: ")
                click.echo(json.dumps({"file": file, "error": reason}, indent=2))
            raise


@click.command(cls=_ErrorsAsJson)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--profile", "profiles", multiple=True, type=PROFILE_CHOICE, metavar="NAME",
              help="Rewrite to compare with the original; repeatable (default: every profile).")
@click.option("--humans", multiple=True, type=click.Choice(sorted(str(n) for n in SCENARIO_OF_HUMANS)),
              help="1: single-speaker path, 2: two-speaker path; repeatable (default: both).")
@_size_options
@click.option("--dtype", type=DTYPE_CHOICE, default=DEFAULT_DTYPE, show_default=True,
              help="Activation and weight dtype (fp32 differs: the rotary embedding's x.float() returns x itself).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: a table per run and a verdict line; json: one document.")
@click.option("--bare", is_flag=True,
              help="Import PATH on its own: its relative imports are stubbed instead of imported from its checkout.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=CODE_WALL_SECONDS, show_default=True,
              metavar="SECONDS", help="Time limit for importing PATH and running its forwards.")
def explain(
    path: Path, profiles: tuple[str, ...], humans: tuple[str, ...], dtype: str, output_format: str, bare: bool,
    timeout: float, dim: int, heads: int, enc_dim: int, enc_tokens: int, frames: int, height: int, width: int,
) -> None:
    """Run PATH's attention forwards, original and rewritten, on the meta device (no GPU, no memory) and
    report what reaches each kernel (q, k, v at each attention entry point, in its own layout, and each
    linear's input) and what every executed .contiguous() does.

    \b
    explain imports PATH and runs its code, as pytest does: module-level statements run, and so do the
    sibling modules it imports from its checkout. What cannot be imported here is replaced by stubs
    (named on stderr); stubbed attention functions are served by PyTorch's sdpa."""
    from codemod.config import ConfigError, Projects
    from codemod.options import PROFILE_NAMES

    if not path.is_file():
        raise CommandFailed(f"{path}: {'is not a regular file' if path.exists() else 'does not exist'}")
    project = Projects().for_file(str(path))
    if isinstance(project, ConfigError):
        raise CommandFailed(str(project))
    chosen_profiles = list(dict.fromkeys(profiles)) or list(PROFILE_NAMES)
    chosen_humans = sorted({int(count) for count in humans}) or sorted(SCENARIO_OF_HUMANS)
    shape = Shape(dim=dim, heads=heads, enc_dim=enc_dim, enc_tokens=enc_tokens,
                  frames=frames, height=height, width=width)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandFailed(f"cannot read {path}: {error.strerror or error}") from error
    from codemod.match.patterns import DEFAULT_TARGETS
    from codemod.model.variants import VariantError, make_variants

    make = functools.partial(make_variants, str(path), data, chosen_profiles, DEFAULT_TARGETS, project.entry_points)
    try:
        variants, analysis = alongside_torch_import(make, functools.partial(
            import_needing_torch, "codemod.explain.analysis", "explain"))
    except VariantError as error:
        raise CommandFailed(str(error)) from error
    from codemod.explain.report import render_json, render_text

    click.echo(f"note: importing {path} and running its module-level code (and its siblings')", err=True)
    work = functools.partial(
        _explained, analysis.explain_file, path, chosen_profiles,
        [SCENARIO_OF_HUMANS[count] for count in chosen_humans],
        shape, dtype, in_checkout=not bare, entry_points=project.entry_points, variants=variants,
    )
    from codemod.isolation import Died, call_in_fork

    explanation = call_in_fork(work, timeout)
    if isinstance(explanation, Died):
        raise CommandFailed(f"{path}: cannot run its code: {explanation.reason}")
    if isinstance(explanation, str):
        raise CommandFailed(explanation)
    for note in explanation.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(render_json(explanation) if output_format == "json" else render_text(explanation), nl=False)
