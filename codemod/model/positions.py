"""Which `.contiguous()` call of a rewritten file belongs to which site of the profile.

A profile reports each site by the line of its statement, and one statement can hold several sites
(`q.view(...).contiguous().permute(...).contiguous()`), so lines alone cannot name the calls. The
calls a rewrite inserted are found by aligning the syntax trees before and after it; within a
statement, its inserted sites and inserted calls pair up in source order, and so do the sites it
found already present and the calls that were there before.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from codemod.match.contiguous import CONTIGUOUS, is_contiguous_ast
from codemod.results import SiteStatus, TargetResult

SourcePosition = tuple[int, int]
"""(line, column) of the name `contiguous` in a call, columns in UTF-8 bytes as `ast` counts them."""


def name_position(call: ast.Call) -> SourcePosition:
    """Where the name `contiguous` starts, as the recorder reports it."""
    assert isinstance(call.func, ast.Attribute) and call.func.end_lineno is not None
    assert call.func.end_col_offset is not None
    return call.func.end_lineno, call.func.end_col_offset - len(CONTIGUOUS)


def _inserted_calls(old: ast.AST, new: ast.AST, into: set[int]) -> None:
    """Walk both trees together; a `.contiguous()` in `new` with no counterpart in `old` was inserted."""
    while is_contiguous_ast(new) and not is_contiguous_ast(old):
        assert isinstance(new, ast.Call) and isinstance(new.func, ast.Attribute)
        into.add(id(new))
        new = new.func.value
    for (_, old_value), (_, new_value) in zip(ast.iter_fields(old), ast.iter_fields(new)):
        if isinstance(old_value, ast.AST) and isinstance(new_value, ast.AST):
            _inserted_calls(old_value, new_value, into)
        elif isinstance(old_value, list) and isinstance(new_value, list):
            for old_item, new_item in zip(old_value, new_value):
                if isinstance(old_item, ast.AST) and isinstance(new_item, ast.AST):
                    _inserted_calls(old_item, new_item, into)


@dataclass(frozen=True)
class _Statement:
    node: ast.stmt
    depth: int

    def contains(self, line: int) -> bool:
        return self.node.lineno <= line <= (self.node.end_lineno or self.node.lineno)


def _statements_and_calls(tree: ast.Module) -> tuple[list[_Statement], dict[int, tuple[ast.stmt, ast.Call]]]:
    """Every statement with its nesting depth, and every `.contiguous()` call with its innermost statement."""
    statements: list[_Statement] = []
    calls: dict[int, tuple[ast.stmt, ast.Call]] = {}

    def visit(node: ast.AST, owner: ast.stmt | None, depth: int) -> None:
        if isinstance(node, ast.stmt):
            statements.append(_Statement(node, depth))
            owner, depth = node, depth + 1
        if owner is not None and isinstance(node, ast.Call) and is_contiguous_ast(node):
            calls[id(node)] = (owner, node)
        for child in ast.iter_child_nodes(node):
            visit(child, owner, depth)

    visit(tree, None, 0)
    return statements, calls


def _statement_at(statements: Sequence[_Statement], line: int) -> ast.stmt | None:
    holding = [statement for statement in statements if statement.contains(line)]
    return max(holding, key=lambda statement: statement.depth).node if holding else None


def site_positions(
    original: str,
    rewritten: str,
    targets: Iterable[TargetResult],
    site_order: Mapping[str, int],
    statuses: Iterable[SiteStatus] = ("inserted", "present"),
) -> dict[SourcePosition, str]:
    """Name position of each `.contiguous()` call in `rewritten` -> the id of the site it is.

    `site_order`: each site id's rank in its profile, which is source order within one statement.
    `statuses`: which sites to place; the original file has only the ones found present.
    """
    old_tree, new_tree = ast.parse(original), ast.parse(rewritten)
    inserted: set[int] = set()
    _inserted_calls(old_tree, new_tree, inserted)
    statements, calls = _statements_and_calls(new_tree)

    wanted = set(statuses)
    sites_by_statement: dict[tuple[int, bool], list[tuple[int, int, str]]] = defaultdict(list)
    for target in targets:
        for site in target.sites:
            if site.status not in wanted or site.line is None:
                continue
            statement = _statement_at(statements, site.line)
            if statement is not None:
                key = (id(statement), site.status == "inserted")
                sites_by_statement[key].append((site.line, site_order.get(site.id, 0), site.id))

    calls_by_statement: dict[tuple[int, bool], list[SourcePosition]] = defaultdict(list)
    for call_id, (statement, call) in calls.items():
        calls_by_statement[(id(statement), call_id in inserted)].append(name_position(call))

    found: dict[SourcePosition, str] = {}
    for key, sites in sites_by_statement.items():
        for (_, _, site_id), position in zip(sorted(sites), sorted(calls_by_statement.get(key, []))):
            found[position] = site_id
    return found
