"""Start ComfyUI as `python main.py ARGS...` does, with `codemod` made unimportable: as if contiguify were not
installed in that Python (docs/comfyui-start.md)."""

import runpy
import sys

sys.modules["codemod"] = None  # type: ignore[assignment]  # an import of it now fails, as when it is not installed
sys.path.insert(0, ".")
sys.argv = ["main.py", *sys.argv[1:]]
runpy.run_path("main.py", run_name="__main__")
