"""Copies of the fixture checkout: byte-exact sources, working relative imports, side by side in one process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the runtime tests run the modules under torch")
pytest.importorskip("einops", reason="the fixture's multitalk.py imports einops")

from codemod.decoding import BOM
from codemod.model.shape import SMALL
from codemod.rewrite.profiles import all_profiles
from fixtures.catalog import CASES, WRAPPER, cases
from fixtures.harness.backends import STRICT_FP8
from fixtures.harness.checkouts import Checkouts, VariantSource, load_case, read_source, rewritten_source, variants
from fixtures.harness.forwards import attention_class, build_models


def test_every_drop_in_case_is_a_variant() -> None:
    names = [variant.name for variant in variants()]
    assert names == [case.name for case in cases() if case.drop_in]
    assert "jan2026" in names and "comfyui_core" not in names


@pytest.mark.parametrize("profile", list(all_profiles()))
def test_a_rewritten_copy_holds_the_rewrite_byte_for_byte(checkouts: Checkouts, profile: str) -> None:
    """crlf_bom keeps its BOM and CRLF line endings through the rewrite and into the copy."""
    source = checkouts.variants["crlf_bom"].source
    assert source.startswith(BOM) and "\r\n" in source
    copy = checkouts.get("crlf_bom", profile)
    expected = rewritten_source(source, profile)
    assert expected != source
    assert copy.multitalk_path.read_bytes() == expected.encode("utf-8")
    assert Path(copy.multitalk.__file__ or "") == copy.multitalk_path


def test_copies_import_their_own_attention_module_from_the_checkout(checkouts: Checkouts) -> None:
    """local_import imports `attention` inside each forward: the relative import must resolve in the copy."""
    first, second = checkouts.get("local_import", None), checkouts.get("jan2026", None)
    assert first.attention is not second.attention
    assert first.attention.__name__ == f"{first.package}.wanvideo.modules.attention"
    assert first.attention.__file__ == str(WRAPPER / "wanvideo" / "modules" / "attention.py")
    assert STRICT_FP8 in first.attention.ATTENTION_BACKENDS
    models = build_models([first.multitalk, second.multitalk], SMALL, "cpu")
    assert torch.equal(models[0].q_linear.weight, models[1].q_linear.weight)


def test_aug2025_spelling_of_the_multi_speaker_class_is_found(checkouts: Checkouts) -> None:
    assert attention_class(checkouts.get("aug2025_rearrange", None).multitalk).__name__ == "SingleStreamMutiAttention"


def test_a_copy_can_be_unloaded() -> None:
    copy = load_case(VariantSource("jan2026", read_source(CASES / "jan2026.in.py")), None)
    assert copy.package in sys.modules
    copy.unload()
    assert not [name for name in sys.modules if name.startswith(copy.package)]
    assert not copy.multitalk_path.exists()
