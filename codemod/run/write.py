"""Writing a rewritten file so that it is, at every moment, either fully old or fully new."""

from __future__ import annotations

import os
import stat

TEMP_SUFFIX = ".contiguify-tmp"


def write_atomically(path: str, data: bytes) -> None:
    """Temp file beside the target, fsync, same permission bits (and owner, where allowed), `os.replace`;
    a symlink's target is written.

    The temp name does not end in `.py`, so a run killed midway never leaves something that looks like source.
    """
    real = os.path.realpath(path)
    status = os.stat(real)
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
        os.replace(temp, real)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        directory_fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
