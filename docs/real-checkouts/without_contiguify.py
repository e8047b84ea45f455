"""Start ComfyUI as `python main.py ARGS...` does, with `codemod` made unimportable: as if contiguify were not
installed in that Python (docs/comfyui-start.md)."""
import runpy, sys
sys.modules["codemod"] = None  # as if contiguify were not installed in this Python
sys.path.insert(0, ".")
sys.argv = ["main.py", *sys.argv[1:]]
runpy.run_path("main.py", run_name="__main__")
