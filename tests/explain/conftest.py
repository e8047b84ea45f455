"""Imports of fixture code for the explain and recording tests: a file on its own, or a checkout copy."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from codemod.model.variants import ORIGINAL
from fixtures.catalog import FIXTURES, WRAPPER_NODE


_numbers = itertools.count()

ImportCheckout = Callable[[bytes], types.ModuleType]
ImportFile = Callable[[str], types.ModuleType]


def _forget(prefix: str) -> None:
    for name in [name for name in sys.modules if name == prefix or name.startswith(prefix + ".")]:
        del sys.modules[name]


@pytest.fixture
def import_checkout(tmp_path: Path) -> Iterator[ImportCheckout]:
    """Import a copy of the fixture checkout whose `multitalk.py` holds the given bytes; real `attention()`.

    The node is imported inside a copy of its ComfyUI tree through the loader explain uses, as its host
    imports it: a plain `import` of its `multitalk` would trip the node's own import cycle.
    """
    from codemod.model.load import Loaded, load

    opened: list[Loaded] = []

    def load_copy(multitalk: bytes) -> types.ModuleType:
        tree = tmp_path / f"ComfyUI_{next(_numbers)}"
        shutil.copytree(FIXTURES / "comfyui", tree, ignore=shutil.ignore_patterns("__pycache__"))
        target = tree / WRAPPER_NODE / "multitalk" / "multitalk.py"
        target.write_bytes(multitalk)
        loaded = load(target)
        opened.append(loaded)
        return loaded[ORIGINAL].module

    yield load_copy
    for loaded in opened:
        loaded.close()


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
