"""Valid or hostile Python that takes a parser down (deep `elif` chains, nesting that eats memory, huge
files) costs that file alone: each file is parsed in a worker process under limits (codemod.isolation),
the run reports it with a one-line reason, exit 2, and goes on; and workers never outlive the run."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from codemod.isolation import MIB, THREAD_OVERHEAD, Died, Limits, call_isolated
from codemod.run import files, runner
from fixtures.catalog import CASES, WRAPPER

from .conftest import seed_rewrite

# `B` of the report: the fixture's multitalk.py with a final newline.
B = (WRAPPER / "multitalk" / "multitalk.py").read_bytes() + b"\n"
OLD = (CASES / "jan2026.in.py").read_bytes()
NEW = seed_rewrite(OLD)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and Linux's rlimits")


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str
    peak_bytes: int  # the largest resident size of the run or any of its workers


def _contiguify(*args: str, cwd: Path, address_space: int | None = None, timeout: float = 120) -> Finished:
    """The command line in a process of its own, optionally under `ulimit -v` (`address_space` bytes)."""

    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "codemod", *args], cwd=cwd, stdout=out, stderr=err,
                                   preexec_fn=limit)
        deadline = time.monotonic() + timeout
        while True:  # wait4: the usage of this run alone, its workers included (they are waited for)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"contiguify {' '.join(args)} ran past {timeout} s")
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(process.returncode, out.read().decode(), err.read().decode(), usage.ru_maxrss * 1024)


def _elif_chain(branches: int) -> bytes:
    """The report's shape: after the target file, `if a: pass` and `branches` `elif` clauses (CPython parses 1,000)."""
    return B + b"if a: pass\n" + b"".join(b"elif a%d: pass\n" % number for number in range(branches))


# Item 1.
@pytest.mark.parametrize("branches", [500, 10_000])
def test_a_long_elif_chain_is_one_files_result(branches: int, tmp_path: Path) -> None:
    (tmp_path / "e.py").write_bytes(_elif_chain(branches))
    (tmp_path / "t.py").write_bytes(OLD)
    finished = _contiguify("check", "e.py", "t.py", cwd=tmp_path)
    report = finished.err.splitlines()
    assert len(report) < 10, finished.err[:2000]  # no traceback
    assert "Traceback" not in finished.err
    assert "would rewrite t.py (15 .contiguous() inserted)" in report
    if branches <= 1000:  # valid for CPython: rewritten like any file
        assert finished.code == 1
        assert any(line.startswith("would rewrite e.py") for line in report)
    else:  # deeper than CPython's own parser goes: reported with its reason
        assert finished.code == 2
        [error] = [line for line in report if line.startswith("error: e.py: ")]
        assert "too deeply nested" in error


def test_two_long_elif_chains_still_give_the_json_report(tmp_path: Path) -> None:
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_bytes(_elif_chain(10_000))
    (tmp_path / "t.py").write_bytes(OLD)
    finished = _contiguify("check", "--format", "json", "--jobs", "2", ".", cwd=tmp_path)
    assert finished.code == 2
    report = {entry["path"]: entry for entry in json.loads(finished.out)["files"]}
    assert set(report) == {"a.py", "b.py", "t.py"}
    assert report["t.py"]["changed"] and report["t.py"]["error"] is None
    assert all("too deeply nested" in report[name]["error"] for name in ("a.py", "b.py"))
    assert len(finished.err.splitlines()) < 10


# Item 2.
def _memory_hog() -> bytes:
    """About 200 KB that libcst takes gigabytes to parse: 520 lines of 190 nested parentheses (CPython allows 200),
    in the body of a target class, which libcst reads (code outside target classes it does not)."""
    return (B + b"\n\nclass SingleStreamAttention:\n"
            + (b"    y = " + b"(" * 190 + b"1" + b")" * 190 + b"\n") * 520
            + b"\n    def forward(self, x):\n        return x\n")


@linux_only
@pytest.mark.parametrize("ulimit", [False, True], ids=["no-ulimit", "ulimit-v"])
def test_memory_is_bounded_by_the_files_size(ulimit: bool, tmp_path: Path) -> None:
    data = _memory_hog()
    (tmp_path / "n.py").write_bytes(data)
    (tmp_path / "t.py").write_bytes(OLD)
    allowed = runner.parse_limits(len(data)).memory
    assert allowed is not None
    # The worker may hold its own memory (the run's, forked) plus THREAD_OVERHEAD plus the file's allowance.
    bound = 256 * MIB + THREAD_OVERHEAD + allowed
    finished = _contiguify("fix", "n.py", "t.py", cwd=tmp_path, address_space=bound if ulimit else None)
    assert finished.code == 2, finished.err
    [error] = [line for line in finished.err.splitlines() if line.startswith("error: n.py: ")]
    assert "out of memory" in error and error.endswith("; left untouched")
    assert (tmp_path / "n.py").read_bytes() == data
    assert (tmp_path / "t.py").read_bytes() == NEW
    assert finished.peak_bytes < bound, f"{finished.peak_bytes / MIB:.0f} MiB"


# Item 16.
@linux_only
def test_a_huge_file_is_never_read_whole(tmp_path: Path) -> None:
    """A 3 GB file under a 2.5 GB address-space limit: searched in windows, reported, and the run goes on."""
    with (tmp_path / "huge.py").open("wb") as handle:
        handle.truncate(3 * 10**9)  # sparse: no disk used
    (tmp_path / "t.py").write_bytes(OLD)
    finished = _contiguify("fix", ".", cwd=tmp_path, address_space=2_500_000_000)
    assert finished.code == 2, finished.err
    assert "error: huge.py: binary file (contains NUL bytes), left untouched" in finished.err.splitlines()
    assert (tmp_path / "t.py").read_bytes() == NEW


@pytest.mark.parametrize(("tail", "expected"), [
    (b"x = 1\n", "unchanged"),
    (B, "too large"),  # a target class in the middle of the file
    (b"\0", "binary"),
])
def test_a_file_over_the_limit_is_searched_in_bounded_windows(tail: bytes, expected: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    from codemod.cli import main

    monkeypatch.setattr(files, "WINDOW", 64 * 1024)
    monkeypatch.chdir(tmp_path)
    padding = b"# " + b"x" * 97 + b"\n"
    data = padding * 10_000 + tail + padding * 10_000  # 2 MB
    (tmp_path / "big.py").write_bytes(data)
    arguments = ["check", "--no-cache", "--max-file-size=100000", "big.py"]
    main(arguments)  # the modules it imports are not the file's memory
    tracemalloc.start()
    try:
        code = main(arguments)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(data) // 4  # never the whole file at once
    assert code == {"unchanged": 0, "too large": 2, "binary": 2}[expected]


def test_a_short_read_is_not_the_end_of_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux returns at most 2 GiB from one read: a short read must not truncate the file."""
    read = os.read
    monkeypatch.setattr(files.os, "read", lambda descriptor, size: read(descriptor, min(size, 1000)))
    (tmp_path / "m.py").write_bytes(OLD)
    source = files.read_source(str(tmp_path / "m.py"))
    assert isinstance(source, files.Source) and source.data == OLD


# The mechanism itself.
def _crash(how: str) -> str:
    if how == "segfault":
        import ctypes

        ctypes.string_at(0)
    if how == "recursion":
        def deeper(level: int) -> int:
            return deeper(level + 1) + 1

        deeper(0)
    if how == "memory":
        blocks = [bytearray(64 * MIB) for _ in range(64)]
        return str(len(blocks))
    if how == "spin":
        while True:
            pass
    if how == "error":
        raise ValueError("first line\nsecond line")
    return how


@pytest.mark.parametrize(("how", "limits", "reason"), [
    ("fine", Limits(), "fine"),
    ("segfault", Limits(), Died("the worker process died (killed by SIGSEGV)")),
    ("recursion", Limits(), Died("too deeply nested: over Python's recursion limit of 50,000")),
    ("memory", Limits(memory=256 * MIB), Died("ran out of memory: the limit for it is 256 MiB")),
    ("spin", Limits(wall_seconds=1), Died("took more than 1 s, its time limit")),
    ("spin", Limits(cpu_seconds=1), Died("took more than 1 s of CPU time, its limit")),
    ("error", Limits(), Died("internal error: ValueError: first line")),
])
def test_a_call_that_fails_in_any_way_is_a_value(how: str, limits: Limits, reason: object) -> None:
    assert call_isolated(_crash, how, limits) == reason


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the patch reaches the worker through fork")
def test_without_room_for_a_large_stack_the_call_runs_under_pythons_usual_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under a `ulimit -v` too small for the 256 MiB stack the thread cannot start: the worker's own thread
    runs the call, with a recursion limit its 8 MiB of stack hold."""
    import threading

    def no_room(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_room)
    assert call_isolated(_crash, "fine", Limits()) == "fine"
    assert call_isolated(_crash, "recursion", Limits()) == Died(
        "too deeply nested: over Python's recursion limit of 1,000")


# Item 3.
def _session(session: int) -> list[int]:
    """Processes of a session, read from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(name))
    return found


def _poll(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@linux_only
@pytest.mark.parametrize("death", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda death: death.name)
def test_workers_die_with_the_run(death: signal.Signals, tmp_path: Path) -> None:
    for number in range(60):
        (tmp_path / f"m{number}.py").write_bytes(B + b"# %d\n" % number)
    run = subprocess.Popen([sys.executable, "-m", "codemod", "check", "--no-cache", "-j2", "."], cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        workers: Sequence[int] = []

        def started() -> bool:
            nonlocal workers
            workers = [pid for pid in _session(run.pid) if pid != run.pid]
            return len(workers) >= 2 or run.poll() is not None

        assert _poll(started, 60) and run.poll() is None, "the run ended before its workers were seen"
        os.kill(run.pid, death)
        run.wait(timeout=30)
        assert _poll(lambda: not _session(run.pid), 10), f"still alive: {_session(run.pid)}"
    finally:
        for pid in _session(run.pid):
            os.kill(pid, signal.SIGKILL)
        run.wait()


KILLED_WHILE_IMPORTING = """
import functools, os, signal, time
from codemod.model.startup import alongside_torch_import

def importer():
    time.sleep(0.5)  # the forked rewrite is running
    os.kill(os.getpid(), signal.SIGKILL)

alongside_torch_import(functools.partial(time.sleep, 1), importer)
"""


@linux_only
def test_the_rewrite_beside_torchs_import_dies_with_the_run() -> None:
    """explain and verify rewrite in a forked process while torch imports: killed then, the run leaves none."""
    run = subprocess.Popen([sys.executable, "-c", KILLED_WHILE_IMPORTING], start_new_session=True)
    try:
        assert run.wait(timeout=60) == -signal.SIGKILL
        assert _poll(lambda: not _session(run.pid), 10), f"still alive: {_session(run.pid)}"
    finally:
        for pid in _session(run.pid):
            os.kill(pid, signal.SIGKILL)


_PREPARED: list[int] = []


def _prepare() -> None:
    _PREPARED.append(os.getpid())


def _failing_prepare() -> None:
    raise ImportError("no such module")


def _prepared_here(_: object) -> list[int]:
    return list(_PREPARED)


@pytest.mark.parametrize("prepare", [_prepare, _failing_prepare], ids=["prepares", "fails"])
def test_each_worker_prepares_once_before_its_calls(prepare: Callable[[], None]) -> None:
    """What `prepare` does stays for every call of its worker; one that fails leaves the calls to report."""
    from codemod.isolation import Pool

    limits = Limits()
    with Pool(_prepared_here, 1, prepare=prepare) as pool:
        results = [result for _, result in pool.map_unordered([(None, limits), (None, limits)])]
    expected = 1 if prepare is _prepare else 0
    assert [len(result) for result in results] == [expected, expected]  # type: ignore[arg-type]
    assert os.getpid() not in results[0]  # type: ignore[operator]
    assert _PREPARED == []  # in the worker, not here
