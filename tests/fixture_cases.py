"""The fixture cases and where each one runs: `fixtures/cases/<name>.in.py` and the manifest `cases.toml`.

A case the manifest does not list is a drop-in for `multitalk/multitalk.py` of the WanVideoWrapper node in the
ComfyUI checkout (`WRAPPER`) that imports and runs there as it stands (the runtime suite's variants). A listed case names the mini
checkout it runs in and its path there, or no checkout: a bare file, loaded on its own with its imports
stubbed. Free of torch.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codemod.config import ConfigError, Projects
from codemod.match.entry_points import EntryPoint

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
CASES = FIXTURES / "cases"
MANIFEST = "cases.toml"
CHECKOUTS = ("comfyui", "meigen", "wan2gp", "vendor")
# WanVideoWrapper as users have it: a custom node, in a folder whose name is no identifier, in a ComfyUI tree.
WRAPPER_NODE = PurePosixPath("custom_nodes/ComfyUI-WanVideoWrapper")
WRAPPER = FIXTURES / "comfyui" / WRAPPER_NODE
DROP_IN_CHECKOUT = "comfyui"
DROP_IN_PATH = WRAPPER_NODE / "multitalk/multitalk.py"
_KEYS = {"checkout": str, "path": str, "bundled": bool, "shape": str}


# The PyPI `gguf` package the node requires (requirements.txt), reduced to the names the node uses: for runs
# that import the node without stubs (a ComfyUI start), where it is installed.
GGUF_STAND_IN = """\
import enum

GGML_QUANT_SIZES = {}


class GGMLQuantizationType(enum.IntEnum):
    BF16 = 30


class GGUFReader:
    def __init__(self, path):
        self.tensors = []
"""


def installed_packages(directory: Path) -> Path:
    """A directory holding what a ComfyUI venv has installed for the bundled node and CI lacks (`gguf`); its path."""
    package = directory / "gguf"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(GGUF_STAND_IN)
    return directory


class ManifestError(ValueError):
    """`cases.toml` is unreadable, or names a case, checkout or key that does not exist."""


@dataclass(frozen=True)
class Case:
    """One `<name>.in.py`. `checkout` None: a bare file. `drop_in`: not in the manifest (see the module)."""

    name: str
    source: Path
    checkout: str | None
    path: PurePosixPath
    drop_in: bool
    bundled: bool = False
    shape: str = ""

    @property
    def checkout_root(self) -> Path | None:
        return None if self.checkout is None else FIXTURES / self.checkout

    @property
    def location(self) -> Path:
        """Where the case runs: its path in its checkout, or its own source when bare."""
        root = self.checkout_root
        return self.source if root is None else root / self.path

    @property
    def entry_points(self) -> tuple[EntryPoint, ...]:
        """The attention calls the tool knows in the case's checkout: its pyproject.toml's, then the built-ins."""
        project = Projects().for_file(str(self.location))
        if isinstance(project, ConfigError):
            raise ManifestError(str(project))
        return project.entry_points

    def place(self, workdir: Path) -> Path:
        """The case as a file in a copy of its checkout under `workdir` (alone there when bare); its path.

        Bytes are copied exactly, so CRLF and BOM cases keep theirs.
        """
        root = self.checkout_root
        if root is None:
            target = workdir / self.path
            target.parent.mkdir(parents=True, exist_ok=True)
        else:
            copy = workdir / root.name
            shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            target = copy / self.path
        target.write_bytes(self.source.read_bytes())
        return target


def _read_manifest(path: Path) -> dict[str, dict[str, object]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ManifestError(f"{path}: {error}") from error
    for name, table in document.items():
        if not isinstance(table, dict):
            raise ManifestError(f"{path}: [{name}] must be a table")
        for key, value in table.items():
            if key not in _KEYS:
                raise ManifestError(f"{path}: [{name}] unknown key {key!r} (known: {', '.join(_KEYS)})")
            if not isinstance(value, _KEYS[key]):
                raise ManifestError(f"{path}: [{name}] {key} must be a {_KEYS[key].__name__}")
        if table.get("checkout", DROP_IN_CHECKOUT) not in CHECKOUTS:
            raise ManifestError(f"{path}: [{name}] unknown checkout {table['checkout']!r} (known: {', '.join(CHECKOUTS)})")
        if ("checkout" in table) != ("path" in table):
            raise ManifestError(f"{path}: [{name}] checkout and path go together")
    return document


def cases(directory: Path = CASES) -> list[Case]:
    """Every `<name>.in.py` in `directory`, sorted by name, placed as the manifest says."""
    manifest = _read_manifest(directory / MANIFEST) if (directory / MANIFEST).is_file() else {}
    sources = {path.name.removesuffix(".in.py"): path for path in sorted(directory.glob("*.in.py"))}
    unknown = sorted(set(manifest) - set(sources))
    if unknown:
        raise ManifestError(f"{directory / MANIFEST}: no {unknown[0]}.in.py for [{unknown[0]}]")
    found: list[Case] = []
    for name, source in sources.items():
        if name not in manifest:
            found.append(Case(name, source, DROP_IN_CHECKOUT, DROP_IN_PATH, drop_in=True))
            continue
        table = manifest[name]
        checkout = table.get("checkout")
        path = PurePosixPath(str(table["path"])) if "path" in table else PurePosixPath(f"{name}.py")
        found.append(Case(
            name, source, None if checkout is None else str(checkout), path, drop_in=False,
            bundled=bool(table.get("bundled", False)), shape=str(table.get("shape", "")),
        ))
    return found
