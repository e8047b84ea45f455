"""Writing a rewritten file so that it is, at every moment, either fully old or fully new."""

from __future__ import annotations

import os
import stat
import tempfile

TEMP_SUFFIX = ".contiguify-tmp"


def write_atomically(path: str, data: bytes) -> None:
    """Temp file beside the target, fsync, same permission bits, `os.replace`; a symlink's target is written.

    The temp name does not end in `.py`, so a run killed midway never leaves something that looks like source.
    """
    real = os.path.realpath(path)
    mode = stat.S_IMODE(os.stat(real).st_mode)
    directory, name = os.path.split(real)
    descriptor, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
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
