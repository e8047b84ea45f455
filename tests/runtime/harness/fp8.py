"""FP8 linear layers, modelled on ComfyUI-WanVideoWrapper's fp8 matmul path.

Upstream patches each `nn.Linear.forward`. For a 3-D input and a float8_e4m3fn weight it clamps
the input to ±448 *in place* (`torch.clamp(input, -448, 448, out=input)`), reshapes it to 2-D,
casts to float8_e4m3fn, makes it contiguous and calls `torch._scaled_mm` with a unit input scale
and a per-tensor weight scale, then reshapes the output back. The cast and `.contiguous()` mean
`_scaled_mm` always gets a fresh row-major, aligned first operand, whatever reached the layer;
the in-place clamp writes into whatever tensor reached the layer, so a `.contiguous()` copy in
front of the layer changes which tensor gets clamped when the input was strided.

`torch._scaled_mm` runs on CUDA sm_89 and newer. Elsewhere `scaled_mm_emulated` checks the same
operand contract (measured on H100, torch 2.11) and computes dequantize-then-matmul in float32,
so CPU runs execute the same module code.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0


def has_scaled_mm(device: torch.device) -> bool:
    """Whether `torch._scaled_mm` with float8_e4m3fn runs on `device` (CUDA sm_89 and newer)."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float8_e4m3fn weight and its per-tensor float32 scale: weight ≈ quantized * scale."""
    values = weight.detach().float()
    scale = (values.abs().amax() / FP8_MAX).clamp(min=torch.finfo(torch.float32).tiny)
    return (values / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8), scale


def check_scaled_mm_operands(a: torch.Tensor, b: torch.Tensor) -> None:
    """The contract of `torch._scaled_mm` as measured on H100 (torch 2.11), with the errors it raises there.

    A column-major first operand is refused; one whose data pointer is off 16-byte alignment fails in
    cuBLASLt; the inner and output dimensions must be multiples of 16. A first operand that is
    neither row- nor column-major (a column-strided slice) is copied by PyTorch and accepted.
    """
    if a.dtype != FP8 or b.dtype != FP8:
        raise RuntimeError(f"scaled_mm: expected float8_e4m3fn operands, got {a.dtype} and {b.dtype}")
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise RuntimeError(f"scaled_mm: cannot multiply {tuple(a.shape)} by {tuple(b.shape)}")
    if a.shape[1] % 16 or b.shape[1] % 16:
        raise RuntimeError(f"scaled_mm: dimensions must be multiples of 16, got {tuple(a.shape)} @ {tuple(b.shape)}")
    rows, _ = a.shape
    if rows > 1 and a.stride(0) == 1 and a.stride(1) == rows:
        raise RuntimeError("Only multiplication of row-major and column-major matrices is supported by cuBLASLt")
    if a.data_ptr() % 16:
        raise RuntimeError(
            "CUDA error: CUBLAS_STATUS_NOT_SUPPORTED when calling cublasLtMatmul (first operand off 16-byte alignment)"
        )


def scaled_mm_emulated(
    a: torch.Tensor,
    b: torch.Tensor,
    scale_a: torch.Tensor,
    scale_b: torch.Tensor,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """`torch._scaled_mm` in float32: the contract checked, operands dequantized, one matmul."""
    check_scaled_mm_operands(a, b)
    out = (a.float() @ b.float()) * (scale_a.float() * scale_b.float())
    if bias is not None:
        out = out + bias.float()
    return out.to(out_dtype)


def scaled_mm(
    a: torch.Tensor,
    b: torch.Tensor,
    scale_a: torch.Tensor,
    scale_b: torch.Tensor,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """`torch._scaled_mm` where the device has FP8 tensor cores, the emulation elsewhere."""
    if has_scaled_mm(a.device):
        return torch._scaled_mm(a, b, scale_a=scale_a, scale_b=scale_b, bias=bias, out_dtype=out_dtype)
    return scaled_mm_emulated(a, b, scale_a, scale_b, bias, out_dtype)


def fp8_linear_forward(linear: nn.Linear, base_dtype: torch.dtype, input: torch.Tensor) -> torch.Tensor:
    """Upstream's `fp8_linear_forward`, step for step (the in-place clamp included)."""
    weight = linear.weight
    scale_weight = linear.get_buffer("scale_weight")
    bias = linear.bias.to(base_dtype) if linear.bias is not None else None
    if input.dim() != 3:
        # Upstream hands other inputs to the layer's original forward, in the base dtype.
        dequantized = (weight.float() * scale_weight).to(base_dtype)
        return nn.functional.linear(input.to(base_dtype), dequantized, bias)
    input_shape = input.shape
    scale_input = torch.ones((), device=input.device, dtype=torch.float32)
    input = torch.clamp(input, min=-FP8_MAX, max=FP8_MAX, out=input)
    inn = input.reshape(-1, input_shape[2]).to(FP8).contiguous()
    out = scaled_mm(inn, weight.t(), scale_input, scale_weight, bias, base_dtype)
    return out.reshape((-1, input_shape[1], weight.shape[0]))


def convert_fp8_linear(model: nn.Module, base_dtype: torch.dtype) -> None:
    """Quantize every `nn.Linear` of `model` to float8_e4m3fn and patch its `forward`, as upstream does.

    Call after the model is on its device and in `base_dtype`.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            quantized, scale = quantize_weight(module.weight)
            module.weight = nn.Parameter(quantized, requires_grad=False)
            module.register_buffer("scale_weight", scale)
            setattr(module, "forward", partial(fp8_linear_forward, module, base_dtype))  # noqa: B010 (typed Tensor | Module)
