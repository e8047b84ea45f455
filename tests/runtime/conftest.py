"""Shared copies of the fixture checkout for the runtime suite: each variant, original and per profile.

torch is imported by the test modules (`pytest.importorskip`), not here, so that without torch the
suite is skipped with its reason instead of failing to collect.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fixtures.harness.checkouts import Checkouts

RUNTIME = Path(__file__).resolve().parent
_open: list[Checkouts] = []


@pytest.fixture(scope="session")
def checkouts() -> Iterator[Checkouts]:
    """Loaded once per session: rewriting and importing a copy costs more than running it at the small shape."""
    from fixtures.harness.checkouts import Checkouts

    loaded = Checkouts()
    _open.append(loaded)
    yield loaded
    loaded.unload()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Forget the copies once the runtime tests are done: their modules (the ComfyUI tree's `comfy` among them)
    would otherwise stay in `sys.modules` for the tests after them, which import trees of their own."""
    if nextitem is None or not Path(nextitem.path).resolve().is_relative_to(RUNTIME):
        for loaded in _open:
            loaded.unload()


@pytest.fixture(scope="session", autouse=True)
def one_cpu_thread() -> Iterator[None]:
    """The small-shape tensors are tiny: on CPU, thread start-up costs more than it saves (7x on 2 cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
