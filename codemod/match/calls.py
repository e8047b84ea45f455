"""Calls that are kernel boundaries: the attention dispatcher and a class's linear layers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import libcst as cst

from codemod.match.chains import dotted_name

# `attention(...)`, `F.scaled_dot_product_attention(...)`, `xformers.ops.memory_efficient_attention(...)`,
# `sageattn(...)`, `flash_attn_func(...)`; never a method of `self` such as `self.attn(...)`.
ATTENTION_FUNCTION = re.compile(r"(attention|\w+_attention|sageattn\w*|flash_attn\w*)")
LINEAR_CLASS = re.compile(r"\w*Linear")


def is_attention_call(node: cst.Call) -> bool:
    name = dotted_name(node.func)
    if name is None or name.split(".")[0] == "self":
        return False
    return ATTENTION_FUNCTION.fullmatch(name.rsplit(".", 1)[-1]) is not None


def _self_assignments(method: cst.FunctionDef) -> Iterator[tuple[str, cst.BaseExpression]]:
    for statement in method.body.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                target = small.targets[0].target
                if isinstance(target, cst.Attribute) and dotted_name(target.value) == "self":
                    yield target.attr.value, small.value


def linear_attributes(classes: Iterable[cst.ClassDef]) -> frozenset[str]:
    """`self.X = nn.Linear(...)` (any `*Linear` class) in the `__init__` of any of `classes`."""
    found: set[str] = set()
    for class_node in classes:
        for statement in class_node.body.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value == "__init__":
                for attribute, value in _self_assignments(statement):
                    callee = dotted_name(value.func) if isinstance(value, cst.Call) else None
                    if callee is not None and LINEAR_CLASS.fullmatch(callee.rsplit(".", 1)[-1]):
                        found.add(attribute)
    return frozenset(found)
