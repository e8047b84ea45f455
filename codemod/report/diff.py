"""Unified diffs that `git apply` accepts: a/ b/ prefixes, original line endings, no-newline markers."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from codemod.results import FileResult
from codemod.run.process import decode

NO_NEWLINE = "\\ No newline at end of file\n"


def _lines(diff: Iterator[str]) -> Iterator[str]:
    for line in diff:
        if line.endswith("\n") or line.startswith(("---", "+++", "@@")):
            yield line
        else:
            yield line + "\n" + NO_NEWLINE


def file_diff(result: FileResult) -> bytes:
    """The patch that turns the file's old bytes into its new ones, in the file's own encoding."""
    if not result.changed or result.old is None or result.new is None:
        return b""
    old, codec = decode(result.old)
    new = result.new.decode(codec)
    path = result.path.replace("\\", "/")
    diff = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        lineterm="\n",
    )
    return "".join(_lines(diff)).encode(codec)


def colorize(patch: bytes) -> bytes:
    """ANSI colours for a terminal; never used when stdout is piped."""
    colored = []
    for line in patch.splitlines(keepends=True):
        if line.startswith((b"+++", b"---")):
            colored.append(b"\x1b[1m" + line.rstrip(b"\r\n") + b"\x1b[0m\n")
        elif line.startswith(b"@@"):
            colored.append(b"\x1b[36m" + line.rstrip(b"\r\n") + b"\x1b[0m\n")
        elif line.startswith(b"+"):
            colored.append(b"\x1b[32m" + line.rstrip(b"\r\n") + b"\x1b[0m\n")
        elif line.startswith(b"-"):
            colored.append(b"\x1b[31m" + line.rstrip(b"\r\n") + b"\x1b[0m\n")
        else:
            colored.append(line)
    return b"".join(colored)
