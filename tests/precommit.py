"""The real pre-commit tool on a throwaway git repository, as the hook tests run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = shutil.which("pre-commit", path=os.path.dirname(sys.executable))

needs_pre_commit = pytest.mark.skipif(
    shutil.which("git") is None or PRE_COMMIT is None,
    reason="needs git and pre-commit (the test extra installs pre-commit)",
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit_everything(repo: Path, message: str) -> None:
    """`repo` (a directory with files) made a git repository whose one commit holds them all."""
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "user@example.com")
    _git(repo, "config", "user.name", "user")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", message)


def try_repo(repo: Path, hook: str, env: dict[str, str], *files: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` of this repository's hooks, on `files` of `repo`."""
    assert PRE_COMMIT is not None
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(ROOT), hook, "--files", *files],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
