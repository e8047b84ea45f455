"""Undoing a fix: remove exactly the `.contiguous()` calls the profile puts at its sites, so `revert(fix(x)) == x`.

A file's own `.contiguous()` calls cannot be told from the tool's by looking at them, so the file is
asked what the profile would do: every bare `.contiguous()` of the target methods is set aside (with
the parentheses the profile adds around a receiver that needs them), the profile rewrites that, and of
the calls set aside only those the profile puts back, at the same places, are removed; the others are
kept. The result is accepted only if it parses, differs from the file by `.contiguous()` calls alone,
and every call removed is one the profile inserts into it. A call someone wrote by hand at one of the
profile's sites looks exactly like the tool's, and is removed too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import libcst as cst

from codemod.match.contiguous import CONTIGUOUS
from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import TargetPattern
from codemod.match.targets import find_targets
from codemod.match.visitors import NoFieldHooks
from codemod.results import FileResult, TargetResult
from codemod.decoding import BOM, decode
from codemod.guards import INSERTED_TEXT, check_insertions_only, insertions, nesting_problem, rebuild
from codemod.prefilter import settle_without_parsing
from codemod.rewrite.file import rewrite

# Expressions that take `.contiguous()` without parentheses: around any other, the profiles add a pair.
_PRIMARY = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)
_EMPTY = cst.Module([])


def _is_bare_call(node: cst.Call) -> bool:
    """`<receiver>.contiguous()` spelled exactly as the profiles write it."""
    func = node.func
    return (isinstance(func, cst.Attribute) and func.attr.value == CONTIGUOUS and not node.args and not node.lpar
            and _EMPTY.code_for_node(node) == _EMPTY.code_for_node(func.value) + INSERTED_TEXT)


def _without_added_parentheses(node: cst.BaseExpression) -> cst.BaseExpression:
    """The receiver as it was before a profile wrapped it: one tight pair around a non-primary expression goes."""
    if (isinstance(node, _PRIMARY) or len(node.lpar) != 1 or len(node.rpar) != 1
            or _EMPTY.code_for_node(node.lpar[0]) != "(" or _EMPTY.code_for_node(node.rpar[0]) != ")"):
        return node
    return node.with_changes(lpar=[], rpar=[])


class _SetAside(NoFieldHooks, cst.CSTTransformer):
    """Removes every bare `.contiguous()` inside the given methods."""

    def __init__(self, methods: Sequence[cst.FunctionDef]) -> None:
        super().__init__()
        self._methods = {id(method) for method in methods}
        self._depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if id(node) in self._methods:
            self._depth += 1
        return True

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        if id(original_node) in self._methods:
            self._depth -= 1
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self._depth and _is_bare_call(updated_node):
            assert isinstance(updated_node.func, cst.Attribute)
            return _without_added_parentheses(updated_node.func.value)
        return updated_node


def _by_offset(pieces: list[list[Any]]) -> dict[int, str]:
    return {offset: text for offset, text in pieces}


def revert(
    data: bytes, profile: str, targets: Sequence[TargetPattern], *, path: str = "-",
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
) -> FileResult:
    """The file without the profile's `.contiguous()` calls; bad input or a doubtful case becomes an error result."""
    fix = partial(rewrite, profile=profile, targets=targets, path=path, entry_points=entry_points)
    settled = settle_without_parsing(path, data, targets)
    if settled is not None:
        return settled
    if INSERTED_TEXT.encode() not in data:  # nothing to remove; a file fix cannot handle is that error here too
        fixed = fix(data)
        return fixed if fixed.error is not None else FileResult(path, old=data, new=data)
    try:
        text, codec = decode(data)
        bom = BOM if text.startswith(BOM) else ""
        if nesting_problem(text) is not None:
            raise ValueError("too deeply nested")
        module = cst.parse_module(text[len(bom):])
    except (SyntaxError, ValueError, LookupError, cst.ParserSyntaxError):
        return fix(data)  # the reason, exactly as fix gives it
    methods = [target.node for target in find_targets(module, targets)]
    aside = bom + module.visit(_SetAside(methods)).code
    if aside == text:
        return FileResult(path, old=data, new=data)
    undone = _undo(text, aside, fix, codec)
    if isinstance(undone, str):
        return FileResult(path, error=f"{undone}; file left as it was")
    reverted, targets_left = undone
    return FileResult(path, targets=targets_left, old=data, new=reverted.encode(codec))


def _undo(text: str, aside: str, fix: Callable[[bytes], FileResult], codec: str,
          ) -> str | tuple[str, tuple[TargetResult, ...]]:
    """(the reverted text, the profile's report on it), or why it cannot be told which calls are the profile's.

    `fix`: the file's own rewrite (its profile, targets and entry points), bytes in."""
    fixed = fix(aside.encode(codec))
    if fixed.error is not None or fixed.new is None:
        return f"cannot revert: {fixed.error}"
    profiles = _by_offset(insertions(aside, fixed.new.decode(codec)) or [])
    present = insertions(aside, text)
    if present is None:
        return "cannot revert: the calls set aside do not account for the file"
    kept = [[offset, piece] for offset, piece in present if profiles.get(offset) != piece]
    if not kept:  # every call set aside is one the profile inserts
        return aside, fixed.targets
    reverted = rebuild(aside, kept)
    if reverted is None:
        return "cannot revert: the file's own .contiguous() calls could not be kept apart"
    # The check: the file is the result plus calls the profile itself inserts into the result.
    result = fix(reverted.encode(codec))
    removed = insertions(reverted, text)
    inserted = _by_offset(insertions(reverted, result.new.decode(codec)) or []) if result.new is not None else {}
    if result.error is not None or removed is None or any(inserted.get(offset) != piece for offset, piece in removed):
        return "cannot revert exactly: the calls to remove are not all the profile's own"
    if check_insertions_only(reverted, text) is not None:
        return "cannot revert: the result is not the file less .contiguous() calls"
    return reverted, result.targets
