"""A way to see what a run parsed and touched (each test's own result cache is `own_cache` of tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from codemod.results import FileResult
from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES

# The seed rewrite of the current upstream layout (tests/rewrite checks it against the reviewed diff).
JAN2026_SEED = rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new or b""


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], list[str]]:
    """The paths handed to the parser so far, in order; recorded in a file, since workers parse."""
    from codemod.run import runner

    log = tmp_path_factory.mktemp("parsed") / "log"
    log.write_text("")
    original = runner.rewrite

    def recording(data: bytes, *settings: Any, path: str, **more: Any) -> FileResult:
        with log.open("a") as handle:
            handle.write(path + "\n")
        return original(data, *settings, path=path, **more)

    monkeypatch.setattr(runner, "rewrite", recording)
    return lambda: log.read_text().splitlines()


@dataclass(frozen=True)
class Snapshot:
    """What `fix` must leave alone in a file it does not change."""

    data: bytes
    mtime_ns: int
    mode: int

    @classmethod
    def of(cls, path: Path) -> Snapshot:
        status = path.stat()
        return cls(path.read_bytes(), status.st_mtime_ns, status.st_mode)


def all_files(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(folder, name), root)
            for folder, _, names in os.walk(root) for name in names}


def seed_rewrite(data: bytes) -> bytes:
    """What the seed profile makes of `data`, through the one rewrite entry point."""
    result = rewrite(data, "seed")
    assert result.new is not None and result.error is None, result.error
    return result.new
