"""Loading a file inside its checkout or on its own: siblings from disk, stubs only for what is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the loader's stubs build torch modules")

from codemod.model.load import LoadError, load
from codemod.model.stubs import Stub, StubModule
from codemod.model.variants import Variant


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


CHECKOUT = {
    "wan/__init__.py": "raise RuntimeError('a package __init__ that pulls in the world must not run')\n",
    "wan/modules/__init__.py": "raise RuntimeError('nor this one')\n",
    "wan/utils/__init__.py": "",
    "wan/utils/helpers.py": "import torch\nSCALE = 3\n",
    "wan/modules/attention.py": (
        "from ..utils.helpers import SCALE\n"
        "from ..utils import helpers\n"
        "VALUE = SCALE * 2\n"
    ),
}


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    _write(tmp_path, CHECKOUT)
    return tmp_path


def _our_modules() -> set[str]:
    """Loader packages and stubs in `sys.modules` (other tests' loads may still be open: compare with before)."""
    return {name for name, module in sys.modules.items()
            if name.startswith("_contiguify_") or isinstance(module, StubModule)}


def test_siblings_import_from_disk_and_package_inits_do_not_run(checkout: Path) -> None:
    before = _our_modules()
    with load(checkout / "wan/modules/attention.py") as loaded:
        module = loaded["original"].module
        assert module.VALUE == 6
        assert module.helpers.__file__ == str(checkout / "wan/utils/helpers.py")
        assert loaded.stubbed == ()
    assert _our_modules() == before
    assert not list(checkout.rglob("__pycache__")), "nothing is written next to the file"


def test_variants_sit_side_by_side_each_with_its_own_siblings(checkout: Path) -> None:
    source = (checkout / "wan/modules/attention.py").read_bytes()
    variants = [Variant("original", source), Variant("changed", source.replace(b"* 2", b"* 5"))]
    with load(checkout / "wan/modules/attention.py", variants) as loaded:
        original, changed = loaded["original"].module, loaded["changed"].module
        assert (original.VALUE, changed.VALUE) == (6, 15)
        assert original.helpers is not changed.helpers
        assert loaded["changed"].file.read_bytes() == variants[1].data


def test_a_missing_library_is_stubbed_and_named(checkout: Path) -> None:
    before = _our_modules()
    (checkout / "wan/modules/attention.py").write_text(
        "import xformers_missing_abc.ops\n"
        "from xfuser_missing_abc.core.distributed import get_sp_group\n"
        "from ..utils.helpers_missing import thing\n"
        "OPS = xformers_missing_abc.ops\n"
    )
    with load(checkout / "wan/modules/attention.py") as loaded:
        assert isinstance(loaded["original"].module.OPS, StubModule)
        assert loaded.stubbed == ("..utils.helpers_missing", "xformers_missing_abc.ops",
                                  "xfuser_missing_abc.core.distributed")
    assert _our_modules() == before


GUARDED = {
    "except ImportError": "try:\n    import flash_missing_abc\nexcept ImportError:\n    flash_missing_abc = None\n",
    "except ModuleNotFoundError, inside a function": (
        "def probe():\n    try:\n        import flash_missing_abc\n        return flash_missing_abc\n"
        "    except (ValueError, ModuleNotFoundError):\n        return None\n\nflash_missing_abc = probe()\n"
    ),
    "bare except": "try:\n    from flash_missing_abc import fn as flash_missing_abc\nexcept:\n    flash_missing_abc = None\n",
}


@pytest.mark.parametrize("source", list(GUARDED.values()), ids=list(GUARDED))
def test_an_import_guarded_by_except_import_error_sees_the_real_error(source: str) -> None:
    with load(source.encode()) as loaded:
        assert loaded["original"].module.flash_missing_abc is None
        assert loaded.stubbed == ()


def test_an_import_guarded_by_another_exception_is_stubbed() -> None:
    source = "try:\n    import flash_missing_abc\nexcept ValueError:\n    flash_missing_abc = None\n"
    with load(source.encode()) as loaded:
        assert isinstance(loaded["original"].module.flash_missing_abc, StubModule)


def test_an_absolute_import_found_in_a_parent_directory_is_imported_from_there(tmp_path: Path) -> None:
    _write(tmp_path, {
        "shared_root_abc/attention.py": "def pay_attention(qkv):\n    return 'real'\n",
        "models/wan/multitalk/attention.py": "from shared_root_abc.attention import pay_attention\n",
    })
    with load(tmp_path / "models/wan/multitalk/attention.py") as loaded:
        pay_attention = loaded["original"].module.pay_attention
        assert pay_attention([]) == "real"
        assert loaded.stubbed == ()
    assert "shared_root_abc" not in sys.modules and "shared_root_abc.attention" not in sys.modules


def test_on_its_own_relative_imports_are_stubs_and_entry_points_reference_kernels(checkout: Path) -> None:
    source = b"from ..wanvideo.modules.attention import attention\nfrom ..utils import log\n"
    with load(checkout / "wan/modules/attention.py", [Variant("original", source)], in_checkout=False) as loaded:
        module = loaded["original"].module
        assert isinstance(module.log, Stub)
        q = torch.randn(1, 4, 2, 8)
        assert module.attention(q, q, q).shape == q.shape
        assert loaded.stubbed == ("..utils", "..wanvideo.modules.attention")


def test_bytes_load_on_their_own() -> None:
    with load(b"import torch\nX = torch.ones(2).sum().item()\n") as loaded:
        assert loaded["original"].module.X == 2.0


def test_a_failing_import_is_a_load_error_naming_the_variant_and_the_stubs(checkout: Path) -> None:
    before = _our_modules()
    (checkout / "wan/modules/attention.py").write_text("import missing_lib_abc\nraise RuntimeError('boom')\n")
    with pytest.raises(LoadError, match=r"original: cannot import it: RuntimeError: boom \(stubbed, not importable "
                                        r"here: missing_lib_abc\)"):
        load(checkout / "wan/modules/attention.py")
    assert _our_modules() == before


def test_loads_that_overlap_leave_the_interpreter_as_it_was(checkout: Path) -> None:
    before = (sys.dont_write_bytecode, list(sys.meta_path))
    first, second = load(checkout / "wan/modules/attention.py"), load(b"X = 1\n")
    first.close()
    assert sys.dont_write_bytecode, "the second load still imports; nothing may be written yet"
    second.close()
    second.close()
    assert (sys.dont_write_bytecode, sys.meta_path) == before
