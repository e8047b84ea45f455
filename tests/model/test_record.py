"""Recording q, k and v at every form of attention call, each in its entry point's own layout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch", reason="recording runs torch modules")

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.model.load import Loaded, load
from codemod.model.record import is_dense, recording

SOURCE = '''import torch
import torch.nn.functional as F
import xformers_stub_abc.ops as xops
from comfy_stub_abc.ldm.modules.attention import optimized_attention
from shared_stub_abc.attention import pay_attention
from .wanvideo_attention import attention


class FusedSDPA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias):
        return F.scaled_dot_product_attention(q, k, v)


def attn_func(q, k, v):
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)


def calls(q, k, v, heads):
    attention(q, k, v)
    F.scaled_dot_product_attention(query=q, key=k, value=v)
    pay_attention([q, k, v])
    FusedSDPA.apply(q, k, v, None)
    xops.memory_efficient_attention(q, k, v)
    optimized_attention(q, k, v, heads=heads, skip_reshape=True, skip_output_reshape=True)
    optimized_attention(q.flatten(2), k.flatten(2), v.flatten(2), heads=heads)
    attn_func(q, k, v)
    my_kernel(q, k, v)


def my_kernel(q, k, v):
    return q
'''
FIRST_CALL_LINE = SOURCE.splitlines().index("    attention(q, k, v)") + 1

# (call as written, layout it records): one per line of `calls`, in order.
EXPECTED = [
    ("attention", "B L H D"),
    ("F.scaled_dot_product_attention", "B H L D"),
    ("pay_attention", "B L H D"),
    ("FusedSDPA.apply", "B H L D"),
    ("xops.memory_efficient_attention", "B L H D"),
    ("optimized_attention", "B H L D"),
    ("optimized_attention", "B L (H D)"),
    ("attn_func", "B L H D"),
]


@pytest.fixture
def loaded() -> Iterator[Loaded]:
    with load(SOURCE.encode()) as result:
        yield result


def _tensors() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    q = torch.randn(2, 4, 3, 8)  # contiguous
    k = torch.randn(2, 3, 4, 8).transpose(1, 2)  # dense, permuted
    v = torch.randn(2, 4, 3, 16)[..., :8]  # gaps between rows
    return q, k, v


def test_every_call_form_is_recorded_once_in_its_layout(loaded: Loaded) -> None:
    module = loaded["original"].module
    q, k, v = _tensors()
    with recording(module, torch.nn.Module()) as recorded:
        module.calls(q, k, v, 3)
    found = [(b.line, b.call, b.arg, b.layout, b.contiguous, b.dense, b.shape[-1]) for b in recorded.boundaries]
    expected = []
    for offset, (call, layout) in enumerate(EXPECTED):
        line = FIRST_CALL_LINE + offset
        flat = layout == "B L (H D)"
        expected += [
            (line, call, "q", layout, True, True, 24 if flat else 8),
            (line, call, "k", layout, flat, True, 24 if flat else 8),
            (line, call, "v", layout, flat, flat, 24 if flat else 8),
        ]
    assert found == expected
    assert "apply" not in vars(module.FusedSDPA), "the class only inherited apply; it must not keep the wrapper"


def test_an_extra_table_adds_entry_points(loaded: Loaded) -> None:
    module = loaded["original"].module
    table = (EntryPoint("mine", ("my_kernel",), "B H L D", "my_kernel(q, k, v)"), *ENTRY_POINTS)
    q, k, v = _tensors()
    with recording(module, torch.nn.Module(), entry_points=table) as recorded:
        module.calls(q, k, v, 3)
    assert [(b.call, b.layout) for b in recorded.boundaries[-3:]] == [("my_kernel", "B H L D")] * 3


def test_calls_from_outside_the_module_are_not_recorded(loaded: Loaded) -> None:
    module = loaded["original"].module
    q, k, v = _tensors()
    with recording(module, torch.nn.Module()) as recorded:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert recorded.boundaries == []


@pytest.mark.parametrize(("tensor", "dense"), [
    (torch.empty(2, 3, 4), True),
    (torch.empty(2, 3, 4).permute(2, 0, 1), True),
    (torch.empty(2, 1, 4).expand(2, 5, 4), False),
    (torch.empty(2, 3, 8)[..., ::2], False),
    (torch.empty(4, 6)[1:3], True),
    (torch.empty(1, 3, 1), True),
])
def test_dense_means_no_gaps_and_no_overlaps_in_some_order(tensor: torch.Tensor, dense: bool) -> None:
    assert is_dense(tensor) is dense
