"""Records the layout of every tensor that reaches a kernel, and every `.contiguous()` a module executes.

Only metadata is read (contiguity, storage offset, shape, strides), so a recording works alike on
the meta device, on CPU and on CUDA; the meta device lets it run at full size without memory.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

ATTENTION_ARGS = ("q", "k", "v")
ALIGNMENT_BYTES = 16

SourcePosition = tuple[int, int]
"""(line, column) of the name `contiguous` in a call, columns in UTF-8 bytes as `ast` counts them."""

_NO_LINES: Mapping[int, str] = types.MappingProxyType({})
_NO_POSITIONS: Mapping[SourcePosition, str] = types.MappingProxyType({})
_TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep


@dataclass(frozen=True)
class Boundary:
    """A tensor reaching a kernel: an argument of `attention()` or the input of a linear layer."""

    line: int
    call: str
    arg: str
    contiguous: bool
    aligned16: bool
    shape: tuple[int, ...]
    stride: tuple[int, ...]


@dataclass(frozen=True)
class ContiguousCall:
    """One executed `.contiguous()`: whether it copied, and how many bytes.

    `column` is where the name `contiguous` starts on `line`; it tells apart two calls on one line.
    """

    line: int
    site: str | None
    copied: bool
    bytes: int
    column: int | None = None


@dataclass
class Recording:
    """What one `recording()` block saw, in execution order."""

    boundaries: list[Boundary] = field(default_factory=list)
    contiguous_calls: list[ContiguousCall] = field(default_factory=list)


def is_aligned16(tensor: torch.Tensor) -> bool:
    """Whether the data starts on a 16-byte boundary, assuming the storage itself does (allocators ensure it)."""
    return tensor.storage_offset() * tensor.element_size() % ALIGNMENT_BYTES == 0


def boundary(line: int, call: str, arg: str, tensor: torch.Tensor) -> Boundary:
    """The layout facts of `tensor` that a kernel depends on, read without touching its data."""
    return Boundary(
        line=line,
        call=call,
        arg=arg,
        contiguous=bool(tensor.is_contiguous()),  # some torch releases type it `bool | SymBool`
        aligned16=is_aligned16(tensor),
        shape=tuple(tensor.shape),
        stride=tuple(tensor.stride()),
    )


class _ModuleFrames:
    """Tells which frames run the recorded module's own code."""

    def __init__(self, module_file: str) -> None:
        self._module_file = os.path.realpath(module_file)
        self._in_module: dict[str, bool] = {}
        self._passed_through: dict[str, bool] = {}

    def _is_module(self, filename: str) -> bool:
        found = self._in_module.get(filename)
        if found is None:
            found = os.path.realpath(filename) == self._module_file
            self._in_module[filename] = found
        return found

    def _is_passed_through(self, filename: str) -> bool:
        """Frames between a layer's hook and the code that called the layer: torch's module calls and this file."""
        found = self._passed_through.get(filename)
        if found is None:
            resolved = os.path.realpath(filename)
            found = resolved == os.path.realpath(__file__) or resolved.startswith(_TORCH_DIR)
            self._passed_through[filename] = found
        return found

    def own(self, frame: types.FrameType | None) -> types.FrameType | None:
        """`frame` when it runs the module's code, else None."""
        return frame if frame is not None and self._is_module(frame.f_code.co_filename) else None

    def calling(self, frame: types.FrameType | None) -> types.FrameType | None:
        """The module frame that led to `frame` through torch and this file only, else None."""
        while frame is not None and self._is_passed_through(frame.f_code.co_filename):
            frame = frame.f_back
        return self.own(frame)


def _contiguous_name_positions(tree: ast.Module) -> dict[SourcePosition, SourcePosition]:
    """End of each `<expr>.contiguous(...)` call -> where its name `contiguous` starts.

    A frame's current instruction gives the call's end reliably across Python versions; its start differs.
    """
    found: dict[SourcePosition, SourcePosition] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "contiguous"
            and node.end_lineno is not None
            and node.end_col_offset is not None
            and node.func.end_lineno is not None
            and node.func.end_col_offset is not None
        ):
            name_start = node.func.end_col_offset - len("contiguous")
            found[(node.end_lineno, node.end_col_offset)] = (node.func.end_lineno, name_start)
    return found


class _ContiguousRecorder(TorchFunctionMode):
    """Sees every `Tensor.contiguous` call and keeps those the module's own code makes."""

    def __init__(
        self,
        frames: _ModuleFrames,
        tree: ast.Module,
        site_lines: Mapping[int, str],
        site_positions: Mapping[SourcePosition, str],
        into: list[ContiguousCall],
    ) -> None:
        super().__init__()
        self._frames = frames
        self._names = _contiguous_name_positions(tree)
        self._positions: dict[types.CodeType, list[tuple[int | None, int | None, int | None, int | None]]] = {}
        self._site_lines = site_lines
        self._site_positions = site_positions
        self._into = into

    def _name_position(self, frame: types.FrameType) -> SourcePosition | None:
        """Where the name `contiguous` of the call that `frame` is executing starts; None before Python 3.11."""
        positions = self._positions.get(frame.f_code)
        if positions is None:
            code_positions = getattr(frame.f_code, "co_positions", None)
            if code_positions is None:
                return None
            positions = list(code_positions())
            self._positions[frame.f_code] = positions
        index = frame.f_lasti // 2
        if not 0 <= index < len(positions):
            return None
        _, end_line, _, end_column = positions[index]
        if end_line is None or end_column is None:
            return None
        return self._names.get((end_line, end_column))

    def __torch_function__(
        self,
        func: Callable[..., Any],
        subclasses: Any,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.Tensor.contiguous and args and isinstance(args[0], torch.Tensor):
            # Only the module's own calls: one that torch code makes on the module's behalf is not a site.
            frame = self._frames.own(sys._getframe(1))
            if frame is not None:
                self._record(frame, args[0], kwargs.get("memory_format", torch.contiguous_format))
        return func(*args, **kwargs)

    def _record(self, frame: types.FrameType, tensor: torch.Tensor, memory_format: torch.memory_format) -> None:
        position = self._name_position(frame)
        line = frame.f_lineno if position is None else position[0]
        site = self._site_positions.get(position) if position is not None else None
        copied = not tensor.is_contiguous(memory_format=memory_format)
        self._into.append(
            ContiguousCall(
                line=line,
                site=site or self._site_lines.get(line),
                copied=copied,
                bytes=tensor.numel() * tensor.element_size() if copied else 0,
                column=None if position is None else position[1],
            )
        )


def _attention_homes(module: types.ModuleType, tree: ast.Module) -> list[types.ModuleType]:
    """The module itself when it holds `attention`, and every module it imports `attention` from.

    Forks that import `attention` inside each forward read it from its home module at call time, so
    that module's function has to be replaced as well.
    """
    homes = [module] if callable(getattr(module, "attention", None)) else []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not any(alias.name == "attention" for alias in node.names):
            continue
        name = importlib.util.resolve_name("." * node.level + (node.module or ""), module.__package__)
        home = sys.modules.get(name) or importlib.import_module(name)
        if callable(getattr(home, "attention", None)) and all(home is not seen for seen in homes):
            homes.append(home)
    return homes


@contextmanager
def _replaced(owner: object, name: str, value: object) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _recording_attention(
    original: Callable[..., Any], frames: _ModuleFrames, into: list[Boundary]
) -> Callable[..., Any]:
    @wraps(original)
    def attention(*args: Any, **kwargs: Any) -> Any:
        frame = frames.own(sys._getframe(1))
        if frame is not None:
            named = dict(zip(ATTENTION_ARGS, args))
            named.update((name, kwargs[name]) for name in ATTENTION_ARGS if name in kwargs)
            for name in ATTENTION_ARGS:
                tensor = named.get(name)
                if isinstance(tensor, torch.Tensor):
                    into.append(boundary(frame.f_lineno, "attention", name, tensor))
        return original(*args, **kwargs)

    return attention


def _linear_hook(
    name: str, frames: _ModuleFrames, into: list[Boundary]
) -> Callable[[torch.nn.Module, tuple[Any, ...], dict[str, Any]], None]:
    def record_input(layer: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        tensor = args[0] if args else kwargs.get("input")
        frame = frames.calling(sys._getframe(1))
        if frame is not None and isinstance(tensor, torch.Tensor):
            into.append(boundary(frame.f_lineno, name, "input", tensor))

    return record_input


@contextmanager
def recording(
    module: types.ModuleType,
    model: torch.nn.Module,
    site_lines: Mapping[int, str] = _NO_LINES,
    site_positions: Mapping[SourcePosition, str] = _NO_POSITIONS,
) -> Iterator[Recording]:
    """Record, while the block runs, what `module`'s code hands to kernels and what its `.contiguous()` calls do.

    Kernel boundaries: each of q, k, v passed to `attention()` (the module's own and the one in every
    module it imports `attention` from, which is called through) and the input of each `nn.Linear`
    child of `model` (`call` is its attribute name). Only calls made from `module.__file__` count.
    A `.contiguous()` call's site is `site_positions[(line, column of the name)]`, else `site_lines[line]`.
    """
    if module.__file__ is None:
        raise ValueError(f"module {module.__name__} has no file to attribute calls to")
    tree = ast.parse(Path(module.__file__).read_bytes())
    frames = _ModuleFrames(module.__file__)
    result = Recording()
    with ExitStack() as stack:
        for home in _attention_homes(module, tree):
            wrapper = _recording_attention(home.attention, frames, result.boundaries)
            stack.enter_context(_replaced(home, "attention", wrapper))
        for name, child in model.named_children():
            if isinstance(child, torch.nn.Linear):
                hook = _linear_hook(name, frames, result.boundaries)
                handle = child.register_forward_pre_hook(hook, with_kwargs=True)
                stack.callback(handle.remove)
        stack.enter_context(_ContiguousRecorder(frames, tree, site_lines, site_positions, result.contiguous_calls))
        yield result
