"""The recorder: kernel boundaries, `.contiguous()` calls and their sites, on CPU and on the meta device."""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest
import torch

from codemod.model.record import Boundary, ContiguousCall, recording
from fixtures.catalog import CASES, WRAPPER_MULTITALK


ImportFile = Callable[[str], types.ModuleType]
ImportCheckout = Callable[[bytes], types.ModuleType]

HELPER = '''
def make_contiguous(tensor):
    return tensor.contiguous()
'''

# Line numbers below are those of this source; keep them in step when editing it.
TINY = '''import torch
from torch import nn

from {helper} import make_contiguous


def attention(q, k, v, attention_mode="sdpa"):
    return q.new_zeros(q.shape)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        a = x.contiguous().t().contiguous()
        b = self.proj(x[:, 2:])
        self.norm(x[:, 2:])
        make_contiguous(x.t())
        return attention(b, k=x[:, 1:9], v=x[:, :8].contiguous())
'''


def contiguous_column(line: int, occurrence: int = 0) -> int:
    """Column of the `occurrence`-th name `contiguous` on `line` of TINY."""
    text = TINY.splitlines()[line - 1]
    column = -1
    for _ in range(occurrence + 1):
        column = text.index("contiguous", column + 1)
    return column


@pytest.fixture
def tiny(import_file: ImportFile) -> types.ModuleType:
    helper = import_file(HELPER)
    return import_file(TINY.format(helper=helper.__name__))


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_records_kernel_inputs_and_contiguous_calls(tiny: types.ModuleType, device: str) -> None:
    with torch.device(device):
        model = tiny.Tiny()
        x = torch.randn(4, 10)
    second_on_line = (18, contiguous_column(18, 1))
    with recording(tiny, model, site_lines={18: "by-line"}, site_positions={second_on_line: "by-position"}) as recorded:
        model(x)

    assert recorded.boundaries == [
        Boundary(19, "proj", "input", contiguous=False, dense=False, aligned16=False, shape=(4, 8), stride=(10, 1)),
        Boundary(22, "attention", "q", contiguous=True, dense=True, aligned16=True, shape=(4, 8), stride=(8, 1),
                 layout="B L H D"),
        Boundary(22, "attention", "k", contiguous=False, dense=False, aligned16=False, shape=(4, 8), stride=(10, 1),
                 layout="B L H D"),
        Boundary(22, "attention", "v", contiguous=True, dense=True, aligned16=True, shape=(4, 8), stride=(8, 1),
                 layout="B L H D"),
    ]
    assert recorded.contiguous_calls == [
        ContiguousCall(18, "by-line", copied=False, bytes=0, column=contiguous_column(18)),
        ContiguousCall(18, "by-position", copied=True, bytes=4 * 10 * 4, column=second_on_line[1]),
        ContiguousCall(22, None, copied=True, bytes=4 * 8 * 4, column=contiguous_column(22)),
    ]


def test_everything_is_put_back_afterwards(tiny: types.ModuleType) -> None:
    model = tiny.Tiny()
    original_attention = tiny.attention
    with recording(tiny, model) as recorded:
        assert tiny.attention is not original_attention
    assert tiny.attention is original_attention
    model(torch.randn(4, 10))
    assert recorded.boundaries == [] and recorded.contiguous_calls == []


def _multi_speaker(module: types.ModuleType) -> tuple[torch.nn.Module, dict[str, object]]:
    torch.manual_seed(0)
    model = module.SingleStreamMultiAttention(64, 32, 4, True).to(torch.bfloat16)
    inputs: dict[str, object] = {
        "x": torch.randn(1, 3 * 16, 64, dtype=torch.bfloat16),
        "encoder_hidden_states": torch.randn(3, 8, 32, dtype=torch.bfloat16),
        "shape": (3, 4, 4),
        "x_ref_attn_map": torch.rand(2, 3 * 16, dtype=torch.bfloat16),
        "human_num": 2,
    }
    return model, inputs


def test_attention_imported_inside_each_forward_is_recorded(import_checkout: ImportCheckout) -> None:
    module = import_checkout((CASES / "local_import.in.py").read_bytes())
    model, inputs = _multi_speaker(module)
    with torch.inference_mode(), recording(module, model) as recorded:
        model(**inputs)
    attention_args = [(b.arg, b.contiguous) for b in recorded.boundaries if b.call == "attention"]
    assert attention_args == [("q", True), ("k", True), ("v", False)]


def test_calls_inside_the_real_attention_function_are_not_the_modules(import_checkout: ImportCheckout) -> None:
    # The fixture's sdpa attention ends in `.contiguous()`; only multitalk.py's own calls are recorded.
    module = import_checkout(WRAPPER_MULTITALK.read_bytes())
    model, inputs = _multi_speaker(module)
    with torch.inference_mode(), recording(module, model) as recorded:
        model(**inputs)
    assert recorded.contiguous_calls == []
    calls = [b.call for b in recorded.boundaries]
    assert calls == ["q_linear", "kv_linear", "attention", "attention", "attention", "proj"]
