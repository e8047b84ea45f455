"""`alongside_torch_import`: the work's result (or its error) as if run here, also when its process dies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(body: str) -> subprocess.CompletedProcess[str]:
    """`body` in a fresh process, where torch is not imported yet (the forking path)."""
    script = "import sys\nfrom codemod.model.startup import alongside_torch_import\n" + body
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the forked path needs fork")
def test_the_work_and_the_import_both_come_back() -> None:
    done = _run("import os\nresult, pid = alongside_torch_import(os.getpid, os.getpid)\n"
                "print(result != pid, pid == os.getpid())")
    assert done.stdout.split() == ["True", "True"], done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the forked path needs fork")
def test_an_error_of_the_work_is_raised_here() -> None:
    done = _run("import functools, math\ntry:\n    alongside_torch_import(functools.partial(math.sqrt, -1), int)\n"
                "except ValueError as error:\n    print('ValueError', error)")
    assert done.stdout.strip() == "ValueError math domain error", done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the forked path needs fork")
def test_when_the_forked_process_dies_the_work_runs_here() -> None:
    done = _run("import functools, os\nparent = os.getpid()\n"
                "def work():\n    if os.getpid() != parent:\n        os._exit(9)\n    return 'here'\n"
                "import __main__; __main__.work = work\n"
                "print(alongside_torch_import(work, int))")
    assert done.stdout.strip() == "('here', 0)", done.stderr
