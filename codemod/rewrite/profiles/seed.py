"""The spec's hand fix: `.contiguous()` after view / reshape / permute, before unbind, after cat.

Each site is one declaration, its example pair (see `codemod.match.sites`): matched by the shape of
its statement (target name, chain root, link names), never by line numbers or text, and only inside the
two attention forwards; anything that merely resembles a site is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from codemod.match.calls import entry_point_of
from codemod.match.chains import contiguous_of
from codemod.match.entry_points import EntryPoint
from codemod.match.patterns import UPSTREAM_CLASSES
from codemod.match.sites import VIEW_OR_RESHAPE, ChainSite, Phase, SiteInfo, match_sites
from codemod.match.targets import TargetMethod
from codemod.match.visitors import NoFieldHooks
from codemod.rewrite.engine import Profile, ScopedTransformer

ROLES = UPSTREAM_CLASSES  # upstream classes by name; others by the sites they hold
ROLE_ORDER = ("single", "multi")

# In the order they appear in a forward; a site's role is its id's prefix.
SITES: tuple[ChainSite, ...] = (
    ChainSite(
        "single.x-view-in", "append to the view that splits frames, before attention",
        "x = x.view(B * N_t, S, self.dim)\nx = attention(q, k, v)",
        "x = x.view(B * N_t, S, self.dim).contiguous()\nx = attention(q, k, v)",
    ),
    ChainSite(
        "single.q-view", "append to the q projection's view",
        "q = self.q_linear(x).view(B * N_t, S, self.num_heads, self.head_dim)",
        "q = self.q_linear(x).view(B * N_t, S, self.num_heads, self.head_dim).contiguous()",
    ),
    ChainSite(
        "single.kv-linear", "append to the kv projection",
        "kv = self.kv_linear(encoder_hidden_states)",
        "kv = self.kv_linear(encoder_hidden_states).contiguous()",
    ),
    ChainSite(
        "single.kv-view", "between the kv view and unbind(2)",
        "encoder_k, encoder_v = kv.view(B * N_t, N_a, 2, self.num_heads, self.head_dim).unbind(2)",
        "encoder_k, encoder_v = kv.view(B * N_t, N_a, 2, self.num_heads, self.head_dim).contiguous().unbind(2)",
    ),
    ChainSite(
        "single.proj-reshape", "on the reshape inside the output projection's call",
        "x = self.proj(x.reshape(B * N_t, S, self.dim))",
        "x = self.proj(x.reshape(B * N_t, S, self.dim).contiguous())",
    ),
    ChainSite(
        "single.x-view-out", "append to the view that merges frames, after attention",
        "x = attention(q, k, v)\nx = x.view(B, N_t * S, self.dim)",
        "x = attention(q, k, v)\nx = x.view(B, N_t * S, self.dim).contiguous()",
    ),
    ChainSite(
        "single.cat-extra", "append to the cat that restores the extra frame",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1)",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1).contiguous()",
    ),
    ChainSite(
        "multi.q-linear", "append to the q projection",
        "q = self.q_linear(x)", "q = self.q_linear(x).contiguous()",
    ),
    ChainSite(
        "multi.q-view", "between the q view and its permute",
        "q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3)",
        "q = q.view(B, N, self.num_heads, self.head_dim).contiguous().permute(0, 2, 1, 3)",
        same_links=VIEW_OR_RESHAPE,
    ),
    ChainSite(
        "multi.q-permute", "append to the q permute",
        "q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3)",
        "q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3).contiguous()",
        same_links=VIEW_OR_RESHAPE,
    ),
    ChainSite(
        "multi.kv-linear", "append to the kv projection",
        "encoder_kv = self.kv_linear(encoder_hidden_states)",
        "encoder_kv = self.kv_linear(encoder_hidden_states).contiguous()",
    ),
    ChainSite(
        "multi.kv-view", "between the kv view and its permute",
        "encoder_kv = encoder_kv.view(B, N_a, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)",
        "encoder_kv = encoder_kv.view(B, N_a, 2, self.num_heads, self.head_dim).contiguous().permute(2, 0, 3, 1, 4)",
        same_links=VIEW_OR_RESHAPE,
    ),
    ChainSite(
        "multi.kv-permute", "append to the kv permute",
        "encoder_kv = encoder_kv.view(B, N_a, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)",
        "encoder_kv = encoder_kv.view(B, N_a, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).contiguous()",
        same_links=VIEW_OR_RESHAPE,
    ),
    ChainSite(
        "multi.x-reshape", "append to the reshape after attention",
        "x = x.reshape(B, N, C)", "x = x.reshape(B, N, C).contiguous()",
    ),
    ChainSite(
        "multi.cat-extra", "append to the cat that restores the extra frame",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1)",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1).contiguous()",
    ),
)

SITES_OF_ROLE = {role: tuple(site for site in SITES if site.info.role == role) for role in ROLE_ORDER}


class _Wrap(NoFieldHooks, cst.CSTTransformer):
    """Puts `.contiguous()` after each of the given link calls, found by identity."""

    def __init__(self, calls: set[int]) -> None:
        super().__init__()
        self.calls = calls

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return contiguous_of(updated_node) if id(original_node) in self.calls else updated_node


class SeedTransformer(ScopedTransformer):
    """Inserts the spec's `.contiguous()` calls at the sites of each target's role."""

    def __init__(self, targets: Sequence[tuple[TargetMethod, str]], entry_points: Sequence[EntryPoint]) -> None:
        super().__init__(targets)
        self._entry_points = tuple(entry_points)

    def enter_target(self, target: TargetMethod) -> None:
        self.attention_seen = False

    def visit_Call(self, node: cst.Call) -> None:
        if self.current is not None and entry_point_of(node, self._entry_points) is not None:
            self.attention_seen = True

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if self.current is None:
            return updated_node
        phase: Phase = "after" if self.attention_seen else "before"
        missing: set[int] = set()
        for match in match_sites(updated_node, SITES_OF_ROLE[self.role], phase):
            present = match.link.contiguous_after > 0
            self.record(match.site.id, original_node, "present" if present else "inserted")
            if not present:
                missing.add(id(match.link.call))
        if not missing:
            return updated_node
        return updated_node.with_changes(value=updated_node.value.visit(_Wrap(missing)))


class _RoleCounter(NoFieldHooks, cst.CSTVisitor):
    """Which sites of each role one method contains, phases ignored."""

    def __init__(self, method: cst.FunctionDef) -> None:
        self.method = method
        self.found: dict[str, set[str]] = {role: set() for role in ROLE_ORDER}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.method

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for role, sites in SITES_OF_ROLE.items():
            self.found[role].update(match.site.id for match in match_sites(node, sites, None))


class SeedProfile(Profile):
    """The spec's sites, one declaration each in `SITES`."""

    name = "seed"
    summary = "the spec's hand fix: .contiguous() after view / reshape / permute, before unbind, after cat"

    def sites(self) -> tuple[SiteInfo, ...]:
        return tuple(site.info for site in SITES)

    def role_of(self, target: TargetMethod) -> str:
        """Upstream class names have fixed roles; another class takes the role whose sites it matches most."""
        known = ROLES.get(target.class_name)
        if known is not None:
            return known
        counter = _RoleCounter(target.node)
        target.node.visit(counter)
        return max(ROLE_ORDER, key=lambda role: (len(counter.found[role]), -ROLE_ORDER.index(role)))

    def transformer(
        self, targets: Sequence[tuple[TargetMethod, str]], entry_points: Sequence[EntryPoint]
    ) -> ScopedTransformer:
        return SeedTransformer(targets, entry_points)


PROFILE = SeedProfile()
