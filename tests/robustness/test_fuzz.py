"""Generated `forward` bodies of view / reshape / permute / transpose / unbind / cat chains, around an
attention call and linear layers: for every profile the rewrite parses, is idempotent, and its diff
is `.contiguous()` insertions and nothing else."""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemod.match.patterns import DEFAULT_TARGETS, TargetPattern, parse_targets
from codemod.rewrite.engine import rewrite_module_source
from codemod.rewrite.profiles import all_profiles, get_profile
from codemod.run.job import Job
from codemod.run.runner import rewrite_job

INSERTED = ".contiguous()"
PROFILES = sorted(all_profiles())
TARGET_SETS = (parse_targets(DEFAULT_TARGETS), parse_targets(["*.forward"]))
CLASS_NAMES = ("SingleStreamAttention", "SingleStreamMultiAttention", "SingleStreamMutiAttention", "AudioBlock")
TENSORS = ("x", "q", "k", "v", "kv", "encoder_kv", "encoder_k", "encoder_v")
SIZES = ("B", "N", "C", "-1", "S", "N_t", "self.num_heads", "self.head_dim", "B * N_t", "N_t * S", "2")

sizes = st.lists(st.sampled_from(SIZES), min_size=1, max_size=5).map(", ".join)
dims = st.integers(min_value=0, max_value=4)
permutation = st.permutations(range(4)).map(lambda order: ", ".join(map(str, order)))

link = st.one_of(
    sizes.map(lambda text: f".view({text})"),
    sizes.map(lambda text: f".reshape({text})"),
    permutation.map(lambda text: f".permute({text})"),
    st.tuples(dims, dims).map(lambda pair: f".transpose({pair[0]}, {pair[1]})"),
    st.just(INSERTED),
)
root = st.one_of(
    st.sampled_from(TENSORS),
    st.sampled_from(("self.q_linear(x)", "self.kv_linear(encoder_hidden_states)", "self.norm_q(q)")),
    st.just("torch.cat([x, torch.zeros_like(x_extra)], dim=1)"),
)


@st.composite
def chains(draw: st.DrawFn) -> str:
    return draw(root) + "".join(draw(st.lists(link, max_size=4)))


# The spec's sites, as link lists after their root: generated copies get `.contiguous()` at random
# places, so that sites come fixed, half fixed, doubled or not at all.
SITE_SHAPES = (
    ("x = x", (".view(B * N_t, S, self.dim)",)),
    ("q = self.q_linear(x)", (".view(B * N_t, S, self.num_heads, self.head_dim)",)),
    ("kv = self.kv_linear(encoder_hidden_states)", ()),
    ("encoder_k, encoder_v = kv", (".view(B * N_t, N_a, 2, self.num_heads, self.head_dim)", ".unbind(2)")),
    ("x = self.proj(x", (".reshape(B * N_t, S, self.dim)", ")")),
    ("x = x", (".view(B, N_t * S, self.dim)",)),
    ("x = torch.cat([x, torch.zeros_like(x_extra)], dim=1)", ()),
    ("q = self.q_linear(x)", ()),
    ("q = q", (".view(B, N, self.num_heads, self.head_dim)", ".permute(0, 2, 1, 3)")),
    ("encoder_kv = self.kv_linear(encoder_hidden_states)", ()),
    ("encoder_kv = encoder_kv", (".view(B, N_a, 2, self.num_heads, self.head_dim)", ".permute(2, 0, 3, 1, 4)")),
    ("x = x", (".reshape(B, N, C)",)),
)


@st.composite
def site_statements(draw: st.DrawFn) -> str:
    start, links = draw(st.sampled_from(SITE_SHAPES))
    pieces = [start]
    for piece in (*links, ""):
        pieces.append(INSERTED * draw(st.sampled_from((0, 0, 0, 1, 2))))
        pieces.append(piece)
    return "".join(pieces)


@st.composite
def statements(draw: st.DrawFn) -> str:
    kind = draw(st.integers(min_value=0, max_value=6))
    if kind == 6:
        return draw(site_statements())
    name = draw(st.sampled_from(TENSORS))
    chain = draw(chains())
    if kind == 0:
        return f"{name} = {chain}"
    if kind == 1:
        first, second = draw(st.permutations(TENSORS).map(lambda names: names[:2]))
        return f"{first}, {second} = {chain}.unbind({draw(dims)})"
    if kind == 2:
        call = draw(st.sampled_from(("attention", "F.scaled_dot_product_attention", "sageattn")))
        arguments = ", ".join(draw(st.lists(chains(), min_size=3, max_size=3)))
        return f"x = {call}({arguments})"
    if kind == 3:
        return f"x = self.proj({chain})"
    if kind == 4:
        return f"{name} = torch.cat([{chain}, {draw(chains())}], dim={draw(dims)})"
    return f"{name} = self.{draw(st.sampled_from(('q_linear', 'kv_linear', 'proj')))}({chain})"


@st.composite
def modules(draw: st.DrawFn) -> str:
    class_name = draw(st.sampled_from(CLASS_NAMES))
    body = draw(st.lists(statements(), min_size=1, max_size=8))
    return (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        f"class {class_name}(nn.Module):\n"
        "    def __init__(self, dim, heads):\n"
        "        super().__init__()\n"
        "        self.q_linear = nn.Linear(dim, dim)\n"
        "        self.kv_linear = nn.Linear(dim, dim * 2)\n"
        "        self.proj = nn.Linear(dim, dim)\n\n"
        "    def forward(self, x, encoder_hidden_states, shape=None, x_extra=None):\n"
        + "".join(f"        {line}\n" for line in body)
        + "        return x\n"
    )


def only_insertions(old: str, new: str) -> bool:
    """`new` is `old` with `.contiguous()` put in at some places: `old`'s pieces appear in `new` in
    order, and everything else in `new` is `.contiguous()` (greedy matching is exact here)."""
    old_pieces = [piece for piece in re.split(f"({re.escape(INSERTED)})", old) if piece]
    old_atoms = [atom for piece in old_pieces for atom in ([piece] if piece == INSERTED else list(piece))]
    new_pieces = [piece for piece in re.split(f"({re.escape(INSERTED)})", new) if piece]
    new_atoms = [atom for piece in new_pieces for atom in ([piece] if piece == INSERTED else list(piece))]
    position = 0
    for atom in new_atoms:
        if position < len(old_atoms) and atom == old_atoms[position]:
            position += 1
        elif atom != INSERTED:
            return False
    return position == len(old_atoms)


def test_only_insertions_tells_insertions_from_other_edits() -> None:
    assert only_insertions("y = a.view(1)\n", "y = a.contiguous().view(1).contiguous()\n")
    assert not only_insertions("y = a.contiguous().b\n", "y = a.b.contiguous()\n")  # moved, not inserted
    assert not only_insertions("y = (a + b)\n", "y = (a + b).contiguous() \n")
    assert not only_insertions("y = a\n", "y = a.contiguous\n")


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(source=modules(), targets=st.sampled_from(TARGET_SETS))
def test_generated_forwards_rewrite_soundly(profile: str, source: str, targets: tuple[TargetPattern, ...]) -> None:
    new, _ = rewrite_module_source(source, get_profile(profile), targets)
    ast.parse(new)
    assert only_insertions(source, new)
    again, _ = rewrite_module_source(new, get_profile(profile), targets)
    assert again == new
    result = rewrite_job(Job("generated.py", source.encode(), profile, targets))
    assert result.error is None
    assert result.new == new.encode()
