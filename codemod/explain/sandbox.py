"""Imports a `multitalk.py` on its own, as a module of a throwaway package whose missing imports are stubs.

Users point explain at a single file, copied out of a checkout or downloaded; its relative imports
(`from ..wanvideo.modules.attention import attention`) and host-only modules (`comfy`) do not exist
here. Each is served by a stub module, and every stub's `attention` returns an empty tensor of the
right shape, so forwards run on the meta device without the real kernels.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import secrets
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch


class SandboxError(Exception):
    """The file cannot be imported, even with stubs."""


def empty_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """`attention()`'s result, [B, L_q, H, D_v] and contiguous as the real one's; no data on the meta device."""
    return q.new_zeros((*q.shape[:-1], v.shape[-1]))


class Stub:
    """Anything a stub module provides besides `attention`; it fails only where a forward really uses it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Stub:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return Stub(f"{self._name}.{attribute}")

    def __call__(self, *args: Any, **kwargs: Any) -> Stub:
        return Stub(f"{self._name}()")

    def __repr__(self) -> str:
        return f"<stub {self._name}>"


class StubModule(types.ModuleType):
    """A package of stubs, so that both `import a.b.c` and `from a.b import c` work below it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__path__: list[str] = []
        self.attention = empty_attention

    def __getattr__(self, attribute: str) -> Stub:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return Stub(f"{self.__name__}.{attribute}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on `sys.meta_path`, so it serves only what no real finder has.

    It serves the sandbox package's missing modules, the missing top-level modules the file imports,
    and what lies below a stub; a missing submodule of a real package stays an ImportError.
    """

    def __init__(self, package: str, absolute_roots: frozenset[str]) -> None:
        self._package = package
        self._absolute_roots = absolute_roots
        self.stubbed_roots: set[str] = set()

    def _serves(self, fullname: str) -> bool:
        if fullname == self._package or fullname.startswith(self._package + "."):
            return True
        parent, dot, _ = fullname.rpartition(".")
        if dot:
            return isinstance(sys.modules.get(parent), StubModule)
        return fullname in self._absolute_roots

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not self._serves(fullname):
            return None
        if not fullname.startswith(self._package + "."):
            self.stubbed_roots.add(fullname.partition(".")[0])
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return StubModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        """Stubs have no code."""


def _relative_depth(tree: ast.Module) -> int:
    """How many package levels the file's relative imports climb (at least 1)."""
    levels = [node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return max([1, *levels])


def _absolute_roots(tree: ast.Module) -> frozenset[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.partition(".")[0])
    return frozenset(roots)


class Sandbox:
    """A temporary package deep enough for the file's relative imports; modules are loaded into its innermost level."""

    def __init__(self, root: Path, package: str, depth: int, finder: _StubFinder) -> None:
        self._finder = finder
        self.package = ".".join([package, *(f"level{index}" for index in range(1, depth))])
        self._directory = root.joinpath(*self.package.split("."))
        self._directory.mkdir(parents=True)
        for level in range(depth):
            root.joinpath(*self.package.split(".")[: level + 1], "__init__.py").write_text("")

    @property
    def stubbed_libraries(self) -> list[str]:
        """Top-level modules the file imports that are not installed here; a forward that uses them fails."""
        return sorted(self._finder.stubbed_roots)

    def load(self, name: str, data: bytes) -> types.ModuleType:
        """Import `data` as module `name` of the sandbox; its line numbers are those of `data`.

        An `attention()` the file defines itself is replaced by `empty_attention` too: no real kernel runs.
        """
        path = self._directory / f"{name}.py"
        path.write_bytes(data)
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(f"{self.package}.{name}")
        except Exception as error:
            raise SandboxError(f"cannot import it: {type(error).__name__}: {error}") from error
        own_attention = getattr(module, "attention", None)
        if callable(own_attention) and getattr(own_attention, "__module__", None) == module.__name__:
            module.__dict__["attention"] = empty_attention
        return module


@contextmanager
def sandbox(source: bytes) -> Iterator[Sandbox]:
    """A sandbox for modules like `source`, removed with everything it imported when the block ends."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as error:
        raise SandboxError(f"cannot parse it: {error}") from error
    package = f"_contiguify_explain_{secrets.token_hex(4)}"
    root = Path(tempfile.mkdtemp(prefix="contiguify-explain-"))
    finder = _StubFinder(package, _absolute_roots(tree) - set(sys.builtin_module_names))
    modules_before = set(sys.modules)
    sys.path.insert(0, str(root))
    sys.meta_path.append(finder)
    try:
        yield Sandbox(root, package, _relative_depth(tree), finder)
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(root))
        for name in set(sys.modules) - modules_before:
            if name == package or name.startswith(package + ".") or isinstance(sys.modules[name], StubModule):
                del sys.modules[name]
        shutil.rmtree(root, ignore_errors=True)
