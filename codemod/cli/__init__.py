"""The `contiguify` command line: check, fix, revert, list, comfyui, and explain and verify (with the `explain` extra).

Each command lives in a module of this package and is imported only when it is asked for: `check`
and `fix`, run on every commit, never load explain's or verify's code. What the commands share is in
`codemod.cli.shared`, which imports none of them.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Sequence
from typing import NoReturn

import click

from codemod import __version__
from codemod.cli.shared import EXIT_CLEAN, EXIT_ERROR

# Command name -> (module, attribute) of its click command.
_COMMANDS = {
    "check": ("codemod.cli.check", "check"),
    "comfyui": ("codemod.cli.comfyui", "comfyui"),
    "fix": ("codemod.cli.check", "fix"),
    "list": ("codemod.cli.listing", "list_sites"),
    "revert": ("codemod.cli.revert", "revert"),
    "explain": ("codemod.cli.explain", "explain"),
    "verify": ("codemod.cli.verify", "verify"),
}


class _Commands(click.Group):
    """Commands found in `_COMMANDS` and imported when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="contiguify")
def cli() -> None:
    """Insert `.contiguous()` into the MultiTalk attention forwards of a ComfyUI-WanVideoWrapper checkout."""


def run() -> NoReturn:
    """The console script and `python -m codemod`: `main`, then exit. What the run made is frozen first, so that
    the interpreter's last full garbage collection does not walk all of it for nothing (10 ms of a first check)."""
    code = main()
    gc.freeze()
    raise SystemExit(code)


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
