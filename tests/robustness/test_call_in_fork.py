"""`call_in_fork`, the child process a checkout's code runs in: its result comes back; exits, hangs and stray
threads are reasons."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from codemod.isolation import Died, call_in_fork, can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs os.fork")


def _value() -> dict[str, int]:
    return {"answer": 42}


def _exits(code: int) -> None:
    sys.exit(code)


def _ends_at_once() -> None:
    os._exit(0)


def _hangs() -> None:
    while True:
        pass


def _leaves_a_thread() -> int:
    threading.Thread(target=time.sleep, args=(60,), name="left-behind").start()
    return 1


def _raises() -> None:
    raise ValueError("boom")


def _prints() -> str:
    print("Warning: Could not load sageattention")
    os.write(1, b"written to fd 1\n")
    return "done"


def _starts_a_process() -> int:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]).pid


def test_the_result_comes_back() -> None:
    assert call_in_fork(_value, 30) == {"answer": 42}


@pytest.mark.parametrize(("work", "reason"), [
    (lambda: _exits(0), "its code called sys.exit(0)"),
    (lambda: _exits(3), "its code called sys.exit(3)"),
    (_ends_at_once, "its code ended the process (exit status 0) before it finished"),
    (_leaves_a_thread, "its code left a thread running (left-behind), which would keep the process alive"),
    (_raises, "ValueError: boom"),
])
def test_what_ends_the_child_is_a_reason(work: object, reason: str) -> None:
    died = call_in_fork(work, 30)  # type: ignore[arg-type]
    assert isinstance(died, Died) and died.reason.startswith(reason)


def test_a_hang_is_killed_at_the_time_limit() -> None:
    started = time.monotonic()
    died = call_in_fork(_hangs, 0.5)
    assert isinstance(died, Died) and died.reason.startswith("it did not finish within 0.5 s")
    assert time.monotonic() - started < 10


def test_what_the_code_prints_goes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    assert call_in_fork(_prints, 30) == "done"
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "Warning: Could not load sageattention" in captured.err and "written to fd 1" in captured.err


def test_processes_the_code_started_die_with_it() -> None:
    pid = call_in_fork(_starts_a_process, 30)
    assert isinstance(pid, int)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # the killed process is the child's, reaped by init: it may take a moment
    pytest.fail(f"process {pid} outlived the child")


def _writes_a_temp_file_and_hangs(where: Path) -> None:
    directory = tempfile.mkdtemp(prefix="contiguify-")
    (Path(directory) / "copy.py").write_text("source\n")
    where.write_text(directory)
    _hangs()


def test_temporary_files_of_a_killed_child_are_removed(tmp_path: Path) -> None:
    where = tmp_path / "where"
    died = call_in_fork(functools.partial(_writes_a_temp_file_and_hangs, where), 2)
    assert isinstance(died, Died) and "did not finish" in died.reason
    assert where.read_text() and not Path(where.read_text()).exists()
