"""What every suite shares: a private result cache, and the command line run in this process."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.cli_runner import Cli, run_main


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own result cache, never the user's, and uses it (`CONTIGUIFY_NO_CACHE` unset); its path."""
    cache = tmp_path_factory.mktemp("contiguify-cache")
    monkeypatch.setenv("CONTIGUIFY_CACHE_DIR", str(cache))
    monkeypatch.delenv("CONTIGUIFY_NO_CACHE", raising=False)
    return cache


@pytest.fixture
def cli(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`contiguify ARGS` in this process, through `main`: exit code, stdout, stderr (see tests/cli_runner.py)."""
    return functools.partial(run_main, capfd, monkeypatch)
