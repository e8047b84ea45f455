"""Each site on its own: the examples the sites carry, look-alikes left alone, and what is reported."""

from __future__ import annotations

import textwrap

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.rewrite.engine import rewrite_module_source
from codemod.rewrite.profiles import all_profiles, get_profile
from codemod.rewrite.profiles.seed import SITES, Site

CLASS_OF_ROLE = {"single": "SingleStreamAttention", "multi": "SingleStreamMultiAttention"}


def in_forward(role: str, *statements: str) -> str:
    body = textwrap.indent("\n".join(statements), " " * 8)
    return f"class {CLASS_OF_ROLE[role]}(nn.Module):\n    def forward(self, x):\n{body}\n"


def seed(source: str, targets: tuple[str, ...] = DEFAULT_TARGETS) -> str:
    return rewrite_module_source(source, get_profile("seed"), parse_targets(targets))[0]


def test_site_ids_are_unique() -> None:
    ids = [site.id for profile in all_profiles().values() for site in profile.sites()]
    assert len(ids) == len(set(ids))


def test_seed_has_the_specs_fifteen_sites() -> None:
    roles = [site.role for site in get_profile("seed").sites()]
    assert roles.count("single") == 7 and roles.count("multi") == 8


def _status(source: str, site_id: str) -> list[str]:
    _, results = rewrite_module_source(source, get_profile("seed"), parse_targets(DEFAULT_TARGETS))
    return [site.status for target in results for site in target.sites if site.id == site_id]


@pytest.mark.parametrize("site", SITES, ids=lambda site: site.info.id)
def test_site_example(site: Site) -> None:
    """The example a site carries: `before` gets the insertion, `after` already has it, both end up alike."""
    # The two x-view sites are told apart by the attention call between them.
    prefix = ["x = attention(q, k, v)"] if site.phase == "after" else []
    before = in_forward(site.info.role, *prefix, site.info.before)
    after = in_forward(site.info.role, *prefix, site.info.after)
    assert _status(before, site.info.id) == ["inserted"]
    assert _status(after, site.info.id) == ["present"]
    assert seed(before) == seed(after)


# (role, source statements, expected statements)
PAIRS = [
    pytest.param(
        "multi", ["q = q.view(q_shape).permute((0, 2, 1, 3))"],
        ["q = q.view(q_shape).contiguous().permute((0, 2, 1, 3)).contiguous()"], id="tuple-shapes",
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
    pytest.param("multi", "max_min = torch.cat([a, b], dim=2)", id="cat-other-target"),
    pytest.param("multi", "x = x.reshape(B, N, C).contiguous().contiguous()", id="doubled-contiguous"),
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
    _, results = rewrite_module_source(source, get_profile("seed"), parse_targets(DEFAULT_TARGETS))
    statuses = {site.id: (site.line, site.status) for site in results[0].sites}
    assert statuses["single.x-view-in"] == (3, "inserted")
    assert statuses["single.x-view-out"] == (5, "inserted")


def test_contiguous_with_a_memory_format_counts_as_present() -> None:
    source = in_forward("multi", "x = x.reshape(B, N, C).contiguous(memory_format=torch.contiguous_format)")
    assert _status(source, "multi.x-reshape") == ["present"]
    assert seed(source) == source


def test_report_has_inserted_present_and_missing() -> None:
    source = in_forward("multi", "q = self.q_linear(x).contiguous()", "x = x.reshape(B, N, C)")
    _, results = rewrite_module_source(source, get_profile("seed"), parse_targets(DEFAULT_TARGETS))
    (target,) = results
    assert (target.class_name, target.method, target.line, target.role) == (
        "SingleStreamMultiAttention", "forward", 2, "multi",
    )
    statuses = {site.id: site.status for site in target.sites}
    assert statuses == {
        "multi.q-linear": "present", "multi.q-view": "missing", "multi.q-permute": "missing",
        "multi.kv-linear": "missing", "multi.kv-view": "missing", "multi.kv-permute": "missing",
        "multi.x-reshape": "inserted", "multi.cat-extra": "missing",
    }


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
    new, results = rewrite_module_source(source, get_profile("seed"), parse_targets(["SingleStreamMultiAttention.forward"]))
    assert [(target.class_name, target.role) for target in results] == [("Base", "single"), ("SingleStreamMultiAttention", "multi")]
    assert "x = x.view(B * N_t, S, self.dim).contiguous()" in new
    assert new.count(".contiguous()") == 2


def test_wildcard_targets_pick_the_role_a_class_matches_best() -> None:
    source = "class MyAttention:\n    def forward(self, x):\n        q = self.q_linear(x)\n        q = q.view(B, N, H, D).permute(0, 2, 1, 3)\n"
    new, results = rewrite_module_source(source, get_profile("seed"), parse_targets(["My*.forward"]))
    assert results[0].role == "multi"
    assert new.count(".contiguous()") == 3
