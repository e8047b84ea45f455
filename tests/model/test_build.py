"""Construction from constructor signatures, and the scenarios and inputs of each forward."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the classes are torch modules")
from torch import nn

from codemod.model.build import BuildError, attention_class, build
from codemod.model.scenarios import forward_inputs, scenarios
from codemod.model.shape import SINGLE, TWO, Shape

SHAPE = Shape(dim=32, heads=4, enc_dim=16, enc_tokens=8, frames=2, height=2, width=3)


class ComfyStyle(nn.Module):
    """ComfyUI core: layers from `operations`, created on `device` in `dtype`."""

    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias, device=None, dtype=None, operations=None):  # type: ignore[no-untyped-def]
        super().__init__()
        self.received = (device, dtype, operations)
        self.q_linear = operations.Linear(dim, dim, bias=qkv_bias, device=device, dtype=dtype)
        self.kv_linear = operations.Linear(encoder_hidden_states_dim, dim * 2, device=device, dtype=dtype)

    def forward(self, x, encoder_hidden_states, shape=None, x_ref_attn_map=None, human_num=None):  # type: ignore[no-untyped-def]
        return x


class MultiTalkStyle(nn.Module):
    """MeiGen MultiTalk: `qk_norm` and `norm_layer` required, the norm built from the class it is handed."""

    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias, qk_norm, norm_layer, eps=1e-6):  # type: ignore[no-untyped-def]
        super().__init__()
        self.q_norm = norm_layer(dim // num_heads, eps=eps) if qk_norm else nn.Identity()
        self.norm = norm_layer(dim // num_heads, eps=eps)
        self.q_linear = nn.Linear(dim, dim, bias=qkv_bias)

    def forward(self, x, encoder_hidden_states, shape=None, enable_sp=False, kv_seq=None):  # type: ignore[no-untyped-def]
        return x


def test_operations_device_and_dtype_are_passed_through() -> None:
    model = build(ComfyStyle, SHAPE, "meta", torch.bfloat16)
    assert isinstance(model, ComfyStyle)
    assert model.received == (torch.device("meta"), torch.bfloat16, nn)
    assert type(model.q_linear) is nn.Linear and model.q_linear.weight.dtype == torch.bfloat16
    assert model.q_linear.weight.is_meta and model.kv_linear.in_features == SHAPE.enc_dim


def test_qk_norm_and_norm_layer_are_filled_as_real_callers_pass_them() -> None:
    model = build(MultiTalkStyle, SHAPE, "cpu", torch.float32)
    assert isinstance(model, MultiTalkStyle)
    assert isinstance(model.q_norm, nn.Identity)  # qk_norm=False, as MultiTalk's model passes it
    assert isinstance(model.norm, nn.LayerNorm) and model.norm.normalized_shape == (SHAPE.head_dim,)
    assert not model.training


def test_the_same_seed_gives_the_same_weights() -> None:
    first, second = (build(MultiTalkStyle, SHAPE, "cpu", torch.float32, seed=3) for _ in range(2))
    assert torch.equal(first.q_linear.weight, second.q_linear.weight)


def test_an_unknown_required_parameter_is_named() -> None:
    class Unknown(nn.Module):
        def __init__(self, dim: int, mystery: int) -> None:
            super().__init__()

    with pytest.raises(BuildError, match="no value for its parameter 'mystery'"):
        build(Unknown, SHAPE)


def test_a_failing_constructor_is_a_build_error_showing_the_call() -> None:
    class Failing(nn.Module):
        def __init__(self, dim: int, operations: object = None) -> None:
            raise ValueError("nope")

    with pytest.raises(BuildError, match=r"cannot call Failing\(dim=32, operations=torch.nn\): ValueError: nope"):
        build(Failing, SHAPE)


def test_scenarios_follow_the_forward_signature() -> None:
    assert scenarios(ComfyStyle) == (SINGLE, TWO)
    assert scenarios(MultiTalkStyle) == (SINGLE,)


def test_the_multi_speaker_class_runs_every_scenario() -> None:
    import types

    module = types.SimpleNamespace(Single=MultiTalkStyle, Multi=ComfyStyle)
    assert attention_class(module, ["Single", "Multi"], speakers=1) is ComfyStyle  # type: ignore[arg-type]
    assert attention_class(module, ["Single"], speakers=2) is None  # type: ignore[arg-type]
    assert attention_class(module, ["Single"], speakers=1) is MultiTalkStyle  # type: ignore[arg-type]


@pytest.mark.parametrize(("cls", "scenario", "keywords"), [
    (ComfyStyle, TWO, {"shape", "x_ref_attn_map", "human_num"}),
    (ComfyStyle, SINGLE, {"shape", "x_ref_attn_map", "human_num"}),
    (MultiTalkStyle, SINGLE, {"shape"}),
])
def test_inputs_pass_only_the_keywords_a_forward_takes(cls: type[nn.Module], scenario: object,
                                                      keywords: set[str]) -> None:
    inputs = forward_inputs(SHAPE, scenario, torch.float32, "cpu")  # type: ignore[arg-type]
    args, kwargs = inputs.arguments(build(cls, SHAPE))
    assert set(kwargs) == keywords
    x, context = args
    assert x.shape == (1, SHAPE.frames * SHAPE.tokens_per_frame, SHAPE.dim)
    assert context.shape == (SHAPE.frames, SHAPE.enc_tokens, SHAPE.enc_dim)
    if scenario == TWO:
        assert kwargs["x_ref_attn_map"].shape == (2, SHAPE.frames * SHAPE.tokens_per_frame)
        assert kwargs["human_num"] == 2
