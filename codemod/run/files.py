"""Which files a run looks at: `*.py` under directories, explicit files as given, each real file once."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".contiguify_cache", "node_modules", ".venv", "venv", ".eggs"}
)


@dataclass(frozen=True)
class Candidate:
    """A file to read (`path` as the user will see it), or a path that could not be used (`problem`)."""

    path: str
    problem: str | None = None


def display_path(path: str) -> str:
    """Relative to the working directory where it lies below it, so that diffs apply with `git apply`."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return absolute
    return absolute if relative.startswith(os.pardir) else relative


def _is_virtualenv(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "pyvenv.cfg"))


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    normalized = path.replace(os.sep, "/")
    parts = normalized.split("/")
    return any(
        fnmatch.fnmatchcase(normalized, pattern) or any(fnmatch.fnmatchcase(part, pattern) for part in parts)
        for pattern in patterns
    )


def iter_candidates(paths: Sequence[str], exclude: Sequence[str] = ()) -> Iterator[Candidate]:
    """Files named directly are always taken; directories are walked for `*.py`, symlinks followed once."""
    seen_files: set[str] = set()
    seen_directories: set[str] = set()

    def take(path: str) -> Iterator[Candidate]:
        real = os.path.realpath(path)
        if real not in seen_files:
            seen_files.add(real)
            yield Candidate(display_path(path))

    for given in paths:
        if os.path.isdir(given):
            for root, directories, files in os.walk(given, followlinks=True):
                real_root = os.path.realpath(root)
                if real_root in seen_directories:
                    directories[:] = []
                    continue
                seen_directories.add(real_root)
                directories[:] = sorted(
                    name for name in directories
                    if name not in SKIPPED_DIRECTORIES
                    and not _is_virtualenv(os.path.join(root, name))
                    and not _excluded(display_path(os.path.join(root, name)), exclude)
                )
                for name in sorted(files):
                    path = os.path.join(root, name)
                    if name.endswith(".py") and os.path.isfile(path) and not _excluded(display_path(path), exclude):
                        yield from take(path)
        elif os.path.isfile(given):
            yield from take(given)
        elif os.path.lexists(given):
            reason = "broken symbolic link" if os.path.islink(given) else "not a regular file"
            yield Candidate(display_path(given), reason)
        else:
            yield Candidate(given, "no such file or directory")
