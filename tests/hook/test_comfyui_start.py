"""`contiguify comfyui install`, then a ComfyUI start as the real loader does it (fixtures/builders.py).

In a child process: the wrapper's and core's target forwards hold the rewrite's calls and compute what
the originals compute on CPU; no file of the tree changes; after `uninstall` the next start runs the
files as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codemod.config import Project, Projects
from codemod.rewrite.file import rewrite
from tests.cli_runner import invoke

from fixtures.builders import CORE_FILE, WRAPPER_FILE, make_tree

pytest.importorskip("torch")

START = """
import dis, json, os, runpy, sys, types
sys.path.insert(0, os.getcwd())
sys.argv = ["main.py", "--cpu"]
runpy.run_path("main.py", run_name="__main__")
import torch
from codemod.model.build import build
from codemod.model.scenarios import forward_inputs, run_forward, scenarios
from codemod.model.shape import SMALL

def calls(function):
    return sum(instruction.argval == "contiguous" for instruction in dis.get_instructions(function))

def original(module):
    fresh = types.ModuleType(module.__name__ + "_as_on_disk")
    fresh.__package__, fresh.__file__ = module.__package__, module.__file__
    with open(module.__file__, "rb") as handle:
        exec(compile(handle.read(), module.__file__, "exec"), fresh.__dict__)
    return fresh

report = {}
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    if not path.endswith(("multitalk/multitalk.py", "model_multitalk.py")):
        continue
    plain = original(module)
    entry = report[os.path.relpath(path)] = {"module": module.__name__, "calls": {}, "equal": {}}
    for name in ("SingleStreamAttention", "SingleStreamMultiAttention"):
        cls = getattr(module, name)
        entry["calls"][name] = calls(cls.forward)
        for scenario in scenarios(cls):
            inputs = forward_inputs(SMALL, scenario, torch.float32, "cpu")
            ours = run_forward(build(cls, SMALL), inputs.clone())
            theirs = run_forward(build(getattr(plain, name), SMALL), inputs.clone())
            entry["equal"][f"{name}/{scenario.name}"] = bool(torch.equal(ours, theirs))
print(json.dumps(report))
"""


def _start(tree: Path, cache: Path) -> tuple[dict[str, dict[str, object]], list[str]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONTIGUIFY_")}
    env["CONTIGUIFY_CACHE_DIR"] = str(cache)
    done = subprocess.run([sys.executable, "-c", START], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Failed to execute startup-script" not in done.stderr and "Torch already imported" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("contiguify:")]
    return json.loads(done.stdout.strip().splitlines()[-1]), lines


def _expected(tree: Path, relative: Path) -> dict[str, int]:
    """The calls the seed rewrite (what `fix` writes) puts in each class's forward, with the file's own settings."""
    path = tree / relative
    project = Projects().for_file(str(path))
    assert isinstance(project, Project)
    result = rewrite(path.read_bytes(), "seed", project.targets_for(str(path)), entry_points=project.entry_points)
    assert result.error is None
    counts: dict[str, int] = {}
    for target in result.targets:
        counts[target.class_name] = counts.get(target.class_name, 0) + target.inserted
    return counts


def _hashes(tree: Path) -> dict[str, str]:
    return {str(path.relative_to(tree)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(tree.rglob("*")) if path.is_file() and "__pycache__" not in path.parts}


def test_comfyui_start_runs_the_rewrite_and_keeps_the_tree(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    before = _hashes(tree)
    code, _, _ = invoke("comfyui", "install", str(tree))
    assert code == 0
    report, lines = _start(tree, tmp_path / "cache")
    for relative in (WRAPPER_FILE, CORE_FILE):
        expected = _expected(tree, relative)
        assert sum(expected.values()) > 0
        entry = report[str(relative)]
        assert entry["calls"] == expected, relative
        assert entry["equal"] and all(entry["equal"].values()), entry["equal"]
        assert [line for line in lines if str(relative) in line and "rewrote in memory" in line], lines
    wrapper_module = report[str(WRAPPER_FILE)]["module"]
    assert isinstance(wrapper_module, str) and wrapper_module.endswith("ComfyUI-WanVideoWrapper.multitalk.multitalk")
    after = _hashes(tree)
    installed = {name for name in after if name.startswith(os.path.join("custom_nodes", "contiguify"))}
    assert {name: digest for name, digest in after.items() if name not in installed} == before
    # A second start takes both files from the cache.
    _, again = _start(tree, tmp_path / "cache")
    assert len([line for line in again if "from the cache" in line]) == 2, again
    code, _, _ = invoke("comfyui", "uninstall", str(tree))
    assert code == 0 and _hashes(tree) == before
    plain, plain_lines = _start(tree, tmp_path / "cache")
    assert not plain_lines
    for relative in (WRAPPER_FILE, CORE_FILE):
        assert all(count == 0 for count in plain[str(relative)]["calls"].values())  # type: ignore[attr-defined]


def test_start_without_contiguify_in_the_environment(tmp_path: Path) -> None:
    """The prestartup script says so in one line, and ComfyUI starts (the files run as they are)."""
    tree = make_tree(tmp_path)
    assert invoke("comfyui", "install", str(tree))[0] == 0
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONTIGUIFY_")}
    script = ("import runpy, sys\nsys.modules['codemod'] = None\nsys.argv = ['main.py', '--cpu']\n"
              "runpy.run_path('main.py', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("contiguify:")]
    assert len(lines) == 1 and "not installed in the Python that runs ComfyUI" in lines[0], done.stderr
    assert "Failed to execute startup-script" not in done.stderr
    assert done.stderr.rstrip().endswith("Starting server")
