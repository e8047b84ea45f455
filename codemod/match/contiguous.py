"""The one answer to "is this a `.contiguous()` call?", for both syntax trees the tool reads.

Any arguments count: `.contiguous(memory_format=torch.contiguous_format)` makes a site as present as
`.contiguous()` does. The `ast` version serves code that must not import libcst (the insertion check,
attribution of executed calls); the libcst version serves site matching. libcst is imported only when
that version is called.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from codemod.match.patterns import python_name

if TYPE_CHECKING:
    import libcst as cst

CONTIGUOUS = "contiguous"


def is_contiguous_ast(node: ast.AST) -> bool:
    """`<expr>.contiguous(...)` in an `ast` tree."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == CONTIGUOUS


def is_contiguous_cst(node: cst.BaseExpression) -> bool:
    """`<expr>.contiguous(...)` in a libcst tree."""
    import libcst as cst

    return (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and python_name(node.func.attr.value) == CONTIGUOUS)
