"""The spec's hand fix: 15 `.contiguous()` calls after view / reshape / permute, before unbind, after cat.

Each site is matched by the shape of one assignment (target name, chain root, method names), never
by line numbers or text, and only inside the two attention forwards; anything that merely resembles
a site is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from codemod.match.calls import entry_point_of
from codemod.match.chains import Chain, decompose, insert_after_link, replace_link_call
from codemod.match.targets import TargetMethod
from codemod.rewrite.engine import Profile, ScopedTransformer, SiteInfo

Phase = Literal["before", "after"]

ROLES = {
    "SingleStreamAttention": "single",
    "SingleStreamMultiAttention": "multi",
    "SingleStreamMutiAttention": "multi",
}
ROLE_ORDER = ("single", "multi")


@dataclass(frozen=True)
class ChainShape:
    """`root.link0(...).link1(...)`; contiguous links are not part of a shape."""

    root: str
    links: tuple[str, ...]

    def matches(self, chain: Chain) -> bool:
        return chain.root == self.root and chain.names == self.links


@dataclass(frozen=True)
class Site:
    """`target = <chain>`, with `.contiguous()` after link `after` of `chain`.

    `inside`: the chain is the first argument of the assigned call `inside` (`self.proj(x.reshape(...))`).
    `phase`: the site lies before / after the method's attention call (tells the two `x = x.view` apart).
    """

    info: SiteInfo
    target: str | None
    chain: ChainShape
    after: int
    inside: ChainShape | None = None
    phase: Phase | None = None


def _site(
    site_id: str,
    summary: str,
    before: str,
    after_text: str,
    *,
    target: str | None,
    root: str,
    links: tuple[str, ...],
    after: int,
    inside: ChainShape | None = None,
    phase: Phase | None = None,
) -> Site:
    role = site_id.partition(".")[0]
    info = SiteInfo(site_id, role, summary, before, after_text)
    return Site(info, target, ChainShape(root, links), after, inside, phase)


SITES: tuple[Site, ...] = (
    _site(
        "single.x-view-in", "append to the view that splits frames, before attention",
        "x = x.view(B * N_t, S, self.dim)", "x = x.view(B * N_t, S, self.dim).contiguous()",
        target="x", root="x", links=("view",), after=0, phase="before",
    ),
    _site(
        "single.q-view", "append to the q projection's view",
        "q = self.q_linear(x).view(B * N_t, S, self.num_heads, self.head_dim)",
        "q = self.q_linear(x).view(B * N_t, S, self.num_heads, self.head_dim).contiguous()",
        target="q", root="self", links=("q_linear", "view"), after=1,
    ),
    _site(
        "single.kv-linear", "append to the kv projection",
        "kv = self.kv_linear(encoder_hidden_states)",
        "kv = self.kv_linear(encoder_hidden_states).contiguous()",
        target="kv", root="self", links=("kv_linear",), after=0,
    ),
    _site(
        "single.kv-view", "between the kv view and unbind(2)",
        "encoder_k, encoder_v = kv.view(...).unbind(2)",
        "encoder_k, encoder_v = kv.view(...).contiguous().unbind(2)",
        target=None, root="kv", links=("view", "unbind"), after=0,
    ),
    _site(
        "single.proj-reshape", "on the reshape inside the output projection's call",
        "x = self.proj(x.reshape(B * N_t, S, self.dim))",
        "x = self.proj(x.reshape(B * N_t, S, self.dim).contiguous())",
        target="x", root="x", links=("reshape",), after=0, inside=ChainShape("self", ("proj",)),
    ),
    _site(
        "single.x-view-out", "append to the view that merges frames, after attention",
        "x = x.view(B, N_t * S, self.dim)", "x = x.view(B, N_t * S, self.dim).contiguous()",
        target="x", root="x", links=("view",), after=0, phase="after",
    ),
    _site(
        "single.cat-extra", "append to the cat that restores the extra frame",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1)",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1).contiguous()",
        target="x", root="torch", links=("cat",), after=0,
    ),
    _site(
        "multi.q-linear", "append to the q projection",
        "q = self.q_linear(x)", "q = self.q_linear(x).contiguous()",
        target="q", root="self", links=("q_linear",), after=0,
    ),
    _site(
        "multi.q-view", "between the q view and its permute",
        "q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3)",
        "q = q.view(B, N, self.num_heads, self.head_dim).contiguous().permute(0, 2, 1, 3)",
        target="q", root="q", links=("view", "permute"), after=0,
    ),
    _site(
        "multi.q-permute", "append to the q permute",
        "q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3)",
        "q = q.view(B, N, self.num_heads, self.head_dim).permute(0, 2, 1, 3).contiguous()",
        target="q", root="q", links=("view", "permute"), after=1,
    ),
    _site(
        "multi.kv-linear", "append to the kv projection",
        "encoder_kv = self.kv_linear(encoder_hidden_states)",
        "encoder_kv = self.kv_linear(encoder_hidden_states).contiguous()",
        target="encoder_kv", root="self", links=("kv_linear",), after=0,
    ),
    _site(
        "multi.kv-view", "between the kv view and its permute",
        "encoder_kv = encoder_kv.view(...).permute(2, 0, 3, 1, 4)",
        "encoder_kv = encoder_kv.view(...).contiguous().permute(2, 0, 3, 1, 4)",
        target="encoder_kv", root="encoder_kv", links=("view", "permute"), after=0,
    ),
    _site(
        "multi.kv-permute", "append to the kv permute",
        "encoder_kv = encoder_kv.view(...).permute(2, 0, 3, 1, 4)",
        "encoder_kv = encoder_kv.view(...).permute(2, 0, 3, 1, 4).contiguous()",
        target="encoder_kv", root="encoder_kv", links=("view", "permute"), after=1,
    ),
    _site(
        "multi.x-reshape", "append to the reshape after attention",
        "x = x.reshape(B, N, C)", "x = x.reshape(B, N, C).contiguous()",
        target="x", root="x", links=("reshape",), after=0,
    ),
    _site(
        "multi.cat-extra", "append to the cat that restores the extra frame",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1)",
        "x = torch.cat([x, torch.zeros_like(x_extra)], dim=1).contiguous()",
        target="x", root="torch", links=("cat",), after=0,
    ),
)

def _assign_target(node: cst.Assign) -> str | None:
    if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
        return node.targets[0].target.value
    return None


@dataclass(frozen=True)
class _Match:
    site: Site
    chain: Chain
    argument: cst.BaseExpression | None  # the call whose first argument holds the chain, for `inside` sites


def match_sites(node: cst.Assign, role: str | None, phase: Phase | None) -> list[_Match]:
    """The sites of `role` (any role when None) that this assignment is, in `phase` (any when None)."""
    value_chain = decompose(node.value)
    target = _assign_target(node)
    matches = []
    for site in SITES:
        if role is not None and site.info.role != role:
            continue
        if site.phase is not None and phase is not None and site.phase != phase:
            continue
        if site.target is not None and site.target != target:
            continue
        if site.inside is None:
            if site.chain.matches(value_chain):
                matches.append(_Match(site, value_chain, None))
            continue
        if not site.inside.matches(value_chain):
            continue
        outer_call = value_chain.links[-1].call
        if not outer_call.args or outer_call.args[0].keyword is not None or outer_call.args[0].star:
            continue
        inner_chain = decompose(outer_call.args[0].value)
        if site.chain.matches(inner_chain):
            matches.append(_Match(site, inner_chain, outer_call))
    return matches


class SeedTransformer(ScopedTransformer):
    """Inserts the spec's `.contiguous()` calls at the sites of each target's role."""

    def enter_target(self, target: TargetMethod) -> None:
        self.attention_seen = False

    def visit_Call(self, node: cst.Call) -> None:
        if self.current is not None and entry_point_of(node) is not None:
            self.attention_seen = True

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if self.current is None:
            return updated_node
        phase: Phase = "after" if self.attention_seen else "before"
        matches = match_sites(updated_node, self.role, phase)
        value = updated_node.value
        # Outermost links first: an insertion rebuilds the chain around the links inside it.
        for match in sorted(matches, key=lambda m: (m.argument is not None, -m.site.after)):
            if match.chain.links[match.site.after].contiguous_after:
                self.record(match.site.info.id, original_node, "present")
                continue
            self.record(match.site.info.id, original_node, "inserted")
            if match.argument is None:
                value = insert_after_link(value, match.site.after)
            else:
                value = _insert_in_first_argument(value, match.site.after)
        return updated_node if value is updated_node.value else updated_node.with_changes(value=value)


def _insert_in_first_argument(value: cst.BaseExpression, index: int) -> cst.BaseExpression:
    outer_call = decompose(value).links[-1].call
    first = outer_call.args[0]
    new_first = first.with_changes(value=insert_after_link(first.value, index))
    new_call = outer_call.with_changes(args=(new_first, *outer_call.args[1:]))
    return replace_link_call(value, outer_call, new_call)


class _RoleCounter(cst.CSTVisitor):
    """Which sites of each role one method contains, phases ignored."""

    def __init__(self, method: cst.FunctionDef) -> None:
        self.method = method
        self.found: dict[str, set[str]] = {role: set() for role in ROLE_ORDER}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.method

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for match in match_sites(node, None, None):
            self.found[match.site.info.role].add(match.site.info.id)


class SeedProfile(Profile):
    """The spec's 15 sites (7 single-speaker, 8 multi-speaker)."""

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

    def transformer(self, targets: Sequence[tuple[TargetMethod, str]]) -> ScopedTransformer:
        return SeedTransformer(targets)


PROFILE = SeedProfile()
