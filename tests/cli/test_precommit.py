"""The hooks in .pre-commit-hooks.yaml, run by the real pre-commit tool in a throwaway git repository."""

from __future__ import annotations

import shutil
from pathlib import Path

from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES
from tests.precommit import commit_everything, needs_pre_commit, try_repo


pytestmark = needs_pre_commit


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "user-checkout"
    repo.mkdir()
    shutil.copy(CASES / "jan2026.in.py", repo / "multitalk.py")
    commit_everything(repo, "upstream multitalk.py")
    return repo


def test_fix_hook_fails_once_with_the_file_rewritten_then_passes(tmp_path: Path, environment: dict[str, str]) -> None:
    repo = _repo(tmp_path)
    first = try_repo(repo, "contiguify", environment, "multitalk.py")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout
    assert (repo / "multitalk.py").read_bytes() == rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new
    second = try_repo(repo, "contiguify", environment, "multitalk.py")
    assert second.returncode == 0, second.stdout + second.stderr


def test_check_hook_fails_with_the_diff_and_changes_nothing(tmp_path: Path, environment: dict[str, str]) -> None:
    repo = _repo(tmp_path)
    first = try_repo(repo, "contiguify-check", environment, "multitalk.py")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "+        x = x.view(B * N_t, S, self.dim).contiguous()" in first.stdout
    assert (repo / "multitalk.py").read_bytes() == (CASES / "jan2026.in.py").read_bytes()
