"""Writing a rewritten file so that it is, at every moment, either fully old or fully new, and never
over an edit saved since it was read (an editor saving while `fix` runs)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable
from functools import cache

from codemod.run.files import Source

TEMP_SUFFIX = ".contiguify-tmp"
# linux/fcntl.h and linux/fs.h
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


class FileChanged(Exception):
    """The file is no longer what was read; it is left as it now is."""


def write_atomically(path: str, data: bytes, original: Source) -> None:
    """Put `data` in place of the file at `path` (a symlink's target), which must still be `original`.

    The new bytes go to a temp file beside it (its name does not end in `.py`, so a run killed midway
    never leaves something that looks like source), with the same permission bits (and owner, where
    allowed), fsync, and then swap in. Raises FileChanged, writing nothing, when the file was saved
    since it was read, by an editor that replaces it or one that writes it in place.
    """
    real = os.path.realpath(path)
    status = os.stat(real)
    if not _unchanged(real, original):  # the common case of a stale result costs no temp file
        raise FileChanged
    directory, name = os.path.split(real)
    temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}{TEMP_SUFFIX}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            if hasattr(os, "chown") and (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
                try:  # root fixing someone's checkout must not leave root-owned files in it
                    os.chown(temp, status.st_uid, status.st_gid)
                except PermissionError:
                    pass
            os.chmod(temp, stat.S_IMODE(status.st_mode))
            written = os.fstat(handle.fileno())
    except BaseException:
        _remove(temp)
        raise
    _swap_in(temp, real, original, written)
    if hasattr(os, "O_DIRECTORY"):
        directory_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


def _swap_in(temp: str, real: str, original: Source, written: os.stat_result) -> None:
    """Replace `real` by `temp` only if `real` is still `original`; `temp` is gone afterwards.

    Where the system can swap two names atomically, it does, and then looks at the file it displaced:
    if that is not `original` (saved meanwhile, by rename or in place), it swaps back. Elsewhere it
    checks `real` last, right before `os.replace`, which leaves only that instant open.
    """
    try:
        exchanged = _exchange(temp, real)
        if not exchanged:
            if not _unchanged(real, original):
                raise FileChanged
            os.replace(temp, real)
            return
    except BaseException:
        _remove(temp)
        raise
    if _unchanged(temp, original):
        _remove(temp)  # the old file
        return
    _exchange(temp, real)  # should this fail, the newer file stays at `temp`, which the error names
    if not _is_untouched(temp, written):
        # A save landed in the instant between the two swaps: it is at `temp` now, and the older
        # file at `real`. The newest goes back in place.
        _exchange(temp, real)
    _remove(temp)
    raise FileChanged


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _unchanged(path: str, original: Source) -> bool:
    """`path` is the file `original` was read from, with the same size, time and bytes.

    The bytes are compared too: an in-place save that keeps the size, within the file system's time
    granularity (several milliseconds on some), changes nothing else. A file that cannot be read
    counts as changed.
    """
    try:
        with open(path, "rb") as handle:
            status = os.fstat(handle.fileno())
            if (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns) != (
                original.device, original.inode, original.size, original.mtime_ns
            ):
                return False
            return handle.read(len(original.data) + 1) == original.data
    except OSError:
        return False


def _is_untouched(path: str, written: os.stat_result) -> bool:
    """`path` is the temp file as it was written: same inode, size and modification time."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return False
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns) == (
        written.st_dev, written.st_ino, written.st_size, written.st_mtime_ns
    )


def _exchange(first: str, second: str) -> bool:
    """Swap what the two names point to, atomically; False where the system or file system cannot."""
    rename_exchange = _rename_exchange()
    if rename_exchange is None:
        return False
    error = rename_exchange(first, second)
    if error == 0:
        return True
    # EINVAL: a file system without the flag; ENOSYS, EPERM: a kernel or a sandbox without the call.
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(error, os.strerror(error), second)


@cache
def _rename_exchange() -> Callable[[str, str], int] | None:
    """Linux's `renameat2(..., RENAME_EXCHANGE)` through libc, returning 0 or an errno; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc older than glibc 2.28
        return None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int

    def rename_exchange(first: str, second: str) -> int:
        if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
            return 0
        return ctypes.get_errno()

    return rename_exchange
