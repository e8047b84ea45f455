"""FP4 linear layers, NVFP4-style: "fp4, emulated on sm_90".

Format: e2m1 values (±0, 0.5, 1, 1.5, 2, 3, 4, 6) in blocks of 16 along the input dimension, one
float8_e4m3fn scale per block and one float32 global scale per tensor, two values packed per byte
(low nibble first) in `torch.float4_e2m1fn_x2` where the installed torch has it, else `uint8`.
Weights are quantized once; activations on every call, by a quantizer that, like the FP4 kernels
it stands for, takes a contiguous input whose last dimension is a multiple of 16 and raises
`FP4LayoutError` on anything else.

Hopper (sm_90) has no FP4 tensor cores, so the matmul is emulated there and on CPU alike:
both operands are dequantized and multiplied in bf16.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

BLOCK = 16
E2M1_MAX = 6.0
E4M3_MAX = 448.0
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
# Midpoints between neighbouring magnitudes; a value on one rounds to the even code.
_MIDPOINTS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)
_TIES_UP = (0.75, 1.75, 3.5)
PACKED_DTYPE: torch.dtype = getattr(torch, "float4_e2m1fn_x2", torch.uint8)
MATMUL_DTYPE = torch.bfloat16


class FP4LayoutError(ValueError):
    """An activation the FP4 quantizer cannot take: not contiguous, or last dimension not a multiple of 16."""


@dataclass(frozen=True)
class NVFP4Tensor:
    """A quantized tensor: `packed` [..., K/2], `block_scale` [..., K/16] float8_e4m3fn, `global_scale` ()."""

    packed: torch.Tensor
    block_scale: torch.Tensor
    global_scale: torch.Tensor

    def codes(self) -> torch.Tensor:
        """The 4-bit codes [..., K] as uint8 (sign in bit 3, magnitude index in bits 0-2)."""
        raw = self.packed.view(torch.uint8)
        return torch.stack((raw & 0x0F, raw >> 4), dim=-1).flatten(-2)

    def dequantize(self, dtype: torch.dtype) -> torch.Tensor:
        codes = self.codes()
        table = torch.tensor(E2M1_VALUES, dtype=torch.float32, device=codes.device)
        values = table[(codes & 0x7).long()]
        values = torch.where((codes & 0x8) != 0, -values, values)
        scales = self.block_scale.float() * self.global_scale
        return (values * scales.repeat_interleave(BLOCK, dim=-1)).to(dtype)


def round_to_e2m1(values: torch.Tensor) -> torch.Tensor:
    """Codes of the nearest e2m1 numbers (ties to even) for float32 `values` within ±6."""
    magnitude = values.abs()
    midpoints = torch.tensor(_MIDPOINTS, dtype=values.dtype, device=values.device)
    index = torch.bucketize(magnitude, midpoints)
    ties_up = torch.tensor(_TIES_UP, dtype=values.dtype, device=values.device)
    index = index + torch.isin(magnitude, ties_up).to(index.dtype)
    return (index | torch.where(values < 0, 8, 0)).to(torch.uint8)


def check_fp4_input(x: torch.Tensor) -> None:
    if not x.is_contiguous():
        raise FP4LayoutError(
            f"the FP4 quantizer reads its input as a dense array and needs it contiguous; got shape "
            f"{tuple(x.shape)} with strides {x.stride()} (call .contiguous() first)"
        )
    if x.dim() == 0 or x.shape[-1] % BLOCK:
        raise FP4LayoutError(
            f"the FP4 quantizer needs a last dimension that is a multiple of {BLOCK}; got shape {tuple(x.shape)}"
        )


def quantize_nvfp4(x: torch.Tensor) -> NVFP4Tensor:
    """Quantize `x` (contiguous, last dimension a multiple of 16) to NVFP4."""
    check_fp4_input(x)
    values = x.float()
    amax = values.abs().amax()
    global_scale = torch.where(amax > 0, amax / (E2M1_MAX * E4M3_MAX), torch.ones_like(amax))
    blocks = values.reshape(*x.shape[:-1], x.shape[-1] // BLOCK, BLOCK)
    block_scale = (blocks.abs().amax(dim=-1) / E2M1_MAX / global_scale).clamp(max=E4M3_MAX).to(torch.float8_e4m3fn)
    denominator = (block_scale.float() * global_scale).unsqueeze(-1)
    scaled = torch.where(denominator > 0, blocks / denominator, torch.zeros_like(blocks)).clamp(-E2M1_MAX, E2M1_MAX)
    codes = round_to_e2m1(scaled).flatten(-2)
    packed = (codes[..., 0::2] | (codes[..., 1::2] << 4)).view(PACKED_DTYPE)
    return NVFP4Tensor(packed, block_scale, global_scale)


def fp4_linear_forward(linear: nn.Linear, weight: NVFP4Tensor, input: torch.Tensor) -> torch.Tensor:
    """fp4, emulated on sm_90: quantize the activation, dequantize both operands, matmul in bf16."""
    activation = quantize_nvfp4(input).dequantize(MATMUL_DTYPE)
    bias = linear.bias.to(MATMUL_DTYPE) if linear.bias is not None else None
    return nn.functional.linear(activation, weight.dequantize(MATMUL_DTYPE), bias).to(input.dtype)


def convert_fp4_linear(model: nn.Module) -> None:
    """Quantize every `nn.Linear` weight of `model` to NVFP4 once and patch its `forward` (fp4, emulated on sm_90).

    The float weight is dropped; the quantized one sits on the layer as `weight_fp4`.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            weight = quantize_nvfp4(module.weight.detach().contiguous())
            del module.weight
            setattr(module, "weight_fp4", weight)  # noqa: B010 (typed Tensor | Module)
            setattr(module, "forward", partial(fp4_linear_forward, module, weight))  # noqa: B010 (typed Tensor | Module)
