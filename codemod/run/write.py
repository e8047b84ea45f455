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
_ACCESS_ACL = "system.posix_acl_access"
# linux/fcntl.h and linux/fs.h
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


class FileChanged(Exception):
    """The file is no longer what was read; it is left as it now is."""


class HardLinked(Exception):
    """The file has other names (hard links): a new file in its place would leave them the old bytes."""

    def __init__(self, links: int) -> None:
        super().__init__(links)
        self.links = links


def write_atomically(path: str, data: bytes, original: Source) -> None:
    """Put `data` in place of the file at `path` (a symlink's target), which must still be `original`.

    The new bytes go to a new file beside it with the same metadata (permission bits; owner and group as
    far as this user may set them, the group at least when this user is in it; extended attributes,
    POSIX ACLs included, where the file system has them), fsync, and then swap in. On Linux the new file
    is made nameless (O_TMPFILE) and given a name only once complete, so a run killed while writing leaves
    nothing behind; its temp name has a fixed length (28 bytes, never ending in `.py`), so any name the
    file system allows can be written. Raises FileChanged, writing nothing, when the file was saved since
    it was read (by an editor that replaces it or one that writes it in place), and HardLinked when the
    file has other names, which a replaced file would split from it.
    """
    real = os.path.realpath(path)
    status = os.stat(real)
    if not _unchanged(real, original):  # the common case of a stale result costs no temp file
        raise FileChanged
    if status.st_nlink > 1:
        raise HardLinked(status.st_nlink)
    directory = os.path.dirname(real) or os.curdir
    directory_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        temp, written = _new_file(directory, directory_fd, data, status, real)
        _swap_in(temp, real, original, written)
        if hasattr(os, "O_DIRECTORY"):
            os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def _new_file(directory: str, directory_fd: int, data: bytes, status: os.stat_result,
              source: str) -> tuple[str, os.stat_result]:
    """A complete, synced file in `directory` holding `data` with the metadata of `source`, under a new temp name."""
    name = f".{os.urandom(6).hex()}{TEMP_SUFFIX}"
    temp = os.path.join(directory, name)
    descriptor = _nameless(directory)
    if descriptor is not None:
        try:
            _fill(descriptor, data, status, source)
            written = os.fstat(descriptor)
            try:  # naming an O_TMPFILE file without privileges: linkat(AT_SYMLINK_FOLLOW) through /proc
                os.link(f"/proc/self/fd/{descriptor}", name, dst_dir_fd=directory_fd, follow_symlinks=True)
            except OSError:  # no /proc, or a file system that refuses: a named temp file instead
                pass
            else:
                return temp, written
        finally:
            os.close(descriptor)
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        _fill(descriptor, data, status, source)
        written = os.fstat(descriptor)
    except BaseException:
        _remove(temp)
        raise
    finally:
        os.close(descriptor)
    return temp, written


def _nameless(directory: str) -> int | None:
    """A new file in `directory` with no name yet (Linux's O_TMPFILE), or None where the system has none."""
    if not hasattr(os, "O_TMPFILE"):
        return None
    try:
        return os.open(directory or ".", os.O_TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:  # EOPNOTSUPP, EISDIR (a kernel without it), EINVAL: a named temp file instead
        return None


def _fill(descriptor: int, data: bytes, status: os.stat_result, source: str) -> None:
    """Write `data`, give the file the metadata of `source` (whose `os.stat` is `status`), and sync it."""
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]
    if hasattr(os, "fchown") and (status.st_uid, status.st_gid) != (os.geteuid(), os.getegid()):
        # root fixing someone's checkout must not leave root-owned files in it; others keep the group at least
        for owner in (status.st_uid, -1):
            try:
                os.fchown(descriptor, owner, status.st_gid)
                break
            except PermissionError:
                continue
    os.fchmod(descriptor, stat.S_IMODE(status.st_mode))  # after chown, which clears set-id bits
    _copy_attributes(source, descriptor)
    os.fsync(descriptor)


def _copy_attributes(source: str, descriptor: int) -> None:
    """Extended attributes (`user.*`, POSIX ACLs as `system.posix_acl_access`), each as far as it can be set:
    a name this user may not set (`security.*`, `trusted.*`) or a file system without them is passed over."""
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(source)
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            os.setxattr(descriptor, name, os.getxattr(source, name))
    if _ACCESS_ACL not in names:  # one inherited from the directory's default ACL, which the file did not have
        with contextlib.suppress(OSError):
            os.removexattr(descriptor, _ACCESS_ACL)


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
