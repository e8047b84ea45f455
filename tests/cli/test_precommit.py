"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit tool in a throwaway git repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codemod.run.process import rewrite

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "fixtures" / "cases"

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or shutil.which("pre-commit", path=os.path.dirname(sys.executable)) is None,
    reason="needs git and pre-commit (the test extra installs pre-commit)",
)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _try_repo(repo: Path, hook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    pre_commit = shutil.which("pre-commit", path=os.path.dirname(sys.executable))
    assert pre_commit is not None
    return subprocess.run(
        [pre_commit, "try-repo", str(ROOT), hook, "--files", "multitalk.py"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One pre-commit cache for the module: the hook environment is built once."""
    env = dict(os.environ)
    env["PRE_COMMIT_HOME"] = str(tmp_path_factory.mktemp("pre-commit-home"))
    env.pop("VIRTUAL_ENV", None)
    return env


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "user-checkout"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "user@example.com")
    _git(repo, "config", "user.name", "user")
    shutil.copy(CASES / "jan2026.in.py", repo / "multitalk.py")
    _git(repo, "add", "multitalk.py")
    _git(repo, "commit", "-qm", "upstream multitalk.py")
    return repo


def test_fix_hook_fails_once_with_the_file_rewritten_then_passes(tmp_path: Path, environment: dict[str, str]) -> None:
    repo = _repo(tmp_path)
    first = _try_repo(repo, "contiguify", environment)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    assert (repo / "multitalk.py").read_bytes() == rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new
    second = _try_repo(repo, "contiguify", environment)
    assert second.returncode == 0, second.stdout + second.stderr


def test_check_hook_fails_with_the_diff_and_changes_nothing(tmp_path: Path, environment: dict[str, str]) -> None:
    repo = _repo(tmp_path)
    first = _try_repo(repo, "contiguify-check", environment)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "+        x = x.view(B * N_t, S, self.dim).contiguous()" in first.stdout
    assert (repo / "multitalk.py").read_bytes() == (CASES / "jan2026.in.py").read_bytes()
