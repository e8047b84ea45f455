"""Paths and the rewrite call shared by the suites."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CASES = FIXTURES / "cases"
CHECKOUT = FIXTURES / "wanvideowrapper"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
