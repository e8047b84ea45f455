"""Start ComfyUI as `python main.py ARGS...` does, then report the target forwards that were loaded.

    cd COMFYUI && PYTHON /path/to/comfyui_probe.py --cpu --quick-test-for-ci

Run by hand on a real tree (docs/comfyui-start.md). At exit it prints, for every loaded module whose
file is a target file, the `.contiguous()` calls in each attention class's forward as compiled (what
runs, not what the file says) and the loader that loaded it.
"""

from __future__ import annotations

import atexit
import dis
import os
import runpy
import sys

CLASSES = ("SingleStreamAttention", "SingleStreamMultiAttention", "SingleStreamMutiAttention")
FILES = ("multitalk/multitalk.py", "comfy/ldm/wan/model_multitalk.py")


def _calls(function: object) -> int:
    return sum(instruction.argval == "contiguous" for instruction in dis.get_instructions(function))  # type: ignore[arg-type]


def _report() -> None:
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if not path.replace(os.sep, "/").endswith(FILES):
            continue
        counts = {cls: _calls(getattr(module, cls).forward) for cls in CLASSES if hasattr(module, cls)}
        loader = type(getattr(module, "__loader__", None)).__name__
        print(f"probe: {os.path.relpath(path)}: loader {loader}; .contiguous() calls in forward: {counts}, "
              f"total {sum(counts.values())}", file=sys.stderr)


atexit.register(_report)
sys.path.insert(0, os.getcwd())
sys.argv = ["main.py", *sys.argv[1:]]
runpy.run_path("main.py", run_name="__main__")
