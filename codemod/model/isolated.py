"""Runs a checkout's code in a child process, where it cannot end, hang or print over the run.

explain and verify import the user's file and its siblings: code that calls `sys.exit()` or
`os._exit()` at import, loops for ever, leaves a thread running or prints on stdout would otherwise
end the run, hang it, keep it alive or corrupt `--format json`. `run_isolated(work, timeout)` forks a
child (the parent has imported torch but never initialised CUDA, so the child may), points the
child's stdout at stderr, and hands back `work()`'s result, or raises `ChildFailed` with what went
wrong. The child leads its own process group, which is killed when the work is done, when it runs
out of time and when the parent is interrupted, so nothing it started outlives it; on Linux it also
dies with the parent. Free of torch.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

PR_SET_PDEATHSIG = 1
DEFAULT_TIMEOUT = 300.0  # seconds for one file's imports and runs (a real ComfyUI tree imports in a few)


class ChildFailed(Exception):
    """The child did not hand back a result; the message says why (exit, signal, time limit, stray thread)."""


def can_isolate() -> bool:
    """Whether this platform forks (elsewhere the work runs in this process, its stdout sent to stderr)."""
    return hasattr(os, "fork")


def _die_with_parent() -> None:
    """On Linux: the kernel kills this process when the parent dies (a killed run leaves no child behind)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _stray_threads() -> list[str]:
    names = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    return list(dict.fromkeys(names))


def _child(work: Callable[[], object], write_end: int) -> None:
    """In the child: run `work`, send ("ok", result) or ("failed", reason) down the pipe, and end at once."""
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        os.dup2(2, 1)  # what the imported code prints goes to stderr, by file descriptor and by sys.stdout
        sys.stdout = sys.stderr
        try:
            outcome: tuple[str, object] = ("ok", work())
        except SystemExit as exit_:
            outcome = ("failed", f"its code called sys.exit({exit_.code!r})")
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            where = traceback.extract_tb(error.__traceback__)[-1:]
            line = f" ({where[0].filename}:{where[0].lineno})" if where else ""
            outcome = ("failed", f"{type(error).__name__}: {error}{line}")
        stray = _stray_threads()
        if stray and outcome[0] == "ok":
            outcome = ("failed", f"its code left a thread running ({', '.join(stray)}), which would keep the "
                                 "process alive")
        try:
            payload = pickle.dumps(outcome)
        except Exception as error:  # noqa: BLE001 - a result that does not pickle is the work's fault
            payload = pickle.dumps(("failed", f"its result could not be sent back: {error}"))
        with contextlib.suppress(OSError):
            view = memoryview(payload)
            while view:
                view = view[os.write(write_end, view):]
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    finally:
        os._exit(0)


def _reason(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return f"its process was killed by signal {name}"
    return f"its code ended the process (exit status {os.waitstatus_to_exitcode(status)})"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_isolated(work: Callable[[], T], timeout: float | None) -> T:
    """`work()` in a forked child within `timeout` seconds (None: no limit); its result must pickle.

    Raises `ChildFailed` when the child exits, is killed, raises, runs out of time or leaves a
    non-daemon thread running. Where processes do not fork, `work()` runs here with stdout sent to stderr.
    """
    if not can_isolate():
        with contextlib.redirect_stdout(sys.stderr):
            return work()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in _child
        os.close(read_end)
        _child(work, write_end)
    os.close(write_end)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # as the child does: whichever runs first, the group exists before it is killed
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: list[bytes] = []
    timed_out = False
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read_end], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _kill_group(pid)  # the child's own processes too; the child itself is a zombie until reaped below
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise ChildFailed(f"it did not finish within {timeout:g} s (its code may hang at import or in a forward); "
                          "killed")
    if not chunks:
        raise ChildFailed(f"{_reason(status)} before it finished")
    kind, value = pickle.loads(b"".join(chunks))
    if kind != "ok":
        raise ChildFailed(str(value))
    return value  # type: ignore[no-any-return]
