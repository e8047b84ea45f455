"""The update loop on a git checkout: fix, then revert before pulling, `git pull --ff-only` succeeds, fix again.

Without the revert the pull refuses (the fixed file is a local change), which is what a user meets today.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES, WRAPPER
from tests.cli_runner import invoke

FILE = Path("multitalk") / "multitalk.py"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": os.devnull}


def _git(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "pull.ff=only", *args], cwd=directory,
                          env={**os.environ, **GIT_ENV}, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_revert_pull_fix(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    shutil.copytree(WRAPPER, upstream, ignore=shutil.ignore_patterns("__pycache__"))
    assert _git(upstream, "init", "-q").returncode == 0
    _git(upstream, "add", "-A")
    assert _git(upstream, "commit", "-qm", "v1").returncode == 0
    checkout = tmp_path / "checkout"
    assert _git(tmp_path, "clone", "-q", str(upstream), str(checkout)).returncode == 0

    code, _, err = invoke("fix", str(checkout))
    assert code == 1, err  # rewritten
    fixed_v1 = (checkout / FILE).read_bytes()
    assert fixed_v1 != (upstream / FILE).read_bytes()

    # Upstream changes the forwards (the InfiniteTalk spelling of the multi-speaker views).
    (upstream / FILE).write_bytes((CASES / "infinitetalk_reshape.in.py").read_bytes())
    assert _git(upstream, "commit", "-qam", "v2").returncode == 0
    refused = _git(checkout, "pull", "-q", "--ff-only")
    assert refused.returncode != 0 and "multitalk/multitalk.py" in refused.stderr

    code, _, err = invoke("revert", str(checkout))
    assert code == 0 and "reverted" in err, err
    assert _git(checkout, "status", "--porcelain").stdout == ""
    pulled = _git(checkout, "pull", "-q", "--ff-only")
    assert pulled.returncode == 0, pulled.stderr
    code, _, err = invoke("fix", str(checkout))
    assert code == 1, err
    expected = rewrite((upstream / FILE).read_bytes(), "seed").new
    assert (checkout / FILE).read_bytes() == expected
    code, _, err = invoke("revert", str(checkout))
    assert code == 0 and (checkout / FILE).read_bytes() == (upstream / FILE).read_bytes()
    code, _, err = invoke("revert", str(checkout))
    assert code == 0 and "0 files reverted" in err  # a no-op on an unfixed checkout


def test_revert_reports_a_bad_file_and_goes_on(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_bytes(b"class SingleStreamAttention:\n    def forward(self, x):\n        return x.contiguous() +\n")
    good = tmp_path / "good.py"
    original = (CASES / "jan2026.in.py").read_bytes()
    fixed = rewrite(original, "seed").new
    assert fixed is not None
    good.write_bytes(fixed)
    code, _, err = invoke("revert", str(broken), str(good))
    assert code == 2
    [error] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "broken.py" in error and "syntax error" in error
    assert broken.read_bytes().endswith(b"x.contiguous() +\n")
    assert good.read_bytes() == original
    code, _, err = invoke("revert", "-")
    assert code == 2 and "standard input" in err
