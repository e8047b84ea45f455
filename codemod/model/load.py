"""Imports a file (or several variants of it) inside its checkout, or on its own, stubbing only what cannot be imported.

In its checkout, each variant becomes a module of its own top-level package (`_contiguify_<id>_<variant>`)
whose packages are the real directories above the file, as deep as the file's relative imports climb
(and its `__init__.py` files reach): its siblings import from disk, as they would upstream, and
variants sit side by side in one process. The variant's bytes are executed from a temporary file, so
tracebacks and recordings point at its own lines. An absolute import that is not installed but is a
package or module in an ancestor directory of the importing file (ComfyUI's `comfy`, Wan2GP's
`shared`) is imported from there. What is still missing is a stub (see `stubs`), except an import
inside `try: ... except ImportError:` (or a broader handler): that one sees the real ImportError and
the module's own fallback runs. Nothing is written next to the file: no bytecode, no copies.

As its host would have them: the siblings a variant imports are imported before it (a checkout whose
modules import each other loads only in that order), a ComfyUI tree is in its CPU mode when the forwards
run on a CPU, folders inside the file's own package are never import roots (a `gguf/` folder is not the
`gguf` library), and NumPy is never stubbed (torch itself uses it).

While a variant imports, `torch.compile` and `torch.compiler.disable` are no-ops (see `eager_decorators`).
Loaded on its own (bytes, or `in_checkout=False`), the packages are empty and every relative import is a stub.
Everything imported for the load is forgotten again when the `Loaded` is closed.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import re
import secrets
import shutil
import sys
import tempfile
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.model.stubs import StubModule
from codemod.model.variants import ORIGINAL, Variant

# Never stubbed: torch imports NumPy itself when it is installed, and a stub in its place breaks torch's own
# code (meta-device linear layers with a bias); a file that needs it and cannot import it is a load error.
NEVER_STUBBED = frozenset({"numpy"})
_GUARDING_HANDLERS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})
_IMPORT_MACHINERY = frozenset({importlib.__file__})
_AVAILABILITY_CHECKS = frozenset({importlib.util.__file__})
# Source files whose imports are made on a forward's behalf (see `imports_on_behalf`).
_ON_BEHALF: set[str] = set()
_numbers = itertools.count()


def imports_on_behalf(source_file: str) -> None:
    """Declare that the code of `source_file` imports modules on a loaded forward's behalf (the recorder
    imports the home of an entry point that a forward imports inside itself): its imports are then
    treated as the forward's, never answered with a stub for the recorder alone."""
    _ON_BEHALF.add(source_file)


class LoadError(Exception):
    """A variant that cannot be imported, even with stubs; the message says why and names the stubs."""


def relative_depth(tree: ast.Module) -> int:
    """How many package levels the file's relative imports climb (at least 1)."""
    return max([1, *(node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom))])


def _inside(path: Path, directory: Path) -> bool:
    """Whether `path` is `directory` or below it (both as they resolve)."""
    try:
        resolved = path.resolve()
    except OSError:
        return False
    return resolved == directory or directory in resolved.parents


def _package_dirs(path: Path, depth: int) -> list[Path]:
    """The directories that are the file's packages, innermost last: `depth` levels, more if `__init__.py` goes on."""
    directories = [path.parent]
    while len(directories) < depth or (directories[0].parent / "__init__.py").is_file():
        parent = directories[0].parent
        if parent == directories[0]:
            break
        directories.insert(0, parent)
    return directories


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (isinstance(name, ast.Name) and name.id in _GUARDING_HANDLERS)
        or (isinstance(name, ast.Attribute) and name.attr in _GUARDING_HANDLERS)
        for name in names
    )


def _guarded_lines(filename: str) -> list[tuple[int, int]]:
    """Line ranges of `try` bodies whose handlers catch ImportError."""
    try:
        tree = ast.parse(Path(filename).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    ranges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and node.body and any(_catches_import_error(h) for h in node.handlers):
            ranges.append((node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno))
    return ranges


@dataclass(frozen=True)
class _Package:
    """One variant's top-level package: `name`, and how many levels the module sits below it."""

    name: str
    depth: int


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on `sys.meta_path`: it serves only what no real finder has, and only to the code this load imported."""

    def __init__(self, table: Sequence[EntryPoint], origin: Path | None, top: Path | None = None) -> None:
        self.table = table
        self._origin = origin
        self.top = top  # the file's outermost package directory: its ancestors above it are import roots
        self._guards: dict[str, list[tuple[int, int]]] = {}
        self.packages: list[_Package] = []
        self.stubbed: list[str] = []
        self.from_ancestors: set[str] = set()
        self._elsewhere: set[str] = set()  # top-level modules known not to be in an import root of the load
        self.variant_files: set[str] = set()
        self.created: set[str] = set()  # stubs this finder made: it alone serves their submodules

    def _owns(self, frame: types.FrameType) -> bool:
        """Whether `frame` runs code this load imported: a variant, a sibling, or a module from a parent directory
        (found by this finder, or by a real one where the working directory is on `sys.path`: `python -m` in a
        ComfyUI tree)."""
        name = str(frame.f_globals.get("__name__", ""))
        if self.package_of(name) is not None:
            return True
        top = name.partition(".")[0]
        if top not in self.from_ancestors and top not in self._elsewhere:
            (self.from_ancestors if self._in_an_import_root(top) else self._elsewhere).add(top)
        return top in self.from_ancestors

    def _in_an_import_root(self, top: str) -> bool:
        """Whether the module `top` lives right in a directory above the file's package (ComfyUI's root, say)."""
        if self._origin is None or self.top is None:
            return False
        module = sys.modules.get(top)
        locations = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
        for location in filter(None, locations):
            place = Path(location).resolve()
            home = place.parent.parent if place.name == "__init__.py" else place.parent
            if home in self.top.parents and home != self.top:
                return True
        return False

    def _importer(self) -> types.FrameType | None:
        """The frame whose code asked for the import; None for an availability check (`importlib.util.find_spec`)."""
        frame: types.FrameType | None = sys._getframe(2)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename in _AVAILABILITY_CHECKS:
                return None
            if not (filename.startswith("<frozen ") or filename in _IMPORT_MACHINERY):
                return frame
            frame = frame.f_back
        return None

    def _guarded(self, frame: types.FrameType) -> bool:
        filename = frame.f_code.co_filename
        if filename not in self._guards:
            self._guards[filename] = _guarded_lines(filename)
        return any(start <= frame.f_lineno <= end for start, end in self._guards[filename])

    def package_of(self, fullname: str) -> _Package | None:
        return next((p for p in self.packages if fullname == p.name or fullname.startswith(p.name + ".")), None)

    def _from_ancestor(self, name: str, importer: str) -> importlib.machinery.ModuleSpec | None:
        """`name` as a package or module in an ancestor directory of the importing file (the real file's, for a variant)."""
        if self._origin is None:
            return None
        start = self._origin if importer in self.variant_files else Path(importer)
        for ancestor in start.resolve().parents:
            if self.top is not None and _inside(ancestor, self.top):
                continue  # inside the file's own package: a folder there is no installed package (`gguf/`)
            if (ancestor / name).is_dir() or (ancestor / f"{name}.py").is_file():
                spec = importlib.machinery.PathFinder.find_spec(name, [str(ancestor)])
                if spec is not None:
                    self.from_ancestors.add(name)
                    return spec
        return None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parent, dot, _ = fullname.rpartition(".")
        below_stub = bool(dot) and parent in self.created and isinstance(sys.modules.get(parent), StubModule)
        package = self.package_of(fullname)
        if not (below_stub or package is not None or not dot):
            return None  # a missing submodule of a real package stays an ImportError
        if fullname.partition(".")[0] in NEVER_STUBBED:
            return None
        top_level = not below_stub and package is None
        importer = self._importer()
        if importer is None:
            return None
        if importer.f_code.co_filename == __file__ and self._origin is not None:
            importer_file = str(self._origin)  # this module imports on the file's behalf (see `_import_dependencies_first`)
        else:
            on_behalf = importer.f_code.co_filename in _ON_BEHALF
            if top_level and (on_behalf or not self._owns(importer)):
                return None  # asked for by code outside the load (torch's optional modules), or only by the recorder
            if not on_behalf and self._guarded(importer):
                return None
            importer_file = importer.f_code.co_filename
        if top_level and self._origin is not None:
            found = self._from_ancestor(fullname, importer_file)
            if found is not None:
                return found
        shown = fullname if package is None else "." * package.depth + fullname[len(package.name) + 1:]
        if shown not in self.stubbed:
            self.stubbed.append(shown)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        self.created.add(spec.name)
        return StubModule(spec.name, self.table)

    def exec_module(self, module: types.ModuleType) -> None:
        """Stubs have no code."""


@dataclass(frozen=True)
class LoadedModule:
    """One imported variant: `module.__file__` is the temporary file it runs from, holding `variant.data`."""

    variant: Variant
    module: types.ModuleType

    @property
    def file(self) -> Path:
        assert self.module.__file__ is not None
        return Path(self.module.__file__)


class Loaded:
    """The imported variants, by name; close it (or use it as a context manager) to forget everything it imported."""

    _open: int = 0  # Loaded objects open in this process; bytecode writing is off while any is
    _write_bytecode = sys.dont_write_bytecode

    def __init__(self, finder: _Finder, workdir: Path, in_checkout: bool) -> None:
        self._finder = finder
        self._workdir = workdir
        self._modules_before = set(sys.modules)
        self._closed = False
        self.in_checkout = in_checkout
        self.modules: dict[str, LoadedModule] = {}
        self.notes: list[str] = []  # how the file was loaded, where that is not plain (CPU mode, bare fallback)
        self._path_before = list(sys.path)
        if finder.top is not None:  # a folder of the checkout on sys.path (the working directory) shadows nothing
            sys.path[:] = [entry for entry in sys.path if not _inside(Path(entry or "."), finder.top)]
        if Loaded._open == 0:
            Loaded._write_bytecode = sys.dont_write_bytecode
        Loaded._open += 1
        sys.dont_write_bytecode = True
        sys.meta_path.append(finder)

    def __getitem__(self, variant: str) -> LoadedModule:
        return self.modules[variant]

    @property
    def stubbed(self) -> tuple[str, ...]:
        """Modules that could not be imported and were stubbed, as the code names them (`..utils.x` when relative).

        A stub's submodules are left out when the submodule is listed (`xformers.ops`, not also `xformers`).
        """
        names = self._finder.stubbed
        return tuple(sorted(n for n in names if not any(other.startswith(n + ".") for other in names)))

    @property
    def entry_points(self) -> Sequence[EntryPoint]:
        """The entry-point table the stubs serve, for `recording`."""
        return self._finder.table

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sys.meta_path.remove(self._finder)
        if self._finder.top is not None:
            sys.path[:] = self._path_before
        Loaded._open -= 1
        if Loaded._open == 0:
            sys.dont_write_bytecode = Loaded._write_bytecode
        roots = self._finder.from_ancestors
        for name in set(sys.modules) - self._modules_before:
            module = sys.modules[name]
            if (
                self._finder.package_of(name) is not None
                or isinstance(module, StubModule)
                or name.partition(".")[0] in roots
            ):
                del sys.modules[name]
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Loaded:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


def _synthetic_package(name: str, directory: Path | None) -> types.ModuleType:
    """A package that is only a name and a search path: its `__init__.py` does not run (upstream's pulls in the world)."""
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [] if directory is None else [str(directory)]
    package = importlib.util.module_from_spec(spec)
    package.__path__ = list(spec.submodule_search_locations)
    return package


def _safe(label: str) -> str:
    return re.sub(r"\W", "_", label)


def _import_variant(
    finder: _Finder, workdir: Path, variant: Variant, path: Path, directories: Sequence[Path], in_checkout: bool
) -> types.ModuleType:
    top = f"_contiguify_{secrets.token_hex(3)}_{next(_numbers)}_{_safe(variant.name)}"
    finder.packages.append(_Package(top, len(directories)))
    names = [top, *(_safe(directory.name) for directory in directories[1:])]
    package_name = ""
    for level, (name, directory) in enumerate(zip(names, directories)):
        full = name if level == 0 else f"{package_name}.{name}"
        package = _synthetic_package(full, directory if in_checkout else None)
        sys.modules[full] = package
        if package_name:
            setattr(sys.modules[package_name], name, package)
        package_name = full
    source = workdir / _safe(variant.name) / path.name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(variant.data)
    finder.variant_files.add(str(source))
    module_name = f"{package_name}.{_safe(path.stem)}"
    if in_checkout:
        _import_dependencies_first(variant.data, package_name)
    spec = importlib.util.spec_from_file_location(module_name, source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _module_level_imports(tree: ast.Module) -> Iterator[ast.ImportFrom]:
    """The relative imports the module makes as it loads (inside `if` and `try` too, not inside functions)."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            pending.extend(ast.iter_child_nodes(node))  # type: ignore[arg-type]
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)


def _import_dependencies_first(data: bytes, package: str) -> None:
    """Import the sibling modules the file imports before the file itself, as its host's package import does.

    A checkout whose modules import each other (WanVideoWrapper: `multitalk.multitalk` imports
    `wanvideo.modules.attention`, whose package imports `model.py`, which imports `multitalk.multitalk`)
    loads only in the order its host imports it: siblings first, each taking the file from disk. A
    sibling that fails here fails again, with its real error, when the file itself imports it.
    """
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return
    for node in _module_level_imports(tree):
        name = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported when the file's own import runs into it
            continue


@contextmanager
def replaced(owner: object, name: str, value: object) -> Iterator[None]:
    """`owner.name = value` for the block; an attribute the owner only inherited is deleted again afterwards."""
    own = name in getattr(owner, "__dict__", {})
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if own:
            setattr(owner, name, original)
        else:
            delattr(owner, name)


def _no_compile(model: Any = None, **options: Any) -> Any:
    """`torch.compile` while modules load: the function itself, also when used as `@torch.compile(...)`."""
    return model if model is not None else (lambda function: function)


def _no_disable(fn: Any = None, recursive: bool = True, **options: Any) -> Any:
    """`torch.compiler.disable` while modules load: the function itself, also as `@torch.compiler.disable()`."""
    return fn if fn is not None else (lambda function: function)


@contextmanager
def eager_decorators() -> Iterator[None]:
    """`torch.compile` and `torch.compiler.disable` hand functions back unchanged while modules are imported.

    explain and verify run forwards eagerly: explain records every tensor operation, verify compares
    the code as written. The real decorators would import torch's compiler stack (TorchDynamo, about
    2 s on 2 cores) only to wrap functions that are then not to be compiled.
    """
    import torch

    with replaced(torch, "compile", _no_compile), replaced(torch.compiler, "disable", _no_disable):
        yield


def _comfyui_root(path: Path) -> Path | None:
    """The ComfyUI tree the file is in (its `comfy/` and custom nodes alike), if any."""
    return next((parent for parent in path.parents if (parent / "comfy" / "cli_args.py").is_file()), None)


def _host_cpu_mode(finder: _Finder, path: Path) -> list[str]:
    """Put the host the file lives in into its CPU mode before its code checks the device at import.

    ComfyUI's `comfy/model_management.py` raises at import on a machine without CUDA unless
    `comfy.cli_args.args.cpu` is set, which its `--cpu` flag does; it is set here the same way.
    """
    root = _comfyui_root(path)
    if root is None:
        return []
    try:
        cli_args = importlib.import_module("comfy.cli_args")
        cli_args.args.cpu = True
    except Exception as error:  # noqa: BLE001 - a fork with other options: said, and the load goes on
        return [f"could not put the ComfyUI tree {root} into CPU mode (comfy.cli_args.args.cpu): "
                f"{type(error).__name__}: {error}"]
    return [f"ComfyUI tree {root} in CPU mode, as with its --cpu"]


@contextmanager
def cpu_device_queries(device: str) -> Iterator[None]:
    """On a CPU run without CUDA, the device queries that Wan2GP makes at import answer instead of raising:
    `torch.cuda.get_device_capability()` (0, 0), as for a device without tensor cores (its `shared/`
    picks attention kernels by it), and `torch.cuda.current_device()` 0 (July 2025 versions use it as a
    default argument in a class body)."""
    import torch

    if device != "cpu" or torch.cuda.is_available():
        yield
        return
    with replaced(torch.cuda, "get_device_capability", lambda device=None: (0, 0)), \
            replaced(torch.cuda, "current_device", lambda: 0):
        yield


def _host_attention_mode() -> list[str]:
    """What a host sets up before its forwards run, where the file's code depends on it.

    Wan2GP's `pay_attention` reads the attention mode from `mmgp.offload.shared_state["_attention"]`,
    which its `wgp.py` sets at start-up: where the loaded code imported mmgp and no mode is set, it is
    set to "sdpa", the mode that runs everywhere.
    """
    # `from mmgp import offload`: the submodule, or, where mmgp is not installed, its stub's attribute
    offload = sys.modules.get("mmgp.offload") or getattr(sys.modules.get("mmgp"), "offload", None)
    if offload is None:
        return []
    state = getattr(offload, "shared_state", None)
    if not isinstance(state, dict):  # mmgp is not installed here: its stub gets the state wgp.py sets up
        state = {}
        setattr(offload, "shared_state", state)
    if "_attention" in state:
        return []
    state["_attention"] = "sdpa"
    return ["attention mode 'sdpa' set in mmgp.offload.shared_state['_attention'], as Wan2GP's wgp.py sets one"]


def load(
    source: Path | bytes,
    variants: Sequence[Variant] | None = None,
    *,
    in_checkout: bool = True,
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
    device: str = "cpu",
    bare_fallback: bool = False,
) -> Loaded:
    """Import each of `variants` (default: the file as it is) as the module at `source`.

    `source` is the file's path (its checkout supplies the siblings unless `in_checkout` is False) or,
    for a file with no home, its bytes. `entry_points`: the table whose names stubs serve with a
    reference kernel. `device`: where the forwards will run; on "cpu" the file's host is put into its
    CPU mode first. `bare_fallback`: when the file cannot be imported in its checkout, import it on its
    own, and say so in `Loaded.notes`. Raises `LoadError` when a variant cannot be imported.
    """
    try:
        return _load(source, variants, in_checkout, entry_points, device)
    except LoadError as error:
        if not (bare_fallback and in_checkout and isinstance(source, Path)):
            raise
        try:
            loaded = _load(source, variants, False, entry_points, device)
        except LoadError as bare_error:
            raise LoadError(f"{error}; on its own (bare): {bare_error}") from bare_error
        loaded.notes.insert(0, f"imported on its own (bare: its relative imports stubbed), since in its checkout "
                               f"{error}")
        return loaded


def _load(
    source: Path | bytes,
    variants: Sequence[Variant] | None,
    in_checkout: bool,
    entry_points: Sequence[EntryPoint],
    device: str,
) -> Loaded:
    path = source if isinstance(source, Path) else Path("module.py")
    data = path.read_bytes() if isinstance(source, Path) and variants is None else source
    chosen = list(variants) if variants is not None else [Variant(ORIGINAL, data if isinstance(data, bytes) else b"")]
    in_checkout = in_checkout and isinstance(source, Path)
    try:
        depth = max(relative_depth(ast.parse(variant.data)) for variant in chosen)
    except (SyntaxError, ValueError) as error:
        raise LoadError(f"cannot parse it: {error}") from error
    resolved = path.resolve() if in_checkout else path
    directories = _package_dirs(resolved, depth) if in_checkout else [Path(f"level{i}") for i in range(depth)]
    finder = _Finder(entry_points, resolved if in_checkout else None, directories[0] if in_checkout else None)
    loaded = Loaded(finder, Path(tempfile.mkdtemp(prefix="contiguify-")), in_checkout)
    importlib.invalidate_caches()
    if in_checkout and device == "cpu":
        loaded.notes.extend(_host_cpu_mode(finder, resolved))
    for variant in chosen:
        try:
            with eager_decorators(), cpu_device_queries(device):
                module = _import_variant(finder, loaded._workdir, variant, resolved, directories, in_checkout)
        except Exception as error:
            stubs = loaded.stubbed
            loaded.close()
            hint = f" (stubbed, not importable here: {', '.join(stubs)})" if stubs else ""
            raise LoadError(f"{variant.name}: cannot import it: {type(error).__name__}: {error}{hint}") from error
        loaded.modules[variant.name] = LoadedModule(variant, module)
    if in_checkout:
        loaded.notes.extend(_host_attention_mode())
    return loaded

