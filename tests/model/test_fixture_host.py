"""The bundled ComfyUI tree keeps the hazards of the real one that a loader must get past.

Without them, the loader tests on the fixture would pass against a tree that is easier than the
users' trees. Each check imports the tree the plain way, as ComfyUI does or as a naive loader would,
in a fresh interpreter, and expects the failure the real tree gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from fixtures.builders import installed_packages
from fixtures.catalog import FIXTURES, WRAPPER

CHECK = textwrap.dedent('''
    import importlib.util, json, os, sys
    tree, node, mode = sys.argv[1:4]
    name = node.replace(".", "_x_")

    def import_node():
        """As ComfyUI's nodes.py loads a custom node: a package named after its path."""
        spec = importlib.util.spec_from_file_location(name, os.path.join(node, "__init__.py"),
                                                      submodule_search_locations=[node])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    sys.path.insert(0, tree)
    try:
        if mode == "no-cpu-flag":
            import_node()
        elif mode == "cpu-flag":
            import comfy.cli_args
            comfy.cli_args.args.cpu = True
            import_node()
        elif mode == "multitalk-first":
            import comfy.cli_args
            comfy.cli_args.args.cpu = True
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [node]
            package = importlib.util.module_from_spec(spec)
            sys.modules[name] = package
            importlib.import_module(name + ".multitalk.multitalk")
        elif mode == "node-on-path":
            sys.path.insert(0, node)
            import gguf
            gguf.GGML_QUANT_SIZES
        print(json.dumps({"ok": True}))
    except BaseException as error:
        print(json.dumps({"ok": False, "type": type(error).__name__, "message": str(error)}))
''')


def _run(mode: str, tmp_path: Path, with_gguf: bool = True) -> dict[str, object]:
    site = str(installed_packages(tmp_path / "site")) if with_gguf else ""
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(FIXTURES / "comfyui"), str(WRAPPER), mode],
        capture_output=True, text=True, check=False, env={"PYTHONPATH": site, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_node_folder_is_no_package_name() -> None:
    assert not WRAPPER.name.isidentifier()
    assert WRAPPER.parent.name == "custom_nodes"


def test_the_node_imports_as_comfyui_imports_it_with_its_cpu_flag(tmp_path: Path) -> None:
    assert _run("cpu-flag", tmp_path) == {"ok": True}


@pytest.mark.skipif(torch.cuda.is_available(), reason="the device check passes where CUDA is")
def test_without_the_cpu_flag_the_device_check_at_import_raises(tmp_path: Path) -> None:
    result = _run("no-cpu-flag", tmp_path)
    assert result["ok"] is False and "CUDA" in str(result["message"]), result


def test_importing_multitalk_before_the_model_trips_the_import_cycle(tmp_path: Path) -> None:
    result = _run("multitalk-first", tmp_path)
    assert result["ok"] is False and result["type"] == "ImportError", result
    assert "get_attn_map_with_target" in str(result["message"]), result


def test_the_node_folder_on_sys_path_shadows_the_gguf_dependency(tmp_path: Path) -> None:
    assert "gguf" in (WRAPPER / "requirements.txt").read_text()
    assert _run("node-on-path", tmp_path, with_gguf=False)["type"] == "AttributeError"
    assert _run("node-on-path", tmp_path, with_gguf=True) == {"ok": True}
