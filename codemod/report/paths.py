"""File names as git writes them: bytes, C-quoted when they hold special bytes; relative to the repository."""

from __future__ import annotations

import os

# git's quote_c_style with core.quotePath (the default): these get a letter, other special bytes octal.
_ESCAPES = {0x07: b"\\a", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v", 0x0C: b"\\f", 0x0D: b"\\r",
            0x22: b'\\"', 0x5C: b"\\\\"}
STDIN_NAME = "<stdin>"


def _needs_quoting(byte: int) -> bool:
    return byte < 0x20 or byte >= 0x7F or byte in (0x22, 0x5C)


def quote(name: bytes) -> bytes:
    """`name` as is, or in double quotes with C escapes when it holds a control, quote, backslash or non-ASCII byte."""
    if not any(_needs_quoting(byte) for byte in name):
        return name
    quoted = b"".join(
        _ESCAPES.get(byte, b"\\%03o" % byte) if _needs_quoting(byte) else bytes((byte,)) for byte in name
    )
    return b'"' + quoted + b'"'


def name_bytes(path: str) -> bytes:
    """The bytes of the name on disk (undecodable bytes come back from their surrogate escapes)."""
    return os.fsencode(path)


def shown(path: str) -> str:
    """A path for a message line: as it is when printable, else quoted as git quotes it (one line, ASCII)."""
    if path == "-":
        return STDIN_NAME
    if path.isprintable():
        return path
    return quote(name_bytes(path)).decode("ascii")


def repository_root(directory: str) -> str | None:
    """The nearest directory at or above `directory` holding `.git` (a directory, or a file in a worktree)."""
    while not os.path.exists(os.path.join(directory, ".git")):
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent
    return directory


def patch_path(path: str) -> str | None:
    """The name `git diff` gives the file: relative to its repository's root, with `/` separators.

    Outside any repository: relative to the working directory where the file lies below it. None
    when it does neither: no name would let `git apply` find the file.
    """
    if path == "-":
        return path
    absolute = os.path.abspath(path)
    root = repository_root(os.path.dirname(absolute)) or os.getcwd()
    relative = os.path.relpath(absolute, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return relative.replace(os.sep, "/")
