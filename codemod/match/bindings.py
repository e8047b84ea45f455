"""What the names of one method may hold: each binding, where it happens, and the value of plain assignments.

A use of a name can be reached only by the bindings before it and, inside a loop, by the bindings
of that loop; comparing positions gives that over-approximation without a flow graph, which is
enough to say that a name *may* hold a list, a string or `None` where it is used. Nested functions,
lambdas and classes are scopes of their own and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import libcst as cst

Position = tuple[int, int]
"""(line, column) of a node, as libcst's PositionProvider gives them."""

# Methods that change a list in place.
LIST_CHANGES = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "reverse", "sort"})
# Expressions whose value is never a tensor, with what they are.
_DISPLAYS: tuple[tuple[type[cst.BaseExpression], str], ...] = (
    (cst.List, "a list"), (cst.Tuple, "a tuple"), (cst.Set, "a set"), (cst.Dict, "a dict"),
    (cst.ListComp, "a list"), (cst.SetComp, "a set"), (cst.DictComp, "a dict"), (cst.GeneratorExp, "a generator"),
    (cst.SimpleString, "a string"), (cst.ConcatenatedString, "a string"), (cst.FormattedString, "a string"),
    (cst.Integer, "a number"), (cst.Float, "a number"), (cst.Imaginary, "a number"), (cst.Lambda, "a function"),
    (cst.Ellipsis, "Ellipsis"),
)
_CONSTANTS = {"None": "None", "True": "a bool", "False": "a bool"}


def non_tensor(node: cst.BaseExpression) -> str | None:
    """What `node` is when it certainly is not a tensor (`a list`, `None`, ...), else None."""
    for kind, description in _DISPLAYS:
        if isinstance(node, kind):
            return description
    if isinstance(node, cst.Name):
        return _CONSTANTS.get(node.value)
    return None


@dataclass(frozen=True)
class Binding:
    """One binding of a name in the method: the value of a plain `name = value`, else None.

    `position`: where the name takes its new value (after the assigned value is computed); `line`:
    where the binding statement starts; `loops`: the loops around it.
    """

    value: cst.BaseExpression | None
    position: Position
    line: int
    loops: tuple[int, ...]


class MethodScan(cst.CSTVisitor):
    """The calls and name bindings of one method body.

    `start` / `end` give a node's position (the caller's metadata). `calls`: every call with the loops
    around it; `changed`: names whose list is changed in place (item or attribute assigned, `append`, ...).
    """

    def __init__(self, start: Callable[[cst.CSTNode], Position], end: Callable[[cst.CSTNode], Position]) -> None:
        super().__init__()
        self.start, self.end = start, end
        self.calls: list[tuple[cst.Call, tuple[int, ...]]] = []
        self.bindings: dict[str, list[Binding]] = {}
        self.changed: dict[str, cst.CSTNode] = {}  # lists changed in place: name -> first such statement
        self._loops: list[int] = []

    def scan(self, method: cst.FunctionDef) -> MethodScan:
        for parameter in _parameters(method.params):
            self._bind(parameter.name.value, None, parameter, self.start(parameter))
        method.body.visit(self)
        return self

    def reaching(self, name: str, position: Position, loops: tuple[int, ...]) -> list[Binding]:
        """Bindings of `name` that may reach a use at `position`: those before it, and those in a loop around it."""
        return [
            binding for binding in self.bindings.get(name, [])
            if binding.position <= position or set(binding.loops) & set(loops)
        ]

    def _bind(self, name: str, value: cst.BaseExpression | None, at: cst.CSTNode, position: Position) -> None:
        self.bindings.setdefault(name, []).append(Binding(value, position, self.start(at)[0], tuple(self._loops)))

    def _bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression | None, at: cst.CSTNode) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value, at, self.end(at))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None, at)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None, at)
        elif isinstance(target, (cst.Subscript, cst.Attribute)) and isinstance(target.value, cst.Name):
            self.changed.setdefault(target.value.value, at)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._bind_target(node.name, None, node)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._bind_target(node.name, None, node)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_For(self, node: cst.For) -> None:
        self._loops.append(id(node))
        self._bind_target(node.target, None, node.target)

    def leave_For(self, original_node: cst.For) -> None:
        self._loops.pop()

    def visit_While(self, node: cst.While) -> None:
        self._loops.append(id(node))

    def leave_While(self, original_node: cst.While) -> None:
        self._loops.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind_target(target.target, node.value, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind_target(node.target, node.value, node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind_target(node.target, None, node)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._bind_target(node.target, node.value, node)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind_target(node.asname.name, None, node)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind_target(node.name.name, None, node.name)

    def visit_Del(self, node: cst.Del) -> None:
        self._bind_target(node.target, None, node)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        bound: cst.BaseExpression = node.asname.name if node.asname is not None else node.name
        while isinstance(bound, cst.Attribute):  # `import a.b` binds `a`
            bound = bound.value
        if isinstance(bound, cst.Name):
            self._bind_target(bound, None, node)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append((node, tuple(self._loops)))
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.attr.value in LIST_CHANGES:
            self.changed.setdefault(func.value.value, node)


def _parameters(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg
