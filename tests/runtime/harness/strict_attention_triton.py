"""The contiguity-strict FP8 attention kernel in Triton (CUDA, sm_89 and newer).

Like fused quantization kernels it takes only data pointers and addresses q, k, v as dense
[B, L, H, D] arrays: element (b, l, h, d) is read at ((b * L + l) * H + h) * D + d, whatever the
tensor's strides. Per program: a block of queries of one (batch, head); q and each key block are
quantized to float8_e4m3fn with one scale per token (amax / 448) and multiplied on the FP8 tensor
cores (`tl.dot` of two float8e4nv tiles, float32 accumulation); online softmax in float32; p v in
the input dtype. Imported only on CUDA.
"""

import torch
import triton  # type: ignore[import-not-found, unused-ignore]
import triton.language as tl  # type: ignore[import-not-found, unused-ignore]

from tests.runtime.harness.backends import check_attention_inputs

BLOCK_M = 64
BLOCK_N = 32


def _strict_fp8_attention_kernel(
    q_ptr: tl.tensor,
    k_ptr: tl.tensor,
    v_ptr: tl.tensor,
    out_ptr: tl.tensor,
    softmax_scale: tl.tensor,
    q_len: tl.tensor,
    kv_len: tl.tensor,
    HEADS: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
) -> None:
    """One block of BLOCK_M queries of one (batch, head) against all keys; strides are never looked at.

    Every argument is a `tl.tensor` inside the kernel; Triton resolves annotations, so they name only `tl`.
    """
    block_m = tl.program_id(0)
    batch_head = tl.program_id(1)
    batch = batch_head // HEADS
    head = batch_head % HEADS

    rows = block_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, HEAD_DIM)
    row_ok = rows < q_len
    # Dense [B, L, H, D] addressing: the offsets a contiguous tensor would have.
    q_offsets = ((batch * q_len + rows[:, None]).to(tl.int64) * HEADS + head) * HEAD_DIM + cols[None, :]
    q = tl.load(q_ptr + q_offsets, mask=row_ok[:, None], other=0.0).to(tl.float32)
    q_scale = tl.max(tl.abs(q), axis=1) / 448.0
    q_scale = tl.where(q_scale == 0.0, 1.0, q_scale)
    q8 = (q / q_scale[:, None]).to(tl.float8e4nv)

    row_max = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    row_sum = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    for start in range(0, kv_len, BLOCK_N):
        keys = start + tl.arange(0, BLOCK_N)
        key_ok = keys < kv_len
        kv_offsets = ((batch * kv_len + keys[:, None]).to(tl.int64) * HEADS + head) * HEAD_DIM + cols[None, :]
        k = tl.load(k_ptr + kv_offsets, mask=key_ok[:, None], other=0.0).to(tl.float32)
        k_scale = tl.max(tl.abs(k), axis=1) / 448.0
        k_scale = tl.where(k_scale == 0.0, 1.0, k_scale)
        k8 = (k / k_scale[:, None]).to(tl.float8e4nv)

        scores = tl.dot(q8, tl.trans(k8)) * (q_scale[:, None] * k_scale[None, :] * softmax_scale)
        scores = tl.where(key_ok[None, :], scores, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(scores, axis=1))
        correction = tl.exp(row_max - new_max)
        p = tl.exp(scores - new_max[:, None])
        row_sum = row_sum * correction + tl.sum(p, axis=1)
        v = tl.load(v_ptr + kv_offsets, mask=key_ok[:, None], other=0.0)
        acc = acc * correction[:, None] + tl.dot(p.to(v.dtype), v)
        row_max = new_max

    out = acc / row_sum[:, None]
    tl.store(out_ptr + q_offsets, out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None])


_kernel = triton.jit(_strict_fp8_attention_kernel)


def strict_fp8_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q [B, Lq, H, D], k and v [B, Lk, H, D] in bf16 or fp16 on CUDA; returns a contiguous [B, Lq, H, D]."""
    check_attention_inputs(q, k, v)
    if not q.is_cuda:
        raise ValueError("the Triton strict_fp8 kernel needs CUDA tensors")
    if torch.cuda.get_device_capability(q.device) < (8, 9):
        raise RuntimeError("the strict_fp8 kernel multiplies float8_e4m3fn tiles: it needs sm_89 or newer")
    if q.dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"the strict_fp8 kernel takes bf16 or fp16, not {q.dtype}")
    batch, q_len, heads, head_dim = q.shape
    kv_len = k.shape[1]
    if head_dim < 16 or head_dim & (head_dim - 1):
        raise ValueError(f"the strict_fp8 kernel needs a power-of-two head_dim of at least 16, got {head_dim}")
    out = torch.empty((batch, q_len, heads, head_dim), dtype=q.dtype, device=q.device)
    if out.numel() == 0 or kv_len == 0:
        return out.zero_()
    grid = (triton.cdiv(q_len, BLOCK_M), batch * heads)
    with torch.cuda.device(q.device):
        _kernel[grid](
            q, k, v, out, head_dim**-0.5, q_len, kv_len,
            HEADS=heads, HEAD_DIM=head_dim, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
        )
    return out
