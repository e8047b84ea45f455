"""Where a file's repository starts: the nearest directory at or above it that holds `.git`.

Settings stop there (`codemod.config`), and diffs name files relative to it (`codemod.report.paths`).
"""

from __future__ import annotations

import os
from functools import cache

REPOSITORY_MARKER = ".git"  # a directory, or a file in a worktree or submodule


def holds_repository(directory: str) -> bool:
    """Whether `directory` is a repository's root."""
    return os.path.exists(os.path.join(directory, REPOSITORY_MARKER))


@cache
def repository_root(directory: str) -> str | None:
    """The nearest directory at or above `directory` that is a repository's root, or None.

    Remembered for the life of the process (one run): the files of a checkout share their ancestors.
    """
    if holds_repository(directory):
        return directory
    parent = os.path.dirname(directory)
    return None if parent == directory else repository_root(parent)
