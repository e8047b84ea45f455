"""The command line run in-process, as the CLI tests call it: exit code, stdout bytes and stderr text."""

from __future__ import annotations

from click.testing import CliRunner

from codemod.cli import cli


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    """`contiguify ARGS...`; an exception other than the command's exit is raised, not reported as a code."""
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr
