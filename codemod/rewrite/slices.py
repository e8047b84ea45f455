"""What of a module libcst needs to read: the top-level statements that define target classes and their bases.

Parsing with libcst, and generating code back, is most of a rewrite's time, and a target file is
mostly other code (helpers, other classes). `ast` (C, ten times faster) finds the top-level statements
that define a class a pattern may name, or a base such a class has in the module (at any depth: in
`if` / `try` blocks, in functions, in classes); every other line is blanked, keeping its line end,
so the slice has the file's lines and line numbers, and its statements read as they do in the file:
a statement that holds a class is a compound one (`class`, `def`, `if`, `try`, ...), which starts at
column 0 of a line of its own and ends a line, so no other statement shares its lines. The profiles
look at target classes only, so the rewrite of the slice is the rewrite of the file. Where there is
nothing to leave out, or `ast` cannot read the file, there is no slice and libcst reads the whole file.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from codemod.decoding import lines_and_ends
from codemod.match.patterns import TargetPattern, python_name


class Slice(NamedTuple):
    """The text libcst reads, `ast`'s view of the same statements, which lines (0-based) it keeps, and the
    file's lines and line ends, which the rewrite of the slice goes back into."""

    text: str
    tree: ast.Module
    kept: frozenset[int]
    lines: list[str]
    ends: list[str]


def _statements(statement: ast.stmt) -> Iterator[ast.stmt]:
    """`statement` and every statement inside it, without recursion (an `elif` chain may be a thousand long)."""
    pending = [statement]
    while pending:
        current = pending.pop()
        yield current
        for name in ("body", "orelse", "finalbody"):
            block = getattr(current, name, None)
            if isinstance(block, list):
                pending.extend(block)
        for clause in (*getattr(current, "handlers", ()), *getattr(current, "cases", ())):
            pending.extend(clause.body)


def _first_line(statement: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(statement, "decorator_list", [])
    return min([statement.lineno, *(decorator.lineno for decorator in decorators)])


def module_slice(text: str, tree: ast.Module, patterns: Sequence[TargetPattern]) -> Slice | None:
    """The slice of `text` (whose tree is `tree`) that holds the classes `patterns` may name; None: read it all."""
    classes: list[tuple[int, list[ast.ClassDef]]] = []  # (index of the top-level statement, its classes)
    for index, statement in enumerate(tree.body):
        found = [inner for inner in _statements(statement) if isinstance(inner, ast.ClassDef)]
        if found:
            classes.append((index, found))
    wanted = {python_name(node.name) for _, found in classes for node in found
              if any(fnmatch.fnmatchcase(python_name(node.name), pattern.class_pattern) for pattern in patterns)}
    chosen: set[int] = set()
    while True:  # the classes named, then their bases, until no new name comes
        more = {index for index, found in classes if any(python_name(node.name) in wanted for node in found)} - chosen
        if not more:
            break
        chosen |= more
        wanted |= {python_name(base.id) for index, found in classes if index in more
                   for node in found for base in node.bases if isinstance(base, ast.Name)}
    if len(chosen) == len(tree.body):
        return None
    kept: set[int] = set()
    for index in chosen:
        statement = tree.body[index]
        assert statement.end_lineno is not None
        kept.update(range(_first_line(statement) - 1, statement.end_lineno))
    lines, ends = lines_and_ends(text)
    pieces = []
    for number, line in enumerate(lines):
        pieces.append(line if number in kept else "")
        if number < len(ends):
            pieces.append(ends[number])
    body = [statement for index, statement in enumerate(tree.body) if index in chosen]
    return Slice("".join(pieces), ast.Module(body=body, type_ignores=[]), frozenset(kept), lines, ends)


def put_back(piece: Slice, rewritten_slice: str) -> str | None:
    """The file with its kept lines taken from the rewrite of its slice; None when the rewrite added or removed
    a line."""
    new_lines, new_ends = lines_and_ends(rewritten_slice)
    if len(new_lines) != len(piece.lines):
        return None
    pieces = []
    for number, line in enumerate(piece.lines):
        kept = number in piece.kept
        pieces.append(new_lines[number] if kept else line)
        if number < len(piece.ends):
            pieces.append(new_ends[number] if kept else piece.ends[number])
    return "".join(pieces)
