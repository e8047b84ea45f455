"""The boundary rewrite of each upstream attention shape, run: same output, and what reaches the kernel.

Each shape is the attention forward as its upstream writes it (ComfyUI core, Wan2GP, MeiGen), at a
small size on CPU, with its entry point replaced by one that records what it is handed and computes
with torch's sdpa. The original and the rewrite get the same weights and inputs.
"""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the rewritten modules run under torch")

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.run.job import Job
from codemod.run.runner import rewrite_job

PRELUDE = """\
import types
import torch
from torch import nn

RECEIVED = []


def _sdpa_blhd(q, k, v):
    return torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    ).transpose(1, 2)
"""

COMFYUI = PRELUDE + '''

def optimized_attention(q, k, v, heads, skip_reshape=False, skip_output_reshape=False):
    RECEIVED.append((q, k, v))
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


class SingleStreamAttention(nn.Module):
    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias, device=None, dtype=None, operations=None):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q_linear = operations.Linear(dim, dim, bias=qkv_bias, device=device, dtype=dtype)
        self.proj = operations.Linear(dim, dim, device=device, dtype=dtype)
        self.kv_linear = operations.Linear(encoder_hidden_states_dim, dim * 2, bias=qkv_bias, device=device, dtype=dtype)

    def forward(self, x, encoder_hidden_states, shape=None):
        N_t, N_h, N_w = shape
        B = x.shape[0]
        S = N_h * N_w
        x = x.view(B * N_t, S, self.dim)
        q = self.q_linear(x).view(B * N_t, S, self.num_heads, self.head_dim)
        kv = self.kv_linear(encoder_hidden_states)
        encoder_k, encoder_v = kv.view(B * N_t, encoder_hidden_states.shape[1], 2, self.num_heads, self.head_dim).unbind(2)
        x = optimized_attention(
            q.transpose(1, 2),
            encoder_k.transpose(1, 2),
            encoder_v.transpose(1, 2),
            heads=self.num_heads, skip_reshape=True, skip_output_reshape=True).transpose(1, 2)
        x = self.proj(x.reshape(B * N_t, S, self.dim))
        x = x.view(B, N_t * S, self.dim)
        return x
'''

# Wan2GP: q, k, v travel in a list that the callee empties, so that their memory can go early.
WAN2GP = PRELUDE + '''

def pay_attention(qkv_list, cross_attn=False):
    q, k, v = qkv_list
    qkv_list.clear()
    RECEIVED.append((q, k, v))
    return _sdpa_blhd(q, k, v)


class SingleStreamAttention(nn.Module):
    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q_linear = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(encoder_hidden_states_dim, dim * 2, bias=qkv_bias)

    def forward(self, x, encoder_hidden_states, shape=None):
        N_t, N_h, N_w = shape
        x = x.reshape(x.shape[0] * N_t, N_h * N_w, self.dim)
        B, N, C = x.shape
        q = self.q_linear(x)
        q_shape = (B, N, self.num_heads, self.head_dim)
        q = q.view(q_shape).permute((0, 2, 1, 3))
        _, N_a, _ = encoder_hidden_states.shape
        encoder_kv = self.kv_linear(encoder_hidden_states)
        encoder_kv_shape = (B, N_a, 2, self.num_heads, self.head_dim)
        encoder_kv = encoder_kv.view(encoder_kv_shape).permute((2, 0, 3, 1, 4))
        encoder_k, encoder_v = encoder_kv.unbind(0)
        q = q.permute(0, 2, 1, 3)
        encoder_k = encoder_k.permute(0, 2, 1, 3)
        encoder_v = encoder_v.permute(0, 2, 1, 3)
        qkv_list = [q, encoder_k, encoder_v]
        q = encoder_k = encoder_v = None
        x = pay_attention(qkv_list, cross_attn=True)
        x = x.reshape(B, N, C)
        x = self.proj(x)
        return x.reshape(-1, N_t * N, C)
'''

# MeiGen MultiTalk / InfiniteTalk: xformers, q, k, v rearranged to [B, M, H, K] before the call.
MEIGEN = PRELUDE + '''

def _memory_efficient_attention(query, key, value, attn_bias=None, op=None):
    RECEIVED.append((query, key, value))
    return _sdpa_blhd(query, key, value)


xformers = types.SimpleNamespace(ops=types.SimpleNamespace(memory_efficient_attention=_memory_efficient_attention))


class SingleStreamAttention(nn.Module):
    def __init__(self, dim, encoder_hidden_states_dim, num_heads, qkv_bias):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q_linear = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(encoder_hidden_states_dim, dim * 2, bias=qkv_bias)

    def forward(self, x, encoder_hidden_states, shape=None):
        N_t, N_h, N_w = shape
        x = x.reshape(x.shape[0] * N_t, N_h * N_w, self.dim)
        B, N, C = x.shape
        q = self.q_linear(x)
        q = q.view(B, N, self.num_heads, self.head_dim).permute((0, 2, 1, 3))
        _, N_a, _ = encoder_hidden_states.shape
        encoder_kv = self.kv_linear(encoder_hidden_states)
        encoder_kv = encoder_kv.view(B, N_a, 2, self.num_heads, self.head_dim).permute((2, 0, 3, 1, 4))
        encoder_k, encoder_v = encoder_kv.unbind(0)
        q = q.permute(0, 2, 1, 3)
        encoder_k = encoder_k.permute(0, 2, 1, 3)
        encoder_v = encoder_v.permute(0, 2, 1, 3)
        attn_bias = None
        x = xformers.ops.memory_efficient_attention(q, encoder_k, encoder_v, attn_bias=attn_bias, op=None)
        x = x.reshape(B, N, C)
        x = self.proj(x)
        return x.reshape(-1, N_t * N, C)
'''


@dataclass(frozen=True)
class Shape:
    name: str
    source: str
    constructor: Callable[[], dict[str, object]]


SHAPES = [
    Shape("comfyui", COMFYUI, lambda: {"operations": torch.nn}),
    Shape("wan2gp", WAN2GP, dict),
    Shape("meigen", MEIGEN, dict),
]
DIM, HEADS, AUDIO_DIM, FRAMES, HEIGHT, WIDTH, AUDIO_TOKENS = 32, 4, 24, 3, 4, 4, 5


def load(source: str, name: str, tmp_path: Path) -> types.ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def boundary_rewrite(source: str) -> str:
    result = rewrite_job(Job("multitalk.py", source.encode(), "boundary", parse_targets(DEFAULT_TARGETS)))
    assert result.error is None and result.new is not None, result.error
    return result.new.decode()


def dense_with_unit_last_stride(tensor: torch.Tensor) -> bool:
    """No gaps and no overlaps, whatever the dimension order, and the last dimension's stride is 1."""
    order = sorted(range(tensor.dim()), key=lambda dim: -tensor.stride(dim))
    return tensor.stride(-1) == 1 and tensor.permute(order).is_contiguous()


@dataclass(frozen=True)
class Run:
    output: torch.Tensor
    received: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # q, k, v as the entry point got them
    q_linear: torch.Tensor  # the q projection's output


def run(module: types.ModuleType, shape: Shape, state: dict[str, torch.Tensor] | None = None) -> Run:
    """One forward; weights from `state`, else seeded."""
    torch.manual_seed(0)
    model = module.SingleStreamAttention(DIM, AUDIO_DIM, HEADS, True, **shape.constructor())
    if state is not None:
        model.load_state_dict(state)
    outputs: dict[str, torch.Tensor] = {}
    model.q_linear.register_forward_hook(lambda _m, _i, output: outputs.setdefault("q_linear", output))
    torch.manual_seed(1)
    x = torch.randn(1, FRAMES * HEIGHT * WIDTH, DIM)
    context = torch.randn(FRAMES, AUDIO_TOKENS, AUDIO_DIM)
    module.RECEIVED.clear()
    with torch.no_grad():
        output = model(x, context, shape=(FRAMES, HEIGHT, WIDTH))
    (received,) = module.RECEIVED
    return Run(output, received, outputs["q_linear"])


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_rewrite_runs_and_computes_what_the_original_computes(shape: Shape, tmp_path: Path) -> None:
    rewritten = boundary_rewrite(shape.source)
    assert rewritten != shape.source
    original_module = load(shape.source, f"{shape.name}_original", tmp_path)
    rewritten_module = load(rewritten, f"{shape.name}_boundary", tmp_path)
    torch.manual_seed(0)
    state = original_module.SingleStreamAttention(DIM, AUDIO_DIM, HEADS, True, **shape.constructor()).state_dict()
    before, after = run(original_module, shape, state), run(rewritten_module, shape, state)
    assert torch.equal(after.output, before.output)
    assert all(dense_with_unit_last_stride(tensor) for tensor in after.received)


@pytest.mark.parametrize("shape", [shape for shape in SHAPES if shape.name != "comfyui"], ids=lambda shape: shape.name)
def test_entry_points_that_may_ignore_strides_get_contiguous_tensors(shape: Shape, tmp_path: Path) -> None:
    module = load(boundary_rewrite(shape.source), f"{shape.name}_contiguous", tmp_path)
    assert all(tensor.is_contiguous() for tensor in run(module, shape).received)


def test_comfyui_q_reaches_the_kernel_without_a_copy(tmp_path: Path) -> None:
    """`q.contiguous().transpose(1, 2)`: q comes contiguous from its linear, so the kernel reads that very memory.

    The original hands over the same strided view: the rewrite changes nothing for q, and copies
    only k and v, which `unbind` leaves with gaps.
    """
    (shape,) = [shape for shape in SHAPES if shape.name == "comfyui"]
    original = load(shape.source, "comfyui_reference", tmp_path)
    rewritten = load(boundary_rewrite(shape.source), "comfyui_placement", tmp_path)
    before, after = run(original, shape), run(rewritten, shape)
    (q_before, k_before, v_before), (q, k, v) = before.received, after.received
    assert q.data_ptr() == after.q_linear.data_ptr() and q.stride() == q_before.stride()
    assert not q.is_contiguous()  # [B, H, L, D] over [B, L, H, D] memory, as before
    assert not dense_with_unit_last_stride(k_before) and not dense_with_unit_last_stride(v_before)
    assert dense_with_unit_last_stride(k) and dense_with_unit_last_stride(v)
