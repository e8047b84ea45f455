"""The command line run in-process, the one way the tests call it.

`invoke` goes through click's test runner (stdout as bytes); `run_main` calls `codemod.cli.main` and
reads what reached the file descriptors, for runs whose worker processes write there too (the `cli`
fixture of tests/conftest.py hands it out).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import NamedTuple

import pytest
from click.testing import CliRunner, Result

from codemod.cli import cli, main


def run(*args: str, input: bytes | None = None) -> Result:
    """`contiguify ARGS...` through click's test runner; an exception other than the command's exit is raised."""
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    """`contiguify ARGS...`: exit code, stdout bytes and stderr text."""
    result = run(*args, input=input)
    return result.exit_code, result.stdout_bytes, result.stderr


class Outcome(NamedTuple):
    """A run of `main`: exit code, and the text that reached stdout and stderr."""

    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]  # the `cli` fixture of tests/conftest.py: `cli(*args, stdin=None) -> Outcome`


def run_main(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
             stdin: bytes | None = None) -> Outcome:
    """`contiguify ARGS...` through `main`, with `stdin` as standard input when given."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    capfd.readouterr()
    code = main(list(args))
    captured = capfd.readouterr()
    return Outcome(code, captured.out, captured.err)
