"""Sites declared by example: a before / after pair of source, from which the shape to match is derived.

A declaration is `ChainSite(id, summary, before, after)`, one statement per line. The one statement that
differs between the two examples is the site; the `.contiguous()` that `after` adds says where the call goes. Parsing that
statement gives everything matching needs: the assignment target, the chain's root and link names, the
link the call follows, and whether the chain is the first argument of a call (`self.proj(x.reshape(...))`).
Statements around the site in the example say on which side of the attention call it lies (the two
`x = x.view(...)` of the single-speaker forward are told apart that way).

Statements are matched by the links of their chains, not by where statements end: consecutive sites
whose statements feed each other (`q = self.q_linear(x)`, then `q = q.view(...).permute(...)`) are also
found fused into one statement (`q = self.q_linear(x).view(...).permute(...)`). A site may declare link
names that are one link to it (`same_links=VIEW_OR_RESHAPE`: the spec's rule is "after view / reshape /
permute", and ports restate `.view(...)` as `.reshape(...)`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst

from codemod.match.calls import entry_point_of
from codemod.match.chains import Chain, Link, decompose
from codemod.match.patterns import python_name
from codemod.match.visitors import NoFieldHooks

Phase = Literal["before", "after"]

VIEW_OR_RESHAPE = ("view", "reshape")


@dataclass(frozen=True)
class SiteInfo:
    """A site as users see it in `contiguify list` and the docs: id, where, and an example."""

    id: str
    role: str
    summary: str
    before: str
    after: str


class DeclarationError(ValueError):
    """A site's example pair does not describe one `.contiguous()` insertion in one assignment."""


@dataclass(frozen=True)
class ChainShape:
    """`root.link0(...).link1(...)`, `.contiguous()` links set aside; names in `same` spelled as its first."""

    root: str | None
    links: tuple[str, ...]

    @classmethod
    def of(cls, chain: Chain, same: tuple[str, ...] = ()) -> ChainShape:
        return cls(chain.root, tuple(_spelled(name, same) for name in chain.names))


def _spelled(name: str, same: tuple[str, ...]) -> str:
    return same[0] if name in same else name


@dataclass(frozen=True)
class Statement:
    """What a site's statement looks like, as derived from its example.

    `target`: the assigned name (`None`: an unpacking target, whose names are not checked).
    `chain`: the assigned chain. `argument`: `(j, inner)` when the call goes on the chain `inner` that is
    the first argument of link `j` (`self.proj(x.reshape(...))`). `same`: link names that are one link.
    """

    target: str | None
    chain: ChainShape
    argument: tuple[int, ChainShape] | None
    same: tuple[str, ...]

    def links_at(self, chain: Chain, offset: int) -> bool:
        """Whether this statement's links are those of `chain` from `offset` on."""
        names = chain.names[offset:offset + len(self.chain.links)]
        return tuple(_spelled(name, self.same) for name in names) == self.chain.links

    def inner_chain(self, chain: Chain, offset: int) -> Chain | None:
        """For an `argument` statement whose links start at `offset` of `chain`: the argument's chain if it fits."""
        assert self.argument is not None
        index, inner = self.argument
        call = chain.links[offset + index].call
        if not call.args or call.args[0].keyword is not None or call.args[0].star:
            return None
        found = decompose(call.args[0].value)
        return found if ChainShape.of(found, self.same) == inner else None


@dataclass(frozen=True)
class ChainSite:
    """One site, declared by its example pair; everything else is derived from it in `__post_init__`."""

    id: str
    summary: str
    before: str
    after: str
    same_links: tuple[str, ...] = ()
    info: SiteInfo = field(init=False)
    # Derived: the statement's shape, and the link the call goes after (a link of the argument's chain
    # for `argument` statements).
    statement: Statement = field(init=False)
    link: int = field(init=False)
    phase: Phase | None = field(init=False)

    def __post_init__(self) -> None:
        before_module, after_module = cst.parse_module(self.before), cst.parse_module(self.after)
        index, old, new = _the_changed_statement(self.id, before_module, after_module)
        old_assign, new_assign = _assignment(self.id, old), _assignment(self.id, new)
        statement, link = _derive(self.id, old_assign, new_assign, self.same_links)
        role = self.id.partition(".")[0]
        before_lines, after_lines = self.before.split("\n"), self.after.split("\n")
        if len(before_lines) != len(before_module.body) or len(after_lines) != len(after_module.body):
            raise DeclarationError(f"{self.id}: write the examples one statement per line")
        # Their lines, not libcst's code of the statements: the same text, without generating code at every start.
        info = SiteInfo(self.id, role, self.summary, before_lines[index].strip(), after_lines[index].strip())
        object.__setattr__(self, "info", info)
        object.__setattr__(self, "statement", statement)
        object.__setattr__(self, "link", link)
        object.__setattr__(self, "phase", _phase(before_module.body, index))


def _the_changed_statement(site_id: str, before: cst.Module, after: cst.Module) -> tuple[int, cst.CSTNode, cst.CSTNode]:
    if len(before.body) != len(after.body):
        raise DeclarationError(f"{site_id}: before and after must have the same statements")
    changed = [
        (index, old, new)
        for index, (old, new) in enumerate(zip(before.body, after.body))
        if not old.deep_equals(new)
    ]
    if len(changed) != 1:
        raise DeclarationError(f"{site_id}: exactly one statement must differ between before and after")
    return changed[0]


def _assignment(site_id: str, statement: cst.CSTNode) -> cst.Assign:
    if (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Assign)
        and len(statement.body[0].targets) == 1
    ):
        return statement.body[0]
    raise DeclarationError(f"{site_id}: the site's statement must be one assignment")


def assigned_name(node: cst.Assign) -> str | None:
    target = node.targets[0].target if len(node.targets) == 1 else None
    return python_name(target.value) if isinstance(target, cst.Name) else None


def _inserted_link(old: Chain, new: Chain) -> int | None:
    """The link of `new` that gained a `.contiguous()` over `old` (same links), if exactly one did."""
    if ChainShape.of(old) != ChainShape.of(new):
        return None
    gained = [index for index, (a, b) in enumerate(zip(old.links, new.links)) if b.contiguous_after > a.contiguous_after]
    return gained[0] if len(gained) == 1 else None


def _first_argument(link: Link) -> cst.BaseExpression | None:
    args = link.call.args
    return args[0].value if args and args[0].keyword is None and not args[0].star else None


def _derive(site_id: str, old: cst.Assign, new: cst.Assign, same: tuple[str, ...]) -> tuple[Statement, int]:
    old_chain, new_chain = decompose(old.value), decompose(new.value)
    target = assigned_name(old)
    shape = ChainShape.of(old_chain, same)
    link = _inserted_link(old_chain, new_chain)
    if link is not None:
        return Statement(target, shape, None, same), link
    if shape == ChainShape.of(new_chain, same):
        for index, (old_link, new_link) in enumerate(zip(old_chain.links, new_chain.links)):
            old_argument, new_argument = _first_argument(old_link), _first_argument(new_link)
            if old_argument is None or new_argument is None:
                continue
            inner_old, inner_new = decompose(old_argument), decompose(new_argument)
            inner_link = _inserted_link(inner_old, inner_new)
            if inner_link is not None:
                return Statement(target, shape, (index, ChainShape.of(inner_old, same)), same), inner_link
    raise DeclarationError(f"{site_id}: after must add one .contiguous() to a link of the assigned chain")


def _has_entry_point(node: cst.CSTNode) -> bool:
    class Finder(NoFieldHooks, cst.CSTVisitor):
        found = False

        def visit_Call(self, call: cst.Call) -> None:
            if entry_point_of(call) is not None:
                self.found = True

    finder = Finder()
    node.visit(finder)
    return finder.found


def _phase(body: Sequence[cst.CSTNode], index: int) -> Phase | None:
    """`after` when the example calls attention before the site, `before` when after it, else `None` (either)."""
    if any(_has_entry_point(statement) for statement in body[:index]):
        return "after"
    if any(_has_entry_point(statement) for statement in body[index + 1:]):
        return "before"
    return None


@dataclass(frozen=True)
class Match:
    """A site found in an assignment, and the link after which its `.contiguous()` goes."""

    site: ChainSite
    link: Link


def _segments(
    chain: Chain, offset: int, statements: Sequence[Statement], previous: int | None
) -> Iterator[list[tuple[int, int]]]:
    """Ways to cut `chain.links[offset:]` into site statements (index into `statements`, offset), in order.

    A statement after the first must read the name the one before it assigns: that is how the split
    statements feed each other, and fusing them only removes the name in between.
    """
    if offset == len(chain.links):
        if previous is not None:
            yield []
        return
    for index in range(0 if previous is None else previous + 1, len(statements)):
        statement = statements[index]
        root = chain.root if previous is None else statements[previous].target
        if root is None or statement.chain.root != root:
            continue
        if not statement.links_at(chain, offset):
            continue
        if statement.argument is not None and statement.inner_chain(chain, offset) is None:
            continue
        for rest in _segments(chain, offset + len(statement.chain.links), statements, index):
            yield [(index, offset), *rest]


def match_sites(node: cst.Assign, sites: Sequence[ChainSite], phase: Phase | None) -> list[Match]:
    """The sites among `sites` that this assignment is, in `phase` (any when `None`), first cut that fits.

    One statement: its target must be the example's. Fused statements: the target is not checked, since
    the names between the fused statements are gone and forks name the result freely (`kv`).
    """
    declared = [site for site in sites if site.phase is None or phase is None or site.phase == phase]
    matches: list[Match] = []
    statements = list(dict.fromkeys(site.statement for site in declared))
    chain = decompose(node.value)
    target = assigned_name(node)
    for cut in _segments(chain, 0, statements, None):
        if len(cut) == 1 and statements[cut[0][0]].target not in (None, target):
            continue
        for index, offset in cut:
            statement = statements[index]
            for site in declared:
                if site.statement != statement:
                    continue
                if statement.argument is None:
                    matches.append(Match(site, chain.links[offset + site.link]))
                else:
                    inner = statement.inner_chain(chain, offset)
                    assert inner is not None
                    matches.append(Match(site, inner.links[site.link]))
        break
    return matches
