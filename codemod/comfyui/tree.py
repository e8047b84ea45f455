"""A ComfyUI tree and the small custom node that installs the import hook in it: install, uninstall, status.

ComfyUI runs every `custom_nodes/*/prestartup_script.py` before it imports any model or custom node
module, so the hook installed there sees both the custom nodes' files and ComfyUI core's. The node
folder holds two files, each starting with `MARKER`; uninstall removes files that start with it
(and the bytecode Python wrote for them), nothing else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

NODE_FOLDER = "contiguify"
MARKER = "# Written by `contiguify comfyui install`; `contiguify comfyui uninstall` removes it."
# What a ComfyUI tree holds: its start script, its node loader, the core package and the custom node folder.
TREE_FILES = ("main.py", "nodes.py", "folder_paths.py")
TREE_FOLDERS = ("comfy", "custom_nodes")
_PROFILE_LINE = re.compile(r"^PROFILE = '([a-z_]+)'$", re.MULTILINE)

PRESTARTUP = '''{marker}
"""Installs contiguify's import hook before ComfyUI imports any model or custom node module.

Target files (ComfyUI core's and the custom nodes') then run with the `.contiguous()` fix, applied in
memory: no file of the tree changes. The hook comes from the contiguify installed in the Python that
runs ComfyUI; without it, ComfyUI starts as it would without this folder.
"""

import os
import sys

PROFILE = {profile!r}
COMFYUI = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _roots():
    """The tree, and custom node folders configured elsewhere (extra_model_paths.yaml)."""
    roots = [COMFYUI]
    folder_paths = sys.modules.get("folder_paths")
    try:
        roots += [path for path in folder_paths.get_folder_paths("custom_nodes") if path not in roots]
    except Exception:  # an older ComfyUI, or none loaded: the tree alone
        pass
    return roots


try:
    from codemod.hook import install
except Exception as error:
    print(f"contiguify: not installed in the Python that runs ComfyUI ({{sys.executable}}: {{error}}); "
          "starting without the .contiguous() fix", file=sys.stderr)
else:
    try:
        install(_roots(), profile=PROFILE)
    except Exception as error:  # never stop ComfyUI's start
        print(f"contiguify: the import hook could not be installed ({{type(error).__name__}}: {{error}}); "
              "starting without the .contiguous() fix", file=sys.stderr)
'''

INIT = '''{marker}
"""contiguify registers no nodes: its prestartup_script.py installs the import hook."""

NODE_CLASS_MAPPINGS = {{}}
NODE_DISPLAY_NAME_MAPPINGS = {{}}
'''

FILES = {"prestartup_script.py": PRESTARTUP, "__init__.py": INIT}


class TreeError(ValueError):
    """Not a ComfyUI tree, or a node folder of that name that contiguify did not write."""


def tree_problem(directory: str) -> str | None:
    """Why `directory` is not a ComfyUI tree, or None."""
    if not os.path.isdir(directory):
        return "no such directory" if not os.path.exists(directory) else "not a directory"
    missing = [name for name in TREE_FILES if not os.path.isfile(os.path.join(directory, name))]
    missing += [f"{name}/" for name in TREE_FOLDERS if not os.path.isdir(os.path.join(directory, name))]
    if missing:
        return (f"not a ComfyUI tree (no {', '.join(missing)}); give the folder that holds ComfyUI's main.py "
                "and custom_nodes/")
    return None


def node_folder(directory: str) -> str:
    return os.path.join(directory, "custom_nodes", NODE_FOLDER)


def _ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\n") == MARKER
    except (OSError, UnicodeDecodeError):
        return False


def _checked(directory: str) -> str:
    problem = tree_problem(directory)
    if problem is not None:
        raise TreeError(f"{directory}: {problem}")
    return node_folder(directory)


def install(directory: str, profile: str) -> list[str]:
    """Write (or rewrite) the node folder; the paths written. Refuses a folder of that name that is not ours."""
    folder = _checked(directory)
    if os.path.lexists(folder):
        if not os.path.isdir(folder) or os.path.islink(folder):
            raise TreeError(f"{folder}: exists and is not a folder contiguify wrote; left as it is")
        foreign = sorted(name for name in os.listdir(folder)
                         if name != "__pycache__" and not (name in FILES and _ours(os.path.join(folder, name))))
        if foreign:
            raise TreeError(f"{folder}: exists and holds files contiguify did not write ({', '.join(foreign)}); "
                            "left as it is")
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, template in FILES.items():
        path = os.path.join(folder, name)
        temporary = f"{path}.{os.getpid()}.contiguify-tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(template.format(marker=MARKER, profile=profile))
        os.replace(temporary, path)
        written.append(path)
    return written


@dataclass(frozen=True)
class Uninstalled:
    removed: tuple[str, ...]
    kept: tuple[str, ...]  # files in the folder that contiguify did not write (or that were edited since)


def uninstall(directory: str) -> Uninstalled:
    """Remove the files install wrote, their bytecode, and the folder if that empties it."""
    folder = _checked(directory)
    if not os.path.isdir(folder) or os.path.islink(folder):
        return Uninstalled((), ())
    removed: list[str] = []
    for name in FILES:
        path = os.path.join(folder, name)
        if _ours(path):
            os.remove(path)
            removed.append(path)
    bytecode = os.path.join(folder, "__pycache__")
    if os.path.isdir(bytecode):
        stems = tuple(name.removesuffix(".py") + "." for name in FILES)
        for name in os.listdir(bytecode):
            if name.startswith(stems) and name.endswith(".pyc"):
                os.remove(os.path.join(bytecode, name))
                removed.append(os.path.join(bytecode, name))
        if not os.listdir(bytecode):
            os.rmdir(bytecode)
    kept = tuple(sorted(os.path.join(folder, name) for name in os.listdir(folder)))
    if not kept:
        os.rmdir(folder)
    return Uninstalled(tuple(removed), kept)


def installed_profile(directory: str) -> str | None:
    """The profile the installed hook applies, or None when the hook is not installed."""
    path = os.path.join(node_folder(directory), "prestartup_script.py")
    if not _ours(path):
        return None
    with open(path, encoding="utf-8") as handle:
        found = _PROFILE_LINE.search(handle.read())
    return found.group(1) if found else None


def loaded_directly(directory: str, path: str) -> bool:
    """A file ComfyUI loads itself from its path (`custom_nodes/<name>.py`): no import hook sees it."""
    folders = [os.path.join(directory, "custom_nodes")]
    return os.path.dirname(os.path.abspath(path)) in {os.path.abspath(folder) for folder in folders}

