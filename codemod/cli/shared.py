"""What the commands share: exit codes, the error they raise, the torch import, and the checked choices.

Imported by every command module, and importing none of them, so the command line has no cycle.
Free of torch and libcst: `--help` and a run without target files load neither.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from codemod.match.patterns import TargetSyntaxError, parse_targets
from codemod.model.shape import DTYPES
from codemod.options import PROFILE_NAMES

EXIT_CLEAN, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2


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


if TYPE_CHECKING:
    _Choice = click.Choice[str]
else:  # generic from click 8.2 on
    _Choice = click.Choice


class _ProfileChoice(_Choice):
    """A profile name: one of the discovered profiles, refused with the list of those there are."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if value not in self.choices:
            self.fail(f"unknown profile {value!r}; known: {', '.join(map(str, self.choices))}", param, ctx)
        return str(value)


PROFILE_CHOICE = _ProfileChoice(PROFILE_NAMES)
DTYPE_CHOICE = click.Choice(sorted(DTYPES))


def check_targets(targets: Sequence[str]) -> None:
    """Refuse a `--target` that is not `[PATH::]Class.method` before any work."""
    try:
        parse_targets(targets)
    except TargetSyntaxError as error:
        raise click.BadParameter(str(error), param_hint="--target") from error


def warn(path: str, reason: str) -> None:
    """`warning: PATH: reason` on stderr, the path shown as messages show it."""
    from codemod.report.paths import shown

    click.echo(f"warning: {shown(path)}: {reason}", err=True)
