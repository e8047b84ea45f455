"""A `fix` run killed with SIGKILL at any moment leaves every file fully old or fully new, and nothing
that a later run takes for source."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codemod.run.write import TEMP_SUFFIX

from .conftest import all_files

FILES = 2000
ROUNDS = 6
# Files come in this many distinct contents: identical files are parsed once per run, which keeps the
# test quick, and a file written with another's bytes still shows in most pairs.
VARIANTS = 50
TEMPLATE = b"""import torch


class SingleStreamMultiAttention(torch.nn.Module):
    def forward(self, x, encoder_hidden_states, shape=None):
        B, N, C = x.shape
        q = self.q_linear(x)
        q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3)
        x = x.reshape(B, N, C)
        return self.proj(x)  # variant %d
"""

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "codemod", *args]


def _start_fix(tree: Path, environment: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(_command("fix", "--jobs", "2", str(tree)), env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The whole session: the run and any worker processes it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def test_sigkill_leaves_every_file_old_or_new(tmp_path: Path, own_cache: Path) -> None:
    tree = tmp_path / "tree"
    paths = []
    for number in range(FILES):
        folder = tree / f"pkg{number // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(folder / f"mod{number:04d}.py")
    old = {path: TEMPLATE % (number % VARIANTS) for number, path in enumerate(paths)}
    for path, data in old.items():
        path.write_bytes(data)
        path.chmod(0o640)
    environment = {**os.environ, "CONTIGUIFY_CACHE_DIR": str(own_cache)}

    # One full check fills the cache, so that the runs to kill spend their time writing.
    checked = subprocess.run(_command("check", "--jobs", "2", str(tree)), check=False, env=environment, capture_output=True)
    assert checked.returncode == 1, checked.stderr.decode()
    fixed_once = tmp_path / "reference.py"
    fixed_once.write_bytes(old[paths[0]])
    assert subprocess.run(_command("fix", str(fixed_once)), check=False, env=environment).returncode == 1
    new = {path: fixed_once.read_bytes().replace(b"# variant 0\n", b"# variant %d\n" % (number % VARIANTS))
           for number, path in enumerate(paths)}
    assert all(new[path] != old[path] for path in paths)

    expected_names = {os.path.relpath(path, tree) for path in paths}
    randomness = random.Random(20260105)
    partial_rounds = 0
    for round_number in range(ROUNDS):
        for path, data in old.items():
            path.write_bytes(data)
        process = _start_fix(tree, environment)
        if round_number % 3 == 2:  # a moment anywhere in the run: starting, reading, writing
            time.sleep(randomness.uniform(0.0, 1.0))
        else:  # a moment in the middle of the writing: once a randomly chosen file has been replaced
            watched = paths[randomness.randrange(FILES // 10, FILES - FILES // 10)]
            while process.poll() is None and watched.read_bytes() == old[watched]:
                time.sleep(0.001)
        _kill(process)

        states = []
        for path in paths:
            data = path.read_bytes()
            assert data in (old[path], new[path]), f"round {round_number}: {path} is neither old nor new"
            assert path.stat().st_mode & 0o777 == 0o640
            states.append(data == new[path])
        partial_rounds += 0 < sum(states) < FILES
        leftovers = all_files(tree) - expected_names
        assert all(name.endswith(TEMP_SUFFIX) and not name.endswith(".py") for name in leftovers), leftovers

    assert partial_rounds >= ROUNDS // 2, "the kills did not land while files were being written"
    still_old = sum(path.read_bytes() != new[path] for path in paths)
    finished = subprocess.run(_command("fix", str(tree)), check=False, env=environment, capture_output=True)
    # The last kill may land after the last write: then nothing is left to do.
    assert finished.returncode == (1 if still_old else 0), finished.stderr.decode()[-2000:]
    assert all(path.read_bytes() == new[path] for path in paths)
    again = subprocess.run(_command("check", str(tree)), check=False, env=environment, capture_output=True)
    assert again.returncode == 0
    assert again.stderr.decode().rstrip().endswith(f"0 files would be rewritten, {FILES} left unchanged, 0 errors")
