"""Attention entry points: the calls that hand q, k and v to a kernel, and the layout each one takes them in.

One table serves every part of the tool: the boundary profile finds kernel inputs with it, the seed
profile tells the two `x = x.view(...)` sites apart by the attention call between them, and the
runtime recorder wraps these callables to see what reaches the kernel. Users add their own in
`[tool.contiguify] entry-points`. Free of libcst and torch: calls are matched by their dotted name.
"""

from __future__ import annotations

import ast
import builtins
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Layout = Literal["B L H D", "B H L D", "B L (H D)"]
LAYOUTS: tuple[Layout, ...] = ("B L H D", "B H L D", "B L (H D)")
TENSOR_NAMES = ("q", "k", "v")


@dataclass(frozen=True)
class EntryPoint:
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


# A dotted name as written at a call site, each part an identifier or a shell pattern over one.
_PART = r"(?:[\w*?]|\[!?[^]\s.]+\])+"  # identifier characters, `*`, `?`, `[set]`
_NAME_PATTERN = re.compile(rf"{_PART}(?:\.{_PART})*")
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
# The keys of one `[[tool.contiguify.entry-points]]` table; `names` and `layout` are required.
CONFIG_KEYS = ("names", "layout", "keywords", "packed", "layout-if", "reads-strides", "label", "example")


def _strings(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key} must be a string or an array of strings")
    return tuple(value)


def _layout(value: object, key: str) -> Layout:
    if value not in LAYOUTS:
        raise ValueError(f"{key} must be one of {', '.join(repr(layout) for layout in LAYOUTS)}, not {value!r}")
    return value


def _flag(table: Mapping[str, object], key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _not_attention(last_part: str) -> str | None:
    """What a name's last part (a shell pattern) matches that is never attention: a tensor operation or a builtin."""
    for word in sorted(TENSOR_OPERATIONS):
        if fnmatch.fnmatchcase(word, last_part):
            return f"the tensor operation `{word}`"
    for word in sorted(dir(builtins)):
        if fnmatch.fnmatchcase(word, last_part):
            return f"the builtin `{word}`"
    return None


def entry_point_from_config(table: Mapping[str, object]) -> EntryPoint:
    """One user entry point from its `[[tool.contiguify.entry-points]]` table; ValueError names the bad key.

    >>> entry_point_from_config({"names": ["my_attention"], "layout": "B H L D"}).example
    'x = my_attention(q, k, v)'
    """
    unknown = [key for key in table if key not in CONFIG_KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]} (known: {', '.join(CONFIG_KEYS)})")
    if "names" not in table or "layout" not in table:
        raise ValueError("names and layout are required")
    names = _strings(table["names"], "names")
    if not names:
        raise ValueError("names must name at least one function")
    for name in names:
        if not _NAME_PATTERN.fullmatch(name):
            raise ValueError(f"names: {name!r} is not a dotted name (shell wildcards allowed)")
        if name.split(".", 1)[0] == "self":
            raise ValueError(f"names: {name!r}: a method of self is never an entry point")
        if not re.search(r"\w", re.sub(r"\[[^]]*\]", "", name.rsplit(".", 1)[-1])):
            raise ValueError(f"names: {name!r}: its last part must name the function (wildcards alone match any)")
        refused = _not_attention(name.rsplit(".", 1)[-1])
        if refused is not None:
            raise ValueError(f"names: {name!r} matches {refused}, which is never an attention kernel")
    packed = _flag(table, "packed")
    default_keywords = ("qkv",) if packed else TENSOR_NAMES
    keywords = _strings(table.get("keywords", list(default_keywords)), "keywords")
    if any(not keyword.isidentifier() for keyword in keywords):
        raise ValueError("keywords must be parameter names")
    if keywords and len(keywords) != (1 if packed else 3):
        raise ValueError("keywords must name q, k and v (three names), or the list when packed (one), or be empty")
    conditions = table.get("layout-if", [])
    if not isinstance(conditions, list) or not all(isinstance(item, dict) for item in conditions):
        raise ValueError("layout-if must be an array of tables {keyword, value, layout}")
    layout_if: list[tuple[str, object, Layout]] = []
    for condition in conditions:
        if set(condition) != {"keyword", "value", "layout"} or not isinstance(condition["keyword"], str):
            raise ValueError("layout-if: each table needs exactly keyword (a string), value and layout")
        if not isinstance(condition["value"], (str, int, float, bool)):
            raise ValueError("layout-if.value must be a string, number or boolean: a literal the call passes")
        layout_if.append((condition["keyword"], condition["value"], _layout(condition["layout"], "layout-if.layout")))
    label, example = table.get("label", names[0]), table.get("example", f"x = {names[0]}(q, k, v)")
    if not isinstance(label, str) or not isinstance(example, str):
        raise ValueError("label and example must be strings")
    return EntryPoint(
        label, names, _layout(table["layout"], "layout"), example, keywords=keywords, packed=packed,
        layout_if=tuple(layout_if), reads_strides=_flag(table, "reads-strides"),
    )


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

