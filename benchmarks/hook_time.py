"""What the import hook adds to a start: installing it and importing a target file, cold and from the cache,
beside the plain import of the same file in the same run.

    python benchmarks/hook_time.py [--runs 15] [--comfyui TREE --python PYTHON]

Each measurement is a fresh interpreter that times, with `time.perf_counter`, from before
`import codemod.hook` to after the target's import (the plain variant: the import alone):

- the bundled checkout's multitalk.py with its imports replaced by stand-ins (so that the difference
  is not lost in torch's import time), in a bare interpreter (the hook's own imports are all paid) and
  after `import torch` outside the clock (most of the standard library is loaded then, as in a ComfyUI
  process when its prestartup scripts run);
- `comfyui`: the miniature ComfyUI tree of the tests (fixtures/builders.py), started as its
  loader does (prestartup scripts, core's model module, the node package); torch is imported before
  the clock starts, in every variant, so that the hook's cost on all other imports is what is timed.

Variants: `plain` (no hook), `cold` (empty cache: the rewrite runs and is stored), `cached` (a hit: the
result entry and the code the hook compiled). Each round runs every variant of a case once, in turn.
With `--comfyui`, a real tree's `main.py --cpu --quick-test-for-ci` is also timed as a whole, with
and without the hook installed there (`contiguify comfyui install`; the tree is left as it was found).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.verify_time import machine  # noqa: E402 - the repository root goes on the path first
from fixtures.builders import make_tree, torch_free  # noqa: E402
from fixtures.catalog import WRAPPER_MULTITALK  # noqa: E402

FILE_RUN = """
import sys, time
{before}
start, cpu = time.perf_counter(), time.process_time()
{install}
sys.path.insert(0, {root!r})
import target
print(time.perf_counter() - start, time.process_time() - cpu)
"""
COMFYUI_RUN = """
import os, runpy, sys, time
import torch
sys.path.insert(0, os.getcwd())
sys.argv = ["main.py", "--cpu"]
start, cpu = time.perf_counter(), time.process_time()
runpy.run_path("main.py", run_name="__main__")
print(time.perf_counter() - start, time.process_time() - cpu)
"""
INSTALL = "import codemod.hook\ncodemod.hook.install([{root!r}], log=lambda line: None)"


Timing = tuple[float, float]  # wall and CPU seconds of the timed part


def _seconds(code: str, cwd: Path, env: dict[str, str]) -> Timing:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _env(cache: Path) -> dict[str, str]:
    """Bytecode is written and read, as at a user's start (PYTHONDONTWRITEBYTECODE would time compiles)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CONTIGUIFY_") and key != "PYTHONDONTWRITEBYTECODE"}
    env["CONTIGUIFY_CACHE_DIR"] = str(cache)
    return env


def _interleaved(runs: int, variants: dict[str, Callable[[], Timing]]) -> dict[str, list[Timing]]:
    """`runs` rounds, each running every variant once, in turn: a machine that drifts moves them all alike."""
    found: dict[str, list[Timing]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, one in variants.items():
            found[name].append(one())
    return found


def _row(name: str, variant: str, values: list[Timing], plain: list[Timing]) -> str:
    """Wall time (median, min, max), CPU time (median), what each median adds to the plain one, and the
    median of the rounds' own differences (each round ran both: drift between rounds cancels)."""
    wall, cpu = [value[0] for value in values], [value[1] for value in values]
    added_wall = statistics.median(wall) - statistics.median(value[0] for value in plain)
    added_cpu = statistics.median(cpu) - statistics.median(value[1] for value in plain)
    paired = statistics.median(value[0] - base[0] for value, base in zip(values, plain))
    return (f"| {name} | {variant} | {statistics.median(wall) * 1000:.1f} ms | {min(wall) * 1000:.1f} ms | "
            f"{max(wall) * 1000:.1f} ms | {statistics.median(cpu) * 1000:.1f} ms | {added_wall * 1000:+.1f} ms | "
            f"{added_cpu * 1000:+.1f} ms | {paired * 1000:+.1f} ms |")


HEADER = ("| case | variant | wall (median) | min | max | CPU (median) | added, wall | added, CPU | added, paired |\n"
          "|---|---|---|---|---|---|---|---|---|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--comfyui", type=Path, help="a real ComfyUI tree, timed as a whole as well")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs that tree")
    arguments = parser.parse_args()
    print(machine())
    print(f"{arguments.runs} fresh interpreters per row, the variants of a case interleaved round by round; "
          "added: median less the plain median; paired: median over rounds of (variant - plain), wall\n")
    print(HEADER)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        tree = work / "file"
        tree.mkdir()
        (tree / "target.py").write_bytes(torch_free(WRAPPER_MULTITALK.read_bytes()))
        cache = work / "cache"
        for context, before in (("bare interpreter", ""), ("torch imported first", "import torch")):
            plain_code = FILE_RUN.format(before=before, install="", root=str(tree))
            hook_code = FILE_RUN.format(before=before, install=INSTALL.format(root=str(tree)), root=str(tree))
            _seconds(plain_code, tree, _env(cache))  # bytecode in __pycache__, as at any start
            _seconds(hook_code, tree, _env(cache))

            def cold() -> Timing:
                shutil.rmtree(cache, ignore_errors=True)
                return _seconds(hook_code, tree, _env(cache))

            # Each round runs cold just before cached: the cold run fills the cache the cached one reads.
            found = _interleaved(arguments.runs, {"plain": lambda: _seconds(plain_code, tree, _env(cache)),
                                                  "cold": cold,
                                                  "cached": lambda: _seconds(hook_code, tree, _env(cache))})
            for variant, values in found.items():
                print(_row(f"multitalk.py without its imports, {context}", variant, values, found["plain"]))

        comfy = make_tree(work)
        node = comfy / "custom_nodes" / "contiguify"
        from codemod.comfyui.tree import install, uninstall

        def start(hook: bool, fresh: bool = False) -> Timing:
            if hook:
                install(str(comfy), "seed")
            else:
                uninstall(str(comfy))
            assert node.is_dir() == hook
            if fresh:
                shutil.rmtree(cache, ignore_errors=True)
            return _seconds(COMFYUI_RUN, comfy, _env(cache))

        start(False)
        try:
            found = _interleaved(arguments.runs, {"plain": lambda: start(False),
                                                  "cold": lambda: start(True, fresh=True),
                                                  "cached": lambda: start(True)})
        finally:
            uninstall(str(comfy))
        for variant, values in found.items():
            print(_row("miniature ComfyUI start (torch imported first)", variant, values, found["plain"]))
    if arguments.comfyui is not None:
        _real(arguments.comfyui, arguments.python, max(3, arguments.runs // 5))
    return 0


def _real(tree: Path, python: str, runs: int) -> None:
    """Whole starts of a real tree, plain and with the hook (cached), interleaved."""
    from codemod.comfyui.tree import install, installed_profile, uninstall

    if installed_profile(str(tree)) is not None:
        raise SystemExit(f"{tree}: the hook is installed; uninstall it first")
    command = [python, "main.py", "--cpu", "--quick-test-for-ci"]

    def timed() -> Timing:
        start = time.perf_counter()
        before = os.times()
        subprocess.run(command, cwd=tree, capture_output=True, check=True, env=os.environ.copy())
        after = os.times()
        cpu = after.children_user + after.children_system - before.children_user - before.children_system
        return time.perf_counter() - start, cpu

    plain: list[Timing] = []
    hooked: list[Timing] = []
    try:
        install(str(tree), "seed")
        timed()  # fills the cache
        for _ in range(runs):
            uninstall(str(tree))
            plain.append(timed())
            install(str(tree), "seed")
            hooked.append(timed())
    finally:
        uninstall(str(tree))
    print(f"\nreal tree {tree}: `{' '.join(command[1:])}`, {runs} interleaved pairs, the whole process\n")
    print(HEADER)
    print(_row("real ComfyUI start", "plain", plain, plain))
    print(_row("real ComfyUI start", "cached", hooked, plain))


if __name__ == "__main__":
    raise SystemExit(main())
