"""Loading a file the way its host loads it: node folders, import cycles, no shadowing, CPU mode, bare fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the loader's stubs build torch modules")

from codemod.model.load import LoadError, load
from codemod.model.stubs import StubModule
from codemod.model.variants import Variant


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


# A node folder that is no identifier, in a ComfyUI tree; its modules import each other in a cycle
# (`multitalk.multitalk` -> `wanvideo.modules.attention`, whose package imports `model`, which imports
# `multitalk.multitalk`), as WanVideoWrapper's do; `comfy.model_management` checks the device at import.
NODE = "custom_nodes/ComfyUI-Node.v2"
COMFY_TREE = {
    "comfy/__init__.py": "",
    "comfy/options.py": "args_parsing = False\n",
    "comfy/cli_args.py": (
        "import argparse\nimport comfy.options\n"
        "parser = argparse.ArgumentParser()\nparser.add_argument('--cpu', action='store_true')\n"
        "args = parser.parse_args() if comfy.options.args_parsing else parser.parse_args([])\n"
    ),
    "comfy/model_management.py": (
        "import psutil_missing_abc\n"
        "from comfy.cli_args import args\n"
        "if not args.cpu:\n    raise AssertionError('Torch not compiled with CUDA enabled')\n"
        "DEVICE = 'cpu'\n"
    ),
    f"{NODE}/__init__.py": "raise RuntimeError('the node registers itself with the server: not run')\n",
    f"{NODE}/wanvideo/modules/__init__.py": "from .model import WanModel\n",
    f"{NODE}/wanvideo/modules/attention.py": (
        "from comfy import model_management\nfrom ...utils import SCALE\n"
        "def attention(q, k, v, attention_mode='sdpa'):\n    return q\n"
    ),
    f"{NODE}/wanvideo/modules/model.py": (
        "from .attention import attention\nfrom ...multitalk.multitalk import get_attn_map_with_target\n"
        "class WanModel:\n    pass\n"
    ),
    f"{NODE}/utils.py": "SCALE = 3\n",
    f"{NODE}/multitalk/__init__.py": "",
    f"{NODE}/multitalk/multitalk.py": (
        "from ..wanvideo.modules.attention import attention\n"
        "def get_attn_map_with_target():\n    return 'map'\n"
        "VARIANT = 'original'\n"
    ),
}
TARGET = f"{NODE}/multitalk/multitalk.py"


@pytest.fixture
def comfy_tree(tmp_path: Path) -> Path:
    _write(tmp_path, COMFY_TREE)
    return tmp_path


def _own_modules() -> set[str]:
    return {name for name, module in sys.modules.items()
            if name.startswith("_contiguify_") or isinstance(module, StubModule) or name.partition(".")[0] == "comfy"}


def test_a_node_in_a_folder_that_is_no_identifier_imports_despite_its_cycle(comfy_tree: Path) -> None:
    before = _own_modules()
    rewritten = (comfy_tree / TARGET).read_bytes().replace(b"VARIANT = 'original'", b"VARIANT = 'seed'")
    variants = [Variant("original", (comfy_tree / TARGET).read_bytes()), Variant("seed", rewritten)]
    with load(comfy_tree / TARGET, variants) as loaded:
        for variant in ("original", "seed"):
            module = loaded[variant].module
            assert module.VARIANT == variant
            assert module.attention.__module__.endswith(".wanvideo.modules.attention")
        assert loaded.stubbed == ("psutil_missing_abc",)
        assert loaded.notes == [f"ComfyUI tree {comfy_tree.resolve()} in CPU mode, as with its --cpu"]
        assert sys.modules["comfy.cli_args"].args.cpu is True
    assert _own_modules() == before


def test_the_trees_modules_are_its_own_also_when_the_tree_is_on_sys_path(
    comfy_tree: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`python -m codemod` run in a ComfyUI tree puts it on `sys.path`: `comfy` is then found by Python itself."""
    monkeypatch.syspath_prepend(str(comfy_tree))
    with load(comfy_tree / TARGET) as loaded:
        assert loaded["original"].module.VARIANT == "original"
        assert loaded.stubbed == ("psutil_missing_abc",)


def test_on_cuda_the_tree_is_not_put_into_cpu_mode(comfy_tree: Path) -> None:
    with pytest.raises(LoadError, match="AssertionError: Torch not compiled with CUDA enabled"):
        load(comfy_tree / TARGET, device="cuda")


def test_a_fork_without_cli_args_is_said_and_the_load_goes_on(comfy_tree: Path) -> None:
    (comfy_tree / "comfy/cli_args.py").write_text("parser = None\n")  # no `args`, as a packaged fork has it
    (comfy_tree / "comfy/model_management.py").write_text("DEVICE = 'cpu'\n")
    with load(comfy_tree / TARGET) as loaded:
        assert loaded["original"].module.VARIANT == "original"
        assert loaded.notes[0].startswith(f"could not put the ComfyUI tree {comfy_tree.resolve()} into CPU mode")


def test_a_checkout_folder_never_stands_in_for_a_package_of_the_same_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The node's `gguf_abc/` folder is not the `gguf_abc` library its code imports, even from its working directory."""
    _write(tmp_path, {
        "node/__init__.py": "",
        "node/gguf_abc/gguf_abc.py": "import gguf_abc\nREADER = gguf_abc.GGUFReader\n",
        "node/multitalk/multitalk.py": "from ..gguf_abc.gguf_abc import READER\n",
    })
    monkeypatch.chdir(tmp_path / "node")
    monkeypatch.syspath_prepend(str(tmp_path / "node"))
    with load(tmp_path / "node/multitalk/multitalk.py") as loaded:
        assert "gguf_abc" in loaded.stubbed
        assert repr(loaded["original"].module.READER) == "<stub gguf_abc.GGUFReader>"
    assert str(tmp_path / "node") in sys.path


def test_numpy_is_never_stubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in NumPy would reach torch's own code; a file that needs it and lacks it does not load."""
    monkeypatch.setitem(sys.modules, "numpy", None)  # as where NumPy is not installed
    with pytest.raises(LoadError, match="numpy"):
        load(b"import numpy as np\n")


def test_cuda_capability_answers_zero_on_a_cpu_without_cuda(tmp_path: Path) -> None:
    """Wan2GP's `shared/attention.py` asks for the capability at import."""
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    _write(tmp_path, {
        "shared_cap_abc/attention.py": "import torch\nMAJOR, MINOR = torch.cuda.get_device_capability(None)\n",
        "models/wan/multitalk/attention.py": "from shared_cap_abc.attention import MAJOR\n",
    })
    with load(tmp_path / "models/wan/multitalk/attention.py") as loaded:
        assert loaded["original"].module.MAJOR == 0
    with pytest.raises(LoadError):
        load(tmp_path / "models/wan/multitalk/attention.py", device="cuda")


def test_a_file_that_does_not_import_in_its_checkout_falls_back_to_bare_and_says_so(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/broken.py": "raise RuntimeError('a sibling that cannot import here')\n",
        "pkg/sub/target.py": "from ..broken import thing\nVALUE = 1\n",
    })
    with pytest.raises(LoadError, match="RuntimeError: a sibling that cannot import here"):
        load(tmp_path / "pkg/sub/target.py")
    with load(tmp_path / "pkg/sub/target.py", bare_fallback=True) as loaded:
        assert loaded["original"].module.VALUE == 1
        assert not loaded.in_checkout
        assert loaded.notes[0].startswith("imported on its own (bare: its relative imports stubbed), since in its "
                                          "checkout original: cannot import it: RuntimeError")


def test_wan2gp_gets_the_attention_mode_its_app_sets_and_july_2025_device_defaults_import(tmp_path: Path) -> None:
    """`pay_attention` reads `mmgp.offload.shared_state["_attention"]`, set by `wgp.py`; July 2025's `t5.py` has
    `device=torch.cuda.current_device()` as a default argument."""
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    _write(tmp_path, {
        "shared/attention.py": (
            "import torch\nfrom mmgp import offload\n"
            "def pay_attention(qkv_list):\n    return offload.shared_state['_attention']\n"
            "def encoder(device=torch.cuda.current_device()):\n    return device\n"
        ),
        "models/wan/multitalk/attention.py": "from shared.attention import pay_attention, encoder\n",
    })
    with load(tmp_path / "models/wan/multitalk/attention.py") as loaded:
        module = loaded["original"].module
        assert (module.pay_attention([]), module.encoder()) == ("sdpa", 0)
        assert "mmgp" in loaded.stubbed
        assert loaded.notes == ["attention mode 'sdpa' set in mmgp.offload.shared_state['_attention'], as Wan2GP's "
                                "wgp.py sets one"]
