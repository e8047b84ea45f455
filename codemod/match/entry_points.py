"""Attention entry points: the calls that hand q, k and v to a kernel, and the layout each one takes them in.

One table serves every part of the tool: the boundary profile finds kernel inputs with it, the seed
profile tells the two `x = x.view(...)` sites apart by the attention call between them, and the
runtime recorder wraps these callables to see what reaches the kernel. Users add their own in
`[tool.contiguify] entry-points`. Free of libcst and torch: calls are matched by their dotted name.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple

Layout = Literal["B L H D", "B H L D", "B L (H D)"]
LAYOUTS: tuple[Layout, ...] = ("B L H D", "B H L D", "B L (H D)")
TENSOR_NAMES = ("q", "k", "v")


# A named tuple, not a frozen dataclass, for start-up time: see codemod/results.py.
class EntryPoint(NamedTuple):
    """A function that hands q, k, v to an attention kernel.

    `names`: dotted names as written at the call site, shell wildcards allowed (`*.scaled_dot_product_attention`).
    `keywords`: the keyword names of its q, k, v parameters (positions 0, 1, 2), or of the list when
    `packed`; empty when positional only.
    `packed`: q, k, v travel as one list, the first argument (`pay_attention([q, k, v])`).
    `layout`: how it reads q, k, v; `layout_if` overrides it when a keyword argument has a given literal value.
    `reads_strides`: every kernel behind it takes q, k, v through their strides and needs only a unit
    last stride (torch's sdpa, flash-attn, xformers, SageAttention, ComfyUI's dispatcher), so a dense
    tensor in any dimension order serves it as well as a contiguous one. False when some kernel it can
    reach reads the memory as if contiguous (WanVideoWrapper's `attention()` dispatches to such modes).
    `example`: a call as upstream writes it.
    """

    label: str
    names: tuple[str, ...]
    layout: Layout
    example: str
    keywords: tuple[str, ...] = TENSOR_NAMES
    packed: bool = False
    layout_if: tuple[tuple[str, object, Layout], ...] = ()
    reads_strides: bool = False

    def matches(self, dotted: str) -> bool:
        return any(fnmatch.fnmatchcase(dotted, pattern) for pattern in self.names)

    def layout_for(self, keywords: Mapping[str, object]) -> Layout:
        """The layout of a call whose literal keyword arguments are `keywords`."""
        for keyword, value, layout in self.layout_if:
            if keyword in keywords and keywords[keyword] == value:
                return layout
        return self.layout


ENTRY_POINTS: tuple[EntryPoint, ...] = (
    EntryPoint(
        "wanvideowrapper", ("attention",), "B L H D",
        "x = attention(q, encoder_k, encoder_v, attention_mode=self.attention_mode)",
    ),
    EntryPoint(
        "comfyui", ("optimized_attention", "*.optimized_attention"), "B L (H D)",
        "x = optimized_attention(q.transpose(1, 2), encoder_k.transpose(1, 2), encoder_v.transpose(1, 2), "
        "heads=self.num_heads, skip_reshape=True, skip_output_reshape=True).transpose(1, 2)",
        layout_if=(("skip_reshape", True, "B H L D"),), reads_strides=True,
    ),
    EntryPoint(
        "xformers", ("memory_efficient_attention", "*.memory_efficient_attention"), "B L H D",
        "x = xformers.ops.memory_efficient_attention(q, encoder_k, encoder_v, attn_bias=attn_bias, op=None)",
        keywords=("query", "key", "value"), reads_strides=True,
    ),
    EntryPoint(
        "flash-attn", ("flash_attn_func", "*.flash_attn_func"), "B L H D",
        "x = flash_attn_func(q, k, v)", reads_strides=True,
    ),
    EntryPoint(
        "sdpa", ("scaled_dot_product_attention", "*.scaled_dot_product_attention"), "B H L D",
        "x = F.scaled_dot_product_attention(q, k, v)",
        keywords=("query", "key", "value"), reads_strides=True,
    ),
    EntryPoint(
        "sageattention", ("sageattn", "*.sageattn"), "B H L D",
        "x = sageattn(q, k, v, tensor_layout='NHD')",
        layout_if=(("tensor_layout", "NHD", "B L H D"),), reads_strides=True,
    ),
    EntryPoint(
        "autograd-function", ("[A-Z]*.apply",), "B H L D",
        "x = FusedSDPA.apply(q, k, v, attn_bias)",
        keywords=(),
    ),
    EntryPoint("attn-func", ("attn_func",), "B L H D", "x = attn_func(q, k, v)"),
    EntryPoint(
        "wan2gp", ("pay_attention",), "B L H D",
        "x = pay_attention(qkv_list)",
        keywords=("qkv_list",), packed=True,
    ),
)


# Calls that are never an attention kernel: tensor methods and torch functions that reshape, convert, copy,
# combine or reduce, and Python's builtins. Declared as entry points, they would have the boundary profile
# write `.contiguous()` on their arguments (`x.view((B * N_t).contiguous(), S.contiguous(), ...)`).
TENSOR_OPERATIONS = frozenset({
    "view", "view_as", "reshape", "reshape_as", "permute", "transpose", "swapaxes", "swapdims", "t", "contiguous",
    "flatten", "unflatten", "squeeze", "unsqueeze", "expand", "expand_as", "repeat", "repeat_interleave", "unbind",
    "split", "chunk", "narrow", "select", "index_select", "gather", "scatter", "masked_fill", "to", "type", "float",
    "half", "bfloat16", "double", "cpu", "cuda", "clone", "detach", "size", "stride", "numel", "dim", "item",
    "tolist", "mean", "softmax", "cat", "concat", "stack", "matmul", "bmm", "mm", "einsum", "linear", "dropout",
    "zeros_like", "ones_like", "empty_like", "full_like", "rearrange", "apply_rotary_emb", "clamp", "add", "mul",
})

def with_builtins(extra: Iterable[EntryPoint]) -> tuple[EntryPoint, ...]:
    """The table a project uses: its own entry points first (they win over a built-in of the same name), then ours."""
    return (*extra, *ENTRY_POINTS)


def dotted_name_ast(node: ast.expr) -> str | None:
    """`xformers.ops.memory_efficient_attention` for the matching `ast` Attribute tree, None for anything else.

    The `ast` twin of `codemod.match.chains.dotted_name`, for code that must not import libcst.
    """
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted_name_ast(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def find_entry_point(dotted: str, table: Iterable[EntryPoint] = ENTRY_POINTS) -> EntryPoint | None:
    """The first entry of `table` that a call to `dotted` is; a method of `self` never is."""
    if dotted.split(".", 1)[0] == "self":
        return None
    return next((entry for entry in table if entry.matches(dotted)), None)

