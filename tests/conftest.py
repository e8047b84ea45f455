"""What every suite shares: a private result cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_result_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own result cache, never the user's."""
    monkeypatch.setenv("CONTIGUIFY_CACHE_DIR", str(tmp_path_factory.mktemp("contiguify-cache")))
