"""Imports of fixture code for the explain and recording tests: a file on its own, or a checkout copy."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixture_cases import WRAPPER

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = WRAPPER

_numbers = itertools.count()

ImportCheckout = Callable[[bytes], types.ModuleType]
ImportFile = Callable[[str], types.ModuleType]


def _forget(prefix: str) -> None:
    for name in [name for name in sys.modules if name == prefix or name.startswith(prefix + ".")]:
        del sys.modules[name]


@pytest.fixture
def import_checkout(tmp_path: Path) -> Iterator[ImportCheckout]:
    """Import a copy of the fixture checkout whose `multitalk.py` holds the given bytes; real `attention()`."""
    packages: list[str] = []

    def load(multitalk: bytes) -> types.ModuleType:
        package = f"explain_checkout_{next(_numbers)}"
        copy = tmp_path / package
        shutil.copytree(CHECKOUT, copy)
        (copy / "multitalk" / "multitalk.py").write_bytes(multitalk)
        packages.append(package)
        return importlib.import_module(f"{package}.multitalk.multitalk")

    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield load
    sys.path.remove(str(tmp_path))
    for package in packages:
        _forget(package)


@pytest.fixture
def import_file(tmp_path: Path) -> Iterator[ImportFile]:
    """Import a single module written from the given source."""
    names: list[str] = []

    def load(source: str) -> types.ModuleType:
        name = f"explain_module_{next(_numbers)}"
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in names:
        _forget(name)
