"""`contiguify comfyui install|uninstall|status COMFYUI_DIR`: the import hook in a ComfyUI tree."""

from __future__ import annotations

import os

import click

from codemod.cli.shared import EXIT_CHANGED, EXIT_CLEAN, EXIT_ERROR, PROFILE_CHOICE, CommandFailed
from codemod.options import Options
from codemod.rewrite import DEFAULT_PROFILE

DIRECTORY = click.argument("directory", metavar="COMFYUI_DIR", type=click.Path(file_okay=False))


@click.group()
def comfyui() -> None:
    """Apply the fix in memory at every ComfyUI start: the tree's files stay upstream's, updates keep the fix."""


@comfyui.command()
@DIRECTORY
@click.option("--profile", type=PROFILE_CHOICE, default=DEFAULT_PROFILE, show_default=True,
              help="Which sites the hook rewrites.")
def install(directory: str, profile: str) -> None:
    """Write custom_nodes/contiguify/, whose prestartup script installs the import hook (no nodes)."""
    from codemod.comfyui.tree import TreeError
    from codemod.comfyui.tree import install as install_node

    try:
        written = install_node(directory, profile)
    except (TreeError, OSError) as error:
        raise CommandFailed(str(error)) from error
    for path in written:
        click.echo(f"wrote {os.path.normpath(path)}", err=True)
    click.echo(f"ComfyUI in {directory} now applies the {profile} profile in memory at start "
               "(contiguify must be installed in the Python that runs it)", err=True)


@comfyui.command()
@DIRECTORY
def uninstall(directory: str) -> None:
    """Remove what install wrote (and the bytecode Python made of it), nothing else."""
    from codemod.comfyui.tree import TreeError
    from codemod.comfyui.tree import uninstall as uninstall_node

    try:
        done = uninstall_node(directory)
    except (TreeError, OSError) as error:
        raise CommandFailed(str(error)) from error
    for path in done.removed:
        click.echo(f"removed {os.path.normpath(path)}", err=True)
    for path in done.kept:
        click.echo(f"warning: {os.path.normpath(path)}: not written by contiguify comfyui install (or edited since); left", err=True)
    if not done.removed:
        click.echo(f"{directory}: the hook was not installed; nothing removed", err=True)


@comfyui.command()
@DIRECTORY
@click.option("--profile", type=PROFILE_CHOICE, default=None,
              help="Judge the files with this profile (default: the installed hook's, else each file's settings).")
def status(directory: str, profile: str | None) -> None:
    """List the tree's target files (custom nodes and core), fixed on disk or not, and the hook.
    Exit 1 when a target file would run unfixed, 2 on errors."""
    from codemod.comfyui.status import status as tree_status
    from codemod.comfyui.status import status_lines
    from codemod.comfyui.tree import tree_problem

    problem = tree_problem(directory)
    if problem is not None:
        raise CommandFailed(f"{directory}: {problem}")
    found = tree_status(directory, Options(profile=profile))
    for line in status_lines(directory, found):
        click.echo(line)
    if any(file.result.error is not None for file in found.files):
        raise SystemExit(EXIT_ERROR)
    raise SystemExit(EXIT_CHANGED if found.unfixed else EXIT_CLEAN)
