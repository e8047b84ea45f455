"""What keeps a rewrite safe: the nesting guard before libcst parses, the insertions-only check after it rewrites.

Also the insertions themselves as values (`insertions`, `rebuild`): how the cache stores a change and
`revert` tells calls apart."""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
import warnings
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from codemod.decoding import BOM, lines_and_ends
from codemod.match.contiguous import is_contiguous_ast

INSERTED_TEXT = ".contiguous()"
# All that a rewrite may insert into a file.
_INSERTABLE = re.compile(r"(?:\.contiguous\(\)|[()])+")

# libcst's native parser recurses once per level of nesting: on an 8 MiB stack it kills the whole
# interpreter (SIGSEGV) at about 1,500 levels of brackets, and a chain of a few thousand operators
# (`a + a + ...`) takes it seconds to minutes. CPython itself refuses 200 levels of brackets, and
# the rewrite's own checks recurse in Python; no file of the standard library or of torch nests
# deeper than 50 by this count.
MAX_NESTING = 500
_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")
# Tokens that end an operand at their bracket level: elements, arguments, targets, statements.
_SEPARATORS = frozenset({",", ";", "=", ":=", "->", "+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=", "&=",
                         "|=", "^=", "<<=", ">>="})
_KEYWORD_OPERATORS = frozenset({"not", "and", "or", "if", "else", "lambda", "in", "is", "await"})
_BRACKET = re.compile(r"[(){}\[\]]")



def _bracket_depth(text: str) -> int:
    """Deepest bracket nesting in `text` by characters alone: what an f-string's fields may hold."""
    depth = deepest = 0
    for match in _BRACKET.finditer(text):
        depth = depth + 1 if match.group() in _OPENING else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def nesting_problem(text: str, limit: int = MAX_NESTING) -> str | None:
    """Why `text` is too deeply nested to hand to libcst, or None; from tokens, before any parsing.

    The depth counts every open bracket and, at each bracket level, every operator, attribute, call
    and subscript since the last separator (`a + a + a` nests two levels deep in a syntax tree), plus
    the brackets inside an f-string. A file that does not tokenize is left to libcst, which tokenizes
    all of a file before it parses any of it.
    """
    levels = [0]  # operators since the last separator, per open bracket
    depth = 0  # open brackets + sum(levels)
    previous_kind, previous = tokenize.NEWLINE, ""
    try:
        for kind, string, (line, _), _, _ in tokenize.generate_tokens(io.StringIO(text).readline):
            extra = 0
            if kind == tokenize.OP:
                if string in _OPENING:
                    if previous_kind in (tokenize.NAME, tokenize.STRING) or previous in _CLOSING:
                        levels[-1] += 1  # a call or subscript trailer
                        depth += 1
                    levels.append(0)
                    depth += 1
                elif string in _CLOSING:
                    if len(levels) > 1:
                        depth -= 1 + levels.pop()
                elif string in _SEPARATORS:
                    depth -= levels[-1]
                    levels[-1] = 0
                else:
                    levels[-1] += 1
                    depth += 1
            elif kind == tokenize.NAME:
                if string in _KEYWORD_OPERATORS:
                    levels[-1] += 1
                    depth += 1
            elif kind == tokenize.STRING:
                if "f" in string[:3].lower().partition("'")[0].partition('"')[0]:
                    extra = _bracket_depth(string)
            elif kind == tokenize.NEWLINE:
                levels, depth = [0], 0
            elif kind in (tokenize.NL, tokenize.COMMENT):
                continue
            if depth + extra > limit:
                return f"too deeply nested to parse safely: more than {limit} levels at line {line}"
            previous_kind, previous = kind, string
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def _without_contiguous(node: object) -> object:
    """`x.contiguous()` -> `x`, repeatedly."""
    while isinstance(node, ast.Call) and is_contiguous_ast(node):
        assert isinstance(node.func, ast.Attribute)
        node = node.func.value
    return node


def _same_but_contiguous(old: object, new: object) -> bool:
    """Equal syntax trees once every `.contiguous()` call is removed from both (positions ignored)."""
    old, new = _without_contiguous(old), _without_contiguous(new)
    if isinstance(old, list):
        return (isinstance(new, list) and len(old) == len(new)
                and all(_same_but_contiguous(a, b) for a, b in zip(old, new)))
    if not isinstance(old, ast.AST):
        return old == new
    return type(old) is type(new) and all(
        _same_but_contiguous(getattr(old, field, None), getattr(new, field, None)) for field in old._fields
    )


def _describe(error: SyntaxError) -> str:
    where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
    return f"syntax error at {where} (Python {sys.version_info[0]}.{sys.version_info[1]}): {error.msg}"


def python_syntax_error(text: str) -> str | None:
    """The interpreter's own account of why `text` is not Python, which names the right line."""
    try:
        _parse(text)
    except SyntaxError as error:
        return _describe(error)
    except (RecursionError, MemoryError):
        return "too deeply nested to parse"
    return None


@lru_cache(maxsize=2)
def _parse(text: str) -> ast.Module:
    """`ast`'s tree of `text` (less a BOM), warnings silenced; the last two are kept: the rewrite reads the
    tree of a file's text, and its check reads it again. Nothing changes a tree once made."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text.removeprefix(BOM))


def python_tree(text: str) -> ast.Module | None:
    """`ast`'s tree of `text`, or None where Python does not read it (libcst's grammar is looser)."""
    try:
        return _parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _only_parentheses_added(old: str, new: str) -> bool:
    """`old` is `new` less some `(` / `)` characters, equally many of each.

    The characters `new` has over `old` are the same whichever way one is matched into the other, so
    once they are counted, matching as early as possible tells whether it can be done: runs of equal
    text are found by halving (a few insertions in a long file), not character by character.
    """
    extra = Counter(new)
    extra.subtract(Counter(old))  # a mapping: a string would be counted in Python, character by character
    if +extra != Counter({"(": extra["("], ")": extra["("]}) or -extra:
        return False
    start = new_start = 0
    while start < len(old):
        run = _common_run(old, start, new, new_start, len(new))
        start, new_start = start + run, new_start + run
        if start == len(old):
            break
        if new_start == len(new) or new[new_start] not in "()":
            return False
        new_start += 1
    return True


# Fields of compound statements that hold statements, compared statement by statement.
_BODIES = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


def _same_statements(old: Sequence[object], new: Sequence[object], old_lines: list[str], new_lines: list[str]) -> bool:
    """Statements equal but for `.contiguous()` calls; one whose lines are unchanged is equal without looking,
    and a compound statement is compared field by field, its bodies statement by statement (insertions add no
    line, so unchanged lines are most of a file, and of a rewritten class)."""
    if len(old) != len(new):
        return False
    for a, b in zip(old, new):
        if type(a) is not type(b) or not isinstance(a, ast.AST):
            return False
        first, last = getattr(a, "lineno", None), getattr(a, "end_lineno", None)
        new_first, new_last = getattr(b, "lineno", None), getattr(b, "end_lineno", None)
        if (first is not None and new_first is not None  # a `case` of a match statement has no lines
                and old_lines[first - 1:last] == new_lines[new_first - 1:new_last]):
            continue
        for name in a._fields:
            field, other = getattr(a, name, None), getattr(b, name, None)
            if name in _BODIES and isinstance(field, list) and isinstance(other, list):
                if not _same_statements(field, other, old_lines, new_lines):
                    return False
            elif not _same_but_contiguous(field, other):
                return False
    return True


def check_insertions_only(old: str, new: str) -> str | None:
    """Why `new` is not `old` plus `.contiguous()` calls (and the parentheses they need), or None.

    Text: only those characters were added, so comments, spacing and line endings are the user's.
    Syntax tree: equal to the old one once every `.contiguous()` call is removed from both; statements
    whose lines are unchanged are equal without looking (insertions add no line).
    """
    if not _only_parentheses_added(old.replace(INSERTED_TEXT, ""), new.replace(INSERTED_TEXT, "")):
        return "the rewrite changed more than `.contiguous()` calls"
    try:
        old_tree = _parse(old)
    except SyntaxError as error:  # libcst's grammar is looser (it reads `except A, b:`): not Python here
        return _describe(error)
    except (RecursionError, MemoryError):
        return "too deeply nested to check the rewrite"
    try:
        new_tree = _parse(new)
    except SyntaxError as error:
        return f"the rewritten code does not parse ({_describe(error)})"
    except (RecursionError, MemoryError):
        return "too deeply nested to check the rewrite"
    try:
        same = _same_statements(old_tree.body, new_tree.body, lines_and_ends(old)[0], lines_and_ends(new)[0])
    except RecursionError:
        return "too deeply nested to check the rewrite"
    return None if same else "the rewrite changed the meaning of the code beyond `.contiguous()` calls"


def _common_run(old: str, start: int, new: str, new_start: int, stop: int) -> int:
    """How many characters of `old` from `start` and of `new` from `new_start` (up to `stop`) agree."""
    low, high = 0, min(len(old) - start, stop - new_start)
    while low < high:  # few differences in long texts: halving beats a loop over characters
        middle = (low + high + 1) // 2
        if old[start:start + middle] == new[new_start:new_start + middle]:
            low = middle
        else:
            high = middle - 1
    return low


def insertions(old: str, new: str) -> list[list[Any]] | None:
    """`new` as [offset in `old`, inserted text] pairs, or None when it is not `old` plus insertions.

    A `.contiguous()` in `new` but not at the same place in `old` is taken as inserted, so that one
    inserted before `.cuda()` is not mistaken for the `.c` of it.
    """
    found: list[list[Any]] = []
    start = new_start = 0
    while new_start < len(new):
        call = new.find(INSERTED_TEXT, new_start)
        stop = len(new) if call < 0 else call
        run = _common_run(old, start, new, new_start, stop)
        start, new_start = start + run, new_start + run
        if new_start == len(new):
            break
        if new_start == call and old.startswith(INSERTED_TEXT, start):
            start, new_start = start + len(INSERTED_TEXT), new_start + len(INSERTED_TEXT)
            continue
        piece = INSERTED_TEXT if new_start == call else new[new_start]
        if not _INSERTABLE.fullmatch(piece):
            return None
        if found and found[-1][0] == start:
            found[-1][1] += piece
        else:
            found.append([start, piece])
        new_start += len(piece)
    return found if start == len(old) else None


def rebuild(old: str, entry: Any) -> str | None:
    """`old` with the insertions of `entry`, if each is `.contiguous()` calls and parentheses at an
    increasing offset, and the parentheses balance; else None."""
    pieces, previous, opened = [], -1, 0
    for offset, text in entry:
        if not (type(offset) is int and isinstance(text, str) and previous < offset <= len(old)
                and _INSERTABLE.fullmatch(text)):
            return None
        bare = text.replace(INSERTED_TEXT, "")
        opened += bare.count("(") - bare.count(")")
        pieces += [old[max(previous, 0):offset], text]
        previous = offset
    if opened != 0 or previous < 0:
        return None
    pieces.append(old[previous:])
    return "".join(pieces)
