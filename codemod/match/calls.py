"""Calls that are kernel boundaries: an attention entry point (from the shared table) and a class's linear layers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import libcst as cst

from codemod.match.chains import dotted_name
from codemod.match.entry_points import ENTRY_POINTS, EntryPoint, find_entry_point
from codemod.match.patterns import python_name

LINEAR_CLASS = re.compile(r"\w*Linear")


def entry_point_of(node: cst.Call, table: Iterable[EntryPoint] = ENTRY_POINTS) -> EntryPoint | None:
    """The attention entry point of `table` this call is, by its dotted name (`self.attn(...)` never is)."""
    name = dotted_name(node.func)
    return None if name is None else find_entry_point(name, table)


def _self_assignments(method: cst.FunctionDef) -> Iterator[tuple[str, cst.BaseExpression]]:
    for statement in method.body.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Attribute) and dotted_name(target.value) == "self":
                    yield python_name(target.attr.value), small.value


def linear_attributes(classes: Iterable[cst.ClassDef]) -> frozenset[str]:
    """`self.X = nn.Linear(...)` (any `*Linear` class) in the `__init__` of any of `classes`."""
    found: set[str] = set()
    for class_node in classes:
        for statement in class_node.body.body:
            if isinstance(statement, cst.FunctionDef) and python_name(statement.name.value) == "__init__":
                for attribute, value in _self_assignments(statement):
                    callee = dotted_name(value.func) if isinstance(value, cst.Call) else None
                    if callee is not None and LINEAR_CLASS.fullmatch(callee.rsplit(".", 1)[-1]):
                        found.add(attribute)
    return frozenset(found)
