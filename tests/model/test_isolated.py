"""The child process a checkout's code runs in: its result comes back; exits, hangs and stray threads are reasons."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from codemod.model.isolated import ChildFailed, can_isolate, run_isolated

pytestmark = pytest.mark.skipif(not can_isolate(), reason="needs os.fork")


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
    assert run_isolated(_value, 30) == {"answer": 42}


@pytest.mark.parametrize(("work", "reason"), [
    (lambda: _exits(0), "its code called sys.exit(0)"),
    (lambda: _exits(3), "its code called sys.exit(3)"),
    (_ends_at_once, "its code ended the process (exit status 0) before it finished"),
    (_leaves_a_thread, "its code left a thread running (left-behind), which would keep the process alive"),
    (_raises, "ValueError: boom"),
])
def test_what_ends_the_child_is_a_reason(work: object, reason: str) -> None:
    with pytest.raises(ChildFailed) as failure:
        run_isolated(work, 30)  # type: ignore[arg-type]
    assert str(failure.value).startswith(reason)


def test_a_hang_is_killed_at_the_time_limit() -> None:
    started = time.monotonic()
    with pytest.raises(ChildFailed, match=r"did not finish within 0.5 s"):
        run_isolated(_hangs, 0.5)
    assert time.monotonic() - started < 10


def test_what_the_code_prints_goes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    assert run_isolated(_prints, 30) == "done"
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "Warning: Could not load sageattention" in captured.err and "written to fd 1" in captured.err


def test_processes_the_code_started_die_with_it() -> None:
    pid = run_isolated(_starts_a_process, 30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)  # the killed process is the child's, reaped by init: it may take a moment
    pytest.fail(f"process {pid} outlived the child")
