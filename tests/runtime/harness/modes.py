"""Execution modes: compute dtype, how the linear layers run, which attention backend runs.

A mode is applied to a freshly built model (`prepare`); the same mode on the original and on a
rewritten model gives two models that differ only in their `multitalk.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tests.runtime.harness.backends import STRICT_FP8
from tests.runtime.harness.fp4 import convert_fp4_linear
from tests.runtime.harness.fp8 import convert_fp8_linear

Linear = Literal["dense", "fp8", "fp4"]


@dataclass(frozen=True)
class Mode:
    """`name`: how tests and reports call it; `attention`: the fixture's `attention_mode`."""

    name: str
    dtype: torch.dtype
    linear: Linear
    attention: str
    summary: str


BF16 = torch.bfloat16
FP32 = Mode("fp32", torch.float32, "dense", "sdpa", "float32 linears, PyTorch sdpa")
BF16_SDPA = Mode("bf16", BF16, "dense", "sdpa", "bf16 linears, PyTorch sdpa")
FP8 = Mode("fp8", BF16, "fp8", "sdpa", "float8_e4m3fn linears (torch._scaled_mm on sm_89+, emulated elsewhere), sdpa")
FP4 = Mode("fp4-emulated-sm90", BF16, "fp4", "sdpa", "fp4, emulated on sm_90: NVFP4 linears dequantized to bf16, sdpa")
SAGEATTN = Mode("sageattn", BF16, "dense", "sageattn", "bf16 linears, SageAttention 1.0.6 (Triton, CUDA only)")
STRICT = Mode("strict-fp8-attention", BF16, "dense", STRICT_FP8, "bf16 linears, stride-ignoring FP8 attention kernel")


def prepare(model: nn.Module, mode: Mode) -> nn.Module:
    """Cast `model` (already on its device) to the mode's dtype, pick its attention, quantize its linears."""
    model.to(mode.dtype)
    setattr(model, "attention_mode", mode.attention)  # noqa: B010 (typed Tensor | Module)
    if mode.linear == "fp8":
        convert_fp8_linear(model, mode.dtype)
    elif mode.linear == "fp4":
        convert_fp4_linear(model)
    return model
