"""`.contiguous()` where tensors enter kernels: each q / k / v of the attention call and each linear's input.

The seed profile's insertions sit earlier in the forward, and later reshapes undo them (measured: the
two-speaker q and k reach `attention()` strided after the seed rewrite). Putting the call at the
boundary itself is what makes every kernel input contiguous; on an already contiguous tensor
`.contiguous()` returns the tensor itself, so it costs nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from codemod.match.calls import entry_point_of, linear_attributes
from codemod.match.chains import contiguous_of, dotted_name
from codemod.match.contiguous import is_contiguous_cst
from codemod.match.targets import TargetMethod
from codemod.rewrite.engine import Profile, ScopedTransformer, SiteInfo

ROLE = "boundary"
ATTENTION_ARGUMENTS = ("q", "k", "v")

SITES = (
    *(
        SiteInfo(
            f"boundary.attention-{name}", ROLE, f"{name} as it enters the attention call",
            "x = attention(q, k, v, attention_mode=m)",
            "x = attention(q.contiguous(), k.contiguous(), v.contiguous(), attention_mode=m)",
        )
        for name in ATTENTION_ARGUMENTS
    ),
    SiteInfo(
        "boundary.linear-input", ROLE, "the input of each linear layer of the class",
        "x = self.proj(x.reshape(B * N_t, S, self.dim))",
        "x = self.proj(x.reshape(B * N_t, S, self.dim).contiguous())",
    ),
)

# Expressions that can take `.contiguous()` without parentheses.
_PRIMARY = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)


def _made_contiguous(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, _PRIMARY) or node.lpar:
        return contiguous_of(node)
    return contiguous_of(node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]))


class BoundaryTransformer(ScopedTransformer):
    """Makes each tensor contiguous at the call that hands it to a kernel."""

    def __init__(self, targets: Sequence[tuple[TargetMethod, str]]) -> None:
        super().__init__(targets)
        self._linears = {
            id(target.node): linear_attributes((target.class_node, *target.ancestors)) for target, _ in targets
        }

    def _boundary_arguments(self, node: cst.Call) -> list[tuple[int, str]]:
        """(argument index, site id) of the tensors this call hands to a kernel."""
        assert self.current is not None
        positional = [index for index, arg in enumerate(node.args) if arg.keyword is None and not arg.star]
        if entry_point_of(node) is not None:
            return [(index, f"boundary.attention-{name}") for index, name in zip(positional, ATTENTION_ARGUMENTS)]
        callee = dotted_name(node.func)
        if callee is not None and callee.startswith("self.") and callee[5:] in self._linears[id(self.current.node)]:
            return [(positional[0], "boundary.linear-input")] if positional else []
        return []

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if self.current is None:
            return updated_node
        arguments = self._boundary_arguments(original_node)
        if not arguments:
            return updated_node
        new_args = list(updated_node.args)
        for index, site_id in arguments:
            value = new_args[index].value
            if is_contiguous_cst(value):
                self.record(site_id, original_node, "present")
            else:
                self.record(site_id, original_node, "inserted")
                new_args[index] = new_args[index].with_changes(value=_made_contiguous(value))
        return updated_node.with_changes(args=new_args)


class BoundaryProfile(Profile):
    """`.contiguous()` on every tensor at the kernel boundary, nowhere else."""

    name = "boundary"
    summary = "q, k, v at the attention call and each linear layer's input, made contiguous where they enter"

    def sites(self) -> tuple[SiteInfo, ...]:
        return SITES

    def role_of(self, target: TargetMethod) -> str:
        return ROLE

    def transformer(self, targets: Sequence[tuple[TargetMethod, str]]) -> ScopedTransformer:
        return BoundaryTransformer(targets)


PROFILE = BoundaryProfile()
