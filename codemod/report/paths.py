"""How a file is named: in a run (`display_path`), in a message (`shown`), and in a diff as git writes it
(`patch_path`: relative to the repository; bytes, C-quoted when they hold special bytes)."""

from __future__ import annotations

import os
import re
from functools import cache

from codemod.repository import repository_root

# git's quote_c_style with core.quotePath (the default): a name holding one of the _SPECIAL bytes is
# quoted; these get a letter, the others octal.
_SPECIAL = re.compile(rb'[\x00-\x1f"\\\x7f-\xff]')
_ESCAPES = {0x07: b"\\a", 0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0B: b"\\v", 0x0C: b"\\f", 0x0D: b"\\r",
            0x22: b'\\"', 0x5C: b"\\\\"}
STDIN_NAME = "<stdin>"


def quote(name: bytes) -> bytes:
    """`name` as is, or in double quotes with C escapes when it holds a control, quote, backslash or non-ASCII byte."""
    if _SPECIAL.search(name) is None:
        return name
    escaped = _SPECIAL.sub(lambda match: _ESCAPES.get(match[0][0], b"\\%03o" % match[0][0]), name)
    return b'"' + escaped + b'"'


def name_bytes(path: str) -> bytes:
    """The bytes of the name on disk (undecodable bytes come back from their surrogate escapes)."""
    return os.fsencode(path)


def display_path(path: str) -> str:
    """Relative to the working directory where it lies below it, absolute elsewhere."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return absolute
    return absolute if relative.startswith(os.pardir) else relative


def shown(path: str) -> str:
    """A path for a message line: as it is when printable, else quoted as git quotes it (one line, ASCII)."""
    if path == "-":
        return STDIN_NAME
    if path.isprintable():
        return path
    return quote(name_bytes(path)).decode("ascii")


def patch_path(path: str) -> str | None:
    """The name `git diff` gives the file: relative to its repository's root, with `/` separators.

    Outside any repository: relative to the working directory where the file lies below it. None
    when it does neither: no name would let `git apply` find the file.
    """
    if path == "-":
        return path
    directory, name = os.path.split(os.path.abspath(path))
    prefix = _directory_prefix(directory, os.getcwd())
    return None if prefix is None else prefix + name


@cache
def _directory_prefix(directory: str, cwd: str) -> str | None:
    """`patch_path` of the files in `directory`, less their names: one lookup per directory of a run."""
    relative = os.path.relpath(directory, repository_root(directory) or cwd)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return "" if relative == os.curdir else relative.replace(os.sep, "/") + "/"
