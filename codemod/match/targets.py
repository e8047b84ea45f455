"""Which methods get rewritten: `Class.method` patterns, and the base-class methods that `super()` reaches."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

# Upstream spellings: WanVideoWrapper's two classes and MultiTalk's original name for the second.
DEFAULT_TARGETS: tuple[str, ...] = (
    "SingleStreamAttention.forward",
    "SingleStreamMultiAttention.forward",
    "SingleStreamMutiAttention.forward",
)

_WILDCARD = re.compile(r"[*?\[]")


class TargetSyntaxError(ValueError):
    """A `--target` value that is not `Class.method`."""


@dataclass(frozen=True)
class TargetPattern:
    """`Class.method`, each part a shell-style pattern."""

    class_pattern: str
    method_pattern: str

    @classmethod
    def parse(cls, text: str) -> TargetPattern:
        class_part, dot, method_part = text.strip().rpartition(".")
        if not dot or not class_part or not method_part:
            raise TargetSyntaxError(f"target {text!r} is not of the form Class.method")
        return cls(class_part, method_part)

    def matches(self, class_name: str, method_name: str) -> bool:
        return fnmatch.fnmatchcase(class_name, self.class_pattern) and fnmatch.fnmatchcase(
            method_name, self.method_pattern
        )

    def literal_hint(self) -> bytes:
        """The longest fixed piece of the class (else method) pattern: a file without it cannot match."""
        for pattern in (self.class_pattern, self.method_pattern):
            pieces = [piece for piece in _WILDCARD.split(pattern) if "]" not in piece]
            longest = max(pieces, key=len, default="")
            if longest:
                return longest.encode()
        return b""


@dataclass(frozen=True)
class TargetMethod:
    """A method to rewrite, found in a module."""

    class_name: str
    method_name: str
    node: cst.FunctionDef
    class_node: cst.ClassDef
    ancestors: tuple[cst.ClassDef, ...]  # base classes defined in the same module, nearest first


def parse_targets(texts: Iterable[str]) -> tuple[TargetPattern, ...]:
    return tuple(TargetPattern.parse(text) for text in texts)


def _classes(body: Sequence[cst.CSTNode]) -> Iterator[cst.ClassDef]:
    for statement in body:
        if isinstance(statement, cst.ClassDef):
            yield statement
            yield from _classes(statement.body.body)


def _methods(class_node: cst.ClassDef) -> Iterator[cst.FunctionDef]:
    for statement in class_node.body.body:
        if isinstance(statement, cst.FunctionDef):
            yield statement


def _base_names(class_node: cst.ClassDef) -> list[str]:
    return [arg.value.value for arg in class_node.bases if isinstance(arg.value, cst.Name)]


class _SuperCallFinder(cst.CSTVisitor):
    """Finds `super().<method>(...)` in a method body."""

    def __init__(self, method_name: str) -> None:
        self.method_name = method_name
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == self.method_name
            and isinstance(func.value, cst.Call)
            and isinstance(func.value.func, cst.Name)
            and func.value.func.value == "super"
        ):
            self.found = True


def _calls_super(method: cst.FunctionDef) -> bool:
    finder = _SuperCallFinder(method.name.value)
    method.visit(finder)
    return finder.found


def find_targets(module: cst.Module, patterns: Sequence[TargetPattern]) -> list[TargetMethod]:
    """Target methods of `module` in source order, each once, with the base methods `super()` reaches."""
    classes = list(_classes(module.body))
    by_name = {class_node.name.value: class_node for class_node in classes}
    chosen: dict[int, TargetMethod] = {}

    def add(class_node: cst.ClassDef, method: cst.FunctionDef) -> None:
        if id(method) in chosen:
            return
        chosen[id(method)] = TargetMethod(
            class_node.name.value, method.name.value, method, class_node, _ancestors(class_node, by_name)
        )
        if _calls_super(method):
            for base in (by_name[name] for name in _base_names(class_node) if name in by_name):
                for base_method in _methods(base):
                    if base_method.name.value == method.name.value:
                        add(base, base_method)

    for class_node in classes:
        for method in _methods(class_node):
            if any(p.matches(class_node.name.value, method.name.value) for p in patterns):
                add(class_node, method)
    order = {id(method): index for index, method in enumerate(_all_methods(classes))}
    return sorted(chosen.values(), key=lambda target: order[id(target.node)])


def _ancestors(class_node: cst.ClassDef, by_name: dict[str, cst.ClassDef]) -> tuple[cst.ClassDef, ...]:
    found: list[cst.ClassDef] = []
    pending = [class_node]
    while pending:
        for name in _base_names(pending.pop(0)):
            base = by_name.get(name)
            if base is not None and base is not class_node and base not in found:
                found.append(base)
                pending.append(base)
    return tuple(found)


def _all_methods(classes: Sequence[cst.ClassDef]) -> Iterator[cst.FunctionDef]:
    for class_node in classes:
        yield from _methods(class_node)
