"""A CUDA kernel that reads 16-byte vectors, and what it does with a tensor 8 bytes off alignment.

`vec16_copy` copies a 2-D bf16 tensor row by row with `uint4` (16-byte) loads: it honours the row
stride but assumes, like vectorised kernels do, that every row starts on a 16-byte boundary. A column
slice starting 4 elements in (data pointer 8 bytes off) makes the loads misaligned and the kernel
fault with "CUDA error: misaligned address"; `.contiguous()` of that slice is a fresh, aligned copy
and the kernel is right on it. A tensor that is contiguous but starts 8 bytes off stays misaligned
after `.contiguous()`, which returns it unchanged.

A fault poisons the CUDA context of its process, so each case runs in a subprocess
(`python -m tests.runtime.harness.misaligned CASE`), which prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CPP_SOURCE = "torch::Tensor vec16_copy(torch::Tensor x);"

CUDA_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

__global__ void vec16_copy_kernel(const char* src, int64_t row_stride_bytes, uint4* dst,
                                  int64_t rows, int64_t vectors_per_row) {
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * vectors_per_row) return;
  int64_t row = i / vectors_per_row;
  int64_t column = i % vectors_per_row;
  const uint4* source_row = reinterpret_cast<const uint4*>(src + row * row_stride_bytes);
  dst[i] = source_row[column];
}

torch::Tensor vec16_copy(torch::Tensor x) {
  TORCH_CHECK(x.is_cuda(), "vec16_copy: x must be a CUDA tensor");
  TORCH_CHECK(x.scalar_type() == at::kBFloat16, "vec16_copy: x must be bf16");
  TORCH_CHECK(x.dim() == 2, "vec16_copy: x must be 2-D");
  TORCH_CHECK(x.stride(1) == 1, "vec16_copy: rows must be dense");
  TORCH_CHECK(x.size(1) % 8 == 0, "vec16_copy: row length must be a multiple of 8 bf16 (16 bytes)");
  auto out = torch::empty({x.size(0), x.size(1)}, x.options());
  int64_t rows = x.size(0);
  int64_t vectors_per_row = x.size(1) / 8;
  int64_t total = rows * vectors_per_row;
  if (total == 0) return out;
  const int threads = 256;
  const int64_t blocks = (total + threads - 1) / threads;
  vec16_copy_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const char*>(x.data_ptr()), x.stride(0) * static_cast<int64_t>(x.element_size()),
      reinterpret_cast<uint4*>(out.data_ptr()), rows, vectors_per_row);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}
"""

CASES = {
    "column-slice": "x[:, 4:132] of a 64 x 136 bf16 tensor: strided, data pointer 8 bytes off",
    "column-slice-contiguous": ".contiguous() of that slice: a fresh, aligned copy",
    "offset-contiguous": "flat[4:].view(64, 128).contiguous(): contiguous already, so still 8 bytes off",
}


@dataclass(frozen=True)
class CaseResult:
    """What one case did: `error` is the exception's type and message, `correct` whether the copy matched."""

    case: str
    data_ptr_mod16: int
    contiguous: bool
    error: str | None
    correct: bool | None


def _load_extension() -> Any:
    from torch.utils.cpp_extension import load_inline

    return load_inline(  # type: ignore[no-untyped-call]  # torch leaves load_inline unannotated
        name="contiguify_vec16_copy",
        cpp_sources=[CPP_SOURCE],
        cuda_sources=[CUDA_SOURCE],
        functions=["vec16_copy"],
        verbose=False,
    )


def run_in_process(case: str) -> CaseResult:
    """Build the case's tensor, run the kernel on it and check the copy; call only in a throwaway process."""
    import torch

    extension = _load_extension()
    generator = torch.Generator("cuda").manual_seed(0)
    if case == "column-slice":
        tensor = torch.randn(64, 136, device="cuda", generator=generator).to(torch.bfloat16)[:, 4:132]
    elif case == "column-slice-contiguous":
        tensor = torch.randn(64, 136, device="cuda", generator=generator).to(torch.bfloat16)[:, 4:132].contiguous()
    elif case == "offset-contiguous":
        flat = torch.randn(64 * 128 + 4, device="cuda", generator=generator).to(torch.bfloat16)
        tensor = flat[4:].view(64, 128).contiguous()
    else:
        raise ValueError(f"unknown case {case!r}; known: {', '.join(CASES)}")
    expected = tensor.clone(memory_format=torch.contiguous_format)
    torch.cuda.synchronize()
    error: str | None = None
    correct: bool | None = None
    try:
        out = extension.vec16_copy(tensor)
        torch.cuda.synchronize()
        correct = bool(torch.equal(out, expected))
    except Exception as exc:  # noqa: BLE001 - torch.AcceleratorError or whatever the fault raises
        error = f"{type(exc).__name__}: {exc}".strip()
    return CaseResult(case, tensor.data_ptr() % 16, tensor.is_contiguous(), error, correct)


def run_case(case: str, timeout: float = 600.0) -> CaseResult:
    """Run `case` in a fresh Python process (the first one compiles the extension: about a minute)."""
    root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "tests.runtime.harness.misaligned", case],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    # A faulted process may crash while exiting; the line it printed before is what counts.
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(
            f"misaligned case {case!r} exited with {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
        )
    return CaseResult(**json.loads(lines[-1]))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CASES:
        print(f"usage: python -m tests.runtime.harness.misaligned {{{'|'.join(CASES)}}}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(run_in_process(argv[0]))), flush=True)
    return 0


if __name__ == "__main__":
    # Skip interpreter teardown: after a fault it can hang or crash on the poisoned context.
    os._exit(main(sys.argv[1:]))
