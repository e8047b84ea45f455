"""Unified diffs that `git apply` accepts: git's headers and name quoting, original line endings and bytes."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator

from codemod.decoding import decode
from codemod.report.paths import name_bytes, patch_path, quote
from codemod.results import FileResult

NO_NEWLINE = "\\ No newline at end of file\n"


def _hunks(diff: Iterator[str]) -> Iterator[str]:
    for line in diff:
        if line.endswith("\n"):
            yield line
        else:
            yield line + "\n" + NO_NEWLINE


def header(path: str) -> bytes:
    """`diff --git`, `---` and `+++` lines as `git diff` writes them, names in bytes.

    The name is the file's path in its repository (the absolute path when it has none, which `git
    apply` passes over). A name with a space gets a tab after it on the `---`/`+++` lines, as git
    writes it, so that `patch` does not cut it there.
    """
    name = name_bytes(patch_path(path) or os.path.abspath(path))
    old, new = quote(b"a/" + name), quote(b"b/" + name)
    tab = b"\t" if b" " in name else b""
    return b"diff --git " + old + b" " + new + b"\n--- " + old + tab + b"\n+++ " + new + tab + b"\n"


def file_diff(result: FileResult) -> bytes:
    """The patch that turns the file's old bytes into its new ones, its lines in the file's own encoding."""
    if not result.changed or result.old is None or result.new is None:
        return b""
    old, codec = decode(result.old)
    new = result.new.decode(codec)
    diff = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), lineterm="\n")
    next(diff), next(diff)  # difflib's own `---` / `+++` lines: `header` writes them as bytes
    return header(result.path) + "".join(_hunks(diff)).encode(codec)


def colorize(patch: bytes) -> bytes:
    """ANSI colours for a terminal; never used when stdout is piped."""
    colored = []
    for line in patch.splitlines(keepends=True):
        if line.startswith((b"diff --git", b"+++", b"---")):
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
