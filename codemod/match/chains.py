"""Call chains such as `self.q_linear(x).view(...).permute(...)`, seen as a root and its method links.

Sites are matched by the shape of a chain (its root, the names of its links), never by text,
and `.contiguous()` links already present are set aside so that a fixed file matches like a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from codemod.match.contiguous import CONTIGUOUS, is_contiguous_cst
from codemod.match.patterns import python_name


@dataclass(frozen=True)
class Link:
    """One method call of a chain, with how many `.contiguous()` calls directly follow it."""

    name: str
    call: cst.Call
    contiguous_after: int


@dataclass(frozen=True)
class Chain:
    """`root.a(...).b(...)`: the dotted root (`None` when it is not a plain name) and the links a, b."""

    root: str | None
    links: tuple[Link, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(link.name for link in self.links)


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`torch.nn.functional` for the matching Attribute tree, `None` for anything else; names as Python sees them."""
    if isinstance(node, cst.Name):
        return python_name(node.value)
    if isinstance(node, cst.Attribute):
        head = dotted_name(node.value)
        return None if head is None else f"{head}.{python_name(node.attr.value)}"
    return None


def decompose(node: cst.BaseExpression) -> Chain:
    """Split an expression into its root and method links, innermost link first."""
    reversed_links: list[tuple[str, cst.Call]] = []
    contiguous_counts: list[int] = []
    pending = 0
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        if is_contiguous_cst(node):
            pending += 1
        else:
            reversed_links.append((python_name(node.func.attr.value), node))
            contiguous_counts.append(pending)
            pending = 0
        node = node.func.value
    links = tuple(
        Link(name, call, after)
        for (name, call), after in zip(reversed(reversed_links), reversed(contiguous_counts))
    )
    return Chain(root=dotted_name(node), links=links)


def contiguous_of(node: cst.BaseExpression) -> cst.Call:
    """`node.contiguous()`."""
    return cst.Call(func=cst.Attribute(value=node, attr=cst.Name(CONTIGUOUS)))
