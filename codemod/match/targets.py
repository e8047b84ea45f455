"""Which methods of a module get rewritten: those the patterns name, and the base methods `super()` reaches.

A class counts wherever it is defined at module level: in the module's body, in a class, or in the
blocks of `if`, `try`, `with`, `for`, `while` and `match` statements (`try: class A ... except
ImportError: ...`); so does a method in such blocks of its class's body (`if TORCH2: def forward`). A class defined inside a function is made each time the function runs, and
which of its copies the code uses cannot be told from the source: it is found, but out of reach.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from codemod.match.patterns import TargetPattern, python_name
from codemod.match.visitors import NoFieldHooks


@dataclass(frozen=True)
class TargetMethod:
    """A method to rewrite, found in a module."""

    class_name: str
    method_name: str
    node: cst.FunctionDef
    class_node: cst.ClassDef
    ancestors: tuple[cst.ClassDef, ...]  # base classes defined in the same module, nearest first
    # The compound statements around the class (outermost first), which a rewrite must enter to reach it.
    containers: tuple[cst.BaseCompoundStatement, ...] = ()
    # The function whose body defines the class: then it is reported, never rewritten.
    enclosing_function: cst.FunctionDef | None = None
    # The classes the class is defined in (outermost first), which a rewrite must enter to reach it.
    enclosing_classes: tuple[cst.ClassDef, ...] = ()
    # The line of its `def`, as `ast` read it; None when the caller gave no `ast` tree of the module.
    line: int | None = None


@dataclass(frozen=True)
class _Found:
    """A class and where it is defined."""

    node: cst.ClassDef
    containers: tuple[cst.BaseCompoundStatement, ...]
    function: cst.FunctionDef | None
    classes: tuple[cst.ClassDef, ...]


def _blocks(statement: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """The statements of a compound statement's own blocks (`else`, `except`, `finally`, `case` included)."""
    for child in statement.children:
        if isinstance(child, cst.IndentedBlock):
            yield from child.body
        elif isinstance(child, cst.BaseCompoundStatement):  # an `elif`
            yield child
        elif isinstance(child, (cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally, cst.MatchCase)):
            yield from _blocks(child)


def _classes(body: Sequence[cst.CSTNode], functions: list[cst.FunctionDef]) -> Iterator[_Found]:
    """Every class of the module in source order, without recursion (an `elif` chain may be a thousand long).

    Every function met on the way (all of the module's, in source order) is added to `functions`."""
    pending: list[tuple[cst.CSTNode, tuple[cst.BaseCompoundStatement, ...], cst.FunctionDef | None,
                        tuple[cst.ClassDef, ...]]] = [(statement, (), None, ()) for statement in reversed(body)]
    while pending:
        statement, containers, function, classes = pending.pop()
        inner: Iterator[cst.CSTNode] = iter(())
        if isinstance(statement, cst.ClassDef):
            yield _Found(statement, containers, function, classes)
            classes = (*classes, statement)
            inner = _blocks(statement)
        elif isinstance(statement, cst.FunctionDef):
            functions.append(statement)
            function = function or statement
            inner = _blocks(statement)
        elif isinstance(statement, cst.BaseCompoundStatement):
            containers = (*containers, statement)
            inner = _blocks(statement)
        pending.extend((child, containers, function, classes) for child in reversed(list(inner)))


def _methods(class_node: cst.ClassDef) -> Iterator[tuple[cst.FunctionDef, tuple[cst.BaseCompoundStatement, ...]]]:
    """The class's methods with the compound statements around them in its body (`if TORCH2: def forward`)."""
    pending: list[tuple[cst.CSTNode, tuple[cst.BaseCompoundStatement, ...]]] = [
        (statement, ()) for statement in reversed(class_node.body.body)
    ]
    while pending:
        statement, containers = pending.pop()
        if isinstance(statement, cst.FunctionDef):
            yield statement, containers
        elif isinstance(statement, cst.BaseCompoundStatement) and not isinstance(statement, cst.ClassDef):
            inner = (*containers, statement)
            pending.extend((child, inner) for child in reversed(list(_blocks(statement))))


def _base_names(class_node: cst.ClassDef) -> list[str]:
    return [python_name(arg.value.value) for arg in class_node.bases if isinstance(arg.value, cst.Name)]


class _SuperCallFinder(NoFieldHooks, cst.CSTVisitor):
    """Finds `super().<method>(...)` in a method body."""

    def __init__(self, method_name: str) -> None:
        self.method_name = method_name
        self.found = False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and python_name(func.attr.value) == self.method_name
            and isinstance(func.value, cst.Call)
            and isinstance(func.value.func, cst.Name)
            and python_name(func.value.func.value) == "super"
        ):
            self.found = True


def _calls_super(method: cst.FunctionDef, tree: ast.FunctionDef | ast.AsyncFunctionDef | None) -> bool:
    """Whether `method` calls `super().<its name>(...)`; read from its `ast` twin when there is one (a walk
    of a libcst tree costs some twenty times as much)."""
    name = python_name(method.name.value)
    if tree is None:
        finder = _SuperCallFinder(name)
        method.visit(finder)
        return finder.found
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
        and isinstance(node.func.value, ast.Call) and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
        for node in ast.walk(tree)
    )


def _ast_functions(body: Sequence[ast.stmt], found: list[ast.FunctionDef | ast.AsyncFunctionDef],
                   ) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function defined in the statements of `body`, at any depth (statements only: a fifth of the nodes)."""
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(statement)
        for name in ("body", "orelse", "finalbody"):
            block = getattr(statement, name, None)
            if isinstance(block, list):
                _ast_functions(block, found)
        for clause in (*getattr(statement, "handlers", ()), *getattr(statement, "cases", ())):
            _ast_functions(clause.body, found)
    return found


def _twins(functions: Sequence[cst.FunctionDef], tree: ast.Module | None,
           ) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """libcst's functions -> the same functions in `ast`'s tree of the module: both in source order (empty when
    there is no tree, or the two do not agree on how many functions there are)."""
    if tree is None:
        return {}
    twins = sorted(_ast_functions(tree.body, []), key=lambda node: (node.lineno, node.col_offset))
    if len(twins) != len(functions):
        return {}
    return {id(function): twin for function, twin in zip(functions, twins)}


def find_targets(module: cst.Module, patterns: Sequence[TargetPattern], tree: ast.Module | None = None,
                 ) -> list[TargetMethod]:
    """Target methods of `module` in source order, each once, with the base methods `super()` reaches.

    Those of classes defined inside a function come with their `enclosing_function`: to report, not rewrite.
    `tree`: `ast`'s tree of the same source, if it has one; it gives each method its `line`, cheaply.
    """
    functions: list[cst.FunctionDef] = []
    found = list(_classes(module.body, functions))
    twins = _twins(functions, tree)
    where = {id(item.node): item for item in found}
    classes = [item.node for item in found]
    by_name = {python_name(item.node.name.value): item.node for item in found if item.function is None}
    chosen: dict[int, TargetMethod] = {}

    def add(class_node: cst.ClassDef, method: cst.FunctionDef, blocks: tuple[cst.BaseCompoundStatement, ...]) -> None:
        if id(method) in chosen:
            return
        item = where[id(class_node)]
        twin = twins.get(id(method))
        chosen[id(method)] = TargetMethod(
            python_name(class_node.name.value), python_name(method.name.value), method, class_node,
            _ancestors(class_node, by_name), (*item.containers, *blocks), item.function, item.classes,
            None if twin is None else twin.lineno,
        )
        if _calls_super(method, twin) and item.function is None:
            for base in (by_name[name] for name in _base_names(class_node) if name in by_name):
                for base_method, base_blocks in _methods(base):
                    if python_name(base_method.name.value) == python_name(method.name.value):
                        add(base, base_method, base_blocks)

    for class_node in classes:
        for method, blocks in _methods(class_node):
            if any(p.matches(class_node.name.value, method.name.value) for p in patterns):
                add(class_node, method, blocks)
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
        yield from (method for method, _ in _methods(class_node))
