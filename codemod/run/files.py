"""Which files a run looks at, and reading them: `*.py` under directories, explicit files as given, each once."""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, overload

from codemod.config import PYPROJECT, ConfigError, Project, Projects
from codemod.report.paths import display_path
from codemod.repository import REPOSITORY_MARKER

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", ".contiguify_cache", "node_modules", ".venv", "venv", ".eggs"}
)
# A directory holding this file is a virtual environment, whatever its name.
VIRTUALENV_MARKER = "pyvenv.cfg"


class Candidate(NamedTuple):
    """A file to read (`path` as the user will see it) and its project, or a path that could not be used (`problem`).

    `outside` is set for a symbolic link whose target lies outside the given paths: its real path.
    Tuples rather than dataclasses here: a cached run lasts 50 ms, and each dataclass costs 0.25 ms to define.
    """

    path: str
    problem: str | None = None
    project: Project | None = None
    outside: str | None = None


# Called with a path and why it was passed over: links out of the given paths, loops, dangling links.
OnWarning = Callable[[str, str], None]


def _print_warning(path: str, reason: str) -> None:
    print(f"warning: {path}: {reason}", file=sys.stderr)


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


def _join(directory: str, name: str) -> str:
    return name if directory == os.curdir else os.path.join(directory, name)


def _inside(real: str, roots: Sequence[str]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class _Walk:
    """The state of one run's walk: the given paths' real locations, the directories seen, the link policy."""

    def __init__(self, projects: Projects, roots: Sequence[str], follow_links: bool, warn: OnWarning) -> None:
        self.projects = projects
        self.roots = roots
        self.follow_links = follow_links
        self.warn = warn
        self.seen: set[tuple[int, int]] = set()

    def link_problem(self, link: str, directory: str) -> str | None:
        """Why a symbolic link to a directory is not followed, or None: it loops, or it leaves the given paths."""
        real = os.path.realpath(link)
        here = os.path.realpath(directory)
        if here == real or here.startswith(real.rstrip(os.sep) + os.sep):
            return "symbolic link loop (it leads to a directory that contains it), not followed"
        if not self.follow_links and not _inside(real, self.roots):
            return f"symbolic link to {real}, outside the given paths, not followed (--follow-links follows it)"
        return None

    def outside(self, link: str) -> str | None:
        """The real path of a file link that leads out of the given paths (unless links are to be followed)."""
        if self.follow_links:
            return None
        real = os.path.realpath(link)
        return None if _inside(real, self.roots) else real

    def dangling(self, link: str) -> None:
        try:
            os.stat(link)
        except OSError as error:
            if error.errno == errno.ELOOP:
                self.warn(link, "symbolic link loop, not followed")
            elif error.errno == errno.ENOENT:
                self.warn(link, f"broken symbolic link (to {os.readlink(link)}), passed over")

    def walk(self, root: str, project: Project) -> Iterator[Candidate]:
        """`*.py` files below `root` in sorted order, a directory's files before its subdirectories.

        Symbolic links are followed while they stay inside the given paths; a directory already walked
        (by any path) is not walked again. One `scandir` per directory and one `stat` per subdirectory:
        files are told apart by the listing alone. `root` itself is walked even when it is a virtualenv.
        """
        pending: list[tuple[str, Project]] = [(display_path(root), project)]
        first = True
        while pending:
            directory, project = pending.pop()
            try:
                with os.scandir(directory) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name)
            except OSError as error:
                yield Candidate(directory, f"cannot list directory: {error.strerror or error}")
                continue
            if not first:
                names = {entry.name for entry in entries}
                found = self.projects.below(directory, project, PYPROJECT in names, REPOSITORY_MARKER in names)
                if isinstance(found, ConfigError):
                    yield Candidate(display_path(found.path), found.reason)
                    continue
                project = found
            first = False
            subdirectories = []
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir():
                        path = _join(directory, name)
                        if name in SKIPPED_DIRECTORIES or project.excludes(path):
                            continue
                        if entry.is_symlink():
                            problem = self.link_problem(path, directory)
                            if problem is not None:
                                self.warn(path, problem)
                                continue
                        status = entry.stat()
                        identity = (status.st_dev, status.st_ino)
                        if identity not in self.seen and not os.path.isfile(os.path.join(path, VIRTUALENV_MARKER)):
                            self.seen.add(identity)
                            subdirectories.append((path, project))
                    elif name.endswith(".py") and entry.is_file():
                        path = _join(directory, name)
                        if not project.excludes(path):
                            yield Candidate(path, project=project,
                                            outside=self.outside(path) if entry.is_symlink() else None)
                    elif entry.is_symlink():
                        self.dangling(_join(directory, name))
                except OSError:  # gone since the listing, or a link that cannot be followed
                    if entry.is_symlink():
                        self.dangling(_join(directory, name))
            pending.extend(reversed(subdirectories))


def iter_candidates(
    paths: Sequence[str], projects: Projects | None = None, *, follow_links: bool = False,
    on_warning: OnWarning | None = None,
) -> Iterator[Candidate]:
    """Files named directly and `*.py` under directories, each with its project; excluded ones are left out.

    `exclude` applies to named files too (as pre-commit names them). A file reached twice (named twice,
    or through a link) is read twice; `read_source` tells them apart. Warnings go to `on_warning`,
    by default to stderr.
    """
    projects = projects or Projects()
    roots = [os.path.realpath(given) for given in paths if os.path.exists(given)]
    state = _Walk(projects, roots, follow_links, on_warning or _print_warning)
    reported: set[str] = set()
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
        is_directory = stat.S_ISDIR(status.st_mode)
        project = projects.for_directory(given) if is_directory else projects.for_file(given)
        if isinstance(project, ConfigError):
            if project.path not in reported:  # once per pyproject.toml, however many paths it governs
                reported.add(project.path)
                yield Candidate(display_path(project.path), project.reason)
            continue
        if project.excludes(given):
            continue
        if is_directory:
            identity = (status.st_dev, status.st_ino)
            if identity not in state.seen:
                state.seen.add(identity)
                yield from state.walk(given, project)
        elif stat.S_ISREG(status.st_mode):
            yield Candidate(display_path(given), project=project)
        else:
            yield Candidate(display_path(given), "not a regular file")


# Files over the size limit are never read whole: they are searched in windows of this many bytes, each
# starting with the last `WINDOW_OVERLAP` bytes of the one before (a class statement across two windows).
WINDOW, WINDOW_OVERLAP = 1 << 20, 4096


class Oversized(NamedTuple):
    """A file over the size limit, left unread: its size (`windows` reads it in bounded pieces)."""

    size: int


@overload
def read_source(path: str) -> Source | str: ...
@overload
def read_source(path: str, limit: int) -> Source | Oversized | str: ...


def read_source(path: str, limit: int | None = None) -> Source | Oversized | str:
    """The file's bytes and identity, `Oversized` when it has more than `limit` bytes, or why it could not be read.

    Read until end of file (a read returns at most 2 GiB on Linux, so one short read is not the end),
    and never more than `limit` + 1 bytes.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return "not a regular file"
        if limit is not None and status.st_size > limit:
            return Oversized(status.st_size)
        wanted = status.st_size + 1 if limit is None else min(status.st_size, limit) + 1
        chunks = []
        while wanted > 0:  # one read for a file that does not grow meanwhile
            chunk = os.read(descriptor, min(wanted, 1 << 30))
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    except MemoryError:
        return "cannot read: out of memory"
    finally:
        os.close(descriptor)
    if limit is not None and len(data) > limit:  # it grew since `fstat`
        return Oversized(len(data))
    return Source(data, status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size)


def windows(path: str) -> Iterator[bytes]:
    """The file's bytes in overlapping windows of at most `WINDOW` + `WINDOW_OVERLAP` bytes; raises OSError."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    with open(descriptor, "rb", buffering=0) as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        tail = b""
        while chunk := handle.read(WINDOW):
            yield tail + chunk
            tail = chunk[-WINDOW_OVERLAP:]
