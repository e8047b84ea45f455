"""Records the layout of every tensor that reaches a kernel, and every `.contiguous()` a module executes.

Kernel inputs are q, k and v at each attention entry point the module's code calls (one table,
`codemod.match.entry_points`, says which callables those are and in which layout each takes its
tensors) and the input of each linear layer of the model. Only metadata is read (contiguity,
storage offset, shape, strides), so a recording works alike on the meta device, on CPU and on
CUDA; the meta device lets it run at full size without memory.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from codemod.match.contiguous import is_contiguous_ast
from codemod.match.entry_points import ENTRY_POINTS, TENSOR_NAMES, EntryPoint, dotted_name_ast, find_entry_point
from codemod.model.load import imports_on_behalf, replaced
from codemod.model.positions import SourcePosition, name_position
from codemod.model.stubs import entry_tensors, reference_attention

imports_on_behalf(__file__)  # `_resolve_roots` imports the homes of entry points a forward imports inside itself

ALIGNMENT_BYTES = 16

_NO_LINES: Mapping[int, str] = types.MappingProxyType({})
_NO_POSITIONS: Mapping[SourcePosition, str] = types.MappingProxyType({})
_TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep


@dataclass(frozen=True)
class Boundary:
    """A tensor reaching a kernel: q, k or v of an attention entry point, or the input of a linear layer.

    `call`: the entry point as the code names it (`attention`, `xformers.ops.memory_efficient_attention`)
    or the linear layer's attribute name. `layout`: the entry point's layout for this call (`B H L D`
    for ComfyUI's `skip_reshape=True`); None for a linear layer. `dense`: no gaps and no overlaps,
    possibly permuted (what a kernel reading through strides in another order can still take whole).
    """

    line: int
    call: str
    arg: str
    contiguous: bool
    dense: bool
    aligned16: bool
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    layout: str | None = None

    @property
    def is_attention(self) -> bool:
        return self.layout is not None


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


def is_dense(tensor: torch.Tensor) -> bool:
    """Whether the elements fill a block of memory exactly once, in some order of the dimensions."""
    extents = sorted((stride, size) for stride, size in zip(tensor.stride(), tensor.shape) if size != 1)
    expected = 1
    for stride, size in extents:
        if stride != expected:
            return False
        expected *= size
    return True


def boundary(line: int, call: str, arg: str, tensor: torch.Tensor, layout: str | None = None) -> Boundary:
    """The layout facts of `tensor` that a kernel depends on, read without touching its data."""
    return Boundary(
        line=line,
        call=call,
        arg=arg,
        contiguous=bool(tensor.is_contiguous()),
        dense=is_dense(tensor),
        aligned16=is_aligned16(tensor),
        shape=tuple(tensor.shape),
        stride=tuple(tensor.stride()),
        layout=layout,
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
    return {
        (node.end_lineno, node.end_col_offset): name_position(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and is_contiguous_ast(node)
        and node.end_lineno is not None and node.end_col_offset is not None
    }


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


def _import_homes(tree: ast.Module, package: str | None) -> dict[str, list[tuple[str, str | None]]]:
    """Local name -> (module to import, attribute of it or None) for every import in the file, functions included.

    Forks import `attention` inside each forward; the callable they reach is then the one in its home module.
    """
    homes: dict[str, list[tuple[str, str | None]]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            try:
                module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            except ImportError:
                continue
            for alias in node.names:
                homes.setdefault(alias.asname or alias.name, []).append((module, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    homes.setdefault(alias.asname, []).append((alias.name, None))
                else:
                    root = alias.name.partition(".")[0]
                    homes.setdefault(root, []).append((root, None))
    return homes


def _resolve_roots(module: types.ModuleType, name: str, homes: Mapping[str, list[tuple[str, str | None]]]) -> list[object]:
    """What `name` can be when the module's code runs: its global, and what each import of it yields."""
    found: list[object] = []
    if name in module.__dict__:
        found.append(module.__dict__[name])
    for home, attribute in homes.get(name, []):
        try:
            imported: object = sys.modules.get(home) or importlib.import_module(home)
            if attribute is not None:
                imported = getattr(imported, attribute)
        except (ImportError, AttributeError):
            continue
        if all(imported is not seen for seen in found):
            found.append(imported)
    return found


@dataclass(frozen=True)
class _Target:
    """An attribute to replace while recording: `owner.attribute` is the entry point `entry`, called as `dotted`."""

    owner: object
    attribute: str
    dotted: str
    entry: EntryPoint


def entry_point_targets(module: types.ModuleType, table: Sequence[EntryPoint] = ENTRY_POINTS) -> list[_Target]:
    """Every entry point the module's code calls, as the attribute that holds the callable it reaches.

    A call `a.b.c(...)` that is an entry point reaches `c` of what `a.b` is: a module global, an
    imported module (`xformers.ops`, `F`), a class (`FusedSDPA.apply`); a bare name reaches the
    module's global and, for a name imported inside a function, the attribute of its home module.
    """
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_bytes())
    homes = _import_homes(tree, module.__package__)
    targets: list[_Target] = []
    seen: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or (dotted := dotted_name_ast(node.func)) is None:
            continue
        entry = find_entry_point(dotted, table)
        if entry is None:
            continue
        *path, attribute = dotted.split(".")
        if path:
            owners = _resolve_roots(module, path[0], homes)
            for step in path[1:]:
                owners = [getattr(owner, step) for owner in owners if hasattr(owner, step)]
            places = [(owner, attribute) for owner in owners]
        else:
            places = [(module, attribute)]
            for home, imported in homes.get(attribute, []):
                if imported is not None:
                    try:
                        places.append((sys.modules.get(home) or importlib.import_module(home), imported))
                    except ImportError:
                        continue
        for owner, attribute in places:
            if (id(owner), attribute) not in seen and callable(getattr(owner, attribute, None)):
                seen.add((id(owner), attribute))
                targets.append(_Target(owner, attribute, dotted, entry))
    return targets


class _Depth:
    """How many recorded entry-point calls are running: an entry point that calls another is one kernel call."""

    value = 0


def _recording_entry_point(
    original: Callable[..., Any], target: _Target, frames: _ModuleFrames, depth: _Depth, into: list[Boundary]
) -> Callable[..., Any]:
    @wraps(original)
    def entry_point(*args: Any, **kwargs: Any) -> Any:
        frame = frames.own(sys._getframe(1))
        if frame is not None and depth.value == 0:
            layout = target.entry.layout_for(kwargs)
            tensors = entry_tensors(target.entry, args, kwargs)
            for name in TENSOR_NAMES:
                tensor = tensors.get(name)
                if isinstance(tensor, torch.Tensor):
                    into.append(boundary(frame.f_lineno, target.dotted, name, tensor, layout))
        depth.value += 1
        try:
            return original(*args, **kwargs)
        finally:
            depth.value -= 1

    return entry_point


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
def reference_kernels(module: types.ModuleType, table: Sequence[EntryPoint] = ENTRY_POINTS) -> Iterator[list[str]]:
    """Every entry point `module` calls served by `reference_attention` (sdpa in its layout) for the block.

    For a real kernel that cannot run where the forward runs (ComfyUI's `optimized_attention` asks CUDA
    for free memory on any device that is not the CPU, the meta device included). Yields the calls replaced.
    """
    with ExitStack() as stack:
        replaced_calls: list[str] = []
        for target in entry_point_targets(module, table):
            stack.enter_context(replaced(target.owner, target.attribute, reference_attention(target.entry)))
            replaced_calls.append(f"{target.dotted}()")
        yield list(dict.fromkeys(replaced_calls))


@contextmanager
def recording(
    module: types.ModuleType,
    model: torch.nn.Module,
    site_lines: Mapping[int, str] = _NO_LINES,
    site_positions: Mapping[SourcePosition, str] = _NO_POSITIONS,
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
) -> Iterator[Recording]:
    """Record, while the block runs, what `module`'s code hands to kernels and what its `.contiguous()` calls do.

    Kernel boundaries: q, k and v of every call the module's code makes to an entry point of
    `entry_points` (see `entry_point_targets`; an entry point called from inside another counts
    once), and the input of each `nn.Linear` in `model` (`call` is its attribute name). Only calls
    made from `module.__file__` count. A `.contiguous()` call's site is
    `site_positions[(line, column of the name)]`, else `site_lines[line]`.
    """
    if module.__file__ is None:
        raise ValueError(f"module {module.__name__} has no file to attribute calls to")
    tree = ast.parse(Path(module.__file__).read_bytes())
    frames = _ModuleFrames(module.__file__)
    result = Recording()
    depth = _Depth()
    with ExitStack() as stack:
        for target in entry_point_targets(module, entry_points):
            original = getattr(target.owner, target.attribute)
            wrapper = _recording_entry_point(original, target, frames, depth, result.boundaries)
            stack.enter_context(replaced(target.owner, target.attribute, wrapper))
        for name, child in model.named_modules():
            if isinstance(child, torch.nn.Linear):
                hook = _linear_hook(name, frames, result.boundaries)
                handle = child.register_forward_pre_hook(hook, with_kwargs=True)
                stack.callback(handle.remove)
        stack.enter_context(_ContiguousRecorder(frames, tree, site_lines, site_positions, result.contiguous_calls))
        yield result
