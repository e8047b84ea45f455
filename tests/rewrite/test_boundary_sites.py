"""The boundary profile site by site: its declared examples, every entry-point form, placements, no-ops, reasons."""

from __future__ import annotations

import textwrap

import pytest

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import parse_targets
from codemod.results import SiteResult
from codemod.match.sites import SiteInfo
from codemod.rewrite.engine import rewrite_module_source
from codemod.rewrite.profiles import get_profile
from codemod.rewrite.profiles.boundary import SITE_INFOS

TARGETS = parse_targets(["SingleStreamAttention.forward"])
INIT = (
    "    def __init__(self, dim):\n"
    "        self.q_linear = nn.Linear(dim, dim)\n"
    "        self.proj = nn.Linear(dim, dim)\n"
)


def in_forward(*statements: str) -> str:
    """A target class with two linear layers (`q_linear`, `proj`) and `statements` as its forward."""
    body = textwrap.indent("\n".join(statements), " " * 8)
    return f"class SingleStreamAttention(nn.Module):\n{INIT}\n    def forward(self, x, q, k, v):\n{body}\n"


def boundary(source: str) -> tuple[str, list[SiteResult]]:
    new, targets = rewrite_module_source(source, get_profile("boundary"), TARGETS)
    return new, [site for target in targets for site in target.sites]


def statuses(source: str, site_id: str) -> list[str]:
    return [site.status for site in boundary(source)[1] if site.id == site_id]


@pytest.mark.parametrize("site", SITE_INFOS, ids=lambda site: site.id)
def test_declared_example(site: SiteInfo) -> None:
    """`before` gets the insertion, `after` is a no-op with the site present."""
    before, after = in_forward(site.before), in_forward(site.after)
    assert boundary(before)[0] == after
    assert boundary(after)[0] == after
    assert "inserted" in statuses(before, site.id)
    assert "present" in statuses(after, site.id)


# Every entry of the table, its example as upstream writes it -> the boundary rewrite, written by hand.
ENTRY_POINT_REWRITES = {
    "wanvideowrapper": (
        (),
        (
            "x = attention(q.contiguous(), encoder_k.contiguous(), encoder_v.contiguous(), "
            "attention_mode=self.attention_mode)"
        ),
    ),
    "comfyui": (
        (),
        (
            "x = optimized_attention(q.contiguous().transpose(1, 2), encoder_k.contiguous().transpose(1, 2), "
            "encoder_v.contiguous().transpose(1, 2), heads=self.num_heads, skip_reshape=True, "
            "skip_output_reshape=True).transpose(1, 2)"
        ),
    ),
    "xformers": (
        (),
        (
            "x = xformers.ops.memory_efficient_attention(q.contiguous(), encoder_k.contiguous(), "
            "encoder_v.contiguous(), attn_bias=attn_bias, op=None)"
        ),
    ),
    "flash-attn": ((), "x = flash_attn_func(q.contiguous(), k.contiguous(), v.contiguous())"),
    "sdpa": ((), "x = F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous())"),
    "sageattention": ((), "x = sageattn(q.contiguous(), k.contiguous(), v.contiguous(), tensor_layout='NHD')"),
    "autograd-function": ((), "x = FusedSDPA.apply(q.contiguous(), k.contiguous(), v.contiguous(), attn_bias)"),
    "attn-func": ((), "x = attn_func(q.contiguous(), k.contiguous(), v.contiguous())"),
    "wan2gp": (
        (
            "qkv_list = [q, encoder_k, encoder_v]",
            "qkv_list = [q.contiguous(), encoder_k.contiguous(), encoder_v.contiguous()]",
        ),
        "x = pay_attention(qkv_list)",
    ),
}


def test_every_entry_point_has_a_rewrite_here() -> None:
    assert sorted(ENTRY_POINT_REWRITES) == sorted(entry.label for entry in ENTRY_POINTS)


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda entry: entry.label)
def test_entry_point_example(entry: EntryPoint) -> None:
    """q, k and v of each entry point's own example, each made contiguous once."""
    builds, expected = ENTRY_POINT_REWRITES[entry.label]
    before = in_forward(*builds[:1], entry.example)
    after = in_forward(*builds[1:], expected)
    assert boundary(before)[0] == after
    assert boundary(after)[0] == after
    for tensor in ("q", "k", "v"):
        assert statuses(before, f"boundary.attention-{tensor}") == ["inserted"]
        assert statuses(after, f"boundary.attention-{tensor}") == ["present"]


PAIRS = [
    pytest.param(
        "x = attention(q=q, k=k, v=v, attention_mode=m)",
        "x = attention(q=q.contiguous(), k=k.contiguous(), v=v.contiguous(), attention_mode=m)", id="keywords",
    ),
    pytest.param(
        "x = attention(q, k=k, v=v)", "x = attention(q.contiguous(), k=k.contiguous(), v=v.contiguous())",
        id="positional-and-keywords",
    ),
    pytest.param(
        "x = F.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=None)",
        "x = F.scaled_dot_product_attention(query=q.contiguous(), key=k.contiguous(), value=v.contiguous(), "
        "attn_mask=None)",
        id="sdpa-keywords",
    ),
    pytest.param(
        "x = pay_attention([q, k, v])", "x = pay_attention([q.contiguous(), k.contiguous(), v.contiguous()])",
        id="packed-display",
    ),
    pytest.param(
        "qkv_list = [q, k, v]\nx = pay_attention(qkv_list=qkv_list)",
        "qkv_list = [q.contiguous(), k.contiguous(), v.contiguous()]\nx = pay_attention(qkv_list=qkv_list)",
        id="packed-keyword",
    ),
    pytest.param(
        "qkv_list = [q, k, v]\nq = k = v = None\nx = pay_attention(qkv_list, cross_attn=True)",
        "qkv_list = [q.contiguous(), k.contiguous(), v.contiguous()]\nq = k = v = None\n"
        "x = pay_attention(qkv_list, cross_attn=True)",
        id="packed-wan2gp-shape",
    ),
    pytest.param(
        "if cond:\n    qkv_list = [q, k, v]\n    x = pay_attention(qkv_list)",
        "if cond:\n    qkv_list = [q.contiguous(), k.contiguous(), v.contiguous()]\n    x = pay_attention(qkv_list)",
        id="packed-in-a-branch",
    ),
    # Reorderings: on what they start from when the entry point reads strides and the last dimension stays.
    pytest.param(
        "x = F.scaled_dot_product_attention(q.permute(0, 2, 1, 3), k.permute((0, 2, 1, 3)), v.swapaxes(1, 2))",
        "x = F.scaled_dot_product_attention(q.contiguous().permute(0, 2, 1, 3), k.contiguous().permute((0, 2, 1, 3)), "
        "v.contiguous().swapaxes(1, 2))",
        id="sdpa-reorderings",
    ),
    pytest.param(
        "x = flash_attn_func(q.transpose(-3, -2), k.transpose(1, 2).transpose(1, 2), "
        "v.view(B, L, H, D).transpose(1, 2))",
        "x = flash_attn_func(q.contiguous().transpose(-3, -2), k.contiguous().transpose(1, 2).transpose(1, 2), "
        "v.view(B, L, H, D).contiguous().transpose(1, 2))",
        id="negative-chained-and-viewed",
    ),
    pytest.param(
        "x = F.scaled_dot_product_attention(q.transpose(2, 3), k.transpose(-1, -2), v.permute(0, 1, 3, 2))",
        "x = F.scaled_dot_product_attention(q.transpose(2, 3).contiguous(), k.transpose(-1, -2).contiguous(), "
        "v.permute(0, 1, 3, 2).contiguous())",
        id="last-dimension-moved-value-itself",
    ),
    pytest.param(
        "x = F.scaled_dot_product_attention(q.transpose(d, 2), k.permute(*order), v.transpose(1, 2, 3))",
        "x = F.scaled_dot_product_attention(q.transpose(d, 2).contiguous(), k.permute(*order).contiguous(), "
        "v.transpose(1, 2, 3).contiguous())",
        id="dimensions-not-literal-value-itself",
    ),
    pytest.param(
        "x = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))",
        "x = attention(q.transpose(1, 2).contiguous(), k.transpose(1, 2).contiguous(), v.transpose(1, 2).contiguous())",
        id="entry-that-may-ignore-strides-value-itself",
    ),
    pytest.param(
        "x = optimized_attention(q.transpose(1, 2), k, v, heads=h)",
        "x = optimized_attention(q.transpose(1, 2).contiguous(), k.contiguous(), v.contiguous(), heads=h)",
        id="comfyui-reshaping-layout-value-itself",
    ),
    pytest.param(
        "x = optimized_attention(q.transpose(1, 2), k, v, heads=h, skip_reshape=flag)",
        "x = optimized_attention(q.transpose(1, 2).contiguous(), k.contiguous(), v.contiguous(), heads=h, "
        "skip_reshape=flag)",
        id="comfyui-layout-unknown-value-itself",
    ),
    pytest.param(
        "x = sageattn(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), tensor_layout='HND')",
        "x = sageattn(q.contiguous().transpose(1, 2), k.contiguous().transpose(1, 2), v.contiguous().transpose(1, 2), "
        "tensor_layout='HND')",
        id="sageattn-hnd",
    ),
    pytest.param(
        "x = attention(a + b, k[0], (v))", "x = attention((a + b).contiguous(), k[0].contiguous(), (v).contiguous())",
        id="parenthesised-where-needed",
    ),
    pytest.param(
        "x = attention(self.q_linear(x), k, v)",
        "x = attention(self.q_linear(x.contiguous()).contiguous(), k.contiguous(), v.contiguous())",
        id="linear-inside-attention",
    ),
    pytest.param("y = self.proj(input=x)", "y = self.proj(input=x.contiguous())", id="linear-keyword-input"),
    pytest.param(
        "for block in blocks:\n    x = attention(q, k, v)",
        "for block in blocks:\n    x = attention(q.contiguous(), k.contiguous(), v.contiguous())",
        id="in-a-loop",
    ),
]


@pytest.mark.parametrize(("source", "expected"), PAIRS)
def test_rewrite_pairs(source: str, expected: str) -> None:
    before, after = in_forward(*source.split("\n")), in_forward(*expected.split("\n"))
    assert boundary(before)[0] == after
    assert boundary(after)[0] == after


PRESENT = [
    pytest.param("x = attention(q.contiguous(), k.contiguous(), v.contiguous())", id="attention"),
    pytest.param(
        "x = attention(q.contiguous(memory_format=torch.contiguous_format), k.contiguous(), v.contiguous())",
        id="memory-format",
    ),
    pytest.param(
        "x = optimized_attention(q.contiguous().transpose(1, 2), k.transpose(1, 2).contiguous(), "
        "v.contiguous().transpose(1, 2).contiguous(), heads=h, skip_reshape=True)",
        id="comfyui-either-placement",
    ),
    pytest.param(
        "qkv_list = [q.contiguous(), k.contiguous(), v.contiguous()]\nx = pay_attention(qkv_list)", id="packed"
    ),
]


@pytest.mark.parametrize("source", PRESENT)
def test_already_contiguous_arguments_are_present(source: str) -> None:
    code = in_forward(*source.split("\n"))
    assert boundary(code)[0] == code
    for tensor in ("q", "k", "v"):
        assert statuses(code, f"boundary.attention-{tensor}") == ["present"]


NO_OPS = [
    pytest.param("x = self.attn(q, k, v)", id="method-of-self"),
    pytest.param("x = self.attention(q, k, v)", id="attention-method-of-self"),
    pytest.param("x = my_attention(q, k, v)", id="other-function"),
    pytest.param("x = block.apply(q, k, v)", id="apply-of-an-instance"),
    pytest.param("x = self.Fused.apply(q, k, v)", id="apply-of-an-attribute-of-self"),
    pytest.param("qkv_list = [q, k, v]\nx = torch.cat(qkv_list, dim=1)", id="list-to-a-non-entry-call"),
    pytest.param("x = torch.cat([q, k, v], dim=1)", id="display-to-a-non-entry-call"),
    pytest.param("def helper(q):\n    return attention(q, k, v)", id="nested-function"),
    pytest.param("f = lambda: attention(q, k, v)", id="lambda"),
    pytest.param("x = self.norm(x)", id="non-linear-layer"),
]


@pytest.mark.parametrize("source", NO_OPS)
def test_lookalikes_are_left_alone(source: str) -> None:
    code = in_forward(*source.split("\n"))
    new, sites = boundary(code)
    assert new == code
    assert not [site for site in sites if site.status != "missing"]


def test_non_tensor_keyword_arguments_stay_as_they_are() -> None:
    code = in_forward("x = xformers.ops.memory_efficient_attention(q, k, v, attn_bias=None, op=None, p=0.0)")
    assert boundary(code)[0] == in_forward(
        "x = xformers.ops.memory_efficient_attention(q.contiguous(), k.contiguous(), v.contiguous(), "
        "attn_bias=None, op=None, p=0.0)"
    )


# (statements, site id, reason): nothing is rewritten for the site, and it is missing for that reason.
MISSING = [
    pytest.param(
        "qkv = [q, k, v]\nx = attention(qkv, k, v)", "boundary.attention-q",
        "`qkv` may be a list (assigned at line 7), not a tensor", id="name-bound-to-a-list",
    ),
    pytest.param(
        "qkv = [\n    q, k, v]\nx = attention(q, k, qkv)", "boundary.attention-v",
        "`qkv` may be a list (assigned at line 7), not a tensor", id="multi-line-assignment-named-by-its-first-line",
    ),
    pytest.param(
        "x = attention([q], k, v)", "boundary.attention-q", "`[q]` is a list, not a tensor", id="list-display",
    ),
    pytest.param(
        "q = None\nx = attention(q, k, v)", "boundary.attention-q",
        "`q` may be None (assigned at line 7), not a tensor", id="name-bound-to-none",
    ),
    pytest.param(
        "if c:\n    v = 'v'\nx = attention(q, k, v)", "boundary.attention-v",
        "`v` may be a string (assigned at line 8), not a tensor", id="bound-to-a-string-on-one-path",
    ),
    pytest.param(
        "for i in r:\n    x = attention(q, k, v)\n    k = (k, i)", "boundary.attention-k",
        "`k` may be a tuple (assigned at line 9), not a tensor", id="bound-later-in-the-loop",
    ),
    pytest.param(
        "x = attention(q, k)", "boundary.attention-v", "attention(...) is not given its v argument", id="no-v",
    ),
    pytest.param(
        "x = attention(*qkv)", "boundary.attention-q", "attention(...) takes q, k, v through * or ** arguments",
        id="starred",
    ),
    pytest.param(
        "x = pay_attention(qkv_list)", "boundary.attention-q",
        "`qkv_list` is not built in this method", id="packed-not-built",
    ),
    pytest.param(
        "qkv_list = make_list(q, k, v)\nx = pay_attention(qkv_list)", "boundary.attention-k",
        "`qkv_list` is not bound to a list display in this method", id="packed-built-by-a-call",
    ),
    pytest.param(
        "qkv_list = [q, k, v]\nqkv_list = [q, k, k]\nx = pay_attention(qkv_list)", "boundary.attention-v",
        "`qkv_list` is bound 2 times in this method: which list reaches the call?", id="packed-bound-twice",
    ),
    pytest.param(
        "x = pay_attention(qkv_list)\nqkv_list = [q, k, v]", "boundary.attention-q",
        "`qkv_list` is built after the call that takes it", id="packed-built-after",
    ),
    pytest.param(
        "qkv_list = [q, k, v]\nqkv_list.append(mask)\nx = pay_attention(qkv_list)", "boundary.attention-q",
        "`qkv_list` is changed in this method (line 8)", id="packed-changed",
    ),
    pytest.param(
        "qkv_list = [q, k, v]\nqkv_list[0] = q2\nx = pay_attention(qkv_list)", "boundary.attention-q",
        "`qkv_list` is changed in this method (line 8)", id="packed-item-replaced",
    ),
    pytest.param(
        "x = pay_attention([q, *kv])", "boundary.attention-q",
        "the list passed to pay_attention(...) does not have exactly three plain elements", id="packed-starred",
    ),
    pytest.param(
        "x = pay_attention(make_list(q, k, v))", "boundary.attention-q",
        "pay_attention(...) is given `make_list(q, k, v)`, not a list display or a name bound to one",
        id="packed-call",
    ),
    pytest.param(
        "qkv_list = [q, k, v]\nx = pay_attention(qkv_list)\ny = self.proj()", "boundary.linear-input",
        "self.proj(...) is not given its input", id="linear-without-input",
    ),
    pytest.param(
        "y = self.proj([x])", "boundary.linear-input", "`[x]` is a list, not a tensor", id="linear-list-input",
    ),
    pytest.param(
        "y = x", "boundary.attention-q", "no call of an attention entry point in this method (declare your own in "
        "tool.contiguify.entry-points)", id="no-attention",
    ),
    pytest.param(
        "y = x", "boundary.linear-input", "no linear layer of the class is called in this method", id="no-linear",
    ),
]


@pytest.mark.parametrize(("source", "site_id", "reason"), MISSING)
def test_what_cannot_be_placed_is_missing_with_its_reason(source: str, site_id: str, reason: str) -> None:
    _, sites = boundary(in_forward(*source.split("\n")))
    assert [(site.status, site.reason) for site in sites if site.id == site_id] == [("missing", reason)]


def test_a_list_is_never_made_contiguous() -> None:
    """The upstream Wan2GP shape that once became `pay_attention(qkv_list.contiguous())`."""
    code = in_forward("qkv_list = [q, k, v]", "q = k = v = None", "x = pay_attention(qkv_list)")
    new, _ = boundary(code)
    assert "qkv_list.contiguous()" not in new
    assert "[q.contiguous(), k.contiguous(), v.contiguous()]" in new


def test_class_without_linear_layers_says_so() -> None:
    code = "class SingleStreamAttention(nn.Module):\n    def forward(self, x):\n        return attention(x, x, x)\n"
    _, sites = boundary(code)
    assert [(site.status, site.reason) for site in sites if site.id == "boundary.linear-input"] == [
        ("missing", "the class assigns no linear layer in __init__")
    ]


def test_comfyui_operations_linear_is_a_linear_layer() -> None:
    code = (
        "class SingleStreamAttention(nn.Module):\n"
        "    def __init__(self, dim, operations=None):\n"
        "        self.q_linear = operations.Linear(dim, dim)\n\n"
        "    def forward(self, x):\n"
        "        return self.q_linear(x)\n"
    )
    assert boundary(code)[0] == code.replace("self.q_linear(x)", "self.q_linear(x.contiguous())")


def test_sites_report_the_line_of_the_inserted_call() -> None:
    """The packed list's sites are where `.contiguous()` goes, the list's statement, not the call's."""
    code = in_forward("qkv_list = [", "    q, k, v]", "x = pay_attention(qkv_list)")
    _, sites = boundary(code)
    assert [(site.id, site.line) for site in sites if site.id.startswith("boundary.attention")] == [
        ("boundary.attention-q", 8), ("boundary.attention-k", 8), ("boundary.attention-v", 8),
    ]


# Values that are not tensors, reaching an argument: (statements, expected rewrite, site id, reason). The other
# arguments are still made contiguous; the one that may not be a tensor is left as it is and its site is missing.
NON_TENSORS = [
    pytest.param(
        "q = flag or None\nx = attention(q, k, v)",
        "q = flag or None\nx = attention(q, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`q` may be None (assigned at line 7), not a tensor", id="or-none",
    ),
    pytest.param(
        "q = flag and q\nx = attention(q, k, v)",
        "q = flag and q\nx = attention(q, k.contiguous(), v.contiguous())",
        "boundary.attention-q",
        "`q` may be whichever operand decides it (a flag as well as a tensor) (assigned at line 7), not a tensor",
        id="and-of-names",
    ),
    pytest.param(
        "n, k = -1, k\nx = attention(n, k, v)",
        "n, k = -1, k\nx = attention(n, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`n` may be a number (assigned at line 7), not a tensor", id="unpacked-display",
    ),
    pytest.param(
        "y = self.proj(None if flag else x)", "y = self.proj(None if flag else x)",
        "boundary.linear-input", "`None if flag else x` may be None, not a tensor", id="conditional-argument",
    ),
    pytest.param(
        "x = attention((q if f else None), k, v)", "x = attention((q if f else None), k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`(q if f else None)` may be None, not a tensor", id="parenthesised-conditional",
    ),
    pytest.param(
        "for q in [None, q]:\n    x = attention(q, k, v)",
        "for q in [None, q]:\n    x = attention(q, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`q` may be None (assigned at line 7), not a tensor", id="loop-over-a-display",
    ),
    pytest.param(
        "*q, = [1]\nx = attention(q, k, v)", "*q, = [1]\nx = attention(q, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`q` may be a list (assigned at line 7), not a tensor", id="starred-target",
    ),
    *(
        pytest.param(
            f"q = {builtin}(q)\nx = attention(q, k, v)", f"q = {builtin}(q)\nx = attention(q, k.contiguous(), v.contiguous())",
            "boundary.attention-q", f"`q` may be {kind} (assigned at line 7), not a tensor", id=f"builtin-{builtin}",
        )
        for builtin, kind in (("list", "a list"), ("tuple", "a tuple"), ("str", "a string"), ("int", "a number"))
    ),
    pytest.param(
        "B, N, C = x.shape\ny = attention(B * N, k, v)", "B, N, C = x.shape\ny = attention(B * N, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`B * N` may be a number, not a tensor", id="arithmetic-on-sizes",
    ),
    pytest.param(
        "a = None\nq = a if f else q\nx = attention(q, k, v)",
        "a = None\nq = a if f else q\nx = attention(q, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`q` may be None (assigned at line 8), not a tensor", id="through-another-name",
    ),
    pytest.param(
        "x = attention(x.size(0), k, v)", "x = attention(x.size(0), k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`x.size(0)` is a size, not a tensor", id="size-query",
    ),
    *(
        pytest.param(
            f"{statement}\nx = attention(q, k, v)", f"{statement}\nx = attention(q, k.contiguous(), v.contiguous())",
            "boundary.attention-q", f"`q` may be {kind} (assigned at line {line}), not a tensor", id=label,
        )
        for label, statement, kind, line in (
            ("exception", "try:\n    pass\nexcept ValueError as q:\n    pass", "an exception", 9),
            ("module", "import torch as q", "a module", 7),
            ("nested-function", "def q():\n    pass", "a function", 7),
            ("nested-class", "class q:\n    pass", "a class", 7),
            ("loop-over-range", "for q in range(3):\n    pass", "a number", 7),
        )
    ),
    pytest.param(
        "x = attention(q is None, k, v)", "x = attention(q is None, k.contiguous(), v.contiguous())",
        "boundary.attention-q", "`q is None` is a bool, not a tensor", id="identity-test",
    ),
]


@pytest.mark.parametrize(("source", "expected", "site_id", "reason"), NON_TENSORS)
def test_values_that_may_not_be_tensors_are_left_alone(source: str, expected: str, site_id: str, reason: str) -> None:
    new, sites = boundary(in_forward(*source.split("\n")))
    assert new == in_forward(*expected.split("\n"))
    assert [(site.status, site.reason) for site in sites if site.id == site_id] == [("missing", reason)]


@pytest.mark.parametrize(("parameters", "kind"), [
    pytest.param("self, x, k, v, q=None", "None", id="default-none"),
    pytest.param("self, x, k, v, *q", "a tuple", id="star-args"),
    pytest.param("self, x, k, v, **q", "a dict", id="star-kwargs"),
])
def test_parameters_that_may_not_be_tensors_are_left_alone(parameters: str, kind: str) -> None:
    def forward(code: str) -> str:
        return in_forward(code).replace("def forward(self, x, q, k, v):", f"def forward({parameters}):")

    new, sites = boundary(forward("x = attention(q, k, v)"))
    assert new == forward("x = attention(q, k.contiguous(), v.contiguous())")
    line = forward("").splitlines().index(f"    def forward({parameters}):") + 1
    assert [(site.status, site.reason) for site in sites if site.id == "boundary.attention-q"] == [
        ("missing", f"`q` may be {kind} (assigned at line {line}), not a tensor")
    ]


# Tensors that only look like those: rewritten as usual.
TENSORS = [
    pytest.param("q = q * 2\nx = attention(q, k, v)", id="arithmetic-on-a-tensor"),
    pytest.param("q = -q\nx = attention(q, k, v)", id="negated-tensor"),
    pytest.param("q, k = kv.unbind(0)\nx = attention(q, k, v)", id="unpacked-call"),
    pytest.param("n, k = -1, k\nx = attention(q, k, v)", id="unpacked-display-tensor-element"),
    pytest.param("for q in qs:\n    x = attention(q, k, v)", id="loop-over-a-name"),
    pytest.param("q = q if flag else k\nx = attention(q, k, v)", id="conditional-of-tensors"),
    pytest.param("q = abs(q)\nx = attention(q, k, v)", id="builtin-that-keeps-tensors"),
    pytest.param("from .cache import q\nx = attention(q, k, v)", id="imported-from-a-module"),
    pytest.param("x = attention(q[:, 0], k, v)", id="subscript-of-a-tensor"),
]


@pytest.mark.parametrize("source", TENSORS)
def test_tensors_that_look_like_non_tensors_are_rewritten(source: str) -> None:
    _, sites = boundary(in_forward(*source.split("\n")))
    assert [site.status for site in sites if site.id.startswith("boundary.attention")] == ["inserted"] * 3
