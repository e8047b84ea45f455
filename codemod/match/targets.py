"""Which methods of a module get rewritten: those the patterns name, and the base methods `super()` reaches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from codemod.match.patterns import TargetPattern


@dataclass(frozen=True)
class TargetMethod:
    """A method to rewrite, found in a module."""

    class_name: str
    method_name: str
    node: cst.FunctionDef
    class_node: cst.ClassDef
    ancestors: tuple[cst.ClassDef, ...]  # base classes defined in the same module, nearest first


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
