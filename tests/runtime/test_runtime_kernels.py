"""The harness's kernels on CPU: FP8 and FP4 linears, the stride-ignoring attention kernel, their contracts.

The CPU emulations run the same module code as CUDA does; these tests pin what each one accepts,
refuses and computes, and what it does to the tensors it is handed.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch", reason="the runtime tests run the modules under torch")
pytest.importorskip("einops", reason="the fixture's multitalk.py imports einops")

from torch import nn

from codemod.model.record import recording
from codemod.model.scenarios import forward_inputs, run_forward
from codemod.model.shape import SMALL
from codemod.rewrite.profiles import all_profiles
from fixtures.harness.backends import (
    as_dense,
    check_dense_extent,
    reference_attention,
    strict_fp8_attention_emulated,
)
from fixtures.harness.checkouts import Checkouts, variants
from fixtures.harness.forwards import FAILING_SCENARIOS, build_models, relative_error, scenarios_of
from fixtures.harness.fp4 import (
    E2M1_VALUES,
    PACKED_DTYPE,
    FP4LayoutError,
    convert_fp4_linear,
    quantize_nvfp4,
    round_to_e2m1,
)
from fixtures.harness.fp8 import (
    FP8,
    FP8_MAX,
    convert_fp8_linear,
    quantize_weight,
    scaled_mm_emulated,
)
from fixtures.harness.modes import BF16_SDPA, STRICT, prepare
from fixtures.harness.modes import FP8 as FP8_MODE

GEN = torch.Generator().manual_seed(0)


def _randn(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=GEN).to(dtype)


# --- FP8 --------------------------------------------------------------------------------------------


def _fp8_matrix(rows: int, cols: int) -> torch.Tensor:
    return _randn(rows, cols).clamp(-FP8_MAX, FP8_MAX).to(FP8)


def test_fp8_weight_quantization_uses_one_scale_and_the_full_range() -> None:
    weight = _randn(64, 32) * 0.02
    quantized, scale = quantize_weight(weight)
    assert quantized.dtype == FP8 and scale.shape == () and scale.dtype == torch.float32
    assert quantized.float().abs().max() == FP8_MAX
    assert relative_error(quantized.float() * scale, weight) < 0.04  # measured 0.022


def test_scaled_mm_emulation_is_dequantize_then_matmul() -> None:
    a, b = _fp8_matrix(48, 32), _fp8_matrix(16, 32).t()
    scale_a, scale_b = torch.tensor(0.5), torch.tensor(0.25)
    bias = _randn(16, dtype=torch.bfloat16)
    out = scaled_mm_emulated(a, b, scale_a, scale_b, bias, torch.bfloat16)
    expected = ((a.float() @ b.float()) * 0.125 + bias.float()).to(torch.bfloat16)
    assert out.dtype == torch.bfloat16 and torch.equal(out, expected)


@pytest.mark.parametrize(
    ("make_a", "error"),
    [
        (lambda: _fp8_matrix(32, 48).t(), "Only multiplication of row-major and column-major matrices"),
        (lambda: _fp8_matrix(1, 32 * 48 + 8).view(-1)[8:].view(48, 32), "CUBLAS_STATUS_NOT_SUPPORTED"),
        (lambda: _fp8_matrix(48, 24), "multiples of 16"),
    ],
    ids=["column-major", "8-bytes-off", "inner-not-16"],
)
def test_scaled_mm_emulation_refuses_what_cublaslt_refuses(make_a: Callable[[], torch.Tensor], error: str) -> None:
    a = make_a()
    b = _fp8_matrix(16, a.shape[1]).t()
    with pytest.raises(RuntimeError, match=error):
        scaled_mm_emulated(a, b, torch.tensor(1.0), torch.tensor(1.0), None, torch.bfloat16)


def test_scaled_mm_emulation_accepts_a_column_strided_first_operand() -> None:
    """Measured on H100: `A[:, ::2]` of a 256 x 1024 matrix runs (PyTorch copies it)."""
    a = _fp8_matrix(256, 1024)[:, ::2]
    b = _fp8_matrix(16, 512).t()
    out = scaled_mm_emulated(a, b, torch.tensor(1.0), torch.tensor(1.0), None, torch.float32)
    assert torch.equal(out, a.float() @ b.float())


def _fp8_layer(base_dtype: torch.dtype = torch.bfloat16) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32)).to(base_dtype)
    convert_fp8_linear(model, base_dtype)
    return model


def test_fp8_linear_clamps_its_input_in_place_and_a_contiguous_copy_moves_the_clamp() -> None:
    """Upstream clamps the layer's input with `out=input`: a strided view writes through to its base;
    `.contiguous()` in front gives the layer a copy, and the base keeps its out-of-range values."""
    layer = _fp8_layer()
    base = _randn(2, 8, 128, dtype=torch.bfloat16)
    base[0, 0, 0] = 1000.0
    view = base[:, :, ::2]
    assert not view.is_contiguous()

    through_copy = base.clone()
    out_copy = layer(through_copy[:, :, ::2].contiguous())
    assert through_copy[0, 0, 0] == 1000.0

    out_view = layer(view)
    assert base[0, 0, 0] == FP8_MAX
    assert torch.equal(out_view, out_copy)


def test_fp8_linear_hands_other_than_3d_inputs_to_a_plain_linear() -> None:
    layer = _fp8_layer()
    x = _randn(5, 64, dtype=torch.bfloat16)
    linear = layer[0]
    dequantized = (linear.weight.float() * linear.get_buffer("scale_weight")).to(torch.bfloat16)
    assert torch.equal(layer(x), nn.functional.linear(x, dequantized, linear.bias))


# Measured exception: batched_cfg's `repeat()` hands kv_linear a copy of the context.
CONTEXT_COPIED_FIRST = {("batched_cfg", "single-batched-cfg")}


def test_fp8_module_clamps_the_callers_tensors_in_every_copy(checkouts: Checkouts) -> None:
    """Measured: the linear layers get the caller's x and context (or views of them), so FP8's in-place clamp
    writes into the caller's tensors, in the original and in every rewrite alike; no rewrite moves the clamp.
    The extra frame never reaches a linear layer and keeps its values."""
    for variant in variants():
        copies = [checkouts.get(variant.name, None)] + [checkouts.get(variant.name, p) for p in all_profiles()]
        for scenario in scenarios_of(variant.name):
            if scenario.name in FAILING_SCENARIOS:
                continue
            models = build_models([copy.multitalk for copy in copies], SMALL, "cpu")
            inputs = forward_inputs(SMALL, scenario, torch.bfloat16, "cpu")
            inputs.x.view(-1)[::7] *= 2000
            inputs.context.view(-1)[::5] *= 2000
            used = inputs.x.shape[1] - (SMALL.tokens_per_frame if scenario.extra else 0)
            expected_x = inputs.x.clone()
            expected_x[:, :used].clamp_(-FP8_MAX, FP8_MAX)
            expected_context = inputs.context.clone()
            if (variant.name, scenario.name) not in CONTEXT_COPIED_FIRST:
                expected_context.clamp_(-FP8_MAX, FP8_MAX)
            outputs = []
            for model in models:
                prepare(model, FP8_MODE)
                handed = inputs.clone()
                outputs.append(run_forward(model, handed))
                assert torch.equal(handed.x, expected_x), (variant.name, scenario.name)
                assert torch.equal(handed.context, expected_context), (variant.name, scenario.name)
            assert all(torch.equal(out, outputs[0]) for out in outputs)


# --- FP4 --------------------------------------------------------------------------------------------


def test_e2m1_rounding_is_exact_on_its_values_and_ties_to_even() -> None:
    values = torch.tensor(E2M1_VALUES + tuple(-v for v in E2M1_VALUES[1:]))
    codes = round_to_e2m1(values)
    assert codes.tolist() == list(range(8)) + list(range(9, 16))
    ties = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])
    assert [E2M1_VALUES[c] for c in round_to_e2m1(ties).tolist()] == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


def test_nvfp4_packs_two_values_per_byte_with_a_scale_per_16() -> None:
    quantized = quantize_nvfp4(_randn(3, 5, 64))
    assert quantized.packed.shape == (3, 5, 32) and quantized.packed.dtype == PACKED_DTYPE
    assert PACKED_DTYPE == getattr(torch, "float4_e2m1fn_x2", torch.uint8)
    assert quantized.block_scale.shape == (3, 5, 4) and quantized.block_scale.dtype == torch.float8_e4m3fn
    assert quantized.global_scale.shape == () and quantized.global_scale.dtype == torch.float32


def test_nvfp4_round_trip_is_exact_for_representable_blocks() -> None:
    codes = torch.randint(0, 16, (4, 32), generator=GEN)
    magnitudes = torch.tensor(E2M1_VALUES)[codes % 8] * torch.where(codes >= 8, -1.0, 1.0)
    magnitudes[:, 0::16] = 6.0  # every block reaches the top of the range: scale 1 per block
    x = magnitudes * 0.5
    assert torch.equal(quantize_nvfp4(x).dequantize(torch.float32), x)


def test_nvfp4_error_on_gaussian_data() -> None:
    x = _randn(64, 256)
    assert relative_error(quantize_nvfp4(x).dequantize(torch.float32), x) < 0.12  # measured 0.094


@pytest.mark.parametrize(
    ("make_x", "error"),
    [
        (lambda: _randn(4, 64).t(), "needs it contiguous"),
        (lambda: _randn(4, 8, 64).permute(1, 0, 2), "needs it contiguous"),
        (lambda: _randn(4, 24), "multiple of 16"),
    ],
    ids=["transposed", "permuted", "last-dim-24"],
)
def test_fp4_quantizer_refuses_strided_or_ragged_inputs(make_x: Callable[[], torch.Tensor], error: str) -> None:
    with pytest.raises(FP4LayoutError, match=error):
        quantize_nvfp4(make_x())


def test_fp4_linear_refuses_a_strided_input_and_takes_its_contiguous_copy() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32)).to(torch.bfloat16)
    convert_fp4_linear(model)
    strided = _randn(2, 8, 128, dtype=torch.bfloat16)[:, :, ::2]
    with pytest.raises(FP4LayoutError):
        model(strided)
    assert model(strided.contiguous()).shape == (2, 8, 32)


# --- the stride-ignoring FP8 attention kernel (CPU emulation) -----------------------------------------


def _qkv(batch: int = 2, q_len: int = 16, kv_len: int = 32, heads: int = 4, dim: int = 64) -> tuple[torch.Tensor, ...]:
    q = _randn(batch, q_len, heads, dim, dtype=torch.bfloat16)
    kv = _randn(batch, kv_len, 2, heads, dim, dtype=torch.bfloat16)
    k, v = kv.unbind(2)
    return q, k, v


def test_strict_kernel_is_right_on_contiguous_inputs() -> None:
    q, k, v = (t.contiguous() for t in _qkv())
    assert relative_error(strict_fp8_attention_emulated(q, k, v), reference_attention(q, k, v)) < 0.05  # 0.031


def test_strict_kernel_is_wrong_on_strided_views_and_right_on_their_contiguous_copies() -> None:
    q, k, v = _qkv()  # k and v: views into one kv tensor, as unbind(2) leaves them
    assert not k.is_contiguous() and not v.is_contiguous()
    expected = reference_attention(q, k, v)
    assert relative_error(strict_fp8_attention_emulated(q, k, v), expected) > 0.3
    assert relative_error(strict_fp8_attention_emulated(q, k.contiguous(), v.contiguous()), expected) < 0.05


def test_strict_kernel_reads_the_storage_as_dense_from_the_data_pointer() -> None:
    q, k, v = _qkv()
    dense = strict_fp8_attention_emulated(q, as_dense(k), as_dense(v))
    assert torch.equal(strict_fp8_attention_emulated(q, k, v), dense)


def test_strict_kernel_refuses_a_view_whose_dense_read_leaves_its_storage() -> None:
    broadcast = _randn(1, 1, 4, 64).expand(1, 32, 4, 64)  # stride 0: 32 tokens backed by one
    with pytest.raises(ValueError, match="runs past its storage"):
        check_dense_extent(broadcast, "k")


@pytest.mark.parametrize("profile", [None, *all_profiles()], ids=lambda p: p or "original")
@pytest.mark.parametrize("variant", [variant.name for variant in variants()])
def test_strict_kernel_in_the_module_is_right_exactly_where_q_k_v_arrive_contiguous(
    checkouts: Checkouts, variant: str, profile: str | None
) -> None:
    """Ties the recorder to the kernel: the stride-ignoring kernel's output is right (against sdpa on the
    same bf16 model) in every scenario where the recorder saw q, k and v contiguous, and wrong on every other."""
    checkout = checkouts.get(variant, profile)
    for scenario in scenarios_of(variant):
        if scenario.name in FAILING_SCENARIOS:
            continue
        strict, plain = build_models([checkout.multitalk, checkout.multitalk], SMALL, "cpu")
        prepare(strict, STRICT)
        prepare(plain, BF16_SDPA)
        inputs = forward_inputs(SMALL, scenario, torch.bfloat16, "cpu")
        with recording(checkout.multitalk, strict) as record:
            out = run_forward(strict, inputs.clone())
        contiguous = all(b.contiguous for b in record.boundaries if b.call == "attention")
        error = relative_error(out, run_forward(plain, inputs.clone()))
        assert (error < 0.05) == contiguous, (scenario.name, error, contiguous)
