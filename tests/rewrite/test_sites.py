"""Each site on its own: the example each declaration carries, restated shapes, look-alikes, and the report."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.match.sites import ChainSite, DeclarationError
from codemod.results import TargetResult
from codemod.rewrite.engine import rewrite_module_source
from codemod.rewrite.file import rewrite
from codemod.rewrite.profiles import all_profiles, get_profile
from codemod.rewrite.profiles.seed import ROLES, SITES, SITES_OF_ROLE
from fixtures.catalog import CASES

CLASS_OF_ROLE = {role: name for name, role in reversed(ROLES.items())}


def in_forward(role: str, *statements: str) -> str:
    body = textwrap.indent("\n".join(statements), " " * 8)
    return f"class {CLASS_OF_ROLE[role]}(nn.Module):\n    def forward(self, x):\n{body}\n"


def seed_results(source: str, targets: Sequence[str] = DEFAULT_TARGETS) -> tuple[str, tuple[TargetResult, ...]]:
    return rewrite_module_source(source, get_profile("seed"), parse_targets(targets))


def seed(source: str, targets: Sequence[str] = DEFAULT_TARGETS) -> str:
    return seed_results(source, targets)[0]


def statuses(source: str, site_id: str) -> list[str]:
    return [site.status for target in seed_results(source)[1] for site in target.sites if site.id == site_id]


def test_site_ids_are_unique() -> None:
    ids = [site.id for profile in all_profiles().values() for site in profile.sites()]
    assert len(ids) == len(set(ids))


def test_every_role_has_an_upstream_class() -> None:
    assert {site.info.role for site in SITES} == set(CLASS_OF_ROLE)


@pytest.mark.parametrize("site", SITES, ids=lambda site: site.id)
def test_site_example(site: ChainSite) -> None:
    """The example a site carries: `before` gets the insertion and becomes `after`, which has it already."""
    before = in_forward(site.info.role, site.before)
    after = in_forward(site.info.role, site.after)
    assert statuses(before, site.id) == ["inserted"]
    assert statuses(after, site.id) == ["present"]
    assert seed(before) == seed(after)
    # Sites that share a statement (the view and the permute of one chain) each add their own call.
    sharing = [other for other in SITES_OF_ROLE[site.info.role] if other.statement == site.statement]
    if len(sharing) == 1:
        assert seed(before) == after


@pytest.mark.parametrize("site", SITES, ids=lambda site: site.id)
def test_site_with_a_memory_format_counts_as_present(site: ChainSite) -> None:
    after = in_forward(site.info.role, site.after.replace(".contiguous()", ".contiguous(memory_format=torch.contiguous_format)"))
    assert statuses(after, site.id) == ["present"]


# The upstream files each site is found in, once, as an insertion: the current layout and its restatements.
EVERY_SITE_CASES = ["jan2026", "crlf_bom", "infinitetalk_reshape", "fused_chains"]


@pytest.mark.parametrize("case", EVERY_SITE_CASES)
def test_every_site_is_inserted_once(case: str) -> None:
    result = rewrite((CASES / f"{case}.in.py").read_bytes(), "seed")
    found = sorted((site.id, site.status) for target in result.targets for site in target.sites)
    assert found == sorted((site.id, "inserted") for site in SITES)


# (role, source statements, expected statements)
PAIRS = [
    pytest.param(
        "multi", ["q = q.view(q_shape).permute((0, 2, 1, 3))"],
        ["q = q.view(q_shape).contiguous().permute((0, 2, 1, 3)).contiguous()"], id="tuple-shapes",
    ),
    pytest.param(
        "multi", ["q = q.reshape(q_shape).permute((0, 2, 1, 3))"],
        ["q = q.reshape(q_shape).contiguous().permute((0, 2, 1, 3)).contiguous()"], id="reshape-for-view",
    ),
    pytest.param(
        "multi", ["encoder_kv = encoder_kv.reshape(encoder_kv_shape).permute((2, 0, 3, 1, 4))"],
        ["encoder_kv = encoder_kv.reshape(encoder_kv_shape).contiguous().permute((2, 0, 3, 1, 4)).contiguous()"],
        id="kv-reshape-for-view",
    ),
    pytest.param(
        "multi", ["q = self.q_linear(x).view(B, N, self.num_heads, self.head_dim).permute(0,2,1,3)"],
        ["q = self.q_linear(x).contiguous().view(B, N, self.num_heads, self.head_dim).contiguous()"
         ".permute(0,2,1,3).contiguous()"],
        id="fused-q",
    ),
    pytest.param(
        "multi", ["kv = self.kv_linear(encoder_hidden_states).view(B, N_a, 2, H, D).permute(2,0,3,1,4)"],
        ["kv = self.kv_linear(encoder_hidden_states).contiguous().view(B, N_a, 2, H, D).contiguous()"
         ".permute(2,0,3,1,4).contiguous()"],
        id="fused-kv-named-otherwise",
    ),
    pytest.param(
        "multi", ["q = self.q_linear(x).contiguous().reshape(q_shape).permute(0, 2, 1, 3)"],
        ["q = self.q_linear(x).contiguous().reshape(q_shape).contiguous().permute(0, 2, 1, 3).contiguous()"],
        id="fused-reshape-half-fixed",
    ),
    pytest.param(
        "single", ["encoder_k, encoder_v = self.kv_linear(c).view(B, N_a, 2, H, D).unbind(2)"],
        ["encoder_k, encoder_v = self.kv_linear(c).contiguous().view(B, N_a, 2, H, D).contiguous().unbind(2)"],
        id="fused-single-kv",
    ),
    pytest.param(
        "single", ["x = attention(q, k, v)", "x = self.proj(x.reshape(B * N_t, S, C)).view(B, N_t * S, C)"],
        ["x = attention(q, k, v)", "x = self.proj(x.reshape(B * N_t, S, C).contiguous()).view(B, N_t * S, C).contiguous()"],
        id="fused-proj-and-view",
    ),
    pytest.param(
        "multi", ["encoder_kv = encoder_kv.view(\n    B, N_a, 2, H, D\n).permute(2, 0, 3, 1, 4)"],
        ["encoder_kv = encoder_kv.view(\n    B, N_a, 2, H, D\n).contiguous().permute(2, 0, 3, 1, 4).contiguous()"],
        id="multi-line-chain",
    ),
    pytest.param(
        "multi", ["q = q.view(B, N, H, D).contiguous().permute(0, 2, 1, 3)"],
        ["q = q.view(B, N, H, D).contiguous().permute(0, 2, 1, 3).contiguous()"], id="half-fixed-chain",
    ),
    pytest.param(
        "single", ["if cfg:", "    x = x.view(B * N_t, S, self.dim)", "else:", "    x = x.view(B * N_t, S, self.dim)"],
        ["if cfg:", "    x = x.view(B * N_t, S, self.dim).contiguous()",
         "else:", "    x = x.view(B * N_t, S, self.dim).contiguous()"], id="site-in-both-branches",
    ),
    pytest.param(
        "single", ["x = self.proj(x.reshape(B * N_t, S, self.dim), scale)"],
        ["x = self.proj(x.reshape(B * N_t, S, self.dim).contiguous(), scale)"], id="proj-with-more-args",
    ),
]


@pytest.mark.parametrize(("role", "source", "expected"), PAIRS)
def test_rewrite_pairs(role: str, source: list[str], expected: list[str]) -> None:
    assert seed(in_forward(role, *source)) == in_forward(role, *expected)


NO_OPS = [
    pytest.param("single", "y = x.view(B * N_t, S, self.dim)", id="other-target"),
    pytest.param("single", "x.view(B * N_t, S, self.dim)", id="bare-expression"),
    pytest.param("single", "x = y.view(B * N_t, S, self.dim)", id="other-receiver"),
    pytest.param("single", "x = x.view(B, S, C).clone()", id="longer-chain"),
    pytest.param("single", "q = self.k_linear(x).view(B, S, H, D)", id="other-linear"),
    pytest.param("single", "x = self.proj(x)", id="proj-without-reshape"),
    pytest.param("single", "x = self.proj(scale=x.reshape(B, S, C))", id="proj-keyword-argument"),
    pytest.param("single", "x = cat([x, torch.zeros_like(x_extra)], dim=1)", id="cat-without-torch"),
    pytest.param("multi", "q = q.view(B, N, H, D).transpose(1, 2)", id="transpose-not-permute"),
    pytest.param("multi", "q = q.flatten(2).permute(0, 2, 1)", id="flatten-not-view"),
    pytest.param("multi", "max_min = torch.cat([a, b], dim=2)", id="cat-other-target"),
    pytest.param("multi", "x = x.reshape(B, N, C).contiguous().contiguous()", id="doubled-contiguous"),
    pytest.param("multi", "q = self.k_linear(x).view(B, N, H, D).permute(0, 2, 1, 3)", id="fused-other-linear"),
    pytest.param("multi", "q = self.q_linear(x).float().view(B, N, H, D).permute(0, 2, 1, 3)", id="fused-foreign-link"),
    pytest.param("multi", "q = q.view(B, N, H, D).permute(0, 2, 1, 3).view(B, N, C)", id="chain-past-the-site"),
    pytest.param("multi", "def helper(q):\n    q = self.q_linear(x)\n    return q", id="nested-function"),
    pytest.param("multi", "f = lambda: self.q_linear(x)", id="lambda"),
]


@pytest.mark.parametrize(("role", "statement"), NO_OPS)
def test_lookalikes_are_left_alone(role: str, statement: str) -> None:
    source = in_forward(role, statement)
    assert seed(source) == source


def test_methods_other_than_targets_are_left_alone() -> None:
    source = "class SingleStreamAttention:\n    def helper(self, x):\n        x = x.view(B * N_t, S, self.dim)\n"
    assert seed(source) == source


def test_other_classes_are_left_alone() -> None:
    source = "class Attention:\n    def forward(self, x):\n        q = self.q_linear(x)\n"
    assert seed(source) == source


def test_the_two_x_views_are_told_apart_by_the_attention_call() -> None:
    source = in_forward("single", "x = x.view(a)", "x = attention(q, k, v)", "x = x.view(b)")
    (target,) = seed_results(source)[1]
    found = {site.id: (site.line, site.status) for site in target.sites}
    assert found["single.x-view-in"] == (3, "inserted")
    assert found["single.x-view-out"] == (5, "inserted")


@pytest.mark.parametrize("call", ["F.scaled_dot_product_attention(q, k, v)", "optimized_attention(q, k, v, heads=H)"])
def test_any_entry_point_separates_the_x_views(call: str) -> None:
    source = in_forward("single", f"x = {call}", "x = x.view(b)")
    (target,) = seed_results(source)[1]
    assert [(site.id, site.status) for site in target.sites if site.status != "missing"] == [
        ("single.x-view-out", "inserted")
    ]


def test_report_has_inserted_present_and_missing() -> None:
    source = in_forward("multi", "q = self.q_linear(x).contiguous()", "x = x.reshape(B, N, C)")
    (target,) = seed_results(source)[1]
    assert (target.class_name, target.method, target.line, target.role) == (
        "SingleStreamMultiAttention", "forward", 2, "multi",
    )
    expected = {site.id: "missing" for site in SITES_OF_ROLE["multi"]}
    expected.update({"multi.q-linear": "present", "multi.x-reshape": "inserted"})
    assert {site.id: site.status for site in target.sites} == expected


def test_upstream_multitalk_spelling_is_a_multi_speaker_target() -> None:
    source = "class SingleStreamMutiAttention(SingleStreamAttention):\n    def forward(self, x):\n        x = x.reshape(B, N, C)\n"
    assert seed(source).count(".contiguous()") == 1


def test_super_forward_reaches_the_base_once_in_its_own_class() -> None:
    source = textwrap.dedent(
        """\
        class Base(nn.Module):
            def forward(self, x):
                x = x.view(B * N_t, S, self.dim)
                return x

        class SingleStreamMultiAttention(Base):
            def forward(self, x, human_num=None):
                if human_num is None:
                    return super().forward(x)
                x = x.reshape(B, N, C)
                return x
        """
    )
    new, results = seed_results(source, ["SingleStreamMultiAttention.forward"])
    assert [(target.class_name, target.role) for target in results] == [("Base", "single"), ("SingleStreamMultiAttention", "multi")]
    assert "x = x.view(B * N_t, S, self.dim).contiguous()" in new
    assert new.count(".contiguous()") == 2


def test_wildcard_targets_pick_the_role_a_class_matches_best() -> None:
    source = "class MyAttention:\n    def forward(self, x):\n        q = self.q_linear(x)\n        q = q.view(B, N, H, D).permute(0, 2, 1, 3)\n"
    new, results = seed_results(source, ["My*.forward"])
    assert results[0].role == "multi"
    assert new.count(".contiguous()") == 3


# What is derived from a declaration's example.
def test_structure_is_derived_from_the_example() -> None:
    site = ChainSite("multi.demo", "demo", "out = self.norm(x).flatten(2)", "out = self.norm(x).contiguous().flatten(2)")
    assert (site.statement.target, site.statement.chain.root, site.statement.chain.links) == ("out", "self", ("norm", "flatten"))
    assert (site.link, site.statement.argument, site.phase) == (0, None, None)
    assert (site.info.before, site.info.after) == (site.before, site.after)


def test_argument_and_phase_are_derived_from_the_example() -> None:
    site = ChainSite(
        "single.demo", "demo",
        "x = attention(q, k, v)\ny = self.out(x.flatten(1), 2)\nreturn y",
        "x = attention(q, k, v)\ny = self.out(x.flatten(1).contiguous(), 2)\nreturn y",
    )
    assert site.statement.argument is not None
    index, inner = site.statement.argument
    assert (index, inner.root, inner.links, site.link, site.phase) == (0, "x", ("flatten",), 0, "after")
    assert site.info.before == "y = self.out(x.flatten(1), 2)"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("x = x.view(a)", "x = x.view(a)"),
        ("x = x.view(a)\ny = y.view(b)", "x = x.view(a).contiguous()\ny = y.view(b).contiguous()"),
        ("x.view(a)", "x.view(a).contiguous()"),
        ("x = x.view(a)", "x = x.contiguous().view(a)"),
        ("x = x.view(a).permute(b)", "x = x.view(a).contiguous().permute(b).contiguous()"),
        ("y = 1; x = x.view(a)", "y = 1; x = x.view(a).contiguous()"),
    ],
    ids=["no-insertion", "two-statements-differ", "not-an-assignment", "on-the-root", "two-insertions",
         "two-statements-on-a-line"],
)
def test_an_example_that_is_not_one_insertion_is_refused(before: str, after: str) -> None:
    with pytest.raises(DeclarationError, match="multi.bad"):
        ChainSite("multi.bad", "bad", before, after)


