"""Stubs of modules that are not installed: base classes, decorators, context managers, neutral calls, kernels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="stubs build torch modules and reference kernels")

from codemod.model.stubs import Stub, StubBase, StubModule

GEN = torch.Generator().manual_seed(0)
B, H, L, M, D = 2, 3, 5, 4, 8


def _bhld(length: int) -> torch.Tensor:
    return torch.randn(B, H, length, D, generator=GEN)


def test_stubs_as_base_classes_make_a_module_that_takes_any_arguments() -> None:
    model_mixin, config_mixin = Stub("diffusers.ModelMixin"), Stub("diffusers.ConfigMixin")

    class AudioProjModel(model_mixin, config_mixin):  # type: ignore[misc, valid-type]
        def __init__(self, width: int) -> None:
            super().__init__(width, extra=True)
            self.proj = torch.nn.Linear(width, width)

    model = AudioProjModel(4)
    assert isinstance(model, torch.nn.Module) and issubclass(AudioProjModel, StubBase)
    assert [name for name, _ in model.named_children()] == ["proj"]
    assert AudioProjModel.__mro__[1].__name__ == "ModelMixin"


def test_a_stub_beside_a_real_module_base_adds_nothing() -> None:
    class Mixed(torch.nn.Module, Stub("peft.PeftMixin")):  # type: ignore[misc]
        pass

    assert Mixed.__mro__ == (Mixed, torch.nn.Module, object)


def test_stubs_as_decorators_and_decorator_factories_hand_the_function_back() -> None:
    def forward(x: int) -> int:
        return x + 1

    register = Stub("diffusers.configuration_utils.register_to_config")
    assert register(forward) is forward
    factory = Stub("comfy.model_patcher.hook")
    assert factory("name", priority=1)(forward) is forward


def test_stubs_as_context_managers() -> None:
    with Stub("comfy.model_management").autocast("cuda") as entered:
        assert isinstance(entered, Stub)


def test_stub_calls_return_neutral_values() -> None:
    distributed = StubModule("xfuser.core.distributed")
    world = distributed.get_sequence_parallel_world_size()
    assert not world and int(world) == 0 and float(world) == 0.0 and list(world) == [] and len(world) == 0
    assert [0, 1][world] == 0  # usable as an index
    tensor = torch.ones(2)
    assert distributed.get_sp_group().all_gather(tensor) is tensor  # a one-process collective
    assert distributed.get_sp_group is distributed.get_sp_group  # the same object each time: patchable


def test_stubs_as_numbers_and_as_empty_mappings() -> None:
    """ComfyUI computes with `psutil.virtual_memory().total` at import; Wan2GP fills `offload.get_cache(name)`."""
    total = StubModule("psutil").virtual_memory().total
    megabytes = total / (1024 * 1024)
    assert isinstance(megabytes, Stub) and isinstance(2 * total - 1, Stub) and isinstance(-total, Stub)
    assert not (total > 1024) and not (total <= 0)
    assert "Total RAM {:0.0f} MB".format(megabytes) == "Total RAM 0 MB" and f"{total}" == "0.0"
    cache = StubModule("mmgp.offload").get_cache("multitalk_rope")
    assert cache.get("q", None) is None and cache.get("q") is None
    cache["q"] = torch.ones(1)
    assert cache.get("q", "absent") == "absent"


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


# (stubbed name, how the code calls it with q, k, v given as [B, H, L, D], how its output maps back to [B, H, L, D])
Call = Callable[[Callable[..., Any], torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Back = Callable[[torch.Tensor], torch.Tensor]
STUBBED_ENTRY_POINTS: dict[str, tuple[str, Call, Back]] = {
    "wanvideowrapper": ("_pkg.wanvideo.modules.attention.attention",
                        lambda f, q, k, v: f(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)),
                        lambda out: out.transpose(1, 2)),
    "comfyui-skip-reshape": ("comfy.ldm.modules.attention.optimized_attention",
                             lambda f, q, k, v: f(q, k, v, heads=H, skip_reshape=True, skip_output_reshape=True),
                             lambda out: out),
    "comfyui-flat": ("comfy.ldm.modules.attention.optimized_attention",
                     lambda f, q, k, v: f(*(t.transpose(1, 2).flatten(2) for t in (q, k, v)), heads=H),
                     lambda out: out.view(B, -1, H, D).transpose(1, 2)),
    "xformers": ("xformers.ops.memory_efficient_attention",
                 lambda f, q, k, v: f(query=q.transpose(1, 2), key=k.transpose(1, 2), value=v.transpose(1, 2)),
                 lambda out: out.transpose(1, 2)),
    "habana": ("habana_frameworks.torch.hpex.kernels.FusedSDPA.apply",
               lambda f, q, k, v: f(q, k, v, None), lambda out: out),
    "sageattention-nhd": ("sageattention.sageattn",
                          lambda f, q, k, v: f(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                               tensor_layout="NHD"),
                          lambda out: out.transpose(1, 2)),
    "sageattention-hnd": ("sageattention.sageattn", lambda f, q, k, v: f(q, k, v), lambda out: out),
    "wan2gp": ("shared.attention.pay_attention",
               lambda f, q, k, v: f([q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)]),
               lambda out: out.transpose(1, 2)),
}


@pytest.mark.parametrize("case", list(STUBBED_ENTRY_POINTS))
def test_a_stubbed_entry_point_is_sdpa_in_its_own_layout(case: str) -> None:
    dotted, call, back = STUBBED_ENTRY_POINTS[case]
    owner, _, name = dotted.rpartition(".")
    stubbed = getattr(Stub(owner), name)
    assert not isinstance(stubbed, Stub)
    q, k, v = _bhld(L), _bhld(M), _bhld(M)
    out = call(stubbed, q, k, v)
    assert out.is_contiguous()
    torch.testing.assert_close(back(out), _sdpa(q, k, v))


def test_names_that_are_no_entry_point_stay_stubs() -> None:
    assert isinstance(Stub("xformers.ops").fmha, Stub)
    assert isinstance(StubModule("comfy").model_management, Stub)

