"""Unified diffs that `git apply` accepts: git's headers and name quoting, original line endings and bytes."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator

from codemod.decoding import decode
from codemod.report.paths import name_bytes, patch_path, quote
from codemod.results import FileResult

NO_NEWLINE = "\\ No newline at end of file\n"
# The colour of a line by how it starts, first match wins: headers, hunk lines, additions, removals.
_COLORS = ((b"diff --git", b"\x1b[1m"), (b"+++", b"\x1b[1m"), (b"---", b"\x1b[1m"), (b"@@", b"\x1b[36m"),
           (b"+", b"\x1b[32m"), (b"-", b"\x1b[31m"))


def lines_of(text: str) -> list[str]:
    """Lines as git sees them: ended by a line feed alone, endings kept. `str.splitlines` would also cut at a
    lone carriage return, form and line tabulation feeds, U+001C-U+001E, U+0085, U+2028 and U+2029, which
    git leaves inside a line (and the diff would not apply)."""
    lines = text.split("\n")
    ended = [line + "\n" for line in lines[:-1]]
    return ended + [lines[-1]] if lines[-1] else ended


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
    diff = difflib.unified_diff(lines_of(old), lines_of(new), lineterm="\n")
    next(diff), next(diff)  # difflib's own `---` / `+++` lines: `header` writes them as bytes
    return header(result.path) + "".join(_hunks(diff)).encode(codec)


def colorize(patch: bytes) -> bytes:
    """ANSI colours for a terminal; never used when stdout is piped. Lines end at line feeds, as in `lines_of`."""
    if not patch:
        return patch
    colored = []
    for line in patch.removesuffix(b"\n").split(b"\n"):
        color = next((code for prefix, code in _COLORS if line.startswith(prefix)), None)
        colored.append(line + b"\n" if color is None else color + line.rstrip(b"\r") + b"\x1b[0m\n")
    return b"".join(colored)
