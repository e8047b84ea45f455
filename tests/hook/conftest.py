"""Each hook test runs Python in a child process: an installed hook must not leak into the test process.

`target_tree` is a folder holding `target.py`: the bundled checkout's multitalk.py with its imports
replaced by stand-ins (`fixtures.builders.torch_free`), so that importing it needs neither torch nor einops
(the hook must not import them either) and its forwards never run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.builders import torch_free
from fixtures.catalog import WRAPPER_MULTITALK

# The child's report: for each name, the `.contiguous()` calls in the code each target forward runs.
PROBE = """
import dis, json, sys
def calls(function):
    return sum(instruction.argval == "contiguous" for instruction in dis.get_instructions(function))
def report(module):
    return {name: calls(getattr(module, name).forward) for name in ("SingleStreamAttention", "SingleStreamMultiAttention")
            if name in vars(module)}
"""


@dataclass
class Child:
    returncode: int
    stderr: str
    report: dict[str, Any]

    @property
    def hook_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("contiguify:")]


@pytest.fixture
def target_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "target.py").write_bytes(torch_free(WRAPPER_MULTITALK.read_bytes()))
    return tree


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def run_child(code: str, cwd: Path, cache: Path | None, extra_env: dict[str, str] | None = None) -> Child:
    """Run `PROBE + code` in a fresh interpreter; `code` sets `result` (JSON-able), printed as the last line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONTIGUIFY_")}
    if cache is None:
        env["CONTIGUIFY_NO_CACHE"] = "1"
    else:
        env["CONTIGUIFY_CACHE_DIR"] = str(cache)
    env.update(extra_env or {})
    script = PROBE + code + "\nprint(json.dumps(result))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
    return Child(done.returncode, done.stderr, report)
