"""Which files a run looks at, and reading them: `*.py` under directories, explicit files as given, each once."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from typing import NamedTuple

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".contiguify_cache", "node_modules", ".venv", "venv", ".eggs"}
)
# A directory holding this file is a virtual environment, whatever its name.
VIRTUALENV_MARKER = "pyvenv.cfg"


class Candidate(NamedTuple):
    """A file to read (`path` as the user will see it), or a path that could not be used (`problem`).

    Tuples rather than dataclasses here: a cached run lasts 50 ms, and each dataclass costs 0.25 ms to define.
    """

    path: str
    problem: str | None = None


class Source(NamedTuple):
    """A file's bytes and what identifies the file and its version on disk when they were read."""

    data: bytes
    device: int
    inode: int
    mtime_ns: int
    size: int

    @property
    def identity(self) -> tuple[int, int]:
        return self.device, self.inode


def display_path(path: str) -> str:
    """Relative to the working directory where it lies below it, so that diffs apply with `git apply`."""
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return absolute
    return absolute if relative.startswith(os.pardir) else relative


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    normalized = path.replace(os.sep, "/")
    parts = normalized.split("/")
    return any(
        fnmatch.fnmatchcase(normalized, pattern) or any(fnmatch.fnmatchcase(part, pattern) for part in parts)
        for pattern in patterns
    )


def _join(directory: str, name: str) -> str:
    return name if directory == os.curdir else os.path.join(directory, name)


def _walk(root: str, exclude: Sequence[str], seen: set[tuple[int, int]]) -> Iterator[Candidate]:
    """`*.py` files below `root` in sorted order, a directory's files before its subdirectories.

    Symbolic links are followed; a directory already walked (by any path) is not walked again,
    which also ends every symlink loop. One `scandir` per directory and one `stat` per subdirectory:
    files are told apart by the listing alone. `root` itself is walked even when it is a virtualenv.
    """
    pending = [display_path(root)]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            yield Candidate(directory, f"cannot list directory: {error.strerror or error}")
            continue
        subdirectories = []
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir():
                    path = _join(directory, name)
                    if name in SKIPPED_DIRECTORIES or (exclude and _excluded(path, exclude)):
                        continue
                    status = entry.stat()
                    identity = (status.st_dev, status.st_ino)
                    if identity not in seen and not os.path.isfile(os.path.join(path, VIRTUALENV_MARKER)):
                        seen.add(identity)
                        subdirectories.append(path)
                elif name.endswith(".py") and entry.is_file():
                    path = _join(directory, name)
                    if not (exclude and _excluded(path, exclude)):
                        yield Candidate(path)
            except OSError:  # gone since the listing, or a link that cannot be followed
                continue
        pending.extend(reversed(subdirectories))


def iter_candidates(paths: Sequence[str], exclude: Sequence[str] = ()) -> Iterator[Candidate]:
    """Files named directly are always taken; directories are walked for `*.py`, symlinks followed once.

    A file reached twice (named twice, or through a link) is read twice; `read_source` tells them apart.
    """
    seen_directories: set[tuple[int, int]] = set()
    for given in paths:
        try:
            status = os.stat(given)
        except FileNotFoundError:
            problem = "broken symbolic link" if os.path.islink(given) else "no such file or directory"
            yield Candidate(display_path(given) if os.path.lexists(given) else given, problem)
            continue
        except OSError as error:
            yield Candidate(given, f"cannot use: {error.strerror or error}")
            continue
        if stat.S_ISDIR(status.st_mode):
            identity = (status.st_dev, status.st_ino)
            if identity not in seen_directories:
                seen_directories.add(identity)
                yield from _walk(given, exclude, seen_directories)
        elif stat.S_ISREG(status.st_mode):
            yield Candidate(display_path(given))
        else:
            yield Candidate(display_path(given), "not a regular file")


def read_source(path: str) -> Source | str:
    """The file's bytes and identity, or why it could not be read."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return "not a regular file"
        chunks = []
        while True:  # one read for a file that does not grow meanwhile: a short read is the end
            wanted = max(status.st_size + 1, 65536)
            chunk = os.read(descriptor, wanted)
            chunks.append(chunk)
            if len(chunk) < wanted:
                break
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    finally:
        os.close(descriptor)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return Source(data, status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)
