"""Calls that run in worker processes with limits, so that no input can take the run down with it.

A call runs in a worker process, in a thread with a large stack and a raised recursion limit (deep but
valid code, such as 10,000 `elif` branches, works; deeper code raises RecursionError before the stack
overflows), under a limit on the address space it may add (RLIMIT_AS) and on its CPU time (RLIMIT_CPU),
and with a deadline in wall time kept by the parent. Whatever happens to the call (an exception, a
crash of native code, the memory or time limit) comes back as a `Died` value with a one-line reason,
for that call alone; the worker is replaced and the other calls go on.

Workers die with the run: each closes the pipe ends it inherited but its own (so it sees end of file
when the parent goes), and on Linux it also asks the kernel to kill it when the parent dies
(PR_SET_PDEATHSIG), which covers SIGKILL of the parent while a call is running.

Hand-written rather than `concurrent.futures.ProcessPoolExecutor`: there, one worker's death breaks the
pool and fails every pending call, calls have no limits, and workers forked from a parent that is
killed wait on their queue for good (each holds the queue's other end).

`call_in_fork(work, wall_seconds)` is for the user's own code (explain and verify import the user's
file and its siblings): code that calls `sys.exit()` or `os._exit()` at import, loops for ever,
leaves a thread running or prints on stdout would end the run, hang it, keep it alive or corrupt
`--format json`. It forks a child of this process (which has imported torch but never initialised
CUDA, so the child may), points the child's stdout at stderr (what the code prints is the user's to
see), and hands back `work()`'s result, or a `Died` with what went wrong. The child leads its own
process group, which is killed when the work is done, when it runs out of time and when the parent
is interrupted, so nothing it started outlives it. Its temporary files (the loader's copies of the
user's source) go into a directory the parent removes afterwards, also when the child was killed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

A = TypeVar("A")
R = TypeVar("R")

MIB = 1024 * 1024
# The call's thread: 10,000 `elif` branches need under 32 MiB of stack in libcst's parser and visitors, about
# 3 KiB a level. The recursion limit leaves more than 5 KiB a level, so Python stops a deep recursion with
# RecursionError well before the stack ends; a native parser that overflows it kills the worker alone.
STACK = 256 * MIB
RECURSION_LIMIT = 50_000
# Address space a call's thread needs besides what it computes: its stack, and the allocator's arena for it.
THREAD_OVERHEAD = STACK + 128 * MIB
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
WORKER_DIED = "the worker process died"
CODE_WALL_SECONDS = 300.0  # explain and verify: one file's imports and runs (a real ComfyUI tree imports in a few)


@dataclass(frozen=True)
class Limits:
    """What one call may use; None: no limit.

    `memory`: bytes of address space the call may add to its worker's (RLIMIT_AS, so MemoryError or a
    crash past it); `cpu_seconds`: CPU time (RLIMIT_CPU, whole seconds); `wall_seconds`: wall time,
    kept by the parent, which kills the worker past it.
    """

    memory: int | None = None
    cpu_seconds: float | None = None
    wall_seconds: float | None = None


class Died(NamedTuple):
    """A call that gave no result: why, in one line."""

    reason: str


def one_line(error: BaseException, limit: int = 200) -> str:
    """`Type: message`, first line only and shortened; never recursive (a RecursionError's text is fixed)."""
    name = type(error).__name__
    if isinstance(error, RecursionError):
        return name
    try:
        text = str(error)
    except BaseException:  # noqa: BLE001 - a message that cannot be formatted is left out
        return name
    text = text.splitlines()[0] if text.strip() else ""
    text = "".join(char if char.isprintable() else "?" for char in text[:limit])
    return f"{name}: {text}" if text else name


def _limits_now(limits: Limits) -> None:
    """Set this process's soft limits for one call, from what it uses now; no-ops where unsupported."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    infinity = resource.RLIM_INFINITY
    memory = infinity
    if limits.memory is not None:
        memory = _address_space() + THREAD_OVERHEAD + limits.memory
    cpu = infinity
    if limits.cpu_seconds is not None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(usage.ru_utime + usage.ru_stime + limits.cpu_seconds) + 1
    for kind, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu)):
        hard = resource.getrlimit(kind)[1]
        if hard != infinity:  # a limit set from outside (`ulimit -v`) stays the bound
            value = hard if value == infinity else min(value, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, hard))


def _address_space() -> int:
    """Bytes of address space this process holds (Linux's VmSize); 0 where unknown."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _in_thread(function: Callable[[A], R], argument: A, limits: Limits) -> R | Died:
    """`function(argument)` on a thread with `STACK` of stack; any exception becomes a `Died`."""
    outcome: list[Any] = [Died("the call ended without a result")]

    def call() -> None:
        try:
            outcome[0] = function(argument)
        except RecursionError:
            outcome[0] = Died(f"too deeply nested: over Python's recursion limit of {sys.getrecursionlimit():,}")
        except MemoryError:
            outcome[0] = Died(f"ran out of memory: {_memory_words(limits)}")
        except BaseException as error:  # noqa: BLE001 - one call's failure is its result
            outcome[0] = Died(f"internal error: {one_line(error)}")

    previous = threading.stack_size(STACK)
    try:
        thread = threading.Thread(target=call, name="isolated-call")
        thread.start()
    except RuntimeError:  # no room for the stack (a `ulimit -v` set from outside): this thread's must do,
        limit = sys.getrecursionlimit()  # with Python's usual limit, which its 8 MiB hold
        sys.setrecursionlimit(1000)
        try:
            call()
        finally:
            sys.setrecursionlimit(limit)
        return outcome[0]  # type: ignore[no-any-return]
    finally:
        threading.stack_size(previous)
    thread.join()
    return outcome[0]  # type: ignore[no-any-return]


def _memory_words(limits: Limits) -> str:
    return "no limit was set" if limits.memory is None else f"the limit for it is {limits.memory // MIB:,} MiB"


def die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies; exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _quiet() -> None:
    """Native code that fails (an allocator out of memory) writes to file descriptor 2 itself: that goes to
    /dev/null where the call's result or `Died` says what happened."""
    faulthandler = sys.modules.get("faulthandler")
    if faulthandler is not None:
        faulthandler.disable()  # a test runner's, which would print this worker's crash as its own
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)


def _serve(connection: Connection, inherited: Sequence[Connection], function: Callable[[A], R],
           parent: int, quiet: bool, prepare: Callable[[], None] | None) -> None:
    """A worker: (argument, limits) in, result or `Died` out, until it is sent None or its parent goes."""
    import signal

    for other in inherited:  # the parent's ends of every pipe: held here, they would hide the parent's exit
        other.close()
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is the parent's to handle: it stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if quiet:
        _quiet()
    sys.setrecursionlimit(RECURSION_LIMIT)
    if prepare is not None:
        with contextlib.suppress(Exception):  # what fails here fails again in the call, which reports it
            prepare()
    unlimited = Limits()
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        argument, limits = message
        _limits_now(limits)
        result = _in_thread(function, argument, limits)
        _limits_now(unlimited)
        try:
            connection.send(result)
        except Exception as error:  # noqa: BLE001 - a result that cannot be sent is that call's failure
            connection.send(Died(f"internal error: cannot send the result: {one_line(error)}"))


def death_reason(exit_code: int | None, limits: Limits) -> str:
    """Why a worker ended, from its exit status and the limits of the call it held."""
    import signal

    if exit_code is None or exit_code >= 0:
        return f"{WORKER_DIED} (exit status {exit_code})"
    try:
        name = signal.Signals(-exit_code).name
    except ValueError:
        name = f"signal {-exit_code}"
    if name == "SIGXCPU" and limits.cpu_seconds is not None:
        return f"took more than {limits.cpu_seconds:g} s of CPU time, its limit"
    if limits.memory is not None and name in ("SIGABRT", "SIGSEGV", "SIGBUS", "SIGKILL"):
        return f"{WORKER_DIED} (killed by {name}: a crash, or out of memory; {_memory_words(limits)})"
    return f"{WORKER_DIED} (killed by {name})"


class _Worker(NamedTuple):
    process: BaseProcess
    connection: Connection


class _Running(NamedTuple):
    worker: _Worker
    position: int
    limits: Limits
    deadline: float | None


class Pool(Generic[A, R]):
    """Up to `workers` worker processes for `function`, each holding one call at a time.

    `quiet`: the workers' standard error goes to /dev/null (for work whose failures the results tell).
    `prepare`: what each worker does once, before its first call (the imports every call needs).
    """

    def __init__(self, function: Callable[[A], R], workers: int, *, quiet: bool = False,
                 prepare: Callable[[], None] | None = None) -> None:
        import multiprocessing

        self._forks = "fork" in multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context("fork") if self._forks else multiprocessing.get_context("spawn")
        self.function = function
        self.workers = max(1, workers)
        self.quiet = quiet
        self.prepare = prepare
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []

    def _start(self) -> _Worker:
        connection, child_end = self._context.Pipe()
        # Forked, the child holds every open pipe end; spawned, it holds only its own.
        inherited = [worker.connection for worker in self._all] + [connection] if self._forks else []
        process = self._context.Process(target=_serve, args=(child_end, inherited, self.function, os.getpid(), self.quiet, self.prepare),
                                        daemon=True, name="contiguify-worker")
        process.start()
        child_end.close()  # the worker's end stays open there alone: its death reads as end of file here
        worker = _Worker(process, connection)
        self._all.append(worker)
        return worker

    def start_worker(self) -> None:
        """Start one worker now, ahead of the calls: it prepares while the caller goes on."""
        if len(self._all) < self.workers:
            self._idle.append(self._start())

    def _stop(self, worker: _Worker, *, kill: bool) -> None:
        if kill:
            with contextlib.suppress(OSError):
                worker.process.kill()
        else:
            with contextlib.suppress(OSError):
                worker.connection.send(None)
        worker.connection.close()
        worker.process.join()
        self._all.remove(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)

    def map_unordered(self, items: Sequence[tuple[A, Limits]]) -> Iterator[tuple[int, R | Died]]:
        """(index in `items`, result or `Died`) as each call ends; stopped early, it kills the busy workers."""
        from multiprocessing.connection import wait

        pending = list(range(len(items)))[::-1]
        running: dict[Connection, _Running] = {}

        def give(worker: _Worker) -> None:
            index = pending.pop()
            argument, limits = items[index]
            deadline = None if limits.wall_seconds is None else time.monotonic() + limits.wall_seconds
            running[worker.connection] = _Running(worker, index, limits, deadline)
            with contextlib.suppress(OSError):  # a worker that is gone shows as such in `wait`
                worker.connection.send((argument, limits))

        try:
            while pending and len(running) < self.workers:
                give(self._idle.pop() if self._idle else self._start())
            while running:
                deadlines = [call.deadline for call in running.values() if call.deadline is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                ready = wait(list(running), timeout)
                if not ready:  # past a deadline: that worker is killed, its call has no result
                    now = time.monotonic()
                    for connection, call in list(running.items()):
                        if call.deadline is not None and call.deadline <= now:
                            del running[connection]
                            self._stop(call.worker, kill=True)
                            yield call.position, Died(f"took more than {call.limits.wall_seconds:g} s, its time limit")
                            if pending:
                                give(self._start())
                    continue
                for connection in [connection for connection in running if connection in ready]:
                    call = running.pop(connection)
                    try:
                        result: R | Died = call.worker.connection.recv()
                    except (EOFError, OSError):
                        call.worker.process.join()
                        result = Died(death_reason(call.worker.process.exitcode, call.limits))
                        self._stop(call.worker, kill=True)
                        if pending:
                            give(self._start())
                    else:
                        if pending:
                            give(call.worker)
                        else:
                            self._idle.append(call.worker)
                    yield call.position, result
        finally:  # stopped early (an interrupt, an error): the calls still running are abandoned
            for call in running.values():
                self._stop(call.worker, kill=True)

    def close(self) -> None:
        for worker in list(self._all):
            self._stop(worker, kill=False)

    def __enter__(self) -> Pool[A, R]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def call_isolated(function: Callable[[A], R], argument: A, limits: Limits) -> R | Died:
    """`function(argument)` in a fresh worker process under `limits`."""
    with Pool(function, 1) as pool:
        for _, result in pool.map_unordered([(argument, limits)]):
            return result
    raise AssertionError("unreachable: one call gives one result")


def can_fork() -> bool:
    """Whether this platform forks (elsewhere `call_in_fork` runs the work in this process, stdout sent to stderr)."""
    return hasattr(os, "fork")


def _stray_threads() -> list[str]:
    names = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    return list(dict.fromkeys(names))


def _forked_child(work: Callable[[], object], write_end: int, scratch: str, parent: int) -> None:
    """In the child: run `work`, send ("ok", result) or ("failed", reason) down the pipe, and end at once.

    Temporary files go under `scratch`, which the parent removes, whatever becomes of the child.
    """
    import tempfile
    import traceback

    try:
        os.setpgid(0, 0)
        die_with_parent(parent)
        tempfile.tempdir = scratch
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


def call_in_fork(work: Callable[[], R], wall_seconds: float | None) -> R | Died:
    """`work()` in a forked child within `wall_seconds` (None: no limit); its result must pickle.

    A `Died` when the child exits, is killed, raises, runs out of time or leaves a non-daemon thread
    running. Where processes do not fork, `work()` runs here with stdout sent to stderr.
    """
    if not can_fork():
        with contextlib.redirect_stdout(sys.stderr):
            return work()
    import shutil
    import tempfile  # here, not at the top: a parse pool needs neither (3 ms of a first run with shutil)

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    scratch = tempfile.mkdtemp(prefix="contiguify-")
    try:
        return _call_in_child(work, wall_seconds, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _call_in_child(work: Callable[[], R], wall_seconds: float | None, scratch: str) -> R | Died:
    import select

    parent = os.getpid()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in _forked_child
        os.close(read_end)
        _forked_child(work, write_end, scratch, parent)
    os.close(write_end)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)  # as the child does: whichever runs first, the group exists before it is killed
    deadline = None if wall_seconds is None else time.monotonic() + wall_seconds
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
        return Died(f"it did not finish within {wall_seconds:g} s (its code may hang at import or in a forward); "
                    "killed")
    if not chunks:
        return Died(f"{_reason(status)} before it finished")
    kind, value = pickle.loads(b"".join(chunks))
    if kind != "ok":
        return Died(str(value))
    return value  # type: ignore[no-any-return]
