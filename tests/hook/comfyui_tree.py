"""A ComfyUI tree in miniature, started the way ComfyUI's main.py and nodes.py start one.

The start script is ours; it reproduces what a real start does that matters to the hook:
`comfy` is imported first; every `custom_nodes/*/prestartup_script.py` runs, in `os.listdir` order,
loaded by `spec_from_file_location` under its path less `.py`; then core's model module is imported
(`comfy_extras/nodes_wan.py` imports `comfy.ldm.wan.model_multitalk`); then each node folder is
loaded from its `__init__.py` by `spec_from_file_location` under a module name made from its path
(dots replaced by `_x_`), put in `sys.modules` first. The WanVideoWrapper node is the bundled one
(`fixtures/comfyui/custom_nodes/ComfyUI-WanVideoWrapper`): its `__init__.py` imports `nodes`, which imports the
model (`wanvideo.modules`), which imports `.multitalk.multitalk`, as upstream's does; `--cpu` gets it past
`comfy.model_management`'s device check; `site-packages/` beside the tree holds the `gguf` it requires.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.fixture_cases import installed_packages

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NODE_NAME = "ComfyUI-WanVideoWrapper"
WRAPPER_FILE = Path("custom_nodes") / NODE_NAME / "multitalk" / "multitalk.py"
CORE_FILE = Path("comfy") / "ldm" / "wan" / "model_multitalk.py"

MAIN = '''"""A ComfyUI start in miniature (see tests/hook/comfyui_tree.py)."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CUSTOM_NODES = os.path.join(HERE, "custom_nodes")
sys.path.append(os.path.join(os.path.dirname(HERE), "site-packages"))  # the venv's packages the node requires

import comfy.options  # noqa: E402  (main.py parses its command line before the prestartup scripts)
comfy.options.enable_args_parsing()
import comfy.cli_args  # noqa: E402


def execute_prestartup_script():
    for possible_module in os.listdir(CUSTOM_NODES):
        module_path = os.path.join(CUSTOM_NODES, possible_module)
        if os.path.isfile(module_path) or module_path.endswith(".disabled") or possible_module == "__pycache__":
            continue
        script_path = os.path.join(module_path, "prestartup_script.py")
        if os.path.exists(script_path):
            try:
                spec = importlib.util.spec_from_file_location(os.path.splitext(script_path)[0], script_path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except Exception as error:
                print(f"Failed to execute startup-script: {script_path} / {error}", file=sys.stderr)


def load_custom_node(module_path):
    sys_module_name = module_path.replace(".", "_x_")
    spec = importlib.util.spec_from_file_location(sys_module_name, os.path.join(module_path, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[sys_module_name] = module
    spec.loader.exec_module(module)
    return module


execute_prestartup_script()
if "torch" in sys.modules:
    print("WARNING: Potential Error in code: Torch already imported", file=sys.stderr)
import comfy_extras.nodes_wan  # noqa: E402
LOADED = {}
for name in os.listdir(CUSTOM_NODES):
    path = os.path.join(CUSTOM_NODES, name)
    if os.path.isdir(path) and not path.endswith(".disabled") and name != "__pycache__":
        LOADED[name] = load_custom_node(path)
print("Starting server", file=sys.stderr)
'''


def make_tree(directory: Path) -> Path:
    """A ComfyUI tree under `directory` (the bundled one, with its core file and its wrapper node); its path."""
    tree = directory / "ComfyUI"
    shutil.copytree(FIXTURES / "comfyui", tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "main.py").write_text(MAIN)
    (tree / "nodes.py").write_text('"""Node loading lives in main.py here."""\n')
    (tree / "folder_paths.py").write_text('"""Paths; unused here."""\n')
    (tree / "comfy_extras").mkdir()
    (tree / "comfy_extras" / "__init__.py").write_text("")
    (tree / "comfy_extras" / "nodes_wan.py").write_text("from comfy.ldm.wan import model_multitalk  # noqa: F401\n")
    installed_packages(directory / "site-packages")
    return tree
