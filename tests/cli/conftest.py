"""Fixtures of the command-line tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """For the real pre-commit (tests/precommit.py): one cache per module, so the hook environment is built once."""
    env = dict(os.environ)
    env["PRE_COMMIT_HOME"] = str(tmp_path_factory.mktemp("pre-commit-home"))
    env.pop("VIRTUAL_ENV", None)
    return env
