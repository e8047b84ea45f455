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

from codemod.match.patterns import python_name
from codemod.match.visitors import NoFieldHooks

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
# Builtins that never return a tensor, whatever they are given (`list(q)` is a list of q's rows).
_BUILTINS = {
    **dict.fromkeys(("list", "sorted", "dir"), "a list"), "tuple": "a tuple", "dict": "a dict", "vars": "a dict",
    **dict.fromkeys(("set", "frozenset"), "a set"), "range": "a range", "slice": "a slice", "type": "a type",
    **dict.fromkeys(("str", "repr", "ascii", "format", "chr", "bin", "oct", "hex"), "a string"),
    **dict.fromkeys(("int", "float", "complex", "len", "ord", "hash", "id"), "a number"),
    **dict.fromkeys(("bool", "isinstance", "issubclass", "callable", "hasattr", "all", "any"), "a bool"),
    **dict.fromkeys(("bytes", "bytearray", "memoryview"), "bytes"),
    **dict.fromkeys(("enumerate", "zip", "map", "filter", "reversed", "iter"), "an iterator"),
    "print": "None", "setattr": "None", "delattr": "None",
}
# What a tensor says about itself, never a tensor: attributes, and methods (by what they return).
_TENSOR_ATTRIBUTES = {"shape": "a size", "dtype": "a dtype", "device": "a device", "ndim": "a number",
                      "is_cuda": "a bool", "requires_grad": "a bool", "layout": "a layout"}
_TENSOR_QUERIES = {
    **dict.fromkeys(("size", "stride"), "a size"), "tolist": "a list",
    **dict.fromkeys(("dim", "ndimension", "numel", "nelement", "item", "element_size", "data_ptr",
                     "storage_offset", "get_device"), "a number"),
    **dict.fromkeys(("is_contiguous", "is_floating_point", "is_complex", "equal"), "a bool"),
}
_IDENTITY_TESTS = (cst.Is, cst.IsNot, cst.In, cst.NotIn)
# A description of what a name holds, resolved by the caller (who knows the bindings), or None when unknown.
Resolve = Callable[[cst.Name], "str | None"]


def _no_names(name: cst.Name) -> str | None:
    return None


def value_kind(node: cst.BaseExpression, resolve: Resolve = _no_names) -> str | None:
    """What `node` is (`a list`, `None`, ...) when it may be something that is not a tensor, else None.

    `a if c else b` and `a or b` may be either operand; a name is what `resolve` says it may hold.
    `and` / `or` give one of their operands, which this cannot tell apart from a flag: `a or b` is
    never taken for a tensor.
    """
    for kind, description in _DISPLAYS:
        if isinstance(node, kind):
            return description
    if isinstance(node, cst.Name):
        return _CONSTANTS.get(python_name(node.value)) or resolve(node)
    if isinstance(node, cst.IfExp):
        return value_kind(node.body, resolve) or value_kind(node.orelse, resolve)
    if isinstance(node, cst.BooleanOperation):
        return (value_kind(node.left, resolve) or value_kind(node.right, resolve)
                or "whichever operand decides it (a flag as well as a tensor)")
    if isinstance(node, cst.UnaryOperation):
        return "a bool" if isinstance(node.operator, cst.Not) else value_kind(node.expression, resolve)
    if isinstance(node, cst.BinaryOperation):  # a tensor on either side makes a tensor
        left = value_kind(node.left, resolve)
        return left if left is not None and value_kind(node.right, resolve) is not None else None
    if isinstance(node, cst.Comparison):
        if all(isinstance(target.operator, _IDENTITY_TESTS) for target in node.comparisons):
            return "a bool"
        return None
    if isinstance(node, cst.Attribute):
        return _TENSOR_ATTRIBUTES.get(python_name(node.attr.value))
    if isinstance(node, cst.Subscript):
        container = value_kind(node.value, resolve)
        return {"a size": "a number", "a string": "a string"}.get(container or "")
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Name):
            return _BUILTINS.get(python_name(node.func.value))
        if isinstance(node.func, cst.Attribute):
            return _TENSOR_QUERIES.get(python_name(node.func.attr.value))
    return None


def element_kind(value: cst.BaseExpression | None) -> str | None:
    """What each item of `value` is, when unpacking or iterating it can only give non-tensors."""
    container = None if value is None else value_kind(value)
    return {"a size": "a number", "a string": "a string", "a range": "a number", "bytes": "a number"}.get(
        container or "")


@dataclass(frozen=True)
class Binding:
    """One binding of a name in the method: the value of a plain `name = value`, else None.

    `position`: where the name takes its new value (after the assigned value is computed); `line`:
    where the binding statement starts; `loops`: the loops around it. An unpacked or iterated value binds
    each name to its element when the display says which (`n, k = -1, k`; `for q in [None, q]`: one
    binding per element).
    """

    value: cst.BaseExpression | None
    position: Position
    line: int
    loops: tuple[int, ...]
    known: str | None = None  # what the name holds when `value` cannot say: `*q, = ...` makes a list


class MethodScan(NoFieldHooks, cst.CSTVisitor):
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
        params = method.params
        for parameter in _parameters(params):  # a default (`mask=None`) is what it holds when not passed
            known = ("a tuple" if parameter is params.star_arg else "a dict" if parameter is params.star_kwarg
                     else None)
            self._bind(parameter.name.value, parameter.default, parameter, self.start(parameter), known)
        method.body.visit(self)
        return self

    def reaching(self, name: str, position: Position, loops: tuple[int, ...]) -> list[Binding]:
        """Bindings of `name` that may reach a use at `position`: those before it, and those in a loop around it."""
        return [
            binding for binding in self.bindings.get(python_name(name), [])
            if binding.position <= position or set(binding.loops) & set(loops)
        ]

    def _bind(
        self, name: str, value: cst.BaseExpression | None, at: cst.CSTNode, position: Position,
        known: str | None = None,
    ) -> None:
        binding = Binding(value, position, self.start(at)[0], tuple(self._loops), known)
        self.bindings.setdefault(python_name(name), []).append(binding)

    def _bind_target(
        self, target: cst.BaseExpression, value: cst.BaseExpression | None, at: cst.CSTNode,
        known: str | None = None,
    ) -> None:
        if isinstance(target, cst.Name):
            self._bind(target.value, value, at, self.end(at), known)
        elif isinstance(target, (cst.Tuple, cst.List)):
            values = _elements(value)
            if values is not None and len(values) == len(target.elements) and not any(
                isinstance(element, cst.StarredElement) for element in target.elements
            ):
                for element, item in zip(target.elements, values):
                    self._bind_target(element.value, item, at)
            else:
                for element in target.elements:
                    if isinstance(element, cst.StarredElement):
                        self._bind_target(element.value, None, at, "a list")
                    else:
                        self._bind_target(element.value, None, at, known or element_kind(value))
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, None, at, "a list")
        elif isinstance(target, (cst.Subscript, cst.Attribute)) and isinstance(target.value, cst.Name):
            self.changed.setdefault(python_name(target.value.value), at)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._bind_target(node.name, None, node, "a function")
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._bind_target(node.name, None, node, "a class")
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_For(self, node: cst.For) -> None:
        self._loops.append(id(node))
        items = _elements(node.iter)
        if items is None:
            self._bind_target(node.target, None, node.target, element_kind(node.iter))
        for item in items or ():  # each element may be the one bound
            self._bind_target(node.target, item, node.target)

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
            self._bind_target(node.name.name, None, node.name, "an exception")

    def visit_Del(self, node: cst.Del) -> None:
        self._bind_target(node.target, None, node)

    def visit_Import(self, node: cst.Import) -> bool:
        for alias in node.names:
            self._bind_alias(alias, "a module")
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        for alias in node.names if not isinstance(node.names, cst.ImportStar) else ():
            self._bind_alias(alias, None)  # `from m import q` may import a tensor
        return False

    def _bind_alias(self, node: cst.ImportAlias, known: str | None) -> None:
        bound: cst.BaseExpression = node.asname.name if node.asname is not None else node.name
        while isinstance(bound, cst.Attribute):  # `import a.b` binds `a`
            bound = bound.value
        if isinstance(bound, cst.Name):
            self._bind_target(bound, None, node, known)

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append((node, tuple(self._loops)))
        func = node.func
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and python_name(func.attr.value) in LIST_CHANGES):
            self.changed.setdefault(python_name(func.value.value), node)


def _elements(value: cst.BaseExpression | None) -> list[cst.BaseExpression] | None:
    """The items of a list, tuple or set display without `*` elements, else None."""
    if not isinstance(value, (cst.List, cst.Tuple, cst.Set)):
        return None
    if any(isinstance(element, cst.StarredElement) for element in value.elements):
        return None
    return [element.value for element in value.elements]


def _parameters(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg
