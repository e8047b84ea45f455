"""Extra attention modes for the fixture's `attention()`: a contiguity-strict FP8 attention kernel.

The fixture's dispatcher already has `sdpa` and `sageattn` (the real SageAttention package,
`from sageattention import sageattn`). This module adds `strict_fp8`, which stands for the fused
quantize-and-attend kernels that take a tensor's data pointer and address it as a dense
[B, L, H, D] array, whatever its strides: given a strided view it reads the wrong elements and
returns a wrong result without any error; given contiguous inputs it is right. On CUDA it is a
Triton kernel (`strict_attention_triton`); elsewhere an emulation with the same addressing.

Both quantize q and k to float8_e4m3fn with one scale per token and head (amax / 448), compute
q kᵀ from the quantized values with float32 accumulation, and do softmax and p v in higher precision.
"""

from __future__ import annotations

import math
import types
from typing import Any

import torch

STRICT_FP8 = "strict_fp8"
FP8_MAX = 448.0


def dense_strides(shape: torch.Size) -> tuple[int, ...]:
    """The strides a contiguous tensor of `shape` has."""
    strides: list[int] = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def check_dense_extent(tensor: torch.Tensor, name: str) -> None:
    """Raise unless reading `numel` elements densely from the tensor's data pointer stays inside its storage.

    A stride-ignoring kernel reads that range; outside the storage it would read foreign memory
    (or fault and poison the CUDA context) instead of merely wrong elements.
    """
    end = (tensor.storage_offset() + tensor.numel()) * tensor.element_size()
    if end > tensor.untyped_storage().nbytes():
        raise ValueError(
            f"{name}: a dense read of shape {tuple(tensor.shape)} from storage offset {tensor.storage_offset()} "
            f"runs past its storage ({tensor.untyped_storage().nbytes()} bytes)"
        )


def as_dense(tensor: torch.Tensor) -> torch.Tensor:
    """What a stride-ignoring kernel sees: the storage from the data pointer on, read as a dense array."""
    return torch.as_strided(tensor, tensor.shape, dense_strides(tensor.shape), tensor.storage_offset())


def fp8_round_per_token(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` (…, D) in float32 after a round trip through float8_e4m3fn with one scale per row (amax / 448)."""
    values = tensor.float()
    scale = values.abs().amax(dim=-1, keepdim=True) / FP8_MAX
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)
    quantized = (values / scale).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return quantized.float() * scale


def check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """q [B, Lq, H, D], k and v [B, Lk, H, D], one dtype and device; each readable densely."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"strict_fp8 attention wants 4-D q, k, v; got {q.dim()}, {k.dim()}, {v.dim()} dimensions")
    if k.shape != v.shape or q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        raise ValueError(f"strict_fp8 attention: shapes {shapes} do not fit")
    if not (q.dtype == k.dtype == v.dtype) or not (q.device == k.device == v.device):
        raise ValueError("strict_fp8 attention: q, k and v must share dtype and device")
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        check_dense_extent(tensor, name)


def reference_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Exact attention in float64 on [B, L, H, D] tensors, strides honoured: what every backend should give."""
    scores = torch.einsum("blhd,bmhd->bhlm", q.double(), k.double()) / math.sqrt(q.shape[-1])
    return torch.einsum("bhlm,bmhd->blhd", scores.softmax(dim=-1), v.double())


def strict_fp8_attention_emulated(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The strict kernel's semantics in PyTorch: strides ignored, q and k rounded to FP8 per token."""
    check_attention_inputs(q, k, v)
    q_dense, k_dense, v_dense = as_dense(q), as_dense(k), as_dense(v)
    scores = torch.einsum("blhd,bmhd->bhlm", fp8_round_per_token(q_dense), fp8_round_per_token(k_dense))
    probabilities = (scores / math.sqrt(q.shape[-1])).softmax(dim=-1)
    out = torch.einsum("bhlm,bmhd->blhd", probabilities, v_dense.float())
    return out.to(q.dtype).contiguous()


def strict_fp8_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **_: Any) -> torch.Tensor:
    """The `strict_fp8` mode: the Triton kernel on CUDA, the emulation elsewhere."""
    if q.is_cuda:
        from tests.runtime.harness.strict_attention_triton import strict_fp8_attention_triton

        return strict_fp8_attention_triton(q, k, v)
    return strict_fp8_attention_emulated(q, k, v)


def register_backends(attention_module: types.ModuleType) -> None:
    """Add the harness's modes to a checkout copy's `ATTENTION_BACKENDS`."""
    backends: dict[str, Any] = attention_module.ATTENTION_BACKENDS
    backends[STRICT_FP8] = strict_fp8_attention
